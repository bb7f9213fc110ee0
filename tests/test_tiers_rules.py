"""The tier rule language: what parses, what is refused, and how it evaluates on columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tierlib.config import parse_config
from tierlib.errors import ConfigError, InputError
from tierlib.tiers import RuleSyntaxError, parse_rule


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "value": [10.0, 250.0, np.nan, 80.0],
            "churn": [0.1, 0.7, 0.5, 0.95],
            "stage": pd.array(["active", "new", None, "churned"], dtype="string"),
            "orders": pd.array([3, 0, 1, None], dtype="Int64"),
            "vip": [False, True, False, False],
        }
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("value > 50", [False, True, False, True]),
        ("value >= 80 and churn < 0.9", [False, True, False, False]),
        ("value < 20 or churn > 0.9", [True, False, False, True]),
        (
            "not value > 50",
            [True, False, True, False],
        ),  # missing value: the comparison is false, 'not' flips it
        ("0.4 <= churn < 0.8", [False, True, True, False]),  # chained comparison
        ("stage == 'new'", [False, True, False, False]),
        ("stage in ['active', 'churned']", [True, False, False, True]),
        ("stage not in ['active']", [False, True, False, True]),  # missing is neither in nor not in
        ("value * (1 - churn) > 60", [False, True, False, False]),
        ("orders == 0", [False, True, False, False]),
        ("vip", [False, True, False, False]),
        ("vip or value % 20 == 0", [False, True, False, True]),
        ("-churn < -0.6", [False, True, False, True]),
        ("true", [True, True, True, True]),
        ("False", [False, False, False, False]),
        ("value / 0 > 1", [True, True, False, True]),  # x/0 is inf; missing stays missing
    ],
)
def test_rules_evaluate_per_row(frame, rule, expected):
    assert parse_rule(rule).evaluate(frame).tolist() == expected


@pytest.mark.parametrize(
    "rule",
    [
        "__import__('os').system('echo hacked')",
        "open('/etc/passwd')",
        "value.real > 1",
        "value[0] > 1",
        "(lambda: 1)()",
        "[x for x in value]",
        "value ** 2 > 4",
        "value if churn else 1",
        "value is None",
        "stage in other_column",
        "value in [churn]",
        "None == value",
        "{'a': 1}",
        "f'{value}' == '1'",
        "value := 3",
        "value > 1; import os",
        "",
        "   ",
    ],
)
def test_anything_beyond_the_language_is_refused_before_running(rule):
    with pytest.raises(RuleSyntaxError):
        parse_rule(rule)


def test_rule_lists_the_columns_it_reads_once_each():
    assert parse_rule("a > 1 and (b < a or c in ['x']) and true").columns == ("a", "b", "c")


def test_unknown_column_names_the_rule_and_the_columns_available(frame):
    with pytest.raises(InputError, match=r"\['missing_col'\].*available"):
        parse_rule("missing_col > 1").evaluate(frame)


def test_comparing_text_with_a_number_says_to_quote(frame):
    with pytest.raises(InputError, match="quote"):
        parse_rule("stage > 3").evaluate(frame)


def test_a_bad_rule_in_the_config_names_its_key_path():
    raw = {
        "storage": {"root": "/tmp/x"},
        "channels": {
            "app": {
                "connector": "file",
                "location": "/tmp",
                "format": "csv",
                "records": {"file": "m.csv", "columns": {"record_id": "id"}},
            }
        },
        "tiers": {"rules": [{"tier": "vip", "when": "exec('x')"}, {"tier": "rest", "when": "true"}]},
    }
    with pytest.raises(ConfigError, match=r"tiers\.rules\[0\].*Call is not allowed"):
        parse_config(raw)


def test_rules_without_a_final_catch_all_are_refused_at_config_load():
    raw = {
        "storage": {"root": "/tmp/x"},
        "channels": {
            "app": {
                "connector": "file",
                "location": "/tmp",
                "format": "csv",
                "records": {"file": "m.csv", "columns": {"record_id": "id"}},
            }
        },
        "tiers": {"rules": [{"tier": "vip", "when": "value > 1"}]},
    }
    with pytest.raises(ConfigError, match="catch-all"):
        parse_config(raw)
