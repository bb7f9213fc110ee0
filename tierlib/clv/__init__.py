"""Customer lifetime value: purchase models (BG/NBD, MBG/NBD, Pareto/NBD, and the no-drop-out
limit NBD), Gamma-Gamma spend, and their discounted sum.

The models follow scikit-learn's conventions: keyword-only parameters, ``fit``
returns the model, fitted state ends in ``_``.
"""

from tierlib.clv._bgnbd import BetaGeoModel, ModifiedBetaGeoModel
from tierlib.clv._choice import PURCHASE_MODELS, compare_on_holdout
from tierlib.clv._gamma_gamma import GammaGammaModel
from tierlib.clv._nbd import NoDropoutModel
from tierlib.clv._pareto_nbd import ParetoNBDModel
from tierlib.clv._simulate import simulate_average_spend, simulate_bgnbd_summary, simulate_transactions
from tierlib.clv._summary import backtest, calibration_holdout_split, summarize_transactions
from tierlib.clv._value import customer_lifetime_value, periods_per_month

__all__ = [
    "PURCHASE_MODELS",
    "BetaGeoModel",
    "GammaGammaModel",
    "ModifiedBetaGeoModel",
    "NoDropoutModel",
    "ParetoNBDModel",
    "backtest",
    "calibration_holdout_split",
    "compare_on_holdout",
    "customer_lifetime_value",
    "periods_per_month",
    "simulate_average_spend",
    "simulate_bgnbd_summary",
    "simulate_transactions",
    "summarize_transactions",
]
