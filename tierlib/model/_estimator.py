"""The tiering model: 90-day value and churn probability from a member's features.

Two scikit-learn pipelines share one input preparation: text columns with few
values become ordinal-coded categories, everything else numeric passes
through (missing values stay missing; histogram gradient boosting handles
them).  Value uses Poisson deviance by default: most members spend nothing in
a quarter and a few spend a lot, and Poisson deviance fits a non-negative mean
to such targets without the log-transform bias of squared error on log spend.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from tierlib.errors import InputError, ModelFitError
from tierlib.model._settings import BoostingParams

NON_FEATURE_COLUMNS = frozenset({"oneid", "cutoff", "as_of", "person_id"})
LABEL_PREFIX = "label_"


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
    Fitted state: ``numeric_features_``, ``categorical_features_``,
    ``feature_names_in_``, ``value_pipeline_``, ``churn_pipeline_``, ``n_training_rows_``.
    """

    def __init__(
        self,
        *,
        value_params: BoostingParams | None = None,
        churn_params: BoostingParams | None = None,
        value_loss: str = "poisson",
        exclude_features: tuple[str, ...] = (),
        max_categories: int = 16,
        random_state: int = 0,
    ):
        self.value_params = value_params
        self.churn_params = churn_params
        self.value_loss = value_loss
        self.exclude_features = exclude_features
        self.max_categories = max_categories
        self.random_state = random_state

    def fit(self, features: pd.DataFrame, spend, churned) -> TieringModel:
        if self.value_loss not in ("poisson", "squared_error"):
            raise ModelFitError(
                f"value_loss {self.value_loss!r}: use 'poisson' or 'squared_error' (model.value_loss)"
            )
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
        if spend.sum() <= 0:
            raise ModelFitError(
                "no member spent anything in any label window: the training data holds no orders"
            )
        if churned.all() or not churned.any():
            raise ModelFitError(
                "the churn label has one class only (everyone or no one churned); "
                "add more history (run.history_months) or more members before retraining"
            )
        numeric, categorical = select_feature_columns(
            features, exclude=self.exclude_features, max_categories=self.max_categories
        )
        if not numeric and not categorical:
            raise ModelFitError("the feature table has no usable columns (numbers, booleans or short text)")
        inputs = prepare_inputs(features, numeric, categorical)
        value_params = self.value_params or BoostingParams()
        churn_params = self.churn_params or BoostingParams()
        value = HistGradientBoostingRegressor(
            loss=self.value_loss, **_boosting_kwargs(value_params, self.random_state)
        )
        churn = HistGradientBoostingClassifier(**_boosting_kwargs(churn_params, self.random_state))
        self.numeric_features_ = numeric
        self.categorical_features_ = categorical
        self.feature_names_in_ = np.asarray([*categorical, *numeric], dtype=object)
        self.value_pipeline_ = _pipeline(value, numeric, categorical).fit(inputs, spend)
        self.churn_pipeline_ = _pipeline(churn, numeric, categorical).fit(inputs, churned)
        self.n_training_rows_ = len(features)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "value_pipeline_"):
            raise NotFittedError(
                "this TieringModel is not fitted yet: call fit(features, spend, churned) first"
            )

    def inputs(self, features: pd.DataFrame) -> pd.DataFrame:
        """The prepared input frame the pipelines take (for permutation importance)."""
        self._check_fitted()
        return prepare_inputs(features, self.numeric_features_, self.categorical_features_)

    def predict_value(self, features: pd.DataFrame) -> np.ndarray:
        """Expected spend over the horizon (non-negative)."""
        inputs = self.inputs(features)
        predicted = self.value_pipeline_.predict(inputs)
        return np.clip(predicted, 0.0, None)

    def predict_churn(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of no purchase over the horizon."""
        inputs = self.inputs(features)
        return self.churn_pipeline_.predict_proba(inputs)[:, 1]

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """``predicted_value_90d`` and ``churn_probability`` per row, on ``features``' index."""
        return pd.DataFrame(
            {
                "predicted_value_90d": self.predict_value(features),
                "churn_probability": self.predict_churn(features),
            },
            index=features.index,
        )

    def __repr__(self) -> str:
        state = "fitted" if hasattr(self, "value_pipeline_") else "not fitted"
        return f"TieringModel(value_loss={self.value_loss!r}, random_state={self.random_state}, {state})"
