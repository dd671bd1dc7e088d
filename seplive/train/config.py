"""Training configuration: a TOML file of data, validated once, with one-line errors.

Read and checked through the config kit (:mod:`seplive.config`): the capped TOML reader,
unknown keys refused with the nearest known one, errors a :class:`ConfigError`.

Layout (every key optional except ``model.architecture``)::

    [model]
    architecture = "lasaft"          # see seplive.models.architectures
    [model.options]                   # passed to the architecture's builder
    preset = "tiny"

    [data]                            # the synthetic generator (seplive.data.MixtureSampler)
    seed = 0
    sample_rate = 16000
    seconds = 1.0
    channels = 2
    tasks = ["music4", "speech_sfx"]  # omit for all
    batch_size = 4                    # per process (GPU); the global batch is x world size
    num_workers = 0                   # DataLoader worker processes generating examples
    fixed_batch = false               # true: every step sees batch 0 (overfit check)
    flite_speech = 0.0                # share of speech read by flite's voices (needs flite)
    studio_mix = 0.0                  # share of songs placed as a studio would (centred lead)
    produced_mix = 0.0                # share of songs through pedalboard mix chains (amp, comp, ...)
    loud_master = 0.0                 # share of examples limited as a loud release (gain on all)
    spoken_vocals = 0.0               # share of songs with a spoken or rapped lead, centred
    recorded_speech = 0.0             # share of speech (and spoken leads) from recorded voices
    recorded_sfx = 0.0                # share of sound effects from recordings
    real_kits = 0.0                   # share of songs drummed on Hydrogen's recorded kits
    sparse_bands = 0.0                # share of music4 examples with parts of the band left out
    two_hands = 0.0                   # share of songs whose keyboards and strings play low too
    letter_voices = 0.0               # share of recorded speakers who are KLettres' readers

    [optim]
    lr = 1e-3
    weight_decay = 1e-2
    betas = [0.9, 0.999]
    warmup_steps = 100                # linear warm-up from 0
    schedule = "cosine"               # or "constant" after the warm-up, or "wsd"
    min_lr_ratio = 0.1                # cosine floor, as a fraction of lr
    decay_steps = 0                   # wsd: constant, then a cosine to the floor over the last N steps
    grad_clip = 5.0                   # max global grad norm (0 = off)

    [loss]
    snr_max_db = 30.0
    inactive_db = -60.0
    pit = true

    [train]
    steps = 1000
    checkpoint_every = 500
    log_every = 10
    device = "auto"                   # cuda when available
    seed = 0
    name = "model"                    # <out>/<name>.pt, .json, .resume.pt
    init_from = ""                    # a trained .pt (with its sidecar) to start from: weights
                                      # only, a fresh optimizer and schedule (fine-tuning);
                                      # --resume ignores it
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..config import ConfigError, check_keys, read_toml

__all__ = ["ConfigError", "TrainConfig", "load_config", "config_from_dict"]


@dataclass
class ModelSection:
    architecture: str = ""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSection:
    seed: int = 0
    sample_rate: int = 48000
    seconds: float = 4.0
    channels: int = 2
    tasks: list[str] | None = None
    #: chance that a prompt of a random ("tuss") example has no source (a silent target)
    dropout: float = 0.25
    batch_size: int = 4
    num_workers: int = 0
    fixed_batch: bool = False
    #: share of speech read by flite's voices (closer to a human than espeak-ng's); needs flite
    flite_speech: float = 0.0
    #: share of songs placed as a studio places them: lead vocals and bass centred, the comping
    #: parts of "other" panned each on its own (else every stem sits near the centre)
    studio_mix: float = 0.0
    #: share of songs whose stems go through pedalboard's mix chains (guitar amps, compressors,
    #: saturation, chorus, reverb); needs pedalboard (the 'data' extra)
    produced_mix: float = 0.0
    #: share of examples driven 3-12 dB into a look-ahead limiter whose gain scales every target
    loud_master: float = 0.0
    #: share of songs whose lead ("vocals") is spoken or rapped by espeak-ng/flite, dead centre
    spoken_vocals: float = 0.0
    #: share of speech, and of spoken leads, said by recorded voices (hedgewars' voice packs:
    #: seplive.data.clips); needs the game data packages scripts/setup.sh installs
    recorded_speech: float = 0.0
    #: share of foreground sound effects ("sfx") that are recordings (seplive.data.clips)
    recorded_sfx: float = 0.0
    #: share of songs whose drums play on Hydrogen's recorded multi-sampled kits
    #: (seplive.data.kits); needs hydrogen-drumkits
    real_kits: float = 0.0
    #: share of music4 examples played by part of the band: each part left out at even odds,
    #: its target silent (seplive.data.mixing.sparse_parts)
    sparse_bands: float = 0.0
    #: share of songs whose piano, organ and string parts also play a low left hand in
    #: "other" (seplive.data.midi.left_hand)
    two_hands: float = 0.0
    #: share of the recorded speakers (recorded_speech) who are KLettres' readers reading
    #: letters and syllables in 19 languages (seplive.data.clips); needs klettres-data
    letter_voices: float = 0.0


@dataclass
class OptimSection:
    lr: float = 1e-3
    weight_decay: float = 1e-2
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 100
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    decay_steps: int = 0
    grad_clip: float = 5.0


@dataclass
class LossSection:
    snr_max_db: float = 30.0
    inactive_db: float = -60.0
    pit: bool = True
    #: weight of slots whose target is silent, against 1 for the others: below 1 the easy
    #: reward for silence (down to -snr_max_db) stops dominating a young model
    inactive_weight: float = 1.0


@dataclass
class TrainSection:
    steps: int = 1000
    checkpoint_every: int = 500
    log_every: int = 10
    device: str = "auto"
    seed: int = 0
    name: str = "model"
    #: start from these weights (a ``.pt`` with its ``.json`` sidecar), with a fresh optimizer
    init_from: str = ""


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    loss: LossSection = field(default_factory=LossSection)
    train: TrainSection = field(default_factory=TrainSection)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SECTIONS = {f.name: f.default_factory for f in fields(TrainConfig)}  # type: ignore[misc]


def _coerce(value: Any, default: Any, typ: str, where: str) -> Any:
    """Check ``value`` against the field's annotated type (TOML gives int/float/str/list/bool)."""
    t = typ.replace(" ", "")
    if t == "bool":
        ok = isinstance(value, bool)
    elif t == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif t == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif t == "str":
        ok = isinstance(value, str)
    elif t.startswith("list[float]"):
        ok = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        value = [float(v) for v in value] if ok else value
    elif t.startswith("list[str]"):
        ok = (isinstance(value, list) and all(isinstance(v, str) for v in value)) or (value is None and "None" in t)
    elif t.startswith("dict"):
        ok = isinstance(value, dict)
    else:
        ok = True
    if not ok:
        raise ConfigError(f"config key '{where}' must be {t.replace('|None', '')}, got {value!r}")
    return value


