"""Training losses: thresholded SNR with inactive-source handling, PIT within a category.

Notation for one slot: estimate ``s_hat``, target ``s``, mixture ``x``; energies are summed
over channels and samples (a stereo stem is one signal), ``tau = 10 ** (-snr_max_db / 10)``.

- **active target** (energy above ``inactive_db`` relative to the mixture): the negative
  SNR with a soft threshold (Wisdom et al., MixIT, 2020), as TUSS uses it::

      L = 10 log10(|s - s_hat|^2 + tau |s|^2) - 10 log10 |s|^2

  It saturates at ``-snr_max_db`` (30 dB by default), so a slot already separated well
  stops dominating the batch.

- **inactive target** (all zeros: a dropped prompt, a stem absent from this mixture): the
  SNR is undefined, and the TUSS paper (Saijo et al., ICASSP 2025, following its authors'
  earlier inactive-source work) penalises the estimate's energy relative to the mixture::

      L = 10 log10(|s_hat|^2 + tau |x|^2)

  (the general form ``|s - s_hat|^2`` with ``s = 0``, thresholded by the *mixture* instead
  of the silent reference).  We subtract ``10 log10 |x|^2`` from it, a constant for the
  network: the gradient is the paper's, and the value becomes scale-free (``-snr_max_db``
  for a silent estimate, 0 dB for an estimate as loud as the mixture), comparable with the
  active-slot values.

- **repeated prompts** (``speech speech``, ``sfx sfx``): the slots of one category are
  interchangeable, so the loss takes the best assignment of those slots' estimates to their
  targets (permutation-invariant training restricted to the category); slots of different
  prompts are never swapped.  Padding slots (prompt id < 0) are ignored.

- **weighting**: the batch loss is the mean over slots, inactive ones weighted by
  ``inactive_weight`` (1 by default, as in TUSS).  Silence is the easiest thing to learn
  (an inactive slot reaches ``-snr_max_db`` by muting, an active one only 0 dB), so a young
  or small model, trained briefly on a CPU, can settle on muting most prompts; a weight
  below 1 keeps the active slots in charge.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor

__all__ = ["thresholded_snr_loss", "pair_losses", "separation_loss", "best_permutations", "active_slots"]

_EPS = 1e-8


def _energy(x: Tensor) -> Tensor:
    """Sum of squares over the last two axes (channels, samples)."""
    return x.float().pow(2).sum(dim=(-2, -1))


def thresholded_snr_loss(
    est: Tensor,
    ref: Tensor,
    mix: Tensor,
    snr_max_db: float = 30.0,
    inactive_db: float = -60.0,
) -> Tensor:
    """Per-slot loss in dB (lower is better); see the module docstring.

    ``est``, ``ref``: ``(..., C, T)``; ``mix``: broadcastable to them (``(..., C, T)``).
    Returns ``(...)``.
    """
    tau = 10.0 ** (-snr_max_db / 10.0)
    ref_e = _energy(ref)
    mix_e = _energy(mix).expand_as(ref_e)
    active = active_slots(ref, mix, inactive_db)
    err_e = _energy(est - ref)
    floor = torch.where(active, ref_e, mix_e)
    num = 10.0 * torch.log10(err_e + tau * floor + _EPS)
    return num - 10.0 * torch.log10(floor + _EPS)


def best_permutations(ids: Tensor) -> tuple[Tensor, Tensor]:
    """All permutations of the ``P`` slots and which of them keep every slot in its category.

    ``ids``: ``(B, P)`` prompt ids.  Returns ``perms (K, P)`` (``perms[k, j]`` = the
    estimate assigned to target ``j``; ``perms[0]`` is the identity) and ``allowed (B, K)``.
    """
    p = ids.shape[1]
    if p > 6:
        raise ValueError(f"PIT over {p} slots is too many (at most 6)")
    perms = torch.tensor(list(itertools.permutations(range(p))), dtype=torch.long, device=ids.device)
    moved = ids[:, perms]  # (B, K, P): category of the estimate assigned to each target
    allowed = (moved == ids[:, None, :]).all(dim=-1)
    return perms, allowed


def pair_losses(est: Tensor, ref: Tensor, mix: Tensor, ids: Tensor, **kw: float) -> Tensor:
    """``L[b, i, j]`` = loss of estimate ``i`` against target ``j``; ``inf`` where ``i`` and
    ``j`` are of different categories (only same-category pairs are computed).

    ``est``, ``ref``: ``(B, P, C, T)``; ``mix``: ``(B, C, T)``; ``ids``: ``(B, P)``.
    """
    b, p = ids.shape
    out = est.new_full((b, p, p), math.inf, dtype=torch.float32)
    mix4 = mix[:, None]
    diag = thresholded_snr_loss(est, ref, mix4, **kw)  # (B, P)
    out[:, torch.arange(p), torch.arange(p)] = diag
    for i in range(p):
        for j in range(p):
            if i == j:
                continue
            same = ids[:, i] == ids[:, j]
            if bool(same.any()):
                val = thresholded_snr_loss(est[:, i], ref[:, j], mix, **kw)
                out[:, i, j] = torch.where(same, val, out[:, i, j])
    return out


def active_slots(ref: Tensor, mix: Tensor, inactive_db: float = -60.0) -> Tensor:
    """Which targets have a source: energy above ``inactive_db`` relative to the mixture.

    ``ref`` ``(..., C, T)``, ``mix`` broadcastable to it -> ``(...)`` bool."""
    ref_e = _energy(ref)
    return ref_e > _energy(mix).expand_as(ref_e) * 10.0 ** (inactive_db / 10.0)


def separation_loss(
    est: Tensor,
    ref: Tensor,
    mix: Tensor,
    ids: Tensor,
    snr_max_db: float = 30.0,
    inactive_db: float = -60.0,
    pit: bool = True,
    inactive_weight: float = 1.0,
    details: dict[str, float] | None = None,
) -> tuple[Tensor, Tensor]:
    """Weighted mean loss over the real (non-padding) slots of a batch, and the chosen
    permutations.

    ``est``, ``ref``: ``(B, P, C, T)``; ``mix``: ``(B, C, T)``; ``ids``: ``(B, P)`` long,
    ``-1`` for padding.  Slots with a silent target weigh ``inactive_weight``, the others 1.
    ``details``, when given, receives the plain means over active and over inactive slots
    (``active_db``, ``inactive_db``; NaN where there is none) and their counts: the active
    mean is the one that says whether the model separates.  Returns ``(loss, perm (B, P))``.
    """
    if est.shape != ref.shape:
        raise ValueError(f"estimate {tuple(est.shape)} and target {tuple(ref.shape)} differ in shape")
    valid = ids >= 0
    kw = {"snr_max_db": snr_max_db, "inactive_db": inactive_db}
    b, p = ids.shape
    if not pit or p == 1:
        per = thresholded_snr_loss(est, ref, mix[:, None], **kw)
        perm = torch.arange(p, device=ids.device).expand(b, p)
    else:
        pairs = pair_losses(est, ref, mix, ids, **kw)  # (B, P, P)
        perms, allowed = best_permutations(ids)
        # padding slots contribute nothing, whatever they are paired with
        cost_each = pairs[:, perms, torch.arange(p, device=ids.device)]  # (B, K, P)
        cost_each = torch.where(valid[:, None, :], cost_each, torch.zeros_like(cost_each))
        total = cost_each.sum(dim=-1).masked_fill(~allowed, math.inf)  # (B, K)
        k = total.argmin(dim=1)
        perm = perms[k]  # (B, P)
        per = cost_each[torch.arange(b, device=ids.device), k]  # (B, P)
    active = active_slots(ref, mix[:, None], inactive_db)
    weight = torch.where(active, 1.0, float(inactive_weight)) * valid
    per = torch.where(valid, per, torch.zeros_like(per))
    if details is not None:
        with torch.no_grad():
            for name, sel in (("active", valid & active), ("inactive", valid & ~active)):
                n_sel = int(sel.sum())
                details[f"{name}_db"] = float(per[sel].mean()) if n_sel else math.nan
                details[f"{name}_slots"] = n_sel
    return (per * weight).sum() / weight.sum().clamp(min=1e-8), perm
