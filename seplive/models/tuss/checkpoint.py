"""Reading and writing TUSS checkpoints in the published on-disk format.

The published ``model.pth`` is a flat mapping ``{"model.separator.<name>": float32 tensor}``
(a Lightning module's averaged state_dict, no wrapper).  Every size of the network is
readable from the tensor shapes, except a few settings that have no parameters:

- ``num_groups`` of the RMS group norms (8 in the published medium and large models),
- ``tf_order`` of the blocks (``ft``), the FFN conv stride (``conv1d_shift``, 1),
- the STFT hop (512), the sample rate (48 kHz) and the input std normalisation (on).

Those come, in order of precedence, from the ``config=`` / keyword overrides given to
:func:`load_official`, from a configuration file next to the checkpoint (``config.json`` in
its folder, in the layout of the reference ``config.json``; or the published
``hparams.yaml`` in its folder or the folder above, which is where it sits in the published
``pretrained_models/<name>/checkpoints/model.pth`` layout), and otherwise the published
values above.  Shape-defined sizes are always taken from the tensors, never from a file.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..base import SeparatorError
from ..checkpoints import describe_mismatch
from .model import FFNConfig, StackConfig, TussConfig, TussModel

log = logging.getLogger(__name__)

#: key prefix of the published file
FILE_PREFIX = "model.separator."
_CORE = "separator."

#: the non-shape settings and their published values
DEFAULT_HINTS: dict[str, Any] = {
    "num_groups": 8,
    "tf_order": "ft",
    "conv1d_shift": 1,
    "sample_rate": 48000,
    "hop_length": 512,
    "variance_normalization": True,
}


# ----------------------------------------------------------------------------------------
# reading


def _fail(msg: str) -> SeparatorError:
    return SeparatorError(f"not a TUSS checkpoint: {msg}")


def _examples(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (", ..." if len(items) > n else "")


def _why_unreadable(path: Path, exc: Exception) -> str:
    with open(path, "rb") as f:
        head = f.read(64)
    if head and all(32 <= c < 127 or c in (9, 10, 13) for c in head):
        return f"it is a text file starting {head[:24].decode()!r}"
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first[:160]}".rstrip(": ")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load ``path`` safely and return its tensors keyed ``separator.<name>``, float32.

    Accepts the published flat format (``model.separator.*``), a Lightning ``.ckpt``
    (``{"state_dict": {...}}``), and files saved without the ``model.`` prefix.
    Raises :class:`SeparatorError` for anything else.
    """
    p = Path(path)
    if not p.is_file():
        raise SeparatorError(f"TUSS checkpoint not found: {p}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # garbage bytes, text, foreign pickles: all unreadable here
        raise _fail(f"{p} is not a readable torch weights file ({_why_unreadable(p, exc)})") from None
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise _fail(f"{p} holds a {type(obj).__name__}, expected a mapping of parameter names to tensors")
    if not obj:
        raise _fail(f"{p} holds an empty mapping")
    bad = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise _fail(f"{len(bad)} entries are not named tensors (e.g. {_examples(bad)})")
    keys = list(obj)
    if not any(".prompts." in k or k.startswith("prompts.") or "band_split_module" in k for k in keys):
        raise _fail(
            f"{p.name} holds {len(keys)} tensors named e.g. {_examples(keys)}; a TUSS checkpoint has "
            f"'{FILE_PREFIX}prompts.<name>', '{FILE_PREFIX}band_split_module...', ..."
        )
    if all(k.startswith(FILE_PREFIX) for k in keys):
        strip = "model."
    elif all(k.startswith(_CORE) for k in keys):
        strip = ""
    elif not any(k.startswith(("model.", _CORE)) for k in keys):
        strip = None  # bare names: add the prefix
    else:
        mixed = [k for k in keys if not k.startswith(FILE_PREFIX)]
        raise _fail(f"mixed key prefixes; {len(mixed)} keys lack '{FILE_PREFIX}' (e.g. {_examples(mixed)})")
    out: dict[str, torch.Tensor] = {}
    not_float = []
    for k, v in obj.items():
        name = _CORE + k if strip is None else k[len(strip) :]
        if not v.is_floating_point():
            not_float.append(f"{k} ({v.dtype})")
        out[name] = v.detach().to(torch.float32)
    if not_float:
        raise _fail(f"{len(not_float)} tensors are not floating point (e.g. {_examples(not_float)})")
    return out


# ----------------------------------------------------------------------------------------
# side-car configuration


def _scan_yaml(text: str) -> dict[tuple[str, ...], list[str]]:
    """Collect ``key: scalar`` entries of a block-style YAML file by their key path.

    Enough for the published ``hparams.yaml``: list items (``- ``) add no path element, so
    repeated entries under a list collect into one list of values, in file order.
    """
    found: dict[tuple[str, ...], list[str]] = {}
    stack: list[tuple[int, str]] = []
    for raw in text.splitlines():
        line = raw.split(" #")[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        while body.startswith("- "):
            indent += 2
            body = body[2:].lstrip()
        m = re.match(r"^([A-Za-z0-9_]+):(?:\s+(.*))?$", body)
        if not m:
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key, value = m.group(1), (m.group(2) or "").strip()
        if value and not value.startswith(("&", "*")):
            found.setdefault(tuple(k for _, k in stack) + (key,), []).append(value)
        else:
            stack.append((indent, key))
    return found


def _yaml_scalar(s: str) -> Any:
    low = s.strip().strip("'\"")
    if low.lower() in ("true", "false"):
        return low.lower() == "true"
    if low.lower() in ("null", "~", "none"):
        return None
    try:
        return int(low)
    except ValueError:
        try:
            return float(low)
        except ValueError:
            return low


def _hints_from_sidecar(conf: Mapping[str, Any]) -> dict[str, Any]:
    """Non-shape settings from a ``config.json``-style mapping (see module docstring)."""
    hints: dict[str, Any] = {}
    mc = conf.get("model_conf", conf)
    for stack in ("cross_prompt", "cond_tse"):
        sc = mc.get(f"conf_{stack}_module") if isinstance(mc, Mapping) else None
        if not isinstance(sc, Mapping):
            continue
        if "num_groups" in sc:
            hints[f"{stack}.num_groups"] = int(sc["num_groups"])
        if "tf_order" in sc:
            hints[f"{stack}.tf_order"] = str(sc["tf_order"])
        for path in ("freq", "frame"):
            items = sc.get(f"{path}_ffn_config")
            if isinstance(items, list):
                shifts = [int(it["conf"].get("conv1d_shift", 1)) for it in reversed(items)]
                hints[f"{stack}.{path}.conv1d_shift"] = shifts
    if isinstance(mc, Mapping) and "sample_rate" in mc:
        hints["sample_rate"] = int(mc["sample_rate"])
    enc = conf.get("encoder_conf")
    if not isinstance(enc, Mapping):
        enc = conf.get("decoder_conf")
    if isinstance(enc, Mapping):
        if "hop_length" in enc:
            hints["hop_length"] = int(enc["hop_length"])
        if enc.get("window_type", "sqrt_hann") != "sqrt_hann" or enc.get("normalize") is not None:
            raise SeparatorError(
                "this TUSS configuration uses an STFT other than the published sqrt-Hann, unnormalised one "
                f"({dict(enc)}); seplive implements only that one"
            )
    if "variance_normalization" in conf:
        hints["variance_normalization"] = bool(conf["variance_normalization"])
    return hints


def _hints_from_yaml(text: str) -> dict[str, Any]:
    found = _scan_yaml(text)

    def get(*path: str) -> list[Any]:
        return [_yaml_scalar(v) for v in found.get(tuple(path), [])]

    conf: dict[str, Any] = {"model_conf": {}}
    for stack in ("cross_prompt", "cond_tse"):
        sc: dict[str, Any] = {}
        base = ("model_conf", f"conf_{stack}_module")
        for key in ("num_groups", "tf_order"):
            vals = get(*base, key)
            if vals:
                sc[key] = vals[0]
        for path in ("freq", "frame"):
            shifts = get(*base, f"{path}_ffn_config", "conf", "conv1d_shift")
            if shifts:
                sc[f"{path}_ffn_config"] = [{"conf": {"conv1d_shift": s}} for s in shifts]
        if sc:
            conf["model_conf"][f"conf_{stack}_module"] = sc
    sr = get("model_conf", "sample_rate")
    if sr:
        conf["model_conf"]["sample_rate"] = sr[0]
    for section in ("encoder_conf", "decoder_conf"):
        stft = {k: get(section, k)[0] for k in ("hop_length", "window_type", "normalize") if get(section, k)}
        if stft:
            conf[section] = stft
    vn = get("variance_normalization")
    if vn:
        conf["variance_normalization"] = vn[0]
    if not conf["model_conf"]:
        raise ValueError("no model_conf section")
    return _hints_from_sidecar(conf)


def load_hints(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Non-shape settings from a mapping, a ``config.json`` or an ``hparams.yaml``."""
    if isinstance(source, Mapping):
        return _hints_from_sidecar(source)
    p = Path(source)
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() in (".yaml", ".yml"):
        return _hints_from_yaml(text)
    return _hints_from_sidecar(json.loads(text))


def find_sidecar(checkpoint: str | Path) -> Path | None:
    """The configuration file that belongs to ``checkpoint``, if one is next to it."""
    here = Path(checkpoint).resolve().parent
    for cand in (here / "config.json", here / "hparams.yaml", here.parent / "hparams.yaml"):
        if cand.is_file():
            return cand
    return None


# ----------------------------------------------------------------------------------------
# configuration from shapes
#
# Each size is read from the first tensor that shows it, in any block or band, so that a
# damaged file still yields a configuration and the final comparison can name every
# missing, unexpected and mis-shaped key at once.


def _indices(state: Mapping[str, torch.Tensor], prefix: str) -> list[int]:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in state if (m := pat.match(k))})


def _count(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    idx = _indices(state, prefix)
    return idx[-1] + 1 if idx else 0


def _first(state: Mapping[str, torch.Tensor], template: str, n: int, ndim: int) -> torch.Tensor | None:
    """The first ``template.format(i)`` tensor (i < n) with ``ndim`` dimensions, if any."""
    for i in range(n):
        t = state.get(template.format(i))
        if t is not None and t.ndim == ndim:
            return t
    return None


def _hint(hints: Mapping[str, Any], key: str) -> Any:
    """``stack.path.name`` falls back to ``stack.name``, then to ``name``."""
    parts = key.split(".")
    for i in range(len(parts)):
        k = ".".join(parts[i:])
        if k in hints:
            return hints[k]
    return DEFAULT_HINTS[parts[-1]]


def _stack_config(state: Mapping[str, torch.Tensor], name: str, emb: int, hints: Mapping[str, Any]) -> StackConfig:
    root = f"{_CORE}{name}_module."
    n_blocks = _count(state, root)
    if n_blocks == 0:
        raise _fail(f"no '{'model.' + root}<n>.*' blocks")
    blk = root + "{}."
    qkv = _first(state, blk + "freq_path.attn.qkv.weight", n_blocks, 2)
    if qkv is None:
        qkv = _first(state, blk + "frame_path.attn.qkv.weight", n_blocks, 2)
    if qkv is None or qkv.shape[0] % 3:
        raise _fail(f"no usable attention weights 'model.{root}<n>.*.attn.qkv.weight'")
    att = qkv.shape[0] // 3
    freqs = _first(state, blk + "freq_path.attn.rope.freqs", n_blocks, 1)
    if freqs is None:
        freqs = _first(state, blk + "frame_path.attn.rope.freqs", n_blocks, 1)
    n_pairs = freqs.numel() if freqs is not None else 0
    # RoPE covers a whole head: head_dim = 2 * pairs (or one more when the head size is odd)
    head = next((h for h in (2 * n_pairs, 2 * n_pairs + 1) if h and att % h == 0), None)
    if head is None:
        raise _fail(f"attention width {att} does not fit the RoPE size {2 * n_pairs} in 'model.{root}'")

    def ffns(path: str) -> tuple[FFNConfig, ...]:
        other = "frame" if path == "freq" else "freq"
        n = max(_count(state, f"{root}{b}.{p}_path.ffn.") for b in range(n_blocks) for p in (path, other))
        n = min(max(n, 1), 2)
        shifts = _hint(hints, f"{name}.{path}.conv1d_shift")
        out = []
        for i in range(n):
            # fall back to the sibling FFN, then to the other path: a damaged file still gets
            # a configuration, and the final comparison lists what is missing
            w = None
            for p, j in ((path, i), (path, 1 - i), (other, i), (other, 1 - i)):
                w = w if w is not None else _first(state, blk + f"{p}_path.ffn.{j}.deconv1d.weight", n_blocks, 3)
            if w is None:
                raise _fail(f"no FFN weights 'model.{root}<n>.{path}_path.ffn.<i>.deconv1d.weight'")
            if isinstance(shifts, list):  # per FFN, in parameter order; a short list repeats its last
                shift = shifts[min(i, len(shifts) - 1)] if shifts else DEFAULT_HINTS["conv1d_shift"]
            else:
                shift = shifts
            out.append(FFNConfig(dim_inner=int(w.shape[0]), kernel=int(w.shape[2]), shift=int(shift)))
        return tuple(out)

    groups = int(_hint(hints, f"{name}.num_groups"))
    if emb % groups:
        raise SeparatorError(f"TUSS {name} module: num_groups {groups} does not divide the width {emb}")
    return StackConfig(
        n_blocks=n_blocks,
        attention_dim=att,
        n_heads=att // head,
        num_groups=groups,
        freq_ffns=ffns("freq"),
        frame_ffns=ffns("frame"),
        tf_order=str(_hint(hints, f"{name}.tf_order")),
    )


def _band_width(state: Mapping[str, torch.Tensor], i: int) -> int | None:
    """Bins of band ``i`` from whichever of its encoder/decoder tensors is present."""
    enc = f"{_CORE}band_split_module.band_split_module.{i}."
    dec = f"{_CORE}band_split_module.bandwise_decoding_module.{i}.5."
    for key, div in ((enc + "0.weight", 2), (enc + "0.bias", 2), (dec + "bias", 4), (dec + "weight", 4)):
        t = state.get(key)
        if t is not None and t.ndim >= 1 and t.shape[0] % div == 0 and t.shape[0]:
            return t.shape[0] // div
    t = state.get(enc + "1.weight")
    if t is not None and t.ndim == 3 and t.shape[1] % 2 == 0:
        return t.shape[1] // 2
    return None


def infer_config(state: Mapping[str, torch.Tensor], hints: Mapping[str, Any] | None = None) -> TussConfig:
    """Build a :class:`TussConfig` from tensor shapes (keys ``separator.*``) and ``hints``."""
    hints = dict(hints or {})
    prompt_keys = [k for k in state if k.startswith(_CORE + "prompts.")]
    if not prompt_keys:
        raise _fail("no prompt embeddings 'model.separator.prompts.<name>'")
    prompts = tuple(k[len(_CORE + "prompts.") :] for k in prompt_keys)
    # the width: the most common size among the (dim, 1, 1) prompt and SOS embeddings
    sizes = Counter(
        int(t.shape[0])
        for k in prompt_keys + [_CORE + "sos_token"]
        if (t := state.get(k)) is not None and t.ndim == 3 and tuple(t.shape[1:]) == (1, 1)
    )
    if not sizes:
        shape = tuple(state[prompt_keys[0]].shape)
        raise _fail(f"prompt embedding 'model.{prompt_keys[0]}' has shape {shape}, expected (dim, 1, 1)")
    emb = sizes.most_common(1)[0][0]
    n_bands = max(
        _count(state, _CORE + "band_split_module.band_split_module."),
        _count(state, _CORE + "band_split_module.bandwise_decoding_module."),
    )
    bands = [_band_width(state, i) for i in range(n_bands)]
    if not n_bands or None in bands:
        lost = [str(i) for i, b in enumerate(bands) if b is None]
        raise _fail(f"cannot tell the band split: no weights for band(s) {', '.join(lost) or 'any'}")
    n_fft = 2 * (sum(bands) - 1)
    dec = _first(state, _CORE + "band_split_module.bandwise_decoding_module.{}.0.weight", n_bands, 1)
    dec_dim = int(dec.numel()) if dec is not None else emb
    return TussConfig(
        prompts=prompts,
        emb_dim=emb,
        cross_prompt=_stack_config(state, "cross_prompt", emb, hints),
        cond_tse=_stack_config(state, "cond_tse", emb, hints),
        bands=tuple(b for b in bands if b is not None),
        decoder_dim=None if dec_dim == emb else dec_dim,
        use_sos_token=(_CORE + "sos_token") in state,
        sample_rate=int(_hint(hints, "sample_rate")),
        n_fft=n_fft,
        hop_length=int(_hint(hints, "hop_length")),
        variance_normalization=bool(_hint(hints, "variance_normalization")),
    )


# ----------------------------------------------------------------------------------------
# public API


def load_official(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    config: str | Path | Mapping[str, Any] | None = None,
    num_groups: int | None = None,
) -> TussModel:
    """Load a published-format TUSS checkpoint (e.g. ``tuss.medium.2-4src/.../model.pth``).

    Sizes (width, blocks, heads, FFN sizes, bands, prompt names) are read from the tensor
    shapes, so any size loads without flags.  ``config`` (a mapping, ``config.json`` or
    ``hparams.yaml``) and ``num_groups`` override the few settings that have no tensors
    (see the module docstring); by default they come from a file next to the checkpoint.

    Returns an eval-mode :class:`TussModel` on ``device``: ``model(mix, prompts)`` takes
    ``(batch, samples)`` at 48 kHz and returns ``(batch, n_prompts, ceil(samples/512)*512)``.
    Raises :class:`SeparatorError` with one message saying what differs if the file is not
    a TUSS checkpoint.
    """
    state = read_state_dict(path)
    hints: dict[str, Any] = {}
    source = "published defaults (no configuration file found)"
    sidecar = Path(config) if isinstance(config, (str, Path)) else None
    if config is None:
        sidecar = find_sidecar(path)
    if isinstance(config, Mapping):
        hints.update(load_hints(config))
        source = "config mapping"
    elif sidecar is not None:
        try:
            hints.update(load_hints(sidecar))
            source = str(sidecar)
        except SeparatorError:
            raise
        except Exception as exc:
            if config is not None:
                raise SeparatorError(f"cannot read TUSS configuration {sidecar}: {exc}") from exc
            log.warning("ignoring %s next to the checkpoint: %s", sidecar, exc)
    if num_groups is not None:
        hints["num_groups"] = int(num_groups)
        hints.pop("cross_prompt.num_groups", None)
        hints.pop("cond_tse.num_groups", None)
        source += f" + num_groups={num_groups}"
    try:
        cfg = infer_config(state, hints)
    except ValueError as exc:  # TussConfig's own consistency checks
        raise _fail(str(exc)) from None
    model = TussModel(cfg)
    expected = model.state_dict()
    problem = describe_mismatch(expected, state, key_prefix="model.")
    if problem:
        raise _fail(f"{Path(path).name}: {problem}")
    model.load_state_dict(state, strict=True)
    model.config_source = source
    log.info("TUSS %s loaded from %s (settings from %s)", describe(cfg), path, source)
    return model.to(device).eval()


def describe(cfg: TussConfig) -> str:
    """One line: width, blocks and prompts."""
    return (
        f"emb {cfg.emb_dim}, {cfg.cross_prompt.n_blocks}+{cfg.cond_tse.n_blocks} blocks, "
        f"{cfg.n_bands} bands, prompts {' '.join(cfg.prompts)}"
    )


def official_state_dict(model: TussModel) -> OrderedDict[str, torch.Tensor]:
    """``model``'s weights in the published layout: ``model.separator.<name>`` -> float32 CPU.

    Every tensor gets its own storage (the RoPE frequencies, which the reference shares
    between blocks, are written once per key, as in the published files).
    """
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for k, v in model.separator.state_dict().items():
        out[FILE_PREFIX + k] = v.detach().to("cpu", torch.float32).clone()
    return out


def save_official(model: TussModel, path: str | Path, *, write_config: bool = False) -> Path:
    """Write ``model`` as a published-format ``model.pth`` (loadable by the reference loader).

    With ``write_config`` a ``config.json`` describing the model is written next to it, so
    that the non-shape settings (``num_groups`` ...) travel with the weights.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    torch.save(official_state_dict(model), p)
    if write_config:
        (p.parent / "config.json").write_text(json.dumps(model.cfg.to_sidecar(), indent=1) + "\n", encoding="utf-8")
    return p
