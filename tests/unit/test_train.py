"""Training: overfitting, checkpoints, exact resume, the adapters, the CLI, DDP (CPU)."""

import json
import subprocess
import sys

import pytest
import torch

from seplive.models.architectures import build
from seplive.models.weights import CheckpointError, load_model
from seplive.train.config import ConfigError, config_from_dict
from seplive.train.data import BatchStream, collate
from seplive.train.losses import separation_loss
from seplive.train.trainer import lr_factor, train
from tests.support.paths import ROOT
from tests.support.toy_mixtures import ToySource


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    """Small tensors; also makes the float results reproducible between runs."""


def toy_config(**sections):
    raw = {
        "model": {"architecture": "lasaft", "options": {"preset": "tiny"}},
        "data": {"sample_rate": 8000, "seconds": 0.5, "batch_size": 4},
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "train": {"steps": 6, "checkpoint_every": 3, "log_every": 100},
    }
    for name, body in sections.items():
        raw[name] = {**raw.get(name, {}), **body}
    return config_from_dict(raw)


def quiet(_):
    pass


def test_overfits_a_fixed_batch(tmp_path):
    cfg = toy_config(data={"fixed_batch": True}, optim={"warmup_steps": 0, "schedule": "constant"},
                     train={"steps": 20, "checkpoint_every": 20})
    hist = [loss for _, loss in train(cfg, tmp_path, source=ToySource(8000, 0.5), echo=quiet)["history"]]
    assert all(map(torch.isfinite, torch.tensor(hist)))
    assert sum(hist[-3:]) / 3 < hist[0] - 5.0, hist  # dB


def test_checkpoint_and_sidecar_load_with_weights_only(tmp_path):
    summary = train(toy_config(), tmp_path, source=ToySource(8000, 0.5), echo=quiet)
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    side = json.loads((tmp_path / "model.json").read_text())
    assert side["architecture"] == "lasaft" and side["step"] == 6
    assert side["data"]["sample_rate"] == 8000 and side["data"]["channels"] == 2 and side["seplive_version"]
    assert side["metrics"]["loss"] == pytest.approx(summary["history"][-1][1])
    resume = torch.load(tmp_path / "model.resume.pt", weights_only=True)
    assert resume["step"] == 6 and "optimizer" in resume
    # the shipped weights are the model alone: far smaller than model + optimizer state
    assert (tmp_path / "model.pt").stat().st_size < 0.6 * (tmp_path / "model.resume.pt").stat().st_size
    model, meta = load_model(tmp_path / "model.pt")
    assert not model.training and meta["step"] == 6
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    src = ToySource(8000, 0.5, seed=3)
    full = train(toy_config(), tmp_path / "a", source=src, echo=quiet)["history"]
    part = train(toy_config(), tmp_path / "b", source=src, stop_at=3, echo=quiet)["history"]
    rest = train(toy_config(), tmp_path / "b", resume=True, source=src, echo=quiet)["history"]
    assert [s for s, _ in part] == [1, 2, 3] and [s for s, _ in rest] == [1, 2, 3, 4, 5, 6]
    assert [v for _, v in rest[:3]] == [v for _, v in full[:3]]
    assert [v for _, v in rest[3:]] == [v for _, v in full[3:]]  # bit-identical
    wa = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    wb = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_with_a_config_of_another_model_is_one_line(tmp_path):
    src = ToySource(8000, 0.5, seed=3)
    train(toy_config(train={"steps": 2}), tmp_path, source=src, echo=quiet)
    other = toy_config(model={"architecture": "native", "options": {"preset": "tiny"}})
    with pytest.raises(CheckpointError, match="--resume: .* does not fit this config's model") as err:
        train(other, tmp_path, resume=True, source=src, echo=quiet)
    assert "\n" not in str(err.value)


