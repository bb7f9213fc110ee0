from datetime import datetime

import pytest

from tierlib.errors import TierflowError
from tierlib.period import as_of, period_for_run, periods_between, previous_period, shift_period


def test_month_arithmetic_crosses_years():
    assert previous_period("2026-01") == "2025-12"
    assert shift_period("2025-11", 3) == "2026-02"
    assert periods_between("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert as_of("2026-12") == datetime(2027, 1, 1)


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-01", "", "2026/01"])
def test_bad_period_names_the_expected_form(bad):
    with pytest.raises(TierflowError, match="YYYY-MM"):
        shift_period(bad, 1)


def test_explicit_period_param_wins():
    assert period_for_run("2026-03", datetime(2026, 7, 1), datetime(2026, 8, 2)) == "2026-03"


def test_scheduled_run_uses_interval_start():
    # The run for October starts its interval on October 1st and runs on November 1st.
    assert period_for_run(None, datetime(2026, 10, 1), datetime(2026, 11, 1)) == "2026-10"


def test_manual_run_without_interval_takes_last_complete_month():
    assert period_for_run(None, None, datetime(2026, 11, 23, 9, 30)) == "2026-10"
    assert period_for_run(None, None, datetime(2026, 1, 5)) == "2025-12"


def test_no_information_at_all_is_an_actionable_error():
    with pytest.raises(TierflowError, match="period"):
        period_for_run(None, None, None)
