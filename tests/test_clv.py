"""tierlib.clv: parameter recovery, agreement with lifetimes 0.11.3, numerical edge cases, errors."""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from tierlib.clv import (
    BetaGeoModel,
    GammaGammaModel,
    NoDropoutModel,
    backtest,
    calibration_holdout_split,
    customer_lifetime_value,
    simulate_average_spend,
    simulate_bgnbd_summary,
    simulate_transactions,
    summarize_transactions,
)
from tierlib.clv import cli as clv_cli
from tierlib.clv._fitting import maximize_likelihood
from tierlib.errors import InputError, ModelFitError

TRUE_BGNBD = {"r": 0.5, "alpha": 8.0, "a": 0.8, "b": 3.0}
TRUE_GG = {"p": 6.0, "q": 4.0, "gamma": 15.0}


def lifetimes_module():
    """The reference package; missing means the test setup was skipped, which must not pass silently."""
    try:
        import lifetimes
    except ImportError:  # pragma: no cover - only when the setup step was skipped
        pytest.fail(
            "lifetimes is not installed: run "
            "`.venv/bin/pip install -r requirements-test.txt -c constraints.txt` (make test does this)"
        )
    return lifetimes


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    """30,000 customers drawn from known BG/NBD and Gamma-Gamma parameters, ages 20..52 weeks."""
    ages = np.random.default_rng(11).uniform(20, 52, 30_000)
    data = simulate_bgnbd_summary(ages, **TRUE_BGNBD, seed=12)
    data["monetary_value"] = simulate_average_spend(data["frequency"], **TRUE_GG, seed=13)
    return data


@pytest.fixture(scope="module")
def repeat_buyers(population) -> pd.DataFrame:
    return population[population["frequency"] > 0]


@pytest.fixture(scope="module")
def fitted(population, repeat_buyers):
    bgnbd = BetaGeoModel().fit(population["frequency"], population["recency"], population["T"])
    gg = GammaGammaModel().fit(repeat_buyers["frequency"], repeat_buyers["monetary_value"])
    return bgnbd, gg


def test_bgnbd_recovers_the_parameters_it_was_simulated_with(fitted):
    bgnbd, _ = fitted
    for name, true in TRUE_BGNBD.items():
        assert bgnbd.params_[name] == pytest.approx(true, rel=0.12), name
    assert bgnbd.n_customers_ == 30_000
    assert np.isfinite(bgnbd.log_likelihood_) and bgnbd.log_likelihood_ < 0


def test_gamma_gamma_recovers_the_parameters_it_was_simulated_with(fitted):
    _, gg = fitted
    for name, true in TRUE_GG.items():
        assert gg.params_[name] == pytest.approx(true, rel=0.25), name  # a ridge in (q, γ)
    # the population mean spend p·γ/(q-1) is far better determined than p, q, γ one by one
    mean = gg.params_["p"] * gg.params_["gamma"] / (gg.params_["q"] - 1)
    assert mean == pytest.approx(TRUE_GG["p"] * TRUE_GG["gamma"] / (TRUE_GG["q"] - 1), rel=0.03)


def test_fit_on_distinct_rows_with_counts_equals_fit_on_every_customer():
    weeks = np.random.default_rng(3).integers(10, 40, 4000).astype(float)
    data = simulate_bgnbd_summary(weeks, **TRUE_BGNBD, seed=4)
    data["recency"] = np.floor(data["recency"])
    full = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    counted = data.value_counts(["frequency", "recency", "T"]).reset_index()
    weighted = BetaGeoModel().fit(
        counted["frequency"], counted["recency"], counted["T"], weights=counted["count"]
    )
    assert len(counted) < len(data)
    assert full.n_patterns_ == weighted.n_patterns_ == len(counted)
    for name in TRUE_BGNBD:
        assert weighted.params_[name] == pytest.approx(full.params_[name], rel=1e-8)
    assert weighted.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-12)


