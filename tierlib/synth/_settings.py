"""The one object that describes a synthetic dataset."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from tierlib.errors import ConfigError

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class SynthSettings:
    """What to generate.  The same settings always give the same bytes.

    ``members`` counts people (the existing base plus everyone who joins during
    the span); each of them holds one to four channel records.
    """

    members: int = 2_000
    months: int = 6
    start: str = "2024-01"
    seed: int = 0
    bad_rate: float = 0.005
    new_member_share: float = 0.4
    """Share of ``members`` who join during the span; the rest are the existing base."""
    unlinked_records: bool = False
    """Add records that share no strong identifier with their person's others (marketplace
    profiles with masked phones, walk-ins, second accounts; ``tierlib.synth._unlinked``).  Off by
    default so that datasets pinned elsewhere (tests/golden) keep their bytes; the probabilistic
    OneID layer's quality test and benchmark turn it on."""

    def validate(self) -> SynthSettings:
        problems = []
        if not isinstance(self.members, int) or self.members < 10:
            problems.append(f"members={self.members!r}: give an integer of at least 10")
        if not isinstance(self.months, int) or not 1 <= self.months <= 120:
            problems.append(f"months={self.months!r}: give an integer from 1 to 120")
        if not isinstance(self.start, str) or not _MONTH.match(self.start):
            problems.append(f"start={self.start!r}: give a month as YYYY-MM, e.g. 2024-01")
        elif not 1990 <= int(self.start[:4]) <= 2070:
            problems.append(f"start={self.start!r}: give a year from 1990 to 2070")
        if not isinstance(self.seed, int) or self.seed < 0:
            problems.append(f"seed={self.seed!r}: give a non-negative integer")
        if not 0.0 <= float(self.bad_rate) <= 0.2:
            problems.append(f"bad_rate={self.bad_rate!r}: give a fraction from 0 to 0.2")
        if not 0.0 <= float(self.new_member_share) <= 1.0:
            problems.append(f"new_member_share={self.new_member_share!r}: give a fraction from 0 to 1")
        if not isinstance(self.unlinked_records, bool):
            problems.append(f"unlinked_records={self.unlinked_records!r}: give true or false")
        if problems:
            raise ConfigError("invalid synth settings: " + "; ".join(problems))
        return self

    def to_dict(self) -> dict:
        return asdict(self)
