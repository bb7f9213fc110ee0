"""Validation with Great Expectations: suites per dataset, row-level quarantine, run-level decisions.

::

    outcome = validate_raw(standardized, channel="pos", kind="orders", period="2026-10",
                           settings=settings, previous_rows=469, context_dir=workdir)
    outcome.accepted, outcome.quarantined, outcome.figures
    outcome.raise_for_failures()          # ValidationFailed naming channel, check and fraction

    outcome = validate_dataset("tiers", tiers, period="2026-10", settings=settings,
                               allowed_tiers=["vip", "regular"], context_dir=workdir)

    # In a stage runner: validate, publish Data Docs, write the quarantine, raise on failure.
    tiers = validate_output(ctx.storage, "tiers", tiers, period=ctx.period, settings=settings,
                            allowed_tiers=["vip", "regular"]).accepted

Great Expectations is imported only when a validation runs (it costs about
3 s); importing this package is cheap.  See docs/validation.md.
"""

from tierlib.validation._datasets import DATASETS, validate_dataset
from tierlib.validation._docs import data_docs_prefix, offline_page, publish_data_docs
from tierlib.validation._identifiers import identifier_findings
from tierlib.validation._outcome import Failure, ValidationOutcome, raise_for_failures
from tierlib.validation._raw import raw_checks, validate_raw
from tierlib.validation._schema import parse_drift_failures, source_schema_failures
from tierlib.validation._stage import validate_output
from tierlib.validation.settings import ValidationSettings

__all__ = [
    "DATASETS",
    "Failure",
    "ValidationOutcome",
    "ValidationSettings",
    "data_docs_prefix",
    "identifier_findings",
    "offline_page",
    "parse_drift_failures",
    "publish_data_docs",
    "raise_for_failures",
    "raw_checks",
    "source_schema_failures",
    "validate_dataset",
    "validate_output",
    "validate_raw",
]
