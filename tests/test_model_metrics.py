"""Evaluation metrics: values worked out by hand, tie handling, and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from tierlib.model import evaluate_predictions, normalized_gini, spearman, top_share_capture


def test_top_share_capture_by_hand():
    actual = np.array([100.0, 0, 0, 50, 0, 0, 0, 0, 0, 50])
    perfect = actual.copy()
    assert top_share_capture(actual, perfect, 0.2) == pytest.approx(150 / 200)
    reversed_score = -actual
    assert top_share_capture(actual, reversed_score, 0.2) == pytest.approx(0.0)
    # Top two by score are members 3 and 9: 100 of 200.
    score = np.arange(10.0)
    score[3], score[9] = 100, 99
    assert top_share_capture(actual, score, 0.2) == pytest.approx(100 / 200)


def test_ties_count_as_their_expected_share_so_row_order_does_not_matter():
    actual = np.array([10.0, 0.0, 30.0, 0.0])
    flat = np.ones(4)
    # Everyone tied: any top half holds half the spend on average.
    assert top_share_capture(actual, flat, 0.5) == pytest.approx(0.5)
    coarse = np.array([2.0, 2.0, 1.0, 1.0])
    shuffled = np.array([3, 1, 2, 0])
    assert top_share_capture(actual, coarse, 0.25) == pytest.approx((10 / 2) / 40)
    assert top_share_capture(actual[shuffled], coarse[shuffled], 0.25) == top_share_capture(
        actual, coarse, 0.25
    )
    assert normalized_gini(actual[shuffled], coarse[shuffled]) == pytest.approx(
        normalized_gini(actual, coarse)
    )


def test_normalized_gini_is_one_for_the_perfect_order_minus_one_reversed_and_near_zero_at_random():
    rng = np.random.default_rng(0)
    actual = rng.gamma(0.3, 100, 20_000) * (rng.random(20_000) < 0.4)
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert normalized_gini(actual, -actual) == pytest.approx(-1.0)
    assert abs(normalized_gini(actual, rng.random(20_000))) < 0.03
    noisy = actual + rng.gamma(0.3, 100, 20_000)
    assert 0.2 < normalized_gini(actual, noisy) < 1.0


def test_spearman_and_undefined_cases():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [1, 1, 1, 1]) is None
    assert top_share_capture([0, 0, 0], [1, 2, 3]) is None
    assert normalized_gini([0, 0, 0], [1, 2, 3]) is None


def test_evaluate_predictions_leaves_out_what_a_scorer_cannot_give():
    actual = np.array([0.0, 10, 0, 40, 5])
    churned = actual == 0
    metrics = evaluate_predictions(actual, churned, actual, churn_score=-actual, churn_is_probability=False)
    assert metrics["top_share_capture"] == pytest.approx(40 / 55)
    assert metrics["churn_auc"] == pytest.approx(1.0)
    assert metrics["churn_brier"] is None
    probability = np.where(churned, 0.9, 0.2)
    metrics = evaluate_predictions(actual, churned, actual, churn_score=probability)
    assert metrics["churn_brier"] == pytest.approx(np.mean((probability - churned) ** 2))
    assert evaluate_predictions(actual, churned, actual)["churn_auc"] is None