def test_init_from_starts_a_fine_tune_from_trained_weights(tmp_path):
    """train.init_from: the weights only (a fresh optimizer), the earlier steps on record."""
    src = ToySource(8000, 0.5, seed=4)
    train(toy_config(), tmp_path / "a", source=src, echo=quiet)
    before = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    # one update at a negligible rate: the result is the loaded weights, not a fresh init
    cfg = toy_config(optim={"lr": 1e-12, "warmup_steps": 0, "schedule": "constant"},
                     train={"steps": 1, "init_from": str(tmp_path / "a" / "model.pt")})
    lines = []
    train(cfg, tmp_path / "b", source=src, echo=lines.append)
    after = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    params = [k for k in before if "running_" not in k and "num_batches" not in k]  # batch norm moves its stats
    assert len(params) > 10 and all(torch.allclose(after[k], before[k], atol=1e-8) for k in params), [
        k for k in params if not torch.allclose(after[k], before[k], atol=1e-8)]
    fresh = toy_config(optim={"lr": 1e-12, "warmup_steps": 0}, train={"steps": 1})
    train(fresh, tmp_path / "c", source=src, echo=quiet)
    other = torch.load(tmp_path / "c" / "model.pt", weights_only=True)
    assert not all(torch.allclose(other[k], before[k], atol=1e-4) for k in before)
    side = json.loads((tmp_path / "b" / "model.json").read_text())
    assert side["step"] == 1 and side["init"]["step"] == 6 and "starting from" in lines[0]
    resume = torch.load(tmp_path / "b" / "model.resume.pt", weights_only=True)
    assert "state" in resume["optimizer"] and resume["init"]["step"] == 6
    # a fine-tune of a fine-tune counts every step before it
    cfg2 = toy_config(train={"steps": 2, "init_from": str(tmp_path / "b" / "model.pt")})
    train(cfg2, tmp_path / "d", source=src, echo=quiet)
    assert json.loads((tmp_path / "d" / "model.json").read_text())["init"]["step"] == 7


def test_init_from_a_checkpoint_of_another_model_fails_before_training(tmp_path):
    src = ToySource(8000, 0.5, seed=4)
    train(toy_config(), tmp_path / "a", source=src, echo=quiet)
    weights = str(tmp_path / "a" / "model.pt")
    bad = toy_config(model={"architecture": "native", "options": {"preset": "tiny"}},
                     train={"steps": 1, "init_from": weights})
    with pytest.raises(CheckpointError, match="lasaft .* this run builds native"):
        train(bad, tmp_path / "b", source=src, echo=quiet)
    assert not (tmp_path / "b" / "model.pt").exists()
    with pytest.raises(CheckpointError, match="not found"):
        train(toy_config(train={"init_from": str(tmp_path / "none.pt")}), tmp_path / "c", source=src, echo=quiet)
    (tmp_path / "a" / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        train(toy_config(train={"init_from": weights}), tmp_path / "d", source=src, echo=quiet)
    with pytest.raises(ConfigError, match="train.init_from"):
        toy_config(train={"init_from": 3})


def test_average_weights_is_the_weighted_mean_and_refuses_other_networks(tmp_path):
    """scripts/average_weights.py: every float parameter is the shares' mean; the sidecar
    names the sources and their total steps; another network's checkpoint is one line."""
    src = ToySource(8000, 0.5, seed=4)
    train(toy_config(), tmp_path / "a", source=src, echo=quiet)
    cfg = toy_config(train={"steps": 2, "init_from": str(tmp_path / "a" / "model.pt")}, data={"seed": 9})
    train(cfg, tmp_path / "b", source=src, echo=quiet)
    a, b = (tmp_path / n / "model.pt" for n in "ab")
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "average_weights.py"), str(a), str(b),
                          "--shares", "3", "1", "--out", str(tmp_path / "s" / "model.pt")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    wa, wb = (torch.load(p, weights_only=True) for p in (a, b))
    soup = torch.load(tmp_path / "s" / "model.pt", weights_only=True)
    moved = [k for k in wa if wa[k].is_floating_point() and not torch.equal(wa[k], wb[k])]
    assert moved and all(torch.allclose(soup[k], 0.75 * wa[k] + 0.25 * wb[k], atol=1e-6) for k in moved)
    side = json.loads((tmp_path / "s" / "model.json").read_text())
    assert [(s["steps"], s["share"]) for s in side["averaged"]] == [(6, 0.75), (8, 0.25)]
    model, _ = load_model(tmp_path / "s" / "model.pt")  # the soup loads like any checkpoint
    assert sum(p.numel() for p in model.parameters()) > 0
    train(toy_config(model={"architecture": "native", "options": {"preset": "tiny"}}), tmp_path / "n", source=src,
          echo=quiet)
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "average_weights.py"), str(a),
                          str(tmp_path / "n" / "model.pt"), "--out", str(tmp_path / "x.pt")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "only one network" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()


