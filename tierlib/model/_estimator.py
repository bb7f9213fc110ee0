"""The tiering model: 90-day value and churn probability from a member's features.

Spend over a quarter is zero for most members and large for a few, so value
is modelled in two parts (a hurdle model): the probability of buying at all,
which is one minus the churn probability, times the expected spend of those
who buy.  Both are histogram gradient boosting pipelines over one input
preparation: text columns with few values become ordinal-coded categories,
numbers pass through (missing values stay missing; the trees handle them),
and the CLV baseline's own 90-day value (expected purchases x expected order
value) is added as a feature, since trees approximate a product of two
columns only coarsely.  The spend part uses Poisson deviance by default: a
non-negative mean, without the bias of fitting squared error to log spend.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from threadpoolctl import threadpool_limits

from tierlib.errors import InputError, ModelFitError
from tierlib.model._settings import DEFAULT_EXCLUDED_FEATURES, BoostingParams

NON_FEATURE_COLUMNS = frozenset({"oneid", "cutoff", "as_of", "person_id"})
LABEL_PREFIX = "label_"

DERIVED_FEATURES: dict[str, tuple[str, str]] = {
    "clv_value_90d": ("expected_purchases_90d", "expected_average_value"),
}
"""Products of two feature columns added before fitting, when both columns are there."""


def add_derived_features(frame: pd.DataFrame, names) -> pd.DataFrame:
    """``frame`` with the named ``DERIVED_FEATURES`` columns added (a copy; missing factors count as 0)."""
    if not names:
        return frame
    frame = frame.copy()
    for name in names:
        left, right = DERIVED_FEATURES[name]
        frame[name] = frame[left].astype("float64").fillna(0.0) * frame[right].astype("float64").fillna(0.0)
    return frame


class NotFittedError(ModelFitError):
    """A model was asked to predict before ``fit``."""


def select_feature_columns(frame: pd.DataFrame, *, exclude=(), max_categories: int = 16) -> tuple[list, list]:
    """(numeric columns, categorical columns) of a feature table that a model can use.

    Numbers and booleans are used as they are; text columns with 1..``max_categories``
    distinct values become categories; identifiers, labels, datetimes and
    free text (too many values) are left out.
    """
    numeric, categorical = [], []
    skip = set(NON_FEATURE_COLUMNS) | set(exclude)
    for column in frame.columns:
        name = str(column)
        if name in skip or name.startswith(LABEL_PREFIX):
            continue
        dtype = frame[column].dtype
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            numeric.append(name)
        elif pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
            distinct = frame[column].nunique(dropna=True)
            if 1 <= distinct <= max_categories:
                categorical.append(name)
    return numeric, categorical


def prepare_inputs(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The model's input frame: numbers as float64 (missing -> NaN), categories as object (missing -> NaN)."""
    missing = [column for column in [*numeric, *categorical] if column not in frame.columns]
    if missing:
        raise InputError(
            f"the model needs feature column(s) {missing}, which the feature table lacks; "
            "retrain the model on the current features (python -m tierlib retrain) or restore the columns"
        )
    data = {}
    for column in numeric:
        data[column] = frame[column].astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    for column in categorical:
        values = frame[column]
        data[column] = values.astype(object).where(values.notna(), np.nan).to_numpy(dtype=object)
    return pd.DataFrame(data, index=frame.index)


def _pipeline(estimator, numeric: list[str], categorical: list[str]) -> Pipeline:
    encode = ColumnTransformer(
        [
            (
                "categories",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    dtype=np.float64,
                ),
                categorical,
            ),
            ("numbers", "passthrough", numeric),
        ],
        verbose_feature_names_out=False,
    )
    encode.set_output(transform="pandas")
    estimator.set_params(categorical_features=list(categorical) or None)
    return Pipeline([("prepare", encode), ("model", estimator)])


def _boosting_kwargs(params: BoostingParams, seed: int) -> dict:
    return {
        "learning_rate": params.learning_rate,
        "max_iter": params.max_iter,
        "max_leaf_nodes": params.max_leaf_nodes,
        "min_samples_leaf": params.min_samples_leaf,
        "l2_regularization": params.l2_regularization,
        # Early stopping would hold out random rows; the same member at several
        # cutoffs would sit on both sides.  A fixed number of iterations is honest and repeatable.
        "early_stopping": False,
        "random_state": seed,
    }


