"""The native streaming network: a causal, prompt-conditioned band-split mask estimator.

Shapes: ``B`` batch, ``C`` channels (joint: stereo cues reach every band), ``F`` STFT
frames, ``K`` bands, ``D`` feature width, ``P`` prompt slots, ``L`` latent sources.

1. **Front end** (:mod:`.stft`): asymmetric-window STFT, ``n_fft`` 1024 / hop 128 /
   synthesis window 256 at 48 kHz: 47 Hz bins, output 128 samples (2.7 ms) after a frame's
   newest sample.  Spectra are power-law compressed (``|X| ** 0.3``, phase kept).
2. **Band split**: per-band linear encoders, bands of equal width batched in one matmul.
3. **Trunk** (prompt-independent, computed once per hop): ``layers`` x [per-band causal
   GRU over time (its hidden state is the streaming cache), self-attention across the bands
   of each frame (frequency modelling inside the frame, no future), feed-forward].
4. **Prompt heads** (batched over prompts, stateless per frame):

   - *LaSAFT-style latent-source attention*: the trunk makes ``L`` latent-source feature
     maps once; each prompt mixes them with weights ``softmax(q . k)`` per frame and band,
     where the query comes from the prompt embedding *and* the frame's features
     (query-side listening) and the keys are learned latent-source keys shifted by the
     frame's features (key-side listening), so the mixing varies frame by frame.
   - *GPoCM*: per-band, per-channel gain and bias from the prompt embedding.
   - per-band decoder to a complex mask per channel and bin.

   A prompt's embedding is its learned vector plus a learned *repeat* vector (0 for the
   first ``speech`` in the list, 1 for the second...), so repeated prompts give different
   outputs (trained with permutation-invariant losses).

Because heads have no state across frames, a prompt that joins mid-stream needs only the
trunk features of the last ``synthesis_window / hop - 1`` frames to rebuild its
overlap-add tail: prompt switches are exact and instant (see :meth:`NativeNet.step`).
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import NativeConfig, make_config
from .stft import AsymmetricStft

__all__ = ["NativeNet", "StreamState", "Kernels", "repeat_index"]

log = logging.getLogger(__name__)

StreamState = dict[str, Any]


class Kernels(NamedTuple):
    """The per-hop work of :meth:`NativeNet.step` as TorchScript traces with the weights
    frozen in (see :meth:`NativeNet.traced_kernels`): ``trunk(spec, gru)`` -> ``(h, gru)``
    with the layers' GRU states stacked, ``head(h, spec, q, gain, bias)`` -> the masked
    spectra synthesised and overlap-added from zero (:meth:`NativeNet.head_chunks`)."""

    trunk: Any
    head: Any


class _TrunkKernel(nn.Module):
    def __init__(self, net: NativeNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, spec: Tensor, gru: Tensor) -> tuple[Tensor, Tensor]:
        return self.net.trunk(spec, gru)


class _HeadKernel(nn.Module):
    def __init__(self, net: NativeNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, h: Tensor, spec: Tensor, q: Tensor, gain: Tensor, bias: Tensor) -> Tensor:
        return self.net.head_chunks(h, spec, (q, gain, bias))


def repeat_index(ids: Tensor) -> Tensor:
    """``(..., P)`` prompt ids -> how many earlier slots hold the same id, ``(..., P)``."""
    same = ids[..., :, None] == ids[..., None, :]
    earlier = torch.ones(ids.shape[-1], ids.shape[-1], dtype=torch.bool, device=ids.device).tril(-1)
    return (same & earlier).sum(-1)


class BandLinear(nn.Module):
    """Per-band linear maps between a bin axis and a band axis, one batched matmul per run
    of equal-width bands.  ``encode``: ``(..., bins, c_in)`` -> ``(..., K, d)``;
    ``decode``: ``(..., K, d)`` -> ``(..., bins, c_out)``."""

    def __init__(self, bands: tuple[tuple[int, int], ...], per_bin: int, dim: int, encode: bool) -> None:
        super().__init__()
        self.bands, self.per_bin, self.dim, self.encode = bands, per_bin, dim, encode
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for width, count in bands:
            fan_in = width * per_bin if encode else dim
            shape = (count, width * per_bin, dim) if encode else (count, dim, width * per_bin)
            w = torch.empty(shape).uniform_(-1.0, 1.0) / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(count, dim if encode else width * per_bin)))

    def forward(self, x: Tensor) -> Tensor:
        # band-major batched matmuls: (bands, tokens, in) @ (bands, in, out) + bias
        outs, start = [], 0
        lead = x.shape[:-2]
        flat = x.reshape(-1, *x.shape[-2:])  # (tokens, bins or K, features)
        n = flat.shape[0]
        for (width, count), w, b in zip(self.bands, self.weights, self.biases, strict=True):
            if self.encode:
                part = flat[:, start : start + width * count].reshape(n, count, width * self.per_bin)
                start += width * count
            else:
                part = flat[:, start : start + count]
                start += count
            y = torch.baddbmm(b[:, None, :], part.transpose(0, 1), w)  # (count, tokens, out)
            outs.append(y if self.encode else y.reshape(count, n, width, self.per_bin).transpose(1, 2))
        if self.encode:
            return torch.cat(outs, dim=0).transpose(0, 1).reshape(*lead, -1, self.dim)
        out = torch.cat([o.reshape(-1, n, self.per_bin) for o in outs], dim=0)  # (bins, tokens, per_bin)
        return out.transpose(0, 1).reshape(*lead, -1, self.per_bin)


class TrunkLayer(nn.Module):
    """Causal GRU over time per band, attention across bands per frame, feed-forward."""

    def __init__(self, dim: int, heads: int, ffn_mult: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm_t = nn.LayerNorm(dim)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.norm_f = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm_m = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_mult * dim), nn.SiLU(), nn.Linear(ffn_mult * dim, dim)
        )

    def forward(self, h: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """``h`` ``(B, F, K, D)``, GRU state ``(1, B K, D)`` or None -> (h, state)."""
        b, f, k, d = h.shape
        seq = self.norm_t(h).transpose(1, 2).reshape(b * k, f, d)
        y, state = self.gru(seq, state)
        h = h + y.reshape(b, k, f, d).transpose(1, 2)
        qkv = self.qkv(self.norm_f(h)).reshape(b * f, k, 3, self.heads, d // self.heads)
        q, kk, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        att = F.scaled_dot_product_attention(q, kk, v)  # (B F, heads, K, d_head)
        h = h + self.proj(att.transpose(1, 2).reshape(b, f, k, d))
        h = h + self.ffn(self.norm_m(h))
        return h, state


class PromptHead(nn.Module):
    """Latent-source attention with query- and key-side listening, GPoCM, mask decoder."""

    def __init__(self, cfg: NativeConfig) -> None:
        super().__init__()
        D, E, L, dk = cfg.dim, cfg.prompt_dim, cfg.latent_sources, cfg.key_dim
        self.L, self.dk, self.K, self.D = L, dk, cfg.n_bands, D
        self.prompt_table = nn.Embedding(len(cfg.prompts), E)
        self.repeat_table = nn.Embedding(cfg.max_repeats, E)
        nn.init.normal_(self.repeat_table.weight, std=0.1)
        # prompt-independent parts, run once per hop on the trunk output, in one matmul:
        # the latent sources' feature maps (L x D), the key shifts (key-side listening,
        # L x dk) and the frame's part of the query (query-side listening, dk)
        self.frame_maps = nn.Linear(D, L * D + L * dk + dk)
        self.keys = nn.Parameter(torch.randn(L, dk))
        # prompt-dependent parts
        self.query_prompt = nn.Linear(E, dk)
        self.gpocm = nn.Linear(E, 2 * cfg.n_bands * D)
        nn.init.zeros_(self.gpocm.weight)
        nn.init.zeros_(self.gpocm.bias)
        self.norm = nn.LayerNorm(D)
        self.hidden = nn.Linear(D, cfg.decoder_dim)
        self.out = BandLinear(cfg.bands, 2 * cfg.channels, cfg.decoder_dim, encode=False)
        self.channels = cfg.channels
        # start near mask 0.5: a neutral guess for any prompt
        with torch.no_grad():
            for w, b in zip(self.out.weights, self.out.biases, strict=True):
                w.mul_(0.1)
                b.view(b.shape[0], -1, cfg.channels, 2)[..., 0] = 0.5

    def embed(self, ids: Tensor, repeats: Tensor) -> Tensor:
        """Prompt ids and repeat indices (same shape) -> embeddings ``(..., E)``."""
        reps = repeats.clamp(max=self.repeat_table.num_embeddings - 1)
        return self.prompt_table(ids) + self.repeat_table(reps)

    def shared(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Trunk output ``(B, F, K, D)`` -> latent maps ``(B, F, K, L, D)``, keys
        ``(B, F, K, L, dk)``, frame queries ``(B, F, K, dk)``."""
        lead = h.shape[:-1]
        L, D, dk = self.L, self.D, self.dk
        maps = self.frame_maps(h)
        latents = maps[..., : L * D].reshape(*lead, L, D)
        keys = self.keys + maps[..., L * D : L * D + L * dk].reshape(*lead, L, dk)
        return latents, keys, maps[..., L * D + L * dk :]

    def conditions(self, emb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Everything that depends on the prompt alone: ``emb`` ``(B, P, E)`` -> query
        part ``(B, P, 1, 1, dk)``, GPoCM gain and bias ``(B, P, 1, K, D)``."""
        q = self.query_prompt(emb)[:, :, None, None, :] / math.sqrt(self.dk)
        gain, bias = self.gpocm(emb).reshape(*emb.shape[:2], 1, 2, self.K, self.D).unbind(3)
        return q, 1.0 + gain, bias

    def forward(self, h: Tensor, cond: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """``h`` ``(B, F, K, D)`` and :meth:`conditions` -> masks ``(B, P, C, F, bins)``
        complex, and the latent-source weights ``(B, P, F, K, L)``."""
        q_prompt, gain, bias = cond
        latents, keys, q_frame = self.shared(h)
        q = q_frame[:, None] / math.sqrt(self.dk) + q_prompt  # (B, P, F, K, dk)
        weights = torch.einsum("bpfkd,bfkld->bpfkl", q, keys).softmax(dim=-1)
        z = h[:, None] + torch.einsum("bpfkl,bfkld->bpfkd", weights, latents)
        z = gain * self.norm(z) + bias
        m = self.out(F.silu(self.hidden(z)))  # (B, P, F, bins, 2 C)
        m = m.reshape(*m.shape[:-1], self.channels, 2)
        mask = torch.view_as_complex(m.float().contiguous()).permute(0, 1, 4, 2, 3)
        return mask, weights


class NativeNet(nn.Module):
    """See the module docstring.  ``NativeNet("small")`` or ``NativeNet(config_dict)``."""

    def __init__(self, config: str | dict[str, Any] | NativeConfig = "small") -> None:
        super().__init__()
        cfg = make_config(config)
        self.cfg = cfg
        self.prompts = cfg.prompts
        self.stft = AsymmetricStft(cfg.n_fft, cfg.hop, cfg.synthesis_window)
        self.encoder = BandLinear(cfg.bands, 2 * cfg.channels, cfg.dim, encode=True)
        self.layers = nn.ModuleList(TrunkLayer(cfg.dim, cfg.heads, cfg.ffn_mult) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = PromptHead(cfg)
        #: streaming hop unit and the trainer's preferred length unit
        self.hop_multiple = cfg.hop
        #: output delay of :meth:`forward_causal` / :meth:`step` (samples)
        self.delay_samples = cfg.delay_samples
        #: tests: replace every mask by 1 (output = input delayed by ``delay_samples``)
        self.unit_mask = False
        #: frames of trunk output a joining prompt needs to rebuild its overlap-add tail
        self.tail_frames = self.stft.pieces - 1
        #: the last :meth:`traced_kernels`, with what it was traced from
        self._kernel_cache: tuple[tuple, Kernels] | None = None

    # -- pieces ----------------------------------------------------------------------------
    def features(self, spec: Tensor) -> Tensor:
        """``(B, C, F, bins)`` complex -> compressed re/im ``(B, F, bins, 2 C)``."""
        ri = torch.view_as_real(spec)  # (B, C, F, bins, 2)
        scale = (ri.square().sum(-1, keepdim=True) + 1e-12).pow((self.cfg.compress - 1.0) / 2.0)
        feats = ri * scale
        b, c, f, n, _ = feats.shape
        return feats.permute(0, 2, 3, 1, 4).reshape(b, f, n, 2 * c)

    def trunk(self, spec: Tensor, states: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Spectra ``(B, C, F, bins)`` and the layers' GRU states stacked, ``(layers, 1,
        B K, D)`` (``None``: zeros) -> features ``(B, F, K, D)`` and the new states, stacked."""
        h = self.encoder(self.features(spec))
        new = []
        for i, layer in enumerate(self.layers):
            h, s = layer(h, None if states is None else states[i])
            new.append(s)
        return self.norm(h), torch.stack(new)

    def masked(self, h: Tensor, spec: Tensor, cond: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        """Masked spectra ``(B, P, C, F, bins)``; ``cond`` from ``head.conditions``."""
        if self.unit_mask:
            return spec[:, None].expand(-1, cond[0].shape[1], -1, -1, -1)
        mask, _ = self.head(h, cond)
        return mask * spec[:, None]

    def head_chunks(self, h: Tensor, spec: Tensor, cond: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        """The heads' output over ``k`` frames as synthesis chunks overlap-added from zero,
        ``(B, P, C, k + pieces - 1, hop)``: what :meth:`step` adds the kept tails to."""
        return self.stft.overlap_add(self.stft.pieces_of(self.masked(h, spec, cond)))

    def _check_input(self, mix: Tensor) -> None:
        if mix.ndim != 3 or mix.shape[1] != self.cfg.channels:
            raise ValueError(f"native: mix must be (batch, {self.cfg.channels}, samples), got {tuple(mix.shape)}")

    def _embed_ids(self, prompt_ids: Tensor) -> tuple[Tensor, Tensor]:
        if prompt_ids.ndim != 2:
            raise ValueError(f"native: prompt_ids must be (batch, prompts), got {tuple(prompt_ids.shape)}")
        if prompt_ids.numel() and int(prompt_ids.max()) >= len(self.prompts):
            raise ValueError(f"native: prompt id out of range (vocabulary of {len(self.prompts)})")
        valid = prompt_ids >= 0
        ids = prompt_ids.clamp(min=0)
        return self.head.embed(ids, repeat_index(prompt_ids)), valid

    # -- whole signals ---------------------------------------------------------------------
    def forward_causal(self, mix: Tensor, prompt_ids: Tensor) -> Tensor:
        """The streaming output of a whole signal: ``(B, C, T)``, ``(B, P)`` ->
        ``(B, P, C, T)`` where sample ``n`` estimates the source at ``n - delay_samples``
        and depends only on input up to the end of its STFT hop (sample ``n`` rounded up
        to a multiple of ``hop``, less one), as live.  Padding slots (id -1) give zeros."""
        self._check_input(mix)
        emb, valid = self._embed_ids(prompt_ids)
        t = mix.shape[-1]
        pad = -t % self.cfg.hop
        spec = self.stft.analyse(F.pad(mix, (0, pad)))  # (B, C, F, bins)
        h, _ = self.trunk(spec)
        out = self.stft.synthesise(self.masked(h, spec, self.head.conditions(emb)))[..., :t]
        return out * valid[:, :, None, None].to(out.dtype)

    def forward(self, mix: Tensor, prompt_ids: Tensor) -> Tensor:
        """Training view: ``(B, C, T)``, ``(B, P)`` -> ``(B, P, C, T)`` aligned with the
        sources (the causal output advanced by ``delay_samples``; the input is extended
        with zeros so the last samples are complete)."""
        t, d = mix.shape[-1], self.delay_samples
        out = self.forward_causal(F.pad(mix, (0, d)), prompt_ids)
        return out[..., d : d + t]

    # -- streaming -------------------------------------------------------------------------
    def init_state(self, batch: int, device: str | torch.device = "cpu") -> StreamState:
        """A fresh stream of ``batch`` signals (prompt-independent; see :meth:`step`)."""
        c, j = self.cfg, self.tail_frames
        return {
            "cache": torch.zeros(batch, c.channels, c.n_fft - c.hop, device=device),
            "gru": None,
            "hist_h": torch.zeros(batch, j, c.n_bands, c.dim, device=device),
            "hist_spec": torch.zeros(batch, c.channels, j, c.n_bins, dtype=torch.complex64, device=device),
            # overlap-add tails of the last call's prompts: (their (id, repeat) keys,
            # (B, P, C, pieces - 1, hop), the frame they continue at)
            "tails": ((), None, -1),
            "frame": 0,  # frames processed so far
        }

    def step(
        self, x: Tensor, prompt_ids: list[int] | tuple[int, ...], state: StreamState, kernels: Kernels | None = None
    ) -> tuple[Tensor, StreamState]:
        """Stream: new samples ``(B, C, k hop)`` -> ``((B, P, C, k hop), state)``, equal to
        the same samples of :meth:`forward_causal` for these prompts.  ``state`` (from
        :meth:`init_state`) is updated in place and returned.

        ``prompt_ids`` (ids into ``prompts``, repeats allowed) may change from call to call:
        the trunk state is prompt-independent and heads keep no state, so a prompt that was
        not computed on the previous call gets its overlap-add tail rebuilt from the trunk
        output of the last frames (kept in ``state``) and its output is exact at once.

        ``kernels`` (from :meth:`traced_kernels`, with these weights) run the trunk and
        heads as traces: the same operations, less Python and dispatch per hop.
        """
        c = self.cfg
        b, ch, n = x.shape
        if ch != c.channels or n % c.hop:
            raise ValueError(f"native: step needs (batch, {c.channels}, k * {c.hop}) samples, got {tuple(x.shape)}")
        k, j = n // c.hop, self.tail_frames
        spec, state["cache"] = self.stft.analyse_step(x, state["cache"])
        if self.unit_mask:
            kernels = None
        if state["gru"] is None:  # a fresh stream: zero GRU states (the traces take no None)
            state["gru"] = x.new_zeros(len(self.layers), 1, b * c.n_bands, c.dim)
        h, state["gru"] = (self.trunk if kernels is None else kernels.trunk)(spec, state["gru"])
        chunks_of = self.head_chunks if kernels is None else (lambda hh, ss, cc: kernels.head(hh, ss, *cc))
        keys, cond = self._step_conditions(tuple(prompt_ids), b, state)
        frame0 = state["frame"]
        # the overlap-add tails of the last call's prompts: (their keys, (B, P, C, j, hop), frame)
        old_keys, old_tails, old_frame = state["tails"]
        if not keys:  # no prompt this hop: the caches still advance, so the stream stays whole
            chunks = x.new_zeros(b, 0, ch, k + j, c.hop)
        elif old_frame != frame0 or any(key not in old_keys for key in keys):
            # a prompt without a tail: re-run the heads over the kept frames too, from zero
            hh = torch.cat([state["hist_h"], h], dim=1)
            ss = torch.cat([state["hist_spec"], spec], dim=2)
            chunks = chunks_of(hh, ss, cond)[..., j:, :]  # (B, P, C, k + pieces - 1, hop)
        else:
            chunks = chunks_of(h, spec, cond)
            if keys != old_keys:  # the same prompts or fewer, in another order
                old_tails = old_tails[:, [old_keys.index(key) for key in keys]]
            chunks[..., :j, :] += old_tails
        out = chunks[..., :k, :].reshape(b, len(keys), ch, n)
        state["frame"] = frame0 + k
        state["tails"] = (keys, chunks[..., k:, :], frame0 + k)  # prompts not in this call drop theirs
        if j:  # the last j frames of trunk output and spectrum, for a prompt that joins
            state["hist_h"] = h[:, k - j :] if k >= j else torch.cat([state["hist_h"], h], dim=1)[:, -j:]
            state["hist_spec"] = spec[:, :, k - j :] if k >= j else torch.cat([state["hist_spec"], spec], dim=2)[:, :, -j:]
        return out, state

    def _step_conditions(self, prompt_ids: tuple[int, ...], batch: int, state: StreamState):
        """Slot keys ``(id, repeat)`` and head conditions for a prompt list, cached in the
        stream state: a live stream keeps its weights, and the prompt set rarely changes."""
        cache = state.setdefault("conditions", {})
        hit = cache.get((prompt_ids, batch))
        if hit is None:
            if len(cache) > 64:
                cache.clear()
            ids = torch.tensor(prompt_ids, dtype=torch.long, device=state["cache"].device)
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= len(self.prompts)):
                raise ValueError(f"native: prompt id out of range (vocabulary of {len(self.prompts)})")
            reps = repeat_index(ids)
            keys = tuple(zip(ids.tolist(), reps.tolist(), strict=True))
            emb = self.head.embed(ids, reps)[None].expand(batch, -1, -1)
            hit = cache[(prompt_ids, batch)] = (keys, self.head.conditions(emb))
        return hit

    def traced_kernels(self, frames: int = 3) -> Kernels | None:
        """The trunk and the heads traced with TorchScript, these weights frozen in, for
        :meth:`step` on a CPU: the same operations with less Python and dispatch between
        them (a 3-frame hop: about 25 % less time per hop back to back, 30 % paced in real
        time; docs/benchmarks/native.md).  Traced at ``frames`` frames and one prompt; the
        traces take any batch, frame and prompt count.  Warmed up here at the shapes a
        stream meets (its hops, and the rebuild when a prompt joins), so the first live
        hops do not pay for TorchScript's profiling runs.  Kept for the next call while the
        weights stay as they are (each parameter's storage and in-place version: an
        optimiser step or a load traces again).  ``None`` when tracing fails (a torch
        without TorchScript): :meth:`step` then runs eagerly."""
        c = self.cfg
        device = next(self.parameters()).device
        key = (frames, str(device), tuple((p.data_ptr(), p._version) for p in self.parameters()))
        if self._kernel_cache is not None and self._kernel_cache[0] == key:
            return self._kernel_cache[1]
        was_training = self.training
        self.eval()
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # TorchScript's deprecation and tracer notes
                state = self.init_state(1, device)
                x = torch.zeros(1, c.channels, frames * c.hop, device=device)
                spec, _ = self.stft.analyse_step(x, state["cache"])
                gru = torch.zeros(len(self.layers), 1, c.n_bands, c.dim, device=device)
                trunk = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(_TrunkKernel(self).eval(), (spec, gru))))
                h, _ = trunk(spec, gru)
                emb = self.head.embed(torch.zeros(1, 1, dtype=torch.long, device=device), torch.zeros(1, 1, dtype=torch.long, device=device))
                cond = self.head.conditions(emb)
                head = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(_HeadKernel(self).eval(), (h, spec, *cond))))
            kernels = Kernels(trunk, head)
            with torch.inference_mode():
                for ids in ((0,), (0, 1), (0, 1, 2)):
                    warm = self.init_state(1, device)
                    for _ in range(3):  # the first hop rebuilds (k + tail frames), then steady hops
                        self.step(x, ids, warm, kernels)
            self._kernel_cache = (key, kernels)
            return kernels
        except Exception as exc:  # noqa: BLE001  (any failure: run eagerly)
            log.warning("native: tracing failed, running eagerly: %s", exc)
            return None
        finally:
            self.train(was_training)

    # -- info ------------------------------------------------------------------------------
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
