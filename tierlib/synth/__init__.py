"""Synthetic multi-channel member data with ground truth.

``generate(SynthSettings(...), out_dir)`` writes one folder per channel and
month in each channel's own dialect, plus ``_truth/`` (who is who, latent
behaviour, future spend, injected bad rows) and ``_suppression/optouts.csv``.
See docs/synthetic-data.md for the layout.
"""

from tierlib.synth._formats import BAD_ROW_REASONS
from tierlib.synth._generate import SynthSummary, generate
from tierlib.synth._noise import normalize_email, normalize_phone
from tierlib.synth._settings import SynthSettings

__all__ = [
    "BAD_ROW_REASONS",
    "SynthSettings",
    "SynthSummary",
    "generate",
    "normalize_email",
    "normalize_phone",
]