class TieringModel:
    """Predict a member's spend over the next horizon and the probability of no purchase in it.

    Parameters are keyword-only and stored as given; ``fit`` checks them.
    ``threads`` bounds the OpenMP threads of fitting and prediction: on a
    machine shared with other tasks, boosting on every core spins and can run
    fifty times slower than on one.

    Fitted state: ``numeric_features_``, ``categorical_features_``,
    ``derived_features_``, ``feature_names_in_``, ``churn_pipeline_`` (P(no
    purchase)), ``spend_pipeline_`` (spend of those who buy), ``n_training_rows_``.
    """

    def __init__(
        self,
        *,
        value_params: BoostingParams | None = None,
        churn_params: BoostingParams | None = None,
        value_loss: str = "poisson",
        exclude_features: tuple[str, ...] = DEFAULT_EXCLUDED_FEATURES,
        max_categories: int = 16,
        threads: int | None = 1,
        random_state: int = 0,
    ):
        self.value_params = value_params
        self.churn_params = churn_params
        self.value_loss = value_loss
        self.exclude_features = exclude_features
        self.max_categories = max_categories
        self.threads = threads
        self.random_state = random_state

    def _check_params(self) -> None:
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise ModelFitError(f"threads {self.threads!r}: give a whole number >= 1, or None for every core")
        if self.value_loss not in ("poisson", "squared_error"):
            raise ModelFitError(
                f"value_loss {self.value_loss!r}: use 'poisson' or 'squared_error' (model.value_loss)"
            )
        for name in ("value_params", "churn_params"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), BoostingParams):
                raise ModelFitError(f"{name} must be a BoostingParams or None, got {getattr(self, name)!r}")

    def fit(self, features: pd.DataFrame, spend, churned) -> TieringModel:
        """Fit on one row per member and cutoff; ``churned`` means no purchase in the horizon."""
        self._check_params()
        if not isinstance(features, pd.DataFrame) or features.empty:
            raise ModelFitError("the training set is empty: give features with at least one row per cutoff")
        spend = np.asarray(spend, dtype=np.float64)
        churned = np.asarray(churned, dtype=bool)
        if len(spend) != len(features) or len(churned) != len(features):
            raise ModelFitError(
                f"labels ({len(spend)}, {len(churned)}) do not match {len(features)} feature rows"
            )
        if np.isnan(spend).any() or (spend < 0).any():
            raise ModelFitError(
                "spend labels must be non-negative numbers; refunds larger than spend are clipped to 0"
            )
        if spend[~churned].sum() <= 0:
            raise ModelFitError(
                "no member spent anything in any label window: the training data holds no orders"
            )
        if churned.all() or not churned.any():
            raise ModelFitError(
                "the churn label has one class only (everyone or no one churned); "
                "add more history (run.history_months) or more members before retraining"
            )
        derived = [
            name
            for name, (left, right) in DERIVED_FEATURES.items()
            if left in features.columns and right in features.columns and name not in self.exclude_features
        ]
        features = add_derived_features(features, derived)
        numeric, categorical = select_feature_columns(
            features, exclude=self.exclude_features, max_categories=self.max_categories
        )
        if not numeric and not categorical:
            raise ModelFitError("the feature table has no usable columns (numbers, booleans or short text)")
        inputs = prepare_inputs(features, numeric, categorical)
        value_params = self.value_params or BoostingParams()
        churn_params = self.churn_params or BoostingParams()
        spend_model = HistGradientBoostingRegressor(
            loss=self.value_loss, **_boosting_kwargs(value_params, self.random_state)
        )
        churn_model = HistGradientBoostingClassifier(**_boosting_kwargs(churn_params, self.random_state))
        buyers = ~churned
        with threadpool_limits(limits=self.threads):
            churn_pipeline = _pipeline(churn_model, numeric, categorical).fit(inputs, churned)
            spend_pipeline = _pipeline(spend_model, numeric, categorical).fit(inputs[buyers], spend[buyers])
        self.numeric_features_ = numeric
        self.categorical_features_ = categorical
        self.derived_features_ = derived
        self.feature_names_in_ = np.asarray([*categorical, *numeric], dtype=object)
        self.churn_pipeline_ = churn_pipeline
        self.spend_pipeline_ = spend_pipeline
        self.n_training_rows_ = len(features)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "spend_pipeline_"):
            raise NotFittedError(
                "this TieringModel is not fitted yet: call fit(features, spend, churned) first"
            )

    def inputs(self, features: pd.DataFrame) -> pd.DataFrame:
        """The prepared input frame the pipelines take (derived features added)."""
        self._check_fitted()
        features = add_derived_features(features, self.derived_features_)
        return prepare_inputs(features, self.numeric_features_, self.categorical_features_)

    def predictions_from_inputs(self, inputs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(expected spend, P(no purchase)) from prepared inputs, each tree walked once per row.

        Expected spend is P(purchase) x spend of a buyer; both come from one ``predict_proba``.
        Prediction walks each row's trees on its own, so the numbers are the same at any
        ``threads``.
        """
        with threadpool_limits(limits=self.threads):
            no_purchase = self.churn_pipeline_.predict_proba(inputs)
            spend = np.clip(self.spend_pipeline_.predict(inputs), 0.0, None)
        return no_purchase[:, 0] * spend, no_purchase[:, 1]

    def value_from_inputs(self, inputs: pd.DataFrame) -> np.ndarray:
        """Expected spend from prepared inputs: P(purchase) x spend of a buyer."""
        return self.predictions_from_inputs(inputs)[0]

    def churn_from_inputs(self, inputs: pd.DataFrame) -> np.ndarray:
        with threadpool_limits(limits=self.threads):
            return self.churn_pipeline_.predict_proba(inputs)[:, 1]

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """``predicted_value_90d`` and ``churn_probability`` per row, on ``features``' index."""
        value, churn = self.predictions_from_inputs(self.inputs(features))
        return pd.DataFrame({"predicted_value_90d": value, "churn_probability": churn}, index=features.index)

    def __repr__(self) -> str:
        state = "fitted" if hasattr(self, "spend_pipeline_") else "not fitted"
        return f"TieringModel(value_loss={self.value_loss!r}, random_state={self.random_state}, {state})"