def test_lasaft_adapter_matches_the_network_separate():
    torch.manual_seed(0)
    model = build("lasaft", {"preset": "tiny"}, sample_rate=8000, channels=2).eval()
    x = 0.1 * torch.randn(2, 2, 3000)
    ids = torch.tensor([[5, 3, -1], [4, 0, 7]])
    with torch.no_grad():
        y = model(x, ids)
        for b in range(2):
            names = [model.prompts[i] for i in ids[b].tolist() if i >= 0]
            ref = model.net.separate(x[b : b + 1], names)[:, 0]
            torch.testing.assert_close(y[b, : len(names)], ref, atol=1e-5, rtol=1e-4)
    assert torch.all(y[0, 2] == 0)  # padding slot


def test_tuss_adapter_runs_each_item_with_its_own_prompts():
    torch.manual_seed(0)
    model = build("tuss", {"n_fft": 256, "emb_dim": 8, "ffn_dim": 8}, sample_rate=8000, channels=2).eval()
    x = 0.1 * torch.randn(3, 2, 2048)
    ids = torch.tensor([[0, 7, -1], [3, 4, 5], [0, 0, 1]])
    with torch.no_grad():
        y = model(x, ids)
        for b in range(3):
            keep = ids[b] >= 0
            alone = model(x[b : b + 1], ids[b : b + 1, keep])[0]
            torch.testing.assert_close(y[b, keep], alone, atol=1e-5, rtol=1e-4)
    assert y.shape == (3, 3, 2, 2048) and torch.all(y[0, 2] == 0)


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"'data.batchsize' \(did you mean 'batch_size'\?\)"):
        toy_config(data={"batchsize": 2})
    with pytest.raises(ConfigError, match="'optim.lr' must be float"):
        toy_config(optim={"lr": "fast"})
    with pytest.raises(ConfigError, match="did you mean 'train'"):
        config_from_dict({"model": {"architecture": "lasaft"}, "trian": {}})
    with pytest.raises(ConfigError, match=r"'loss.inactive_weight' must be in \(0, 1\]"):
        toy_config(loss={"inactive_weight": 0})
    with pytest.raises(ConfigError, match=r"'data.flite_speech' must be in \[0, 1\]"):
        toy_config(data={"flite_speech": -0.5})
    with pytest.raises(ConfigError, match=r"'data.studio_mix' must be in \[0, 1\]"):
        toy_config(data={"studio_mix": 1.5})
    for key in ("produced_mix", "loud_master", "spoken_vocals", "recorded_speech", "recorded_sfx", "real_kits",
                "sparse_bands", "two_hands", "letter_voices"):
        with pytest.raises(ConfigError, match=rf"'data.{key}' must be in \[0, 1\]"):
            toy_config(data={key: -0.1})
    with pytest.raises(ConfigError, match=r"'data.dropout' must be in \[0, 1\)"):
        toy_config(data={"dropout": 1.5})
    with pytest.raises(ConfigError, match=r"'optim.decay_steps' must be in 1..train.steps"):
        toy_config(optim={"schedule": "wsd"})


def test_wsd_schedule_holds_then_decays_over_its_last_steps():
    """Warm-up, stable, decay: what a run resumed over several sessions uses, its decay set
    once the last session's length is known."""
    f = [lr_factor(s, 10, 1000, "wsd", 0.05, decay=200) for s in range(1000)]
    assert f[0] == pytest.approx(0.1) and f[9] == 1.0  # warm-up
    assert all(v == 1.0 for v in f[10:800])  # stable until the last 200 steps
    assert all(a > b for a, b in zip(f[800:], f[801:], strict=False))  # then falling every step
    assert f[900] == pytest.approx(0.05 + 0.95 * 0.5) and f[-1] == pytest.approx(0.05, abs=1e-3)
    # the same steps as a plain cosine over the whole run: wsd holds the rate longer
    cos = [lr_factor(s, 10, 1000, "cosine", 0.05) for s in range(1000)]
    assert cos[500] < 0.6 and f[500] == 1.0


