"""SI-SDR and SDR (BSS Eval v4 style, via fast_bss_eval) per stem, and their improvement
over the unprocessed mixture.

A stem is scored channel by channel and the dB values averaged over the channels whose
reference is not silent.  A silent reference (a prompt absent from the mixture) has no
defined SDR: :func:`score_stem` returns ``None`` and the caller counts it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

__all__ = ["score_stem", "best_assignment", "CLAMP_DB"]

#: metric values are clamped to +-this (a silent estimate would be -inf)
CLAMP_DB = 100.0
#: a reference channel quieter than this (mean square) counts as silent
_SILENT = 1e-10


def _metrics(ref: np.ndarray, est: np.ndarray) -> tuple[float, float]:
    import fast_bss_eval

    r = np.ascontiguousarray(ref, dtype=np.float64)[:, None, :]
    e = np.ascontiguousarray(est, dtype=np.float64)[:, None, :]
    e = e + 1e-12 * np.random.default_rng(0).standard_normal(e.shape)  # a silent estimate stays finite
    si = np.asarray(fast_bss_eval.si_sdr(r, e, clamp_db=CLAMP_DB))[:, 0]
    sdr = np.asarray(fast_bss_eval.sdr(r, e, clamp_db=CLAMP_DB))[:, 0]
    return float(np.nan_to_num(si, nan=-CLAMP_DB).mean()), float(np.nan_to_num(sdr, nan=-CLAMP_DB).mean())


def score_stem(est: np.ndarray, ref: np.ndarray, mix: np.ndarray) -> dict[str, float] | None:
    """``est``, ``ref``, ``mix``: ``(C, T)``.  Returns ``{"si_sdr", "sdr", "si_sdr_mix",
    "sdr_mix", "si_sdr_i", "sdr_i"}`` in dB, or ``None`` for a silent reference."""
    n = min(est.shape[-1], ref.shape[-1], mix.shape[-1])
    est, ref, mix = est[..., :n], ref[..., :n], mix[..., :n]
    live = np.mean(np.square(ref, dtype=np.float64), axis=-1) > _SILENT
    if not live.any():
        return None
    si, sdr = _metrics(ref[live], est[live])
    si_m, sdr_m = _metrics(ref[live], mix[live])
    return {"si_sdr": si, "sdr": sdr, "si_sdr_mix": si_m, "sdr_mix": sdr_m, "si_sdr_i": si - si_m, "sdr_i": sdr - sdr_m}


def best_assignment(prompts: Sequence[str], est: np.ndarray, ref: np.ndarray) -> list[int]:
    """For repeated prompts (``speech speech``): which estimate goes with each target.

    Within each repeated prompt, the permutation with the least total squared error wins;
    other slots keep their own estimate.  Returns ``order`` with ``est[order[j]]`` for
    target ``j``.
    """
    order = list(range(len(prompts)))
    for name in dict.fromkeys(prompts):
        slots = [j for j, p in enumerate(prompts) if p == name]
        if len(slots) < 2:
            continue
        best, best_err = slots, np.inf
        for perm in itertools.permutations(slots):
            err = sum(float(np.sum((est[i] - ref[j]) ** 2)) for i, j in zip(perm, slots, strict=True))
            if err < best_err:
                best, best_err = list(perm), err
        for i, j in zip(best, slots, strict=True):
            order[j] = i
    return order
