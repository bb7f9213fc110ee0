"""Per-member value features at a run's as-of date: RFM and its 8 cells, lifecycle stage,
BG/NBD + Gamma-Gamma CLV, engagement, price sensitivity, breadth, channels, tenure.

Functions over DataFrames, no IO.  Column meanings: docs/features.md.
"""

from tierlib.features._compute import FEATURE_COLUMNS, compute_features
from tierlib.features._lifecycle import STAGES
from tierlib.features._rfm import RFM_CELLS, quintile_scores
from tierlib.features._settings import FeatureSettings

__all__ = [
    "FEATURE_COLUMNS",
    "RFM_CELLS",
    "STAGES",
    "FeatureSettings",
    "compute_features",
    "quintile_scores",
]
