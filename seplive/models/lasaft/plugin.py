"""LaSAFT-Net-v2 as a windowed seplive plugin.

Each call gets ``context + hop + lookahead`` stereo samples per group and returns the
stems of ``context + hop`` samples.  The U-Net needs its centred-STFT frame count to be a
multiple of ``2 ** n_levels`` (8 for v2_light, 16 for v2_large), so every window is
zero-padded on the *past* side up to the next length ``(k * 2**n_levels - 1) * 1024``;
that padding is dropped from the output.  Any window length works; lengths that are
already such a size waste nothing (the default ~1 s context with the default 4096-sample
hop gives exactly 48 frames), and lengths on the 1024-sample grid keep consecutive
windows on one STFT frame grid.

The encoder half of the U-Net is unconditioned: it runs once per window, and the decoder
runs once for all prompts together (batch = prompts x groups).

Without ``checkpoint`` or ``model`` the plugin builds a *randomly initialised* v2_light
and logs a warning: the output is then noise-like, but the whole engine can be exercised
without weights.
"""

from __future__ import annotations

import atexit
import logging
import math
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..base import Layout, Separator, SeparatorError
from .attention import AttentionRecorder
from .checkpoint import load_checkpoint
from .config import LABELS, LasaftConfig, preset
from .model import LasaftNet, build_model
from .query import QueryEncoder, load_query_encoder, read_clip

__all__ = ["LasaftSeparator", "DEFAULT_CONTEXT_MS", "QUERY_PROMPT"]

log = logging.getLogger(__name__)

#: default past context: ~1 s (43 STFT hops: with the default 4096-sample hop the
#: window is exactly 48 frames, a multiple of both 8 and 16)
DEFAULT_CONTEXT_MS = 1000.0
#: the prompt name that separates "what sounds like the query clip"
QUERY_PROMPT = "query"


