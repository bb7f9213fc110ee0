"""Features in two steps (per-member partials of any OneID partition, then the population parts
once) equal ``compute_features`` on the whole population exactly: the split the Spark engine runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tierlib.clv import simulate_transactions
from tierlib.errors import InputError
from tierlib.features import FeatureSettings, compute_features
from tierlib.features._partial import combine_partials, member_partials

AS_OF = pd.Timestamp("2024-07-01")


def population(members: int = 2000, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Orders (with discounts, refunds, several channels), events and records of simulated buyers."""
    rng = np.random.default_rng(seed)
    tx = simulate_transactions(
        members, start="2023-01-01", end="2024-07-01", r=0.6, alpha=12, a=0.9, b=4, seed=seed
    )
    n = len(tx)
    oneids = [f"O{c:06d}" for c in tx.iloc[:, 0]]
    orders = pd.DataFrame(
        {
            "channel": rng.choice(["app", "pos", "ecommerce"], n),
            "order_id": [f"o{i}" for i in range(n)],
            "record_id": [f"r-{o}" for o in oneids],
            "ordered_at": pd.to_datetime(tx.iloc[:, 1]).astype("datetime64[us]"),
            "amount": tx.iloc[:, 2].to_numpy(dtype=float),
            "discount": np.where(rng.random(n) < 0.3, 5.0, 0.0),
            "refund_amount": np.where(rng.random(n) < 0.05, tx.iloc[:, 2].to_numpy(dtype=float), 0.0),
            "category": rng.choice(["shoes", "bags", "tops", None], n),
            "store_id": "s1",
            "oneid": oneids,
        }
    )
    people = sorted(set(oneids)) + [f"N{i:04d}" for i in range(50)]  # and some who never bought
    picks = rng.integers(0, len(people), 4 * members)
    events = pd.DataFrame(
        {
            "channel": "wechat",
            "record_id": [f"r-{people[i]}" for i in picks],
            "event_type": rng.choice(["view", "share", "review", "invite", "post"], picks.size),
            "ts": (AS_OF - pd.to_timedelta(rng.integers(1, 400, picks.size), unit="D")).astype(
                "datetime64[us]"
            ),
            "oneid": [people[i] for i in picks],
        }
    )
    records = pd.DataFrame(
        {
            "channel": "member_center",
            "record_id": [f"r-{o}" for o in people],
            "registered_at": (AS_OF - pd.to_timedelta(rng.integers(30, 900, len(people)), unit="D")).astype(
                "datetime64[us]"
            ),
            "oneid": people,
        }
    )
    return orders, events, records


def split_by_oneid(frame: pd.DataFrame, count: int) -> list[pd.DataFrame]:
    """``frame`` cut into ``count`` parts by a hash of its oneid, each part keeping the row order."""
    parts = pd.util.hash_array(frame["oneid"].to_numpy(dtype=object)) % np.uint64(count)
    return [frame[parts == part].reset_index(drop=True) for part in range(count)]


def partitioned(orders, events, records, count, settings) -> pd.DataFrame:
    pieces = zip(*(split_by_oneid(frame, count) for frame in (orders, events, records)), strict=True)
    return combine_partials(
        [member_partials(o, e, r, AS_OF, settings) for o, e, r in pieces], AS_OF, settings
    )


@pytest.mark.parametrize(
    "settings", [FeatureSettings(), FeatureSettings(rfm_split="median", clv_time_unit="day")]
)
def test_partitioned_features_equal_the_whole_population_for_any_partition_count(settings):
    orders, events, records = population()
    whole = compute_features(orders, events, records, AS_OF, settings)
    for count in (1, 8):
        result = partitioned(orders, events, records, count, settings)
        pd.testing.assert_frame_equal(result, whole, check_exact=True)
        assert result.attrs == whole.attrs
    assert whole["r_score"].max() == 5 and whole["clv"].notna().sum() > 1000  # the population parts are live


def test_a_oneid_in_two_partials_is_an_input_error():
    orders, events, records = population(200)
    partial = member_partials(orders, events, records, AS_OF)
    with pytest.raises(InputError, match="more than one partition"):
        combine_partials([partial, partial.iloc[:3]], AS_OF)
