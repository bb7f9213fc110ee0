"""Normalizers of tierlib.identity: the noisy forms the channels write, and what must be refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tierlib.errors import ConfigError
from tierlib.identity import normalize_device_id, normalize_email, normalize_identifier, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+86 138 1234 5678",
        "0086-138-1234-5678",
        "86 13812345678",
        "8613812345678",
        "+8613812345678",
        "１３８１２３４５６７８",
        "＋８６　１３８　１２３４　５６７８",
        "138-1234-5678",
        "138 1234 5678",
        " 13812345678 ",
        "(+86) 138.1234.5678",
        "008613812345678",
    ],
)
def test_phone_forms_of_one_mobile_become_one_e164(raw):
    assert normalize_phone(pd.Series([raw])).tolist() == ["+8613812345678"]


@pytest.mark.parametrize(
    "raw",
    [
        "138****5678",  # masked by a marketplace
        "12345678901",  # no such mobile range
        "1381234567",  # one digit short
        "138123456789",  # one digit long
        "010-12345678",  # a landline
        "+86 10 1234 5678",
        "call 13812345678",
        "",
        "   ",
        "+",
    ],
)
def test_phones_that_are_not_mobiles_are_invalid(raw):
    assert normalize_phone(pd.Series([raw])).isna().all()


def test_phone_keeps_index_missing_values_and_numbers_read_as_numbers():
    values = pd.Series([13812345678, None, 13912345678.0, np.nan], index=[10, 11, 12, 13], dtype=object)
    result = normalize_phone(values)
    assert list(result.index) == [10, 11, 12, 13]
    assert result.tolist()[0] == "+8613812345678"
    assert result.isna().tolist() == [False, True, False, True]
    floats = normalize_phone(pd.Series([13812345678.0, np.nan]))
    assert floats.tolist()[0] == "+8613812345678"
    assert str(result.dtype) == "string"


def test_phone_other_regions_and_unknown_country_codes():
    values = pd.Series(
        ["+852 9123 4567", "+852 1234 5678", "+44 7911 123456", "+1 415 555 1234", "+999 1234 5678"]
    )
    expected = ["+85291234567", pd.NA, "+447911123456", "+14155551234", "+99912345678"]
    assert normalize_phone(values).tolist() == expected
    local = pd.Series(["9123 4567", "13812345678", "+86 13812345678"])
    hong_kong = normalize_phone(local, default_region="HK")
    assert hong_kong.tolist() == ["+85291234567", pd.NA, "+8613812345678"]


def test_unknown_region_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match=r"default_region 'XX'.*CN"):
        normalize_phone(pd.Series(["13812345678"]), default_region="XX")


def test_email_trimmed_lowercased_and_validated():
    values = pd.Series(
        [
            " Li.Wei@Example.COM ",
            "LI.WEI@EXAMPLE.COM",
            "li wei@example.com",
            "ｌｉ＠ｅｘａｍｐｌｅ．ｃｏｍ",
            "no-at-sign.com",
            "a@b",
            "a@@b.com",
            "@example.com",
            None,
        ]
    )
    assert normalize_email(values).tolist() == [
        "li.wei@example.com",
        "li.wei@example.com",
        "liwei@example.com",
        "li@example.com",
        pd.NA,
        pd.NA,
        pd.NA,
        pd.NA,
        pd.NA,
    ]


def test_device_ids_uppercased_and_placeholders_refused():
    uuid = "3f2a9c1e-aaaa-bbbb-cccc-0123456789ab"
    values = pd.Series([f" {uuid} ", "00000000-0000-0000-0000-000000000000", "ab", None])
    assert normalize_device_id(values).tolist() == [uuid.upper(), pd.NA, pd.NA, pd.NA]


def test_opaque_ids_are_exact_but_trimmed():
    values = pd.Series([" oU7dAbC ", "oU7dabc", "has space", ""])
    assert normalize_identifier("unionid", values).tolist() == ["oU7dAbC", "oU7dabc", pd.NA, pd.NA]


def test_random_mobiles_in_international_form_match_their_e164():
    rng = np.random.default_rng(1)
    numbers = rng.integers(13_000_000_000, 19_999_999_999, 3000).astype(str)
    spaced = pd.Series(["+86 " + n[:3] + " " + n[3:7] + " " + n[7:] for n in numbers])
    assert (normalize_phone(spaced) == pd.Series(["+86" + n for n in numbers], dtype="string")).all()