class LasaftSeparator(Separator):
    """Label-conditioned music separation (vocals, drums, bass, other) with LaSAFT-Net-v2.

    Parameters
    ----------
    checkpoint:
        a LASAFT-Net-v2 checkpoint (see :func:`~seplive.models.lasaft.load_checkpoint`).
    device:
        torch device; overrides the one given to :meth:`prepare` when set.
    context_ms:
        past audio per call (rounded to the nearest multiple of the 1024-sample STFT hop).
    query:
        an example clip (path readable by soundfile, or a numpy array at 44.1 kHz): adds
        the prompt ``"query"``, conditioned on the clip's encoding instead of a label.
    attention_out:
        ``.npy`` path: record the per-frame latent-source attention of every call and
        save it on :meth:`close` / :meth:`save_attention` (layout in
        :mod:`seplive.models.lasaft.attention`).
    model:
        an already built :class:`~seplive.models.lasaft.model.LasaftNet` (wins over
        ``checkpoint``).
    config:
        preset name (``"v2_light"``, ``"v2_large"``) or a config for the random model
        built when neither ``model`` nor ``checkpoint`` is given.
    lookahead_ms:
        future audio per call (rounded up to the STFT hop); adds latency, improves the
        newest hop.
    query_encoder:
        state_dict file of a trained :class:`~seplive.models.lasaft.query.QueryEncoder`
        head; without it the head is random (warned).
    """

    name = "lasaft"
    sample_rate = 44100
    channels = 2
    windowed = True
    prompts: tuple[str, ...] = LABELS
    hop_multiple = 1024
    default_hop_samples = 4096
    delay_samples = 0
    description = "LaSAFT-Net-v2 (label-conditioned music separation: vocals drums bass other)"

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        device: str | None = None,
        context_ms: float = DEFAULT_CONTEXT_MS,
        query: str | Path | np.ndarray | None = None,
        attention_out: str | Path | None = None,
        model: LasaftNet | None = None,
        config: str | LasaftConfig = "v2_light",
        lookahead_ms: float = 0.0,
        query_encoder: str | Path | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self._fixed_device = device
        if model is not None:
            net = model
        elif checkpoint is not None:
            net = load_checkpoint(checkpoint)
        else:
            try:
                cfg = preset(config) if isinstance(config, str) else config
            except KeyError as exc:
                raise SeparatorError(f"lasaft: {exc.args[0]}") from None
            net = build_model(cfg, seed=seed)
            log.warning(
                "lasaft: no checkpoint given: using a RANDOMLY INITIALISED %s model; its "
                "output is meaningless (use this only to exercise the engine)",
                config if isinstance(config, str) else "custom",
            )
        self.random_weights = model is None and checkpoint is None
        self.model: LasaftNet = net.eval()
        cfg = self.model.cfg
        hop = cfg.hop_length
        self.hop_multiple = hop
        self.default_hop_samples = max(hop, (4096 // hop) * hop)
        try:
            context_ms, lookahead_ms = float(context_ms), float(lookahead_ms)
        except (TypeError, ValueError):
            raise SeparatorError(
                f"lasaft: context_ms and lookahead_ms must be numbers, got {context_ms!r}, {lookahead_ms!r}"
            ) from None
        self.context_samples = max(0, round(context_ms * self.sample_rate / 1000.0 / hop)) * hop
        self.lookahead_samples = max(0, math.ceil(lookahead_ms * self.sample_rate / 1000.0 / hop)) * hop
        self.prompts = tuple(self.model.labels)
        self.device = self._fixed_device or "cpu"
        self._move_model()

        self._query_vec: Tensor | None = None
        self.query_encoder: QueryEncoder | None = None
        if query is not None:
            self.set_query(query, query_encoder)

        self._recorder: AttentionRecorder | None = None
        self._saved_records = 0
        if attention_out is not None:
            self._recorder = AttentionRecorder(attention_out, hop / self.sample_rate)
            # the engine may never call close(): save what was recorded at interpreter exit
            ref = weakref.ref(self)
            atexit.register(lambda: (lambda s: s is not None and s._save_if_unsaved())(ref()))

    # -- configuration -----------------------------------------------------------------
    def set_query(self, query: str | Path | np.ndarray, query_encoder: str | Path | None = None) -> None:
        """Encode an example clip and expose it as the prompt ``"query"``."""
        if isinstance(query, (str, Path)):
            clip, rate = read_clip(query)
        else:
            clip, rate = np.asarray(query, dtype=np.float32), self.sample_rate
        if self.query_encoder is None or query_encoder is not None:
            self.query_encoder = load_query_encoder(query_encoder, self.model)
        self._query_vec = self.query_encoder.encode(self.model, clip, rate)
        if QUERY_PROMPT not in self.prompts:
            self.prompts = self.prompts + (QUERY_PROMPT,)

    def pick_device(self, requested: str | None) -> str:
        return self._fixed_device or requested or "cpu"

    def start(self, layout: Layout) -> None:
        """Move the model (and the query vector) to the agreed device."""
        self._move_model()
        if self._query_vec is not None:
            self._query_vec = self._query_vec.to(self.device)

    def _move_model(self) -> None:
        try:
            self.model.to(self.device)
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise SeparatorError(f"lasaft: cannot use device '{self.device}': {exc}") from None

    # -- processing --------------------------------------------------------------------
    def _conditions(self, prompts: Sequence[str]) -> Tensor:
        emb = self.model.spec2spec.embedding.weight
        rows = []
        for p in prompts:
            if p == QUERY_PROMPT and self._query_vec is not None:
                rows.append(self._query_vec.to(emb.device, emb.dtype))
            else:
                rows.append(emb[self.model.labels.index(p)])
        return torch.stack(rows)

    def process(self, window: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        """``(groups, 2, context + hop + lookahead)`` -> ``(n_prompts, groups, 2, context + hop)``."""
        self.check_prompts(prompts)
        x = np.asarray(window, dtype=np.float32)
        if x.ndim != 3 or x.shape[1] not in (1, 2):
            raise SeparatorError(f"lasaft: window must be (groups, 2, samples), got shape {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = np.repeat(x, 2, axis=1)
        g, _, n = x.shape
        p = len(prompts)
        out_len = n - self.lookahead_samples
        if out_len <= 0 or p == 0 or g == 0:
            return np.zeros((p, g, 2, max(out_len, 0)), np.float32)
        full = self.model.valid_length(n)
        pad = full - n
        record = self._recorder is not None
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            wave = F.pad(torch.from_numpy(x).to(device), (pad, 0))
            stems, atts = self.model.separate_multi(wave, self._conditions(prompts), record)
            out = stems[..., pad : pad + out_len].float().cpu().numpy()
        if record:
            hop = min(self.hop_samples or self.default_hop_samples, out_len)
            self._record(prompts, atts, pad + out_len - hop, pad + out_len)
        return np.ascontiguousarray(out, dtype=np.float32)

    def _record(self, prompts: Sequence[str], atts: list[Tensor], start: int, end: int) -> None:
        """Keep the attention of the frames centred in samples ``[start, end)``."""
        assert self._recorder is not None
        h = self.model.cfg.hop_length
        t_full = atts[-1].shape[2]
        t0 = min(t_full, -(-start // h))
        t1 = min(t_full, -(-end // h))
        frames = torch.arange(t0, t1)
        per_block = []
        for a in atts:  # (P, G, T_j, L)
            scale = t_full // a.shape[2]
            per_block.append(a[:, :, frames // scale].float().cpu())
        weights = torch.stack(per_block, dim=3).numpy()  # (P, G, frames, blocks, L)
        self._recorder.add(prompts, weights)

    # -- lifecycle ---------------------------------------------------------------------
    def reset(self) -> None:
        """Stateless between calls: nothing to forget (recorded attention is kept)."""

    def attention(self) -> tuple[np.ndarray, list[str]]:
        """The attention recorded so far and its prompt order (see :mod:`.attention`)."""
        if self._recorder is None:
            raise SeparatorError("lasaft: attention recording is off (give attention_out=PATH)")
        return self._recorder.assemble()

    def save_attention(self) -> Path | None:
        """Write the recorded attention (``.npy`` + ``.json`` [+ ``.png``]); returns the path."""
        if self._recorder is None:
            return None
        path = self._recorder.save()
        self._saved_records = len(self._recorder.records)
        log.info("lasaft: attention weights saved to %s", path)
        return path

    def _save_if_unsaved(self) -> None:
        rec = self._recorder
        if rec is not None and rec.records and len(rec.records) != self._saved_records:
            try:
                self.save_attention()
            except Exception as exc:  # noqa: BLE001 - never fail at exit
                log.warning("lasaft: could not save attention weights: %s", exc)

    def close(self) -> None:
        """End of stream: saves the attention if recording."""
        self.save_attention()
