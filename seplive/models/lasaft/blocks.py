"""Building blocks of the LaSAFT-GPoCM U-Net.

Feature maps are ``(B, C, T, F)``: batch, channels, frames, frequency bins.  Condition
vectors are ``(B, E)``.  Attribute names (``H``, ``tdf``, ``LaSAFT_bn_layer``, ``LaSIFT``,
``query_pocm_generator``, ``linear_query``, ``keys``, ...) and the index of every layer
inside its ``nn.Sequential`` are fixed by the published checkpoints' state_dict keys, which
are a file format; everything else here is this project's own.

Blocks:

- :class:`TFC`: densely connected 2-D convolutions (time-frequency convolutions).
- :class:`TDF`: a per-frame frequency MLP ``f -> f // bn_factor -> f`` (bottleneck).
- :class:`TFCTDF`: TFC followed by a residual TDF; the unconditioned encoder block.
- :class:`ConditionWeightGenerator`: condition vector -> weights of a point-wise conv.
- :class:`GPoCM`: gated point-wise convolutional modulation (generated 1x1 conv, sigmoid gate).
- :class:`TFCLaSAFT`: TFC + latent source attentive frequency transformation with optional
  query listening and key listening (per-frame attention); both off = the original LaSAFT.
- :class:`GPoCMLaSAFTBlock`: the conditioned decoder block ``g = GPoCM(TFC(x)); g + LaSAFT(g)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "make_activation",
    "WeightNormLinear",
    "TFC",
    "TDF",
    "TFCTDF",
    "ConditionWeightGenerator",
    "pointwise_conv",
    "GPoCM",
    "TFCLaSAFT",
    "GPoCMLaSAFTBlock",
]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "leaky_relu": lambda: nn.LeakyReLU(0.01, inplace=True),
    "relu": lambda: nn.ReLU(inplace=True),
    "identity": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (``leaky_relu`` uses slope 0.01).

    In-place: every activation here follows a layer whose output nothing else reads.
    """
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation '{name}'; known: {', '.join(ACTIVATIONS)}") from None


class WeightNormLinear(nn.Module):
    """``y = x W^T + b`` with ``W = g * V / ||V||`` (norm of each output row).

    Stores ``weight_g`` ``(out, 1)``, ``weight_v`` ``(out, in)`` and ``bias`` ``(out,)``,
    the layout of ``torch.nn.utils.weight_norm`` on a linear layer.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        v = torch.empty(out_features, in_features)
        nn.init.kaiming_uniform_(v, a=math.sqrt(5))
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(v.norm(dim=1, keepdim=True).clone())
        bound = 1.0 / math.sqrt(in_features)
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    @property
    def weight(self) -> Tensor:
        return self.weight_g * self.weight_v / self.weight_v.norm(dim=1, keepdim=True)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in) -> (..., out)``"""
        return F.linear(x, self.weight, self.bias)


def _conv_bn_act(c_in: int, c_out: int, kernel: tuple[int, int], activation: str) -> nn.Sequential:
    pad = (kernel[0] // 2, kernel[1] // 2)
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=pad),
        nn.BatchNorm2d(c_out),
        make_activation(activation),
    )


class TFC(nn.Module):
    """Densely connected convolutions: ``(B, in_channels, T, F) -> (B, growth, T, F)``.

    Layer ``k`` sees the outputs of layers ``k-1, ..., 0`` and the input, concatenated in
    that order (newest first); the block returns the last layer's output.
    """

    def __init__(
        self,
        in_channels: int,
        growth: int,
        layers: int = 5,
        kernel: tuple[int, int] = (3, 3),
        activation: str = "leaky_relu",
    ) -> None:
        super().__init__()
        self.H = nn.ModuleList(
            _conv_bn_act(in_channels + k * growth, growth, kernel, activation) for k in range(layers)
        )

    def forward(self, x: Tensor) -> Tensor:
        stack = x
        out = self.H[0](stack)
        for layer in self.H[1:]:
            stack = torch.cat((out, stack), dim=1)
            out = layer(stack)
        return out