def test_parameters_and_log_likelihoods_agree_with_lifetimes(population, repeat_buyers, fitted):
    lifetimes = lifetimes_module()
    bgnbd, gg = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_bg = lifetimes.BetaGeoFitter().fit(
            population["frequency"], population["recency"], population["T"]
        )
        theirs_gg = lifetimes.GammaGammaFitter().fit(
            repeat_buyers["frequency"], repeat_buyers["monetary_value"]
        )
    for name in TRUE_BGNBD:
        assert bgnbd.params_[name] == pytest.approx(theirs_bg.params_[name], rel=1e-3), name
    for ours, theirs in (("p", "p"), ("q", "q"), ("gamma", "v")):
        assert gg.params_[ours] == pytest.approx(theirs_gg.params_[theirs], rel=1e-3), ours

    # Like with like: lifetimes keeps the *mean* negative log-likelihood, and for BG/NBD on
    # time rescaled by s = 1/max(T), which shifts each customer's log-likelihood by x·log(s)
    # (the rate's density changes units).  Ours is the total on the caller's time scale.
    n = len(population)
    scale = theirs_bg._scale
    theirs_total = -theirs_bg._negative_log_likelihood_ * n + population["frequency"].sum() * np.log(scale)
    assert bgnbd.log_likelihood_ == pytest.approx(theirs_total, rel=1e-6)
    assert bgnbd.log_likelihood_ / n == pytest.approx(theirs_total / n, abs=1e-6)
    theirs_gg_total = -theirs_gg._negative_log_likelihood_ * len(repeat_buyers)
    assert gg.log_likelihood_ == pytest.approx(theirs_gg_total, rel=1e-6)
    assert gg.log_likelihood_ / len(repeat_buyers) == pytest.approx(
        theirs_gg_total / len(repeat_buyers), abs=1e-6
    )