def _cli(*args, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "seplive", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\narchitecture = "lasaft"\n[data]\nsample_rte = 8000\n')
    r = _cli("train", "--config", bad)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "did you mean 'sample_rate'" in r.stderr and "Traceback" not in r.stderr
    bad.write_text('[model]\narchitecture = "lasaf"\n')
    r = _cli("train", "--config", bad)
    assert r.returncode == 2 and "did you mean 'lasaft'" in r.stderr and len(r.stderr.strip().splitlines()) == 1


SMOKE_SHORT = """
[model]
architecture = "lasaft"
[model.options]
preset = "tiny"
[data]
sample_rate = 24000
seconds = 0.5
batch_size = 2
[optim]
warmup_steps = 1
[train]
steps = 3
checkpoint_every = 2
log_every = 1
"""


def test_cli_trains_on_generated_data(tmp_path):
    cfg = tmp_path / "smoke.toml"
    cfg.write_text(SMOKE_SHORT)
    r = _cli("train", "--config", cfg, "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    assert "step 3/3" in r.stderr
    side = json.loads((tmp_path / "run" / "model.json").read_text())
    assert side["step"] == 3 and side["data"]["world_size"] == 1
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3]


def test_torchrun_two_processes_shard_the_data_and_average_the_loss(tmp_path):
    """DDP over gloo on the CPU: the first logged loss is the mean of both ranks' losses on
    their own (different) batches, computed here in-process from the same initial model."""
    cfg_path = tmp_path / "ddp.toml"
    cfg_path.write_text(SMOKE_SHORT.replace("steps = 3", "steps = 2"))
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "seplive", "train",
                        "--config", str(cfg_path), "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    side = json.loads((tmp_path / "run" / "model.json").read_text())
    assert side["data"]["world_size"] == 2 and side["data"]["global_batch"] == 4 and side["step"] == 2
    from seplive.train.config import load_config
    from seplive.train.data import make_sampler

    cfg = load_config(cfg_path)
    torch.manual_seed(cfg.train.seed)
    model = build("lasaft", cfg.model.options, sample_rate=24000, channels=2).train()
    sampler = make_sampler(cfg.data)
    losses = []
    batches = [BatchStream(sampler, 2, rank=r, world=2).batch(0) for r in (0, 1)]
    assert not torch.equal(batches[0]["mix"], batches[1]["mix"])
    with torch.no_grad():
        for b in batches:
            losses.append(separation_loss(model(b["mix"], b["ids"]), b["targets"], b["mix"], b["ids"])[0].item())
    assert side["metrics"]["history"][0][1] == pytest.approx(sum(losses) / 2, abs=1e-3)


def test_collate_pads_prompts():
    src = ToySource(8000, 0.25, seed=1)
    exs = [src.example(i) for i in range(6)]
    b = collate(exs)
    p = max(len(e.prompts) for e in exs)
    assert b["ids"].shape == (6, p) and b["targets"].shape == (6, p, 2, 2000)
    for i, e in enumerate(exs):
        assert (b["ids"][i, len(e.prompts) :] == -1).all()
        assert torch.equal(b["mix"][i], torch.from_numpy(e.mixture))


def test_loader_workers_keep_the_step_order():
    """Examples are made in DataLoader worker processes; the batches still come in step order."""
    from torch.utils.data import DataLoader

    stream = BatchStream(ToySource(8000, 0.25, seed=2), 2, start_step=5, rank=1, world=2)
    got = []
    for i, b in enumerate(DataLoader(stream, batch_size=None, num_workers=2)):
        got.append(b)
        if i == 3:
            break
    for k, b in enumerate(got):
        want = stream.batch(5 + k)
        assert torch.equal(b["mix"], want["mix"]) and torch.equal(b["ids"], want["ids"])


@pytest.mark.parametrize("preset", sorted(p.name for p in (ROOT / "presets" / "train").glob("*.toml")))
def test_every_preset_loads_and_builds(preset):
    from seplive.train.config import load_config

    cfg = load_config(ROOT / "presets" / "train" / preset)
    model = build(cfg.model.architecture, cfg.model.options, sample_rate=cfg.data.sample_rate,
                  channels=cfg.data.channels)
    assert sum(p.numel() for p in model.parameters()) > 1000
    assert cfg.train.checkpoint_every <= cfg.train.steps


def test_shards_are_disjoint_and_each_slot_walks_its_own_run():
    from seplive.train.data import batch_indices

    seen = set()
    for step in range(5):
        for rank in range(3):
            idx = batch_indices(step, 4, rank, 3)
            assert len(set(idx)) == 4 and not seen & set(idx)
            seen |= set(idx)
    assert batch_indices(1, 4, 2, 3)[1] == batch_indices(0, 4, 2, 3)[1] + 1
