"""True people: latent behaviour, clean identifiers, and the channels they use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.synth import _vocab as vocab
from tierlib.synth._calendar import DAY, YEAR
from tierlib.synth._strings import (
    BASE64URL,
    affine_permutation,
    digits_matrix,
    from_fixed_width,
    join,
    pick,
    random_tokens,
)

CHANNELS = ("app", "wechat", "ecommerce", "pos", "member_center", "guide")
APP, WECHAT, ECOMMERCE, POS, MEMBER_CENTER, GUIDE = range(6)
NOT_REGISTERED = np.iinfo(np.int64).max

CHANNEL_POPULARITY = np.array([0.55, 0.6, 0.5, 0.4, 0.3, 0.15])
CHANNEL_COUNT_PROBS = np.array([0.36, 0.34, 0.2, 0.1])  # one to four channels
ORDER_AFFINITY = np.array([1.0, 0.8, 1.2, 0.7, 0.0, 0.0])
EVENT_AFFINITY = np.array([1.2, 1.0, 0.6, 0.0, 0.5, 0.4])

# BG/NBD-like purchasing: rate ~ Gamma(r, alpha) per day, dropout after each purchase ~ Beta(a, b).
PURCHASE_SHAPE = 0.9
PURCHASE_MEAN_PER_DAY = 2.2 / 30.4
PURCHASE_CAP_PER_DAY = 1.5
DROPOUT_A, DROPOUT_B = 0.6, 30.0
# Gamma-Gamma spend: order value ~ Gamma(p, nu), nu ~ Gamma(q, gamma); mean order value p*gamma/(q-1).
GG_P, GG_Q, GG_GAMMA = 6.0, 4.0, 125.0
ENGAGEMENT_MEAN_PER_DAY = 20.0 / (2 * 365.25)
BASE_HISTORY_YEARS = 3.0
PHONE_CHANGE_SHARE = 0.04
OPT_OUT_SHARE = 0.015
EMAIL_SHARE = 0.65
QQ_MAIL_SHARE = 0.35
PERSONS_PER_STORE = 4_000


@dataclass
class People:
    """One row per true person; arrays are aligned by person index."""

    n: int
    is_base: np.ndarray
    acquired_at: np.ndarray
    purchase_rate: np.ndarray  # per day
    dropout_prob: np.ndarray
    spend_nu: np.ndarray
    engagement_rate: np.ndarray  # per day
    price_sensitivity: np.ndarray
    receptiveness: np.ndarray
    phone: np.ndarray  # current clean phone, int64 with 11 digits
    phone_old: np.ndarray  # -1 unless the phone changed during the span
    phone_changed_at: np.ndarray  # -1 unless the phone changed
    email: pa.Array  # clean lower-case, null when the person has none
    unionid: pa.Array
    surname: np.ndarray
    given: np.ndarray  # (n, 2), -1 for a one-character given name
    birth_day: np.ndarray  # days since 1970
    city: np.ndarray
    home_store: np.ndarray
    n_stores: int
    favourite_category: np.ndarray
    opted_out: np.ndarray
    registered: np.ndarray  # (n, 6) registration time per channel, NOT_REGISTERED if not a member
    order_weight: np.ndarray  # (n, 6) float32
    event_weight: np.ndarray  # (n, 6) float32

    @property
    def spend_level(self) -> np.ndarray:
        """Expected value of one order (yuan)."""
        return GG_P / self.spend_nu

    def names(self) -> pa.Array:
        first = pick([s for s, _ in vocab.SURNAMES], self.surname)
        given_chars = [g for g, _ in vocab.GIVEN] + [""]
        second = pick(given_chars, np.where(self.given[:, 0] < 0, len(vocab.GIVEN), self.given[:, 0]))
        third = pick(given_chars, np.where(self.given[:, 1] < 0, len(vocab.GIVEN), self.given[:, 1]))
        return join(first, second, third)


def make_people(n: int, bounds: np.ndarray, new_share: float, rng: np.random.Generator) -> People:
    span_start, span_end = int(bounds[0]), int(bounds[-1])
    months = len(bounds) - 1
    n_new = round(n * new_share) if months > 0 else 0
    n_base = n - n_new

    base_age = BASE_HISTORY_YEARS * YEAR * rng.beta(1.2, 2.0, n_base) + DAY
    base_acquired = span_start - base_age.astype(np.int64)
    season = np.array([1.25, 1.2, 0.9, 0.9, 0.95, 1.3, 0.9, 0.9, 0.95, 1.0, 1.6, 1.2])
    first_month = int(str(np.datetime64(int(bounds[0]), "s").astype("datetime64[M]"))[5:7]) - 1
    month_weight = season[(first_month + np.arange(months)) % 12]
    new_month = rng.choice(months, size=n_new, p=month_weight / month_weight.sum())
    month_len = np.diff(bounds)
    new_acquired = bounds[new_month] + (rng.random(n_new) * month_len[new_month]).astype(np.int64)
    acquired = np.sort(np.concatenate([base_acquired, new_acquired]))  # person index follows joining order
    is_base = acquired < span_start

    purchase_rate = np.minimum(
        rng.gamma(PURCHASE_SHAPE, PURCHASE_MEAN_PER_DAY / PURCHASE_SHAPE, n), PURCHASE_CAP_PER_DAY
    )
    dropout = rng.beta(DROPOUT_A, DROPOUT_B, n)
    spend_nu = rng.gamma(GG_Q, 1.0 / GG_GAMMA, n)
    # Engaged people buy a little more often: tie engagement loosely to the purchase rate.
    relative_rate = (purchase_rate / PURCHASE_MEAN_PER_DAY) ** 0.35
    engagement = ENGAGEMENT_MEAN_PER_DAY * rng.gamma(1.5, 1 / 1.5, n) * relative_rate / relative_rate.mean()
    price_sensitivity = rng.beta(2.0, 5.0, n)
    receptiveness = rng.beta(5.0, 2.0, n)

    changes = (rng.random(n) < PHONE_CHANGE_SHARE) & (acquired < span_end - 45 * DAY)
    n_changes = int(changes.sum())
    phones = _unique_phones(n + n_changes, rng)
    phone = phones[:n]
    phone_old = np.full(n, -1, dtype=np.int64)
    phone_old[changes] = phones[n:]
    changed_at = np.full(n, -1, dtype=np.int64)
    earliest = np.maximum(span_start, acquired[changes] + 30 * DAY)
    changed_at[changes] = earliest + (rng.random(n_changes) * (span_end - DAY - earliest)).astype(np.int64)

    surname_weight = 1.0 / np.arange(1, len(vocab.SURNAMES) + 1) ** 0.7
    surname = rng.choice(len(vocab.SURNAMES), size=n, p=surname_weight / surname_weight.sum())
    given = rng.integers(0, len(vocab.GIVEN), size=(n, 2))
    given[rng.random(n) < 0.35, 1] = -1
    birth_day = (span_start // DAY - (18 * 365.25 + rng.gamma(3.0, 5.5, n) * 365.25)).astype(np.int64)
    city_weight = np.array([w for _, w in vocab.CITIES], dtype=float)
    city = rng.choice(len(vocab.CITIES), size=n, p=city_weight / city_weight.sum())
    n_stores = int(np.clip(n // PERSONS_PER_STORE, 12, 400))
    # Stores sit in cities; people shop at a store of their own city.
    store_city = np.sort(rng.choice(len(vocab.CITIES), size=n_stores, p=city_weight / city_weight.sum()))
    store_city[: len(vocab.CITIES)] = np.arange(min(n_stores, len(vocab.CITIES)))
    store_city = np.sort(store_city)
    first_store = np.searchsorted(store_city, city)
    stores_in_city = np.searchsorted(store_city, city, side="right") - first_store
    home_store = first_store + (rng.random(n) * np.maximum(stores_in_city, 1)).astype(np.int64)
    home_store = np.minimum(home_store, n_stores - 1)
    category_weight = np.asarray(vocab.CATEGORY_WEIGHTS)
    favourite = rng.choice(len(vocab.CATEGORIES), size=n, p=category_weight / category_weight.sum())

    email = _emails(n, surname, given, rng)
    unionid = random_tokens(rng, n, 24, BASE64URL, prefix=b"oU7d")
    registered, order_weight, event_weight = _channels(n, acquired, span_end, rng)
    return People(
        n=n,
        is_base=is_base,
        acquired_at=acquired,
        purchase_rate=purchase_rate,
        dropout_prob=dropout,
        spend_nu=spend_nu,
        engagement_rate=engagement,
        price_sensitivity=price_sensitivity,
        receptiveness=receptiveness,
        phone=phone,
        phone_old=phone_old,
        phone_changed_at=changed_at,
        email=email,
        unionid=unionid,
        surname=surname,
        given=given,
        birth_day=birth_day,
        city=city,
        home_store=home_store,
        n_stores=n_stores,
        favourite_category=favourite,
        opted_out=rng.random(n) < OPT_OUT_SHARE,
        registered=registered,
        order_weight=order_weight,
        event_weight=event_weight,
    )


def _unique_phones(count: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct mainland mobile numbers, none equal to a placeholder."""
    prefixes = np.asarray(vocab.PHONE_PREFIXES, dtype=np.int64)
    space = len(prefixes) * 10**8
    codes = affine_permutation(np.arange(count + 8, dtype=np.int64), space, int(rng.integers(1, 2**31)))
    phones = prefixes[codes // 10**8] * 10**8 + codes % 10**8
    # Numbers that look like placeholders (all zeros or one repeated digit) are skipped.
    suffix = phones % 10**8
    looks_fake = np.isin(suffix, np.arange(10, dtype=np.int64) * 11_111_111)
    return phones[~looks_fake][:count]


def _emails(n: int, surname: np.ndarray, given: np.ndarray, rng: np.random.Generator) -> pa.Array:
    has_email = rng.random(n) < EMAIL_SHARE
    code = 10_000 + affine_permutation(np.arange(n, dtype=np.int64), 9 * 10**8, int(rng.integers(1, 2**31)))
    is_qq = rng.random(n) < QQ_MAIL_SHARE
    pinyin_given = [p for _, p in vocab.GIVEN] + [""]
    handle = join(
        pick([p for _, p in vocab.SURNAMES], surname),
        pick(pinyin_given, given[:, 0]),
        pick(pinyin_given, np.where(given[:, 1] < 0, len(vocab.GIVEN), given[:, 1])),
    )
    code_text = pa.array(code).cast(pa.string())
    domain = pick(vocab.EMAIL_DOMAINS, rng.integers(0, len(vocab.EMAIL_DOMAINS), n))
    email = pc.if_else(pa.array(is_qq), join(code_text, "@qq.com"), join(handle, code_text, "@", domain))
    return pc.if_else(pa.array(has_email), email, pa.scalar(None, pa.string()))


def _channels(n: int, acquired: np.ndarray, span_end: int, rng: np.random.Generator):
    """Which channels each person uses, when they joined each, and how they split activity."""
    n_channels = rng.choice(4, size=n, p=CHANNEL_COUNT_PROBS) + 1
    keys = np.log(CHANNEL_POPULARITY)[None, :] + rng.gumbel(size=(n, 6))
    order = np.argsort(-keys, axis=1)  # weighted sampling without replacement
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(6)[None, :], axis=1)
    member = rank < n_channels[:, None]
    later = 1.0 - rng.random((n, 6)) ** (1.0 / 3.0)  # Beta(1, 3): most other channels follow soon
    lag = ((span_end - acquired)[:, None] * later).astype(np.int64)
    registered = np.where(rank == 0, acquired[:, None], acquired[:, None] + lag)
    registered = np.where(member, np.minimum(registered, span_end - 1), NOT_REGISTERED)
    taste = rng.gamma(2.0, 0.5, size=(n, 6))
    order_weight = np.where(member, ORDER_AFFINITY[None, :] * taste, 0.0).astype(np.float32)
    event_weight = np.where(member, EVENT_AFFINITY[None, :] * taste, 0.0).astype(np.float32)
    return registered, order_weight, event_weight


def phone_strings(phone: np.ndarray) -> pa.Array:
    """Clean 11-digit phone numbers as strings."""
    return from_fixed_width(digits_matrix(phone, 11))