def test_predictions_and_clv_agree_with_lifetimes(population, fitted):
    lifetimes = lifetimes_module()
    bgnbd, gg = fitted
    sample = population.iloc[:3000]
    f, r, t, m = sample["frequency"], sample["recency"], sample["T"], sample["monetary_value"].fillna(0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # lifetimes' predictions at *our* parameters isolate the formulas from the optimiser
        theirs_bg = lifetimes.BetaGeoFitter()
        theirs_bg.params_ = pd.Series(bgnbd.params_)[["r", "alpha", "a", "b"]]
        theirs_bg.predict = theirs_bg.conditional_expected_number_of_purchases_up_to_time  # set by fit
        theirs_gg = lifetimes.GammaGammaFitter()
        theirs_gg.params_ = pd.Series({"p": gg.params_["p"], "q": gg.params_["q"], "v": gg.params_["gamma"]})
        expected = theirs_bg.conditional_expected_number_of_purchases_up_to_time(13.0, f, r, t)
        alive = theirs_bg.conditional_probability_alive(f, r, t)
        value = theirs_gg.conditional_expected_average_profit(f, m)
        clv = theirs_gg.customer_lifetime_value(theirs_bg, f, r, t, m, time=6, discount_rate=0.02, freq="W")
    np.testing.assert_allclose(bgnbd.expected_purchases(13.0, f, r, t), expected, rtol=1e-9)
    np.testing.assert_allclose(bgnbd.probability_alive(f, r, t), alive, rtol=1e-12)
    np.testing.assert_allclose(gg.expected_average_value(f, m), value, rtol=1e-12)
    ours = customer_lifetime_value(bgnbd, gg, f, r, t, m, 6, 0.02, "week", periods_per_month_override=4.345)
    np.testing.assert_allclose(ours, clv, rtol=1e-9)


def test_penalizer_means_what_lifetimes_penalizer_coef_means(population):
    lifetimes = lifetimes_module()
    sample = population.iloc[:5000]
    ours = BetaGeoModel(penalizer=0.05).fit(sample["frequency"], sample["recency"], sample["T"])
    plain = BetaGeoModel().fit(sample["frequency"], sample["recency"], sample["T"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes.BetaGeoFitter(penalizer_coef=0.05).fit(
            sample["frequency"], sample["recency"], sample["T"]
        )
    for name in TRUE_BGNBD:
        assert ours.params_[name] == pytest.approx(theirs.params_[name], rel=1e-3), name
    assert ours.params_["a"] != pytest.approx(plain.params_["a"], rel=1e-2)
    assert ours.log_likelihood_ < plain.log_likelihood_


@pytest.mark.parametrize("unit, freq", [("week", "W"), ("day", "D")])
def test_transaction_summary_and_holdout_split_match_lifetimes(unit, freq):
    lifetimes_module()
    from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

    tx = simulate_transactions(
        2000, start="2023-01-01", end="2024-01-01", r=0.5, alpha=10, a=0.8, b=3, seed=5
    )
    # lifetimes compares raw timestamps with its (inclusive, midnight) end dates, so a purchase
    # at 15:00 on the last day falls out of its windows; dates without a time compare alike.
    tx["date"] = tx["date"].dt.normalize()
    ours = summarize_transactions(
        tx, customer_col="customer_id", date_col="date", amount_col="amount", as_of="2023-12-04", unit=unit
    )
    split = calibration_holdout_split(
        tx,
        customer_col="customer_id",
        date_col="date",
        amount_col="amount",
        calibration_end="2023-10-01",
        observation_end="2024-01-01",
        unit=unit,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Our as_of is exclusive; lifetimes' observation end is the inclusive last day.  The
        # as-of is a Monday because lifetimes, for weekly periods, also keeps purchases made
        # after its observation end within the same week; at a week boundary both agree.
        theirs = summary_data_from_transaction_data(
            tx,
            "customer_id",
            "date",
            monetary_value_col="amount",
            observation_period_end="2023-12-03",
            freq=freq,
        ).sort_index()
        theirs_split = calibration_and_holdout_data(
            tx,
            "customer_id",
            "date",
            monetary_value_col="amount",  # without it lifetimes 0.11.3 fails on pandas 3
            calibration_period_end="2023-09-30",
            observation_period_end="2023-12-31",
            freq=freq,
        ).sort_index()
    assert list(ours.index) == list(theirs.index)
    np.testing.assert_allclose(ours[["frequency", "recency", "T"]], theirs[["frequency", "recency", "T"]])
    np.testing.assert_allclose(ours["monetary_value"], theirs["monetary_value"], rtol=1e-9)
    columns = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]
    assert list(split.index) == list(theirs_split.index)
    np.testing.assert_allclose(split[columns], theirs_split[columns])


def test_summary_counts_periods_not_transactions_and_honours_the_exclusive_as_of():
    tx = pd.DataFrame(
        {
            "cid": ["a", "a", "a", "a", "b", "c"],
            "day": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 18:00",
                    "2024-01-05 12:00",
                    "2024-01-10 23:59",
                    "2024-01-09 08:00",
                    "2024-01-11 00:00",
                ]
            ),
            "amount": [10.0, 5.0, 20.0, 40.0, 7.0, 99.0],
        }
    )
    daily = summarize_transactions(
        tx, customer_col="cid", date_col="day", amount_col="amount", as_of="2024-01-11", unit="day"
    )
    assert list(daily.index) == ["a", "b"]  # c bought on the as-of day itself: excluded
    assert daily.loc["a"].tolist() == [2.0, 9.0, 9.0, 30.0]  # two same-day orders are one period
    assert daily.loc["b"].tolist() == [0.0, 0.0, 1.0, 0.0]
    weekly = summarize_transactions(
        tx, customer_col="cid", date_col="day", amount_col="amount", as_of="2024-01-11", unit="week"
    )
    # 2024-01-01 is a Monday: Jan 1 and Jan 5 share a week, Jan 10 is the next one
    assert weekly.loc["a"].tolist() == [1.0, 1.0, 1.0, 40.0]


def test_backtest_predicts_holdout_purchases_per_frequency_bucket():
    tx = simulate_transactions(
        6000, start="2023-01-01", end="2024-07-01", r=0.6, alpha=12, a=0.9, b=4, seed=8
    )
    split = calibration_holdout_split(
        tx,
        customer_col="customer_id",
        date_col="date",
        calibration_end="2024-01-01",
        observation_end="2024-07-01",
        unit="day",
    )
    model = BetaGeoModel().fit(split["frequency_cal"], split["recency_cal"], split["T_cal"])
    table = backtest(model, split, max_frequency=5)
    assert list(table.index) == ["0", "1", "2", "3", "4", "5+"]
    assert table["customers"].sum() == len(split)
    assert (split["duration_holdout"] == 182).all()
    assert table["predicted_total"].sum() == pytest.approx(table["actual_total"].sum(), rel=0.05)
    np.testing.assert_allclose(table["predicted_mean"], table["actual_mean"], rtol=0.2)


def model_with(**params) -> BetaGeoModel:
    model = BetaGeoModel()
    model.params_ = params
    return model


@pytest.mark.parametrize(
    "history, expected_13, alive",
    [
        # reference values: the textbook formulas evaluated with mpmath at 60 digits
        ((20000, 52, 52), 4000.2093759875856, 0.9999600055992162),
        ((5000, 52, 52), 1000.0329265703929, 0.999840089549852),
        ((5000, 51, 52), 1.9783090007009335e-30, 1.977927522048313e-33),
        ((1000, 52, 52), 199.9860557718398, 0.9992022337455125),
        ((3, 10, 52), 0.06078497559540002, 0.08460801646969689),
        ((0, 0, 30), 0.16267862952568357, 1.0),
        ((1, 30, 30), 0.3793469701308815, 0.7894736842105263),
        ((40, 0.5, 52), 1.8059647836518887e-32, 2.2207524724451872e-33),
    ],
)
def test_predictions_match_high_precision_reference_values(history, expected_13, alive):
    model = model_with(r=0.5, alpha=8.0, a=0.8, b=3.0)
    x, t_x, age = ([value] for value in history)
    assert model.expected_purchases(13, x, t_x, age)[0] == pytest.approx(expected_13, rel=1e-9)
    assert model.probability_alive(x, t_x, age)[0] == pytest.approx(alive, rel=1e-9)


def test_no_overflow_or_nan_for_huge_frequencies_and_recency_equal_to_T(fitted):
    bgnbd, gg = fitted
    frequency = np.array([0, 1, 50, 1000, 5000, 20000, 5000, 3])
    recency = np.array([0, 30, 52, 52, 52, 52, 10, 0.0])
    age = np.array([52, 30, 52, 52, 52, 52, 52, 0.0])
    for values in (
        bgnbd.log_likelihood(frequency, recency, age),
        bgnbd.expected_purchases(90 / 7, frequency, recency, age),
        bgnbd.probability_alive(frequency, recency, age),
        gg.expected_average_value(frequency, np.full(8, 25.0)),
    ):
        assert np.all(np.isfinite(values))
    alive = bgnbd.probability_alive(frequency, recency, age)
    assert np.all((alive >= 0) & (alive <= 1))
    assert alive[0] == 1.0 and alive[4] > 0.99 and alive[6] < 1e-30
    expected = bgnbd.expected_purchases(90 / 7, frequency, recency, age)
    # a customer who bought 20,000 times in 52 weeks and just now keeps close to that pace
    assert 0.5 * 20000 / 52 * 90 / 7 < expected[5] < 20000 / 52 * 90 / 7
    assert bgnbd.expected_purchases(0.0, frequency, recency, age).tolist() == [0.0] * 8


def test_fit_stays_finite_with_extreme_customers_in_the_data(population):
    extreme = pd.DataFrame(
        {"frequency": [3000.0, 4000.0, 2.0], "recency": [52.0, 51.5, 5.0], "T": [52.0, 52, 5]}
    )
    data = pd.concat([population.iloc[:3000], extreme], ignore_index=True)
    model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    assert all(np.isfinite(v) and v > 0 for v in model.params_.values())
    assert np.isfinite(model.log_likelihood_)


def test_customers_with_only_zero_frequency_raise_a_fit_error_with_advice():
    with pytest.raises(ModelFitError, match="no customer has a repeat purchase"):
        BetaGeoModel().fit([0, 0, 0], [0, 0, 0], [5, 8, 9])


def test_non_convergence_raises_model_fit_error_saying_what_to_try():
    # Every buyer purchases in every period and never stops: the drop-out rate runs off to 0.
    weeks = np.arange(1, 200, dtype=float)
    with pytest.raises(ModelFitError, match="penalizer"):
        BetaGeoModel().fit(weeks, weeks, weeks)


def test_drop_out_indistinguishable_from_a_low_rate_raises_instead_of_returning_a_ridge_point():
    # Four months of history with rare drop-outs: the optimum runs off along the ridge where
    # a and b grow together (a homogeneous drop-out probability), so no finite MLE exists.
    ages = np.random.default_rng(1).uniform(2, 8, 300)
    data = simulate_bgnbd_summary(ages, **TRUE_BGNBD, seed=300)
    with pytest.raises(ModelFitError, match=r"BG/NBD.*ran off.*\ba\b.*penalizer") as error:
        BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    assert "longer history" in str(error.value)
    penalized = BetaGeoModel(penalizer=0.01).fit(data["frequency"], data["recency"], data["T"])
    assert all(0.001 < value < 1000 for value in penalized.params_.values())


def test_no_dropout_model_is_the_bgnbd_limit_without_drop_out():
    ages = np.random.default_rng(5).uniform(2, 8, 3000)
    data = simulate_bgnbd_summary(ages, **TRUE_BGNBD, seed=6)
    args = (data["frequency"], data["recency"], data["T"])
    nbd = NoDropoutModel().fit(*args)
    limit = model_with(**nbd.params_, a=1e-12, b=1.0)
    # BG/NBD at a -> 0 (drop-out probability 0) has the same likelihood and forecasts
    np.testing.assert_allclose(nbd.log_likelihood(*args), limit.log_likelihood(*args), rtol=1e-9)
    assert nbd.log_likelihood_ == pytest.approx(nbd.log_likelihood(*args).sum())
    np.testing.assert_allclose(
        nbd.expected_purchases(13, *args), limit.expected_purchases(13, *args), rtol=1e-6
    )
    assert (nbd.probability_alive(*args) == 1).all()
    # and it is the maximum: moving either parameter lowers the likelihood
    for name in ("r", "alpha"):
        for factor in (0.99, 1.01):
            moved = NoDropoutModel()
            moved.params_ = dict(nbd.params_, **{name: nbd.params_[name] * factor})
            assert moved.log_likelihood(*args).sum() < nbd.log_likelihood_


def test_identical_spend_for_everyone_raises_a_gamma_gamma_fit_error():
    # No spread between customers: q and γ run off together (ν is the same for everyone).
    frequency = np.random.default_rng(2).integers(1, 30, 500).astype(float)
    with pytest.raises(ModelFitError, match=r"Gamma-Gamma.*penalizer"):
        GammaGammaModel().fit(frequency, np.full(500, 25.0))


def test_a_flat_likelihood_at_an_interior_point_is_not_taken_for_an_optimum():
    # The gradient vanishes along log(b) almost everywhere, as on a ridge far from the data:
    # a small gradient must not pass for convergence when the curvature says nothing is known.
    def objective(theta):
        value = (theta[0] - 1.0) ** 2 + 1e-9 * theta[1] ** 2
        return value, np.array([2 * (theta[0] - 1.0), 2e-9 * theta[1]])

    with pytest.raises(ModelFitError, match=r"flat along b.*try a penalizer"):
        maximize_likelihood(
            objective,
            np.array([0.0, 3.0]),
            model="Toy",
            names=("a", "b"),
            advice="try a penalizer",
            n_observations=1000,
            penalized=False,
        )
    theta = maximize_likelihood(
        lambda t: (float(np.sum((t - 1.0) ** 2)), 2 * (t - 1.0)),
        np.zeros(2),
        model="Toy",
        names=("a", "b"),
        advice="",
        n_observations=1000,
        penalized=False,
    )
    np.testing.assert_allclose(theta, [1.0, 1.0], atol=1e-8)


def test_bad_inputs_and_unfitted_models_raise_clear_errors():
    with pytest.raises(InputError, match="recency is larger than T"):
        BetaGeoModel().fit([1, 2], [5, 9], [6, 8])
    with pytest.raises(InputError, match="whole number"):
        BetaGeoModel().fit([1.5, 2], [5, 7], [6, 8])
    with pytest.raises(InputError, match="missing or infinite"):
        BetaGeoModel().fit([1, np.nan], [5, 7], [6, 8])
    with pytest.raises(InputError, match="penalizer"):
        BetaGeoModel(penalizer=-1).fit([1, 2], [5, 7], [6, 8])
    with pytest.raises(InputError, match="frequency > 0"):
        GammaGammaModel().fit([0, 2, 3], [0.0, 10.0, 12.0])
    with pytest.raises(ModelFitError, match="not fitted"):
        BetaGeoModel().probability_alive([1], [1], [2])
    with pytest.raises(ModelFitError, match="not fitted"):
        GammaGammaModel().expected_average_value([1], [10.0])


def test_clv_discounts_and_grows_with_the_horizon(fitted, population):
    bgnbd, gg = fitted
    sample = population.iloc[:500].fillna({"monetary_value": 0.0})
    args = (sample["frequency"], sample["recency"], sample["T"], sample["monetary_value"])
    one_year = customer_lifetime_value(bgnbd, gg, *args, 12, 0.01, "week")
    two_years = customer_lifetime_value(bgnbd, gg, *args, 24, 0.01, "week")
    undiscounted = customer_lifetime_value(bgnbd, gg, *args, 12, 0.0, "week")
    assert np.all(two_years > one_year) and np.all(undiscounted > one_year)
    value = gg.expected_average_value(sample["frequency"], sample["monetary_value"])
    purchases = bgnbd.expected_purchases(12 * 365.25 / 12 / 7, *args[:3])
    np.testing.assert_allclose(undiscounted, value * purchases, rtol=1e-9)
    with pytest.raises(InputError, match="time_unit"):
        customer_lifetime_value(bgnbd, gg, *args, 12, 0.01, "month")


def test_cli_prints_parameters_and_log_likelihoods_as_json(tmp_path, capsys):
    tx = simulate_transactions(
        3000, start="2023-01-01", end="2024-01-01", r=0.5, alpha=10, a=0.8, b=3, seed=9
    )
    path = tmp_path / "tx.parquet"
    tx.to_parquet(path)
    parser = argparse.ArgumentParser()
    clv_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "clv",
            "--transactions",
            str(path),
            "--customer-col",
            "customer_id",
            "--date-col",
            "date",
            "--amount-col",
            "amount",
            "--as-of",
            "2024-01-01",
            "--unit",
            "day",
        ]
    )
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    summary = summarize_transactions(
        tx, customer_col="customer_id", date_col="date", amount_col="amount", as_of="2024-01-01", unit="day"
    )
    direct = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    assert report["customers"] == 3000
    assert report["bgnbd"]["params"] == pytest.approx(direct.params_)
    assert report["bgnbd"]["log_likelihood"] == pytest.approx(direct.log_likelihood_)
    assert set(report["gamma_gamma"]["params"]) == {"p", "q", "gamma"}
    missing_file = ["--transactions", str(tmp_path / "none.csv")]
    bad = parser.parse_args(
        ["clv", *missing_file, "--customer-col", "c", "--date-col", "d", "--as-of", "2024-01-01"]
    )
    with pytest.raises(InputError, match="does not exist"):
        bad.func(bad)
