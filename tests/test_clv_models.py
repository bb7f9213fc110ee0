"""Pareto/NBD and MBG/NBD beside BG/NBD: CDNOW against lifetimes 0.11.3, exact formulas, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tests.test_clv import lifetimes_module
from tierlib.clv import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel, simulate_bgnbd_summary
from tierlib.errors import InputError, ModelFitError

# lifetimes 0.11.3 on the CDNOW summary (Fader, Hardie & Lee report 0.55, 10.58, 0.61, 11.67)
CDNOW_PARAMS = {
    ParetoNBDModel: {"r": 0.5533, "alpha": 10.5773, "s": 0.6062, "beta": 11.6697},
    ModifiedBetaGeoModel: {"r": 0.5248, "alpha": 6.1830, "a": 0.8914, "b": 1.6140},
}
FITTERS = {ParetoNBDModel: "ParetoNBDFitter", ModifiedBetaGeoModel: "ModifiedBetaGeoFitter"}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    from lifetimes.datasets import load_cdnow_summary

    lifetimes_module()
    return load_cdnow_summary(index_col=[0])


def rfm(data: pd.DataFrame):
    return data["frequency"], data["recency"], data["T"]


@pytest.mark.parametrize("model_class", [ParetoNBDModel, ModifiedBetaGeoModel])
def test_cdnow_parameters_and_log_likelihood_agree_with_lifetimes(cdnow, model_class):
    lifetimes = lifetimes_module()
    ours = model_class().fit(*rfm(cdnow))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(lifetimes, FITTERS[model_class])().fit(*rfm(cdnow))
    for name, published in CDNOW_PARAMS[model_class].items():
        assert ours.params_[name] == pytest.approx(theirs.params_[name], rel=1e-3), name
        assert ours.params_[name] == pytest.approx(published, rel=1e-3), name
    # lifetimes keeps the mean negative log-likelihood on time rescaled by s = 1/max(T), which
    # shifts each customer's log-likelihood by x·log(s); ours is the total on the caller's scale.
    # (Its Pareto/NBD keeps the total, not the mean.)
    n = len(cdnow)
    theirs_mean = theirs._negative_log_likelihood_ / (n if model_class is ParetoNBDModel else 1)
    theirs_total = -theirs_mean * n + cdnow["frequency"].sum() * np.log(theirs._scale)
    assert ours.log_likelihood_ == pytest.approx(theirs_total, rel=1e-6)
    assert ours.log_likelihood_ >= theirs_total - 1e-6  # ours is the exact maximum
    assert ours.n_customers_ == n and ours.n_patterns_ <= n


@pytest.mark.parametrize("model_class", [ParetoNBDModel, ModifiedBetaGeoModel])
def test_predictions_agree_with_lifetimes_at_the_same_parameters(cdnow, model_class):
    lifetimes = lifetimes_module()
    ours = model_class().fit(*rfm(cdnow))
    theirs = getattr(lifetimes, FITTERS[model_class])()
    theirs.params_ = pd.Series(ours.params_)
    f, r, t = rfm(cdnow)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs.conditional_expected_number_of_purchases_up_to_time(13.0, f, r, t)
        alive = theirs.conditional_probability_alive(f, r, t)
    np.testing.assert_allclose(ours.expected_purchases(13.0, f, r, t), expected, rtol=1e-9)
    np.testing.assert_allclose(ours.probability_alive(f, r, t), alive, rtol=1e-9)


@pytest.mark.parametrize(
    "params, history, log_likelihood, alive, expected_13",
    [
        # reference values: FHL 2005's expressions evaluated with mpmath at 60 digits
        (
            (0.55, 10.58, 0.61, 11.67),
            (0, 0, 30),
            -0.4818436218987444,
            0.3556136369475733,
            0.05752738579877772,
        ),
        (
            (0.55, 10.58, 0.61, 11.67),
            (3, 10, 52),
            -10.936776331032178,
            0.06662696423659405,
            0.046370956381422405,
        ),
        (
            (0.55, 10.58, 0.61, 11.67),
            (1000, 51, 52),
            1778.787748308936,
            0.00016549842799605402,
            0.03246387396399837,
        ),
        (
            (0.55, 10.58, 0.61, 11.67),
            (5000, 51.9, 52),
            16902.894356547982,
            0.7371766425659586,
            722.698269196586,
        ),
        (
            (0.55, 20.58, 0.61, 5.67),
            (30, 10, 52),
            -34.11499237871995,
            4.2129491208076e-11,
            2.163530638773184e-10,
        ),
        ((0.55, 20.58, 0.61, 5.67), (200, 50, 52), 2.0439687524425194, 0.4853515142238337, 16.3623122484097),
        (
            (0.55, 20.58, 0.61, 5.67),
            (5000, 51.9, 52),
            16161.416668761409,
            0.8684120677682234,
            729.9771149483175,
        ),
    ],
)
def test_pareto_nbd_matches_high_precision_reference_values(
    params, history, log_likelihood, alive, expected_13
):
    # lifetimes returns NaN for the frequent buyers here; both branches (α >= β, α < β) are covered
    model = ParetoNBDModel()
    model.params_ = dict(zip(("r", "alpha", "s", "beta"), params, strict=True))
    x, t_x, age = ([value] for value in history)
    assert model.log_likelihood(x, t_x, age)[0] == pytest.approx(log_likelihood, rel=1e-12)
    assert model.probability_alive(x, t_x, age)[0] == pytest.approx(alive, rel=1e-10)
    assert model.expected_purchases(13, x, t_x, age)[0] == pytest.approx(expected_13, rel=1e-10)


def test_mbgnbd_lets_customers_without_a_repeat_purchase_drop_out():
    params = {"r": 0.52, "alpha": 6.18, "a": 0.89, "b": 1.61}
    bg, mbg = BetaGeoModel(), ModifiedBetaGeoModel()
    bg.params_ = mbg.params_ = params
    # BG/NBD: no repeat purchase means alive; MBG/NBD: dead after the first purchase with odds
    # a/b · ((α+T)/α)^r
    assert bg.probability_alive([0], [0], [40])[0] == 1.0
    odds = 0.89 / 1.61 * ((6.18 + 40) / 6.18) ** 0.52
    assert mbg.probability_alive([0], [0], [40])[0] == pytest.approx(1 / (1 + odds), rel=1e-12)
    # identical (α+T)/(α+t_x) odds otherwise, with b+x in place of b+x-1
    odds = 0.89 / (1.61 + 4) * ((6.18 + 40) / (6.18 + 20)) ** (0.52 + 4)
    assert mbg.probability_alive([4], [20], [40])[0] == pytest.approx(1 / (1 + odds), rel=1e-12)


@pytest.mark.parametrize("model_class", [ParetoNBDModel, ModifiedBetaGeoModel])
def test_fit_on_distinct_rows_with_counts_equals_fit_on_every_customer(model_class):
    weeks = np.random.default_rng(3).integers(10, 40, 3000).astype(float)
    data = simulate_bgnbd_summary(weeks, r=0.5, alpha=8.0, a=0.8, b=3.0, seed=4)
    data["recency"] = np.floor(data["recency"])
    full = model_class().fit(*rfm(data))
    counted = data.value_counts(["frequency", "recency", "T"]).reset_index()
    weighted = model_class().fit(*rfm(counted), weights=counted["count"])
    assert full.n_patterns_ == weighted.n_patterns_ == len(counted) < len(data)
    for name, value in full.params_.items():
        assert weighted.params_[name] == pytest.approx(value, rel=1e-7), name


@pytest.mark.parametrize("model_class", [ParetoNBDModel, ModifiedBetaGeoModel])
def test_penalizer_means_what_lifetimes_penalizer_coef_means(cdnow, model_class):
    lifetimes = lifetimes_module()
    ours = model_class(penalizer=0.01).fit(*rfm(cdnow))
    plain = model_class().fit(*rfm(cdnow))
    # ours weighs the penalty against the mean log-likelihood in every model; lifetimes'
    # Pareto/NBD (alone) adds it to the total, so the same strength is n times its coefficient
    coefficient = 0.01 * (len(cdnow) if model_class is ParetoNBDModel else 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(lifetimes, FITTERS[model_class])(penalizer_coef=coefficient).fit(*rfm(cdnow))
    assert ours.params_["r"] != pytest.approx(plain.params_["r"], rel=1e-2)
    for name, value in ours.params_.items():
        assert value == pytest.approx(theirs.params_[name], rel=1e-3), name


@pytest.mark.parametrize(
    "model_class, name", [(ParetoNBDModel, "Pareto/NBD"), (ModifiedBetaGeoModel, "MBG/NBD")]
)
def test_fits_that_cannot_work_raise_model_fit_errors_naming_the_model_and_what_to_change(model_class, name):
    with pytest.raises(ModelFitError, match=f"{name} fit is impossible: no customer has a repeat purchase"):
        model_class().fit([0, 0, 0], [0, 0, 0], [5, 8, 9])
    # every buyer buys every period and never stops: the drop-out rate runs off to 0
    weeks = np.arange(1, 200, dtype=float)
    with pytest.raises(ModelFitError, match=f"{name} fit did not converge.*penalizer") as error:
        model_class().fit(weeks, weeks, weeks)
    assert f"{model_class.__name__}(penalizer=" in str(error.value)
    with pytest.raises(InputError, match="missing or infinite"):
        model_class().fit([1, np.inf], [5, 7], [6, 8])
    with pytest.raises(InputError, match=f"{name} inputs are inconsistent: recency is larger than T"):
        model_class().fit([1, 2], [5, 9], [6, 8])
    with pytest.raises(ModelFitError, match="not fitted"):
        model_class().expected_purchases(1, [1], [1], [2])
