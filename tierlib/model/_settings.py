"""Settings of the ``model`` config section: training windows, hyperparameters, promotion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_EXCLUDED_FEATURES = ("rfm_code", "rfm_cell", "rfm_cell_en")

PrimaryMetric = Literal["top_share_capture", "normalized_gini", "spearman"]


@dataclass(frozen=True)
class BoostingParams:
    """Hyperparameters of one histogram gradient boosting model (scikit-learn names)."""

    learning_rate: float = 0.05
    max_iter: int = 200
    max_leaf_nodes: int = 7
    min_samples_leaf: int = 200
    l2_regularization: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.learning_rate <= 1.0:
            raise ValueError(f"learning_rate: {self.learning_rate} must be in (0, 1]")
        for name in ("max_iter", "max_leaf_nodes", "min_samples_leaf"):
            if getattr(self, name) < (2 if name == "max_leaf_nodes" else 1):
                raise ValueError(f"{name}: {getattr(self, name)} is too small")
        if self.l2_regularization < 0:
            raise ValueError(f"l2_regularization: {self.l2_regularization} must not be negative")


@dataclass(frozen=True)
class ModelSettings:
    horizon_days: int = 90
    """Labels: spend and churn (no purchase) over this many days after each cutoff."""
    training_cutoffs: int = 4
    """How many training cutoffs (month starts) are stacked, each with a full label window."""
    cutoff_spacing_months: int = 1
    value_loss: Literal["poisson", "squared_error"] = "poisson"
    """Loss of the spend-of-buyers model; Poisson deviance suits a skewed, non-negative target."""
    value: BoostingParams = BoostingParams()
    churn: BoostingParams = BoostingParams()
    exclude_features: tuple[str, ...] = DEFAULT_EXCLUDED_FEATURES
    """Feature columns the model must not use (identifiers and datetimes never are).

    By default the RFM cell labels, which restate the r/f/m columns.
    """
    max_categories: int = 16
    """Text feature columns with at most this many distinct values are used as categories."""
    top_share: float = 0.2
    """The top share of members by prediction whose next-90-day spend is measured."""
    primary_metric: PrimaryMetric = "top_share_capture"
    promotion_margin: float = 0.005
    """A candidate must beat the current model (or the CLV baseline) by at least this much."""
    threads: int = 1
    """OpenMP threads for fitting; keep it at or under the cores a task really has to itself
    (boosting's split search waits on every thread each tree, so a busy core stalls all of them)."""
    score_threads: int | None = None
    """OpenMP threads for monthly scoring; None: every core the task may use.  Prediction walks
    each member's trees on its own, so scores are the same at any thread count, and the threads
    do not wait on each other."""
    importance_repeats: int = 2
    """Permutation importance repeats on the validation window (0: built-in only, none)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.horizon_days < 7:
            raise ValueError(f"horizon_days: {self.horizon_days} is too short; use 90 (the default)")
        if self.training_cutoffs < 1:
            raise ValueError(f"training_cutoffs: {self.training_cutoffs} must be at least 1")
        if self.cutoff_spacing_months < 1:
            raise ValueError(f"cutoff_spacing_months: {self.cutoff_spacing_months} must be at least 1")
        if not 0.0 < self.top_share < 1.0:
            raise ValueError(f"top_share: {self.top_share} must be in (0, 1), e.g. 0.2")
        if self.promotion_margin < 0:
            raise ValueError(f"promotion_margin: {self.promotion_margin} must not be negative")
        if self.threads < 1:
            raise ValueError(f"threads: {self.threads} must be at least 1")
        if self.score_threads is not None and self.score_threads < 1:
            raise ValueError(f"score_threads: {self.score_threads} must be at least 1 (empty: every core)")
        if self.importance_repeats < 0:
            raise ValueError(f"importance_repeats: {self.importance_repeats} must not be negative")
