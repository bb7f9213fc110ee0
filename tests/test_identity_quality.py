"""OneID against the synthetic generator's ground truth, through the real extract connectors.

Each month resolves every record version known so far and continues from the
previous month's map and registry, as the monthly pipeline does.  The truth is
``_truth/record_person.parquet`` (channel, record_id, person_id).
"""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from tierlib.config import load_config
from tierlib.extract import extract_table
from tierlib.identity import IdentitySettings, oneid_stability, pairwise_scores, resolve_identities
from tierlib.period import periods_between
from tierlib.synth import SynthSettings, generate

START, LAST = "2026-01", "2026-03"


@pytest.fixture(scope="module")
def months(tmp_path_factory) -> dict:
    """Per month: the cumulative records and the identity result; plus the truth."""
    sources = tmp_path_factory.mktemp("identity") / "sources"
    generate(SynthSettings(members=12_000, months=3, start=START, seed=21), str(sources))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TIERFLOW_SOURCES", str(sources))
        config = load_config("config/tierflow.yaml")
    delivered = []
    results, records = {}, {}
    previous = None
    for period in periods_between(START, LAST):
        for name, channel in config.channels.items():
            delivered.append(extract_table(name, channel, "records", period).accepted)
        records[period] = pd.concat(delivered, ignore_index=True)
        results[period] = resolve_identities(
            records[period],
            IdentitySettings(),
            period,
            previous.identity_map if previous else None,
            previous.registry if previous else None,
        )
        previous = results[period]
    truth = pd.read_parquet(sources / "_truth" / "record_person.parquet")
    return {"results": results, "records": records, "truth": truth}


def test_pairwise_precision_and_recall_meet_the_goal(months):
    # The generator's records that share no strong identifier with their person's others
    # (record_person.case) are the probabilistic layer's (test_identity_probabilistic.py).
    truth = months["truth"]
    ordinary = truth[truth["case"] == ""]
    scores = pairwise_scores(ordinary, months["results"][LAST].identity_map)
    assert scores["records"] == len(months["results"][LAST].identity_map) - (truth["case"] != "").sum()
    assert scores["true_pairs"] > 10_000
    assert scores["precision"] >= 0.995, scores
    assert scores["recall"] >= 0.98, scores


def test_people_keep_their_oneid_from_month_to_month(months):
    periods = list(months["results"])
    for earlier, later in itertools.pairwise(periods):
        stability = oneid_stability(
            months["truth"],
            months["results"][earlier].identity_map,
            months["results"][later].identity_map,
            months["results"][later].registry,
        )
        assert stability["people_in_both"] > 5_000
        assert stability["stability"] >= 0.995, (earlier, later, stability)


def test_every_known_record_has_exactly_one_oneid_and_the_registry_covers_them(months):
    result = months["results"][LAST]
    known = months["records"][LAST][["channel", "record_id"]].drop_duplicates()
    assert len(result.identity_map) == len(known)
    assert not result.identity_map.duplicated(["channel", "record_id"]).any()
    active = result.registry.loc[result.registry["status"] == "active", "oneid"]
    assert set(result.identity_map["oneid"]) == set(active)


def test_placeholders_of_the_generator_are_blocked_and_caught_as_hubs_without_the_blocklist(months):
    result = months["results"][LAST]
    assert result.figures["blocked_phone"] > 0 and result.figures["blocked_email"] > 0
    no_lists = IdentitySettings(blocklist={}, block_repeated_phone_digits=False)
    unguarded = resolve_identities(months["records"][LAST], no_lists, LAST)
    # The store's default phone and the typed-in e-mails are shared far beyond one person.
    assert unguarded.figures["hub_values_phone"] >= 1 and unguarded.figures["hub_values_email"] >= 2
    scores = pairwise_scores(months["truth"], unguarded.identity_map)
    assert scores["precision"] >= 0.995, scores
