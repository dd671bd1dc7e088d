"""What one training/eval example is (the contract in ``seplive.data.mixing``'s docstring) and
TUSS's prompt rules: which prompts may share a mixture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.prompts import PROMPTS

INSTRUMENTS = ("drums", "bass", "vocals", "other")
FOREGROUND_REPEATABLE = ("speech", "sfx")
BACKGROUND = ("sfxbg", "musicbg")
#: named tasks: what each example's prompts are (tuss = the general random mode)
TASKS = ("tuss", "music4", "speech_music", "speech_sfx", "karaoke")
#: a song stem quieter than this (RMS; stems are rendered at about 0.1) over a crop counts as absent
SILENT = 3e-3


@dataclass
class Example:
    """One training/eval mixture; see the module docstring for the exact contract."""

    mixture: np.ndarray  # (channels, T) float32
    prompts: list[str]  # length P
    targets: np.ndarray  # (P, channels, T) float32, zeros for dropped-out prompts
    sample_rate: int
    task: str = "tuss"


def allowed_next(current: list[str]) -> list[str]:
    """Prompts that may be added to ``current`` without breaking a TUSS rule."""
    out = []
    for p in PROMPTS:
        if p not in FOREGROUND_REPEATABLE and p in current:
            continue
        if p == "sfx" and "sfxbg" in current or p == "sfxbg" and "sfx" in current:
            continue
        if p == "musicbg" and any(i in current for i in INSTRUMENTS):
            continue
        if p in INSTRUMENTS and "musicbg" in current:
            continue
        out.append(p)
    return out


def rule_violations(prompts: list[str]) -> list[str]:
    """Human-readable TUSS rule breaks in ``prompts`` (empty when valid)."""
    bad = []
    if not 2 <= len(prompts) <= 4:
        bad.append(f"{len(prompts)} prompts")
    for p in set(prompts):
        if p not in PROMPTS:
            bad.append(f"unknown prompt {p}")
        elif prompts.count(p) > 1 and p not in FOREGROUND_REPEATABLE:
            bad.append(f"{p} repeated")
    if "sfx" in prompts and "sfxbg" in prompts:
        bad.append("sfx with sfxbg")
    if "musicbg" in prompts and any(i in prompts for i in INSTRUMENTS):
        bad.append("musicbg with an instrument")
    return bad


def sample_prompts(rng: np.random.Generator) -> list[str]:
    """2-4 prompts drawn one at a time, uniformly among those the rules still allow."""
    n = int(rng.integers(2, 5))
    prompts: list[str] = []
    while len(prompts) < n:
        options = allowed_next(prompts)
        prompts.append(options[int(rng.integers(len(options)))])
    return prompts
