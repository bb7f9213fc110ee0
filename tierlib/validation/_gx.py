"""The process's one Great Expectations context, and how a suite runs on a DataFrame.

Great Expectations is imported here and only inside functions: the import costs
about 3 s, which neither a DAG file nor the config loader should pay.  The
context is ephemeral (nothing is written but the Data Docs site) and is made
once per process; every validation of the process reuses it.

Each dataset gets one data asset with a whole-DataFrame batch definition, and
each run replaces the dataset's suite, validation definition and checkpoint
(their bounds change with the month).  A checkpoint with an
``UpdateDataDocsAction`` renders the run's page into the current Data Docs
folder.  Not thread-safe: one validation at a time per process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

SITE_NAME = "tierflow"
DATASOURCE_NAME = "tierflow"
BATCH_NAME = "whole_dataframe"


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation to run: a GX expectation class name and its arguments."""

    key: str
    """Unique within the suite; comes back with the result."""
    expectation: str
    """Class name in ``great_expectations.expectations``, e.g. ``ExpectColumnValuesToBeBetween``."""
    kwargs: Mapping[str, Any]


@dataclass(frozen=True)
class SpecResult:
    key: str
    success: bool
    element_count: int | None
    unexpected_count: int
    unexpected_index: list
    """Index values (here: row positions) of the failing rows of a row-level expectation."""
    observed: Any
    error: str | None


class GXRuntime:
    """An ephemeral GX context with a pandas data source and one Data Docs site."""

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        # GX logs its own set-up and every metric at INFO, and draws progress bars into task logs.
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        # GX fingerprints every in-memory batch under 1 GB (a hash of every value: a third of
        # the time of a million-member suite) for a batch marker nothing here reads.
        pandas_execution_engine.HASH_THRESHOLD = 0
        self._gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self._datasource = self.context.data_sources.add_pandas(DATASOURCE_NAME)
        self._batches: dict[str, Any] = {}
        self._docs_folder: Path | None = None
        self._own_docs_folder: Path | None = None

    # -- Data Docs ---------------------------------------------------------------------

    def use_docs_folder(self, folder: str | os.PathLike[str] | None) -> Path:
        """Render Data Docs into ``folder`` from now on (None: a private temporary folder).

        Switching folders starts a fresh site: the results kept in memory are
        dropped, so the site's index lists the validations of this folder only.
        """
        if folder is None:
            if self._own_docs_folder is None:
                self._own_docs_folder = Path(tempfile.mkdtemp(prefix="tierflow-data-docs-"))
            target = self._own_docs_folder
        else:
            target = Path(folder)
        if target == self._docs_folder:
            return target
        target.mkdir(parents=True, exist_ok=True)
        store = self.context.validation_results_store
        for key in store.list_keys():
            store.remove_key(key)
        site = {
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(target)},
        }
        if SITE_NAME in (self.context.get_config().data_docs_sites or {}):
            self.context.update_data_docs_site(SITE_NAME, site)
        else:
            self.context.add_data_docs_site(SITE_NAME, site)
        self._docs_folder = target
        return target

    # -- running a suite ---------------------------------------------------------------

    def run(
        self,
        suite_name: str,
        frame,
        specs: Sequence[ExpectationSpec],
        *,
        run_name: str,
        run_time: datetime,
        build_docs: bool,
    ) -> list[SpecResult]:
        """Run ``specs`` as suite ``suite_name`` on ``frame`` through a checkpoint."""
        import great_expectations.expectations as gxe
        from great_expectations.checkpoint import UpdateDataDocsAction
        from great_expectations.core.run_identifier import RunIdentifier

        gx = self._gx
        context = self.context
        expectations = [
            getattr(gxe, spec.expectation)(**spec.kwargs, meta={"tierflow_key": spec.key}) for spec in specs
        ]
        for factory in (context.checkpoints, context.validation_definitions, context.suites):
            # A name is replaced whole: the month's bounds live in the suite.
            with contextlib.suppress(Exception):  # GX has its own not-found types; absent is fine
                factory.delete(suite_name)
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=self._batch_definition(suite_name), suite=suite)
        )
        actions = []
        if build_docs:
            self.use_docs_folder(self._docs_folder)
            actions.append(UpdateDataDocsAction(name="update_data_docs", site_names=[SITE_NAME]))
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=suite_name,
                validation_definitions=[definition],
                actions=actions,
                # COMPLETE gives every failing row's index; the query text is not needed.
                result_format={
                    "result_format": "COMPLETE",
                    "return_unexpected_index_query": False,
                    "exclude_unexpected_values": True,
                },
            )
        )
        store = context.validation_results_store
        kept = set(store.list_keys())
        outcome = checkpoint.run(
            batch_parameters={"dataframe": frame},
            run_id=RunIdentifier(run_name=run_name, run_time=run_time),
        )
        if not build_docs:
            # Results are kept in memory for the Data Docs index only; a validation without
            # a page (history months) would otherwise pile up for the life of the process.
            for key in set(store.list_keys()) - kept:
                store.remove_key(key)
        (validation,) = outcome.run_results.values()
        return [_spec_result(result) for result in validation.results]

    def _batch_definition(self, asset_name: str):
        if asset_name not in self._batches:
            asset = self._datasource.add_dataframe_asset(name=asset_name)
            self._batches[asset_name] = asset.add_batch_definition_whole_dataframe(BATCH_NAME)
        return self._batches[asset_name]


def _spec_result(result) -> SpecResult:
    details = result.result or {}
    return SpecResult(
        key=result.expectation_config.meta["tierflow_key"],
        success=bool(result.success),
        element_count=details.get("element_count"),
        unexpected_count=int(details.get("unexpected_count") or 0),
        unexpected_index=list(details.get("unexpected_index_list") or []),
        observed=details.get("observed_value"),
        error=_error_text(result.exception_info),
    )


def _error_text(info) -> str | None:
    """The exception GX caught while computing an expectation, if any (two shapes exist)."""
    if not info:
        return None
    candidates = [info] if "raised_exception" in info else list(info.values())
    for candidate in candidates:
        if isinstance(candidate, Mapping) and candidate.get("raised_exception"):
            return str(candidate.get("exception_message") or "error while computing the expectation")
    return None


_RUNTIME: GXRuntime | None = None


def runtime() -> GXRuntime:
    """The process's GX runtime, made on first use."""
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = GXRuntime()
    return _RUNTIME
