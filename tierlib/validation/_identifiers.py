"""Decide on a channel's identifier quality: warn when damage jumps, stop when most values are damaged."""

from __future__ import annotations

from tierlib.validation._outcome import Failure
from tierlib.validation.settings import ValidationSettings


def identifier_findings(
    quality: dict[str, dict],
    previous: dict[str, dict] | None,
    *,
    channel: str,
    period: str,
    where: str,
    settings: ValidationSettings,
) -> tuple[list[Failure], list[dict]]:
    """(failures that stop the month, warnings for the figures and the report).

    ``quality`` is this month's ``identifier_quality`` of the channel's records, ``previous``
    last month's (None when it was not extracted or measured).
    """
    checks = settings.identifiers
    failures, warnings = [], []
    for column, figures in quality.items():
        if figures["present"] < checks.min_present:
            continue
        share = figures["damaged_share"]
        reasons = ", ".join(f"{reason} {n}" for reason, n in figures["reasons"].items())
        limit = checks.threshold_for(channel, column)
        if share > limit:
            failures.append(
                Failure(
                    f"records.{column}.damaged_share",
                    f"{where}: {share:.0%} of the {figures['present']} {column} values of channel {channel} "
                    f"cannot identify anyone ({reasons}), above the limit of {limit:.0%}. A spreadsheet or "
                    f"export step damaged the column (numbers in scientific notation lose their last "
                    f"digits): export {column} as text and deliver again, or raise "
                    f"validation.identifiers.thresholds.{channel}.{column}.",
                    observed=share,
                )
            )
        before = (previous or {}).get(column)
        if before and before.get("present", 0) >= checks.min_present:
            jump = share - float(before.get("damaged_share", 0.0))
            if jump >= checks.warn_jump:
                warnings.append(
                    {
                        "kind": "identifier_damage_jump",
                        "channel": channel,
                        "column": column,
                        "period": period,
                        "damaged_share": share,
                        "previous_damaged_share": float(before["damaged_share"]),
                        "reasons": figures["reasons"],
                        "message": (
                            f"channel {channel}: {share:.0%} of {column} values of {period} cannot identify "
                            f"anyone ({reasons}), against {float(before['damaged_share']):.0%} last month"
                        ),
                    }
                )
    return failures, warnings
