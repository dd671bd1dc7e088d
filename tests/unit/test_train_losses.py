"""The separation loss: thresholded SNR, silent targets, PIT within a prompt category."""

import math

import pytest
import torch

from seplive.train.losses import best_permutations, separation_loss, thresholded_snr_loss


def _sig(seed, shape=(2, 400)):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_active_loss_is_the_thresholded_snr_formula():
    s, x = _sig(0), _sig(1) + _sig(0)
    est = s + _sig(2)
    tau = 10 ** (-30 / 10)
    err, ref = ((s - est) ** 2).sum(), (s**2).sum()
    want = 10 * math.log10(err + tau * ref) - 10 * math.log10(ref)
    got = thresholded_snr_loss(est, s, x)
    assert got.item() == pytest.approx(want, abs=1e-4)
    # and it is the negative SNR while the error is far above the threshold
    assert got.item() == pytest.approx(-10 * math.log10(ref / err), abs=0.05)
    # a perfect estimate reaches the -30 dB floor, not -inf
    assert thresholded_snr_loss(s, s, x).item() == pytest.approx(-30.0, abs=1e-3)


def test_silent_target_penalises_estimate_energy_relative_to_the_mixture():
    x = _sig(3)
    zero = torch.zeros_like(x)
    est = (0.1 * _sig(4)).requires_grad_(True)
    loss = thresholded_snr_loss(est, zero, x)
    tau = 1e-3
    want = 10 * math.log10((est.detach() ** 2).sum() + tau * (x**2).sum()) - 10 * math.log10((x**2).sum())
    assert loss.item() == pytest.approx(want, abs=1e-4)
    loss.backward()
    assert torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0
    # silence is the best answer (the floor), an estimate as loud as the mixture costs ~0 dB
    assert thresholded_snr_loss(zero, zero, x).item() == pytest.approx(-30.0, abs=1e-3)
    assert thresholded_snr_loss(x, zero, x).item() == pytest.approx(10 * math.log10(1 + tau), abs=1e-3)
    # all-zero mixture, target and estimate: still finite
    assert torch.isfinite(thresholded_snr_loss(zero, zero, zero))


def test_pit_swaps_repeated_speech_slots_but_never_across_categories():
    a, b, c = _sig(10), _sig(11), _sig(12)
    mix = a + b + c
    ids = torch.tensor([[0, 0, 3]])  # speech, speech, drums
    targets = torch.stack([a, b, c])[None]
    swapped = torch.stack([b, a, c])[None]  # the two speakers come out the other way round
    loss_pit, perm = separation_loss(swapped, targets, mix[None], ids)
    loss_fixed, _ = separation_loss(swapped, targets, mix[None], ids, pit=False)
    assert perm.tolist() == [[1, 0, 2]]
    assert loss_pit.item() == pytest.approx(-30.0, abs=1e-3) and loss_fixed.item() > loss_pit.item() + 20
    # a drums estimate in a speech slot is never "fixed" by PIT: categories differ
    crossed = torch.stack([c, b, a])[None]
    loss_x, perm_x = separation_loss(crossed, targets, mix[None], ids)
    assert perm_x.tolist() == [[0, 1, 2]] and loss_x.item() > loss_pit.item() + 20


def test_padding_slots_are_ignored():
    a, b = _sig(20), _sig(21)
    mix = (a + b)[None]
    ids = torch.tensor([[0, 3, -1]])
    targets = torch.stack([a, b, torch.zeros_like(a)])[None]
    est = torch.stack([a, b, 100 * _sig(22)])[None]  # garbage in the padding slot
    loss, _ = separation_loss(est, targets, mix, ids)
    assert loss.item() == pytest.approx(-30.0, abs=1e-3)


def test_allowed_permutations_respect_categories():
    perms, allowed = best_permutations(torch.tensor([[0, 1, 0], [2, 3, 4]]))
    ok0 = {tuple(p) for p, a in zip(perms.tolist(), allowed[0].tolist(), strict=True) if a}
    assert ok0 == {(0, 1, 2), (2, 1, 0)}
    assert allowed[1].sum().item() == 1


def test_inactive_weight_and_the_active_inactive_split():
    a, b = _sig(30), _sig(31)
    mix = (a + b)[None]
    ids = torch.tensor([[0, 3, 5]])  # speech (active), drums (active), vocals (silent target)
    targets = torch.stack([a, b, torch.zeros_like(a)])[None]
    est = torch.stack([a + _sig(32), 0.5 * mix[0], torch.zeros_like(a)])[None]  # muting the silent slot: -30 dB
    per = [thresholded_snr_loss(est[0, i], targets[0, i], mix[0]).item() for i in range(3)]
    details: dict = {}
    plain, _ = separation_loss(est, targets, mix, ids, details=details)
    assert plain.item() == pytest.approx(sum(per) / 3, abs=1e-4)
    assert details["active_slots"] == 2 and details["inactive_slots"] == 1
    assert details["active_db"] == pytest.approx((per[0] + per[1]) / 2, abs=1e-4)
    assert details["inactive_db"] == pytest.approx(-30.0, abs=1e-3)
    # a lower weight moves the mean towards the active slots (silence's reward counts less)
    low, _ = separation_loss(est, targets, mix, ids, inactive_weight=0.2)
    assert low.item() == pytest.approx((per[0] + per[1] + 0.2 * per[2]) / 2.2, abs=1e-4)
    assert low.item() > plain.item()
    # no silent slot: NaN for its mean, and the weight changes nothing
    d2: dict = {}
    two, _ = separation_loss(est[:, :2], targets[:, :2], mix, ids[:, :2], inactive_weight=0.2, details=d2)
    assert math.isnan(d2["inactive_db"]) and d2["inactive_slots"] == 0
    assert two.item() == pytest.approx((per[0] + per[1]) / 2, abs=1e-4)