def config_from_dict(raw: dict[str, Any], source: str = "") -> TrainConfig:
    """Validate a parsed TOML mapping (from file ``source``, named in errors) into a
    :class:`TrainConfig`; an unknown key is refused by the config kit with the nearest one."""
    cfg = TrainConfig()
    check_keys(raw, _SECTIONS, source)
    for section, body in raw.items():
        if not isinstance(body, dict):
            raise ConfigError(f"config key '{section}' must be a table ([{section}])")
        target = getattr(cfg, section)
        known = {f.name: f for f in fields(target)}
        check_keys(body, known, source, f"{section}.")
        for key, value in body.items():
            setattr(target, key, _coerce(value, getattr(target, key), str(known[key].type), f"{section}.{key}"))
    _check(cfg)
    return cfg


def _check(cfg: TrainConfig) -> None:
    def positive(where: str, v: float) -> None:
        if not v > 0:
            raise ConfigError(f"config key '{where}' must be > 0, got {v}")

    if not cfg.model.architecture:
        raise ConfigError("config key 'model.architecture' is missing (e.g. architecture = \"lasaft\")")
    positive("data.sample_rate", cfg.data.sample_rate)
    positive("data.seconds", cfg.data.seconds)
    positive("data.channels", cfg.data.channels)
    positive("data.batch_size", cfg.data.batch_size)
    positive("optim.lr", cfg.optim.lr)
    positive("train.steps", cfg.train.steps)
    positive("train.checkpoint_every", cfg.train.checkpoint_every)
    positive("train.log_every", cfg.train.log_every)
    if not 0.0 <= cfg.data.dropout < 1.0:
        raise ConfigError(f"config key 'data.dropout' must be in [0, 1), got {cfg.data.dropout}")
    if not 0.0 <= cfg.data.flite_speech <= 1.0:
        raise ConfigError(f"config key 'data.flite_speech' must be in [0, 1], got {cfg.data.flite_speech}")
    for key in ("studio_mix", "produced_mix", "loud_master", "spoken_vocals", "recorded_speech", "recorded_sfx",
                "real_kits", "sparse_bands", "two_hands", "letter_voices"):
        if not 0.0 <= getattr(cfg.data, key) <= 1.0:
            raise ConfigError(f"config key 'data.{key}' must be in [0, 1], got {getattr(cfg.data, key)}")
    if not 0.0 < cfg.loss.inactive_weight <= 1.0:
        raise ConfigError(f"config key 'loss.inactive_weight' must be in (0, 1], got {cfg.loss.inactive_weight}")
    if cfg.data.num_workers < 0:
        raise ConfigError(f"config key 'data.num_workers' must be >= 0, got {cfg.data.num_workers}")
    if cfg.optim.warmup_steps < 0 or cfg.optim.grad_clip < 0:
        raise ConfigError("config keys 'optim.warmup_steps' and 'optim.grad_clip' must be >= 0")
    if cfg.optim.schedule not in ("cosine", "constant", "wsd"):
        raise ConfigError(f"config key 'optim.schedule' must be 'cosine', 'constant' or 'wsd', got {cfg.optim.schedule!r}")
    if cfg.optim.decay_steps < 0 or (cfg.optim.schedule == "wsd" and not 0 < cfg.optim.decay_steps <= cfg.train.steps):
        raise ConfigError(f"config key 'optim.decay_steps' must be in 1..train.steps for the 'wsd' schedule, got {cfg.optim.decay_steps}")
    if len(cfg.optim.betas) != 2:
        raise ConfigError(f"config key 'optim.betas' must be two numbers, got {cfg.optim.betas}")
    if "/" in cfg.train.name or not cfg.train.name:
        raise ConfigError(f"config key 'train.name' must be a plain file name, got {cfg.train.name!r}")


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a TOML training config (errors: :class:`ConfigError`, one line)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file not found: {p}")
    return config_from_dict(read_toml(p), str(p))  # size and nesting caps, one-line errors