class TDF(nn.Module):
    """Frequency MLP applied to every frame and channel: ``(B, C, T, f) -> (B, C, T, f)``.

    ``f -> hidden -> f`` with batch-norm and activation after each linear map.
    """

    def __init__(self, channels: int, f: int, hidden: int, bias: bool = False, activation: str = "leaky_relu") -> None:
        super().__init__()
        self.tdf = nn.Sequential(
            nn.Linear(f, hidden, bias=bias),
            nn.BatchNorm2d(channels),
            make_activation(activation),
            nn.Linear(hidden, f, bias=bias),
            nn.BatchNorm2d(channels),
            make_activation(activation),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.tdf(x)


class TFCTDF(nn.Module):
    """``y = TFC(x); y + TDF(y)``: ``(B, in_channels, T, f) -> (B, growth, T, f)``."""

    def __init__(
        self,
        in_channels: int,
        growth: int,
        f: int,
        hidden: int,
        layers: int = 5,
        kernel: tuple[int, int] = (3, 3),
        bias: bool = False,
        activation: str = "leaky_relu",
    ) -> None:
        super().__init__()
        self.tfc = TFC(in_channels, growth, layers, kernel, activation)
        self.tdf = TDF(growth, f, hidden, bias, activation)

    def forward(self, x: Tensor) -> Tensor:
        y = self.tfc(x)
        return y + self.tdf(y)


class ConditionWeightGenerator(nn.Sequential):
    """Condition vector ``(B, E)`` -> flat generated weights ``(B, n_out)``.

    Two weight-normalised linear layers with a ReLU between them (indices 0, 1, 2).
    """

    def __init__(self, condition_dim: int, n_out: int) -> None:
        super().__init__(
            WeightNormLinear(condition_dim, condition_dim),
            nn.ReLU(inplace=True),
            WeightNormLinear(condition_dim, n_out),
        )

    def generate(self, c: Tensor) -> Tensor:
        """``(B, E) -> (B, n_out)``"""
        return nn.Sequential.forward(self, c)


def pointwise_conv(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Per-example 1x1 convolution.

    ``x``: ``(B, C_in, T, F)``; ``weight``: ``(B, C_in, C_out)`` (rows are input channels);
    ``bias``: ``(B, C_out)``.  Returns ``(B, C_out, T, F)`` with
    ``y[b, o] = sum_i weight[b, i, o] * x[b, i] + bias[b, o]``.
    """
    y = torch.einsum("bitf,bio->botf", x, weight)
    return y + bias[:, :, None, None]


class GPoCM(ConditionWeightGenerator):
    """Gated point-wise convolutional modulation: ``x * sigmoid(PoCM_c(x))``.

    The generator emits ``C*C`` weights (``(C_in, C_out)`` row-major) then ``C`` biases.
    ``forward(x (B, C, T, F), c (B, E)) -> (B, C, T, F)``.
    """

    def __init__(self, channels: int, condition_dim: int) -> None:
        super().__init__(condition_dim, channels * channels + channels)
        self.channels = channels

    def forward(self, x: Tensor, c: Tensor) -> Tensor:  # type: ignore[override]
        w = self.generate(c)
        n = self.channels
        weight = w[:, : n * n].reshape(-1, n, n)
        bias = w[:, n * n :]
        return x * torch.sigmoid(pointwise_conv(x, weight, bias))


class TFCLaSAFT(nn.Module):
    """A TFC block plus the (light) latent source attentive frequency transformation.

    The LaSAFT part maps ``x`` ``(B, C, T, f)`` to ``n_latent`` latent-source bottleneck
    features ``(B, C, T, hidden, n_latent)`` (one shared ``f -> hidden * n_latent`` linear
    map), mixes them with attention weights ``(B, T, n_latent)`` and maps the mixture back
    to ``f`` bins.  The attention comes from a query (from the condition) and keys (one per
    latent source):

    - ``query_listen``: the query is computed per frame by *listening* to the mixture: a
      1x1 conv with weights generated from the condition reduces ``x`` to one channel,
      then LayerNorm -> ReLU -> linear ``f -> dk`` gives ``(B, T, dk)``.  Off: the query is
      a linear map of the condition, ``(B, dk)``, the same for every frame.
    - ``key_listen``: keys are computed per frame: a 1x1 conv to ``n_latent`` channels ->
      batch-norm -> ReLU -> one linear map ``f -> dk`` shared by all latent sources gives
      ``(B, n_latent, T, dk)``.  Off: keys are a learned ``(dk, n_latent)`` table.

    With both off (``listen=False``) this is the original LaSAFT and the attention weights
    are identical for every frame.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        f: int,
        hidden: int,
        condition_dim: int,
        n_latent: int = 16,
        dk: int = 32,
        layers: int = 5,
        kernel: tuple[int, int] = (3, 3),
        bias: bool = False,
        activation: str = "leaky_relu",
        query_listen: bool = True,
        key_listen: bool = True,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.n_latent = n_latent
        self.hidden = hidden
        self.dk = dk
        self.query_listen = query_listen
        self.key_listen = key_listen
        self.tfc = TFC(in_channels, channels, layers, kernel, activation)
        # f -> (hidden, n_latent) values; latent source index varies fastest
        self.LaSAFT_bn_layer = nn.Sequential(
            nn.Linear(f, hidden * n_latent, bias=bias),
            nn.BatchNorm2d(channels),
            make_activation(activation),
        )
        # mixed bottleneck -> f ("latent source informed frequency transformation")
        self.LaSIFT = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.Linear(hidden, f, bias=bias),
            make_activation(activation),
        )
        self.query_pocm_generator: ConditionWeightGenerator | None
        self.linear_query: nn.Module
        if query_listen:
            self.query_pocm_generator = ConditionWeightGenerator(condition_dim, channels + 1)
            self.linear_query = nn.Sequential(nn.LayerNorm(f), nn.ReLU(inplace=True), nn.Linear(f, dk))
        else:
            self.query_pocm_generator = None
            self.linear_query = nn.Linear(condition_dim, dk)
        self.keys: nn.Module | nn.Parameter
        if key_listen:
            self.keys = nn.Sequential(
                nn.Conv2d(channels, n_latent, kernel_size=1),
                nn.BatchNorm2d(n_latent),
                nn.ReLU(inplace=True),
                nn.Linear(f, dk),
            )
        else:
            self.keys = nn.Parameter(torch.randn(1, 1, dk, n_latent))

    @property
    def listening(self) -> bool:
        """True when the attention can vary from frame to frame."""
        return self.query_listen or self.key_listen

    # -- attention ---------------------------------------------------------------------
    def query(self, x: Tensor, c: Tensor) -> Tensor:
        """``(B, T, dk)`` per-frame queries when listening, else ``(B, dk)``."""
        if self.query_pocm_generator is None:
            return self.linear_query(c)
        w = self.query_pocm_generator.generate(c)  # (B, C + 1)
        heard = pointwise_conv(x, w[:, :-1, None], w[:, -1:])  # (B, 1, T, f)
        return self.linear_query(heard[:, 0])  # (B, T, dk)

    def key(self, x: Tensor) -> Tensor:
        """``(B, n_latent, T, dk)`` per-frame keys when listening, else ``(dk, n_latent)``."""
        if isinstance(self.keys, nn.Parameter):
            return self.keys[0, 0]
        return self.keys(x)

    def attention(self, x: Tensor, c: Tensor) -> Tensor:
        """Softmax weights over latent sources, ``(B, T, n_latent)``, for TFC output ``x``."""
        q = self.query(x, c)
        k = self.key(x)
        if q.dim() == 3 and k.dim() == 4:
            logits = torch.einsum("bltd,btd->btl", k, q)
        elif q.dim() == 3:
            logits = q @ k
        elif k.dim() == 4:
            logits = torch.einsum("bltd,bd->btl", k, q)
        else:
            logits = (q @ k)[:, None, :].expand(-1, x.shape[-2], -1)
        return torch.softmax(logits / math.sqrt(self.dk), dim=-1)

    def lasaft(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """``x (B, C, T, f)``, ``c (B, E)`` -> (transformed ``(B, C, T, f)``, attention ``(B, T, L)``)."""
        att = self.attention(x, c)
        b, ch, t, _ = x.shape
        values = self.LaSAFT_bn_layer(x).reshape(b, ch, t, self.hidden, self.n_latent)
        mixed = torch.einsum("bcthl,btl->bcth", values, att)
        return self.LaSIFT(mixed), att

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Plain TFC-LaSAFT block: ``y = TFC(x); y + LaSAFT(y)``."""
        y = self.tfc(x)
        return y + self.lasaft(y, c)[0]


class GPoCMLaSAFTBlock(nn.Module):
    """The conditioned decoder block: ``g = GPoCM(TFC(x), c); g + LaSAFT(g, c)``.

    ``x (B, in_channels, T, f)``, ``c (B, E)`` -> ``((B, channels, T, f), attention (B, T, L))``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        f: int,
        hidden: int,
        condition_dim: int,
        n_latent: int = 16,
        dk: int = 32,
        layers: int = 5,
        kernel: tuple[int, int] = (3, 3),
        bias: bool = False,
        activation: str = "leaky_relu",
        query_listen: bool = True,
        key_listen: bool = True,
    ) -> None:
        super().__init__()
        self.tfc_lightsaft = TFCLaSAFT(
            in_channels, channels, f, hidden, condition_dim, n_latent, dk, layers, kernel,
            bias, activation, query_listen, key_listen,
        )  # fmt: skip
        self.pocm_generator = GPoCM(channels, condition_dim)

    def forward(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        g = self.pocm_generator(self.tfc_lightsaft.tfc(x), c)
        transformed, att = self.tfc_lightsaft.lasaft(g, c)
        return g + transformed, att
