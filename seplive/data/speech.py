"""Speech from espeak-ng (in-process through the ``espeakng-loader`` wheel, or the command)
and, optionally, from flite's voices.

The wheel bundles the library and its data and is driven through ctypes (about 1,000x real
time, no subprocess); the Debian ``espeak-ng`` command is the fallback.  Both are bounded: the
in-process callback aborts synthesis past a sample cap, the command runs under a time and byte
cap.  Sentences come from the docstrings of standard-library modules, so no text is downloaded.

espeak-ng's formant voices are robotic; flite's (Debian ``flite``: ``slt``, ``awb``, ``rms``
statistical-parametric voices and the ``kal16`` diphone voice, all built from recordings of
people, 16 kHz, about 24x real time through one subprocess an utterance) sound closer to a human, which is what a model meets live.
``random_speech(..., flite_share=x)`` reads that share of utterances with them.
"""

from __future__ import annotations

import ast
import ctypes
import importlib.util
import re
import shutil
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

from .render import RenderError, run_capped

ESPEAK_RATE = 22050
#: languages with a Latin-script lexicon good enough to read English-ish docstrings aloud,
#: plus a few others for accents; all ship in espeak-ng's data
LANGUAGES = (
    "en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "de", "fr", "es", "es-419", "it", "pt", "pt-br",
    "nl", "sv", "da", "nb", "fi", "pl", "cs", "sk", "hu", "ro", "hr", "sl", "et", "lv", "lt", "tr", "id",
    "ms", "sw", "af", "eo", "ca", "eu", "ga", "cy", "is", "la", "vi", "el", "ru", "hi", "ja",
)
#: voice variants of espeak-ng's data (voices/!v) used for speakers
VARIANTS = (
    "", "f1", "f2", "f3", "f4", "f5", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "Alicia", "Andrea",
    "Annie", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward", "grandma",
    "grandpa", "iven", "john", "linda", "max", "michel", "norbert", "paul", "quincy", "rob", "robert",
    "steph", "travis", "victor", "zac", "Hugo", "Lee", "Mario", "anika", "whisperf", "croak",
)
_STDLIB_MODULES = (
    "abc", "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "collections", "colorsys",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email", "enum",
    "fractions", "functools", "gettext", "glob", "gzip", "hashlib", "heapq", "hmac", "html", "http",
    "imaplib", "inspect", "ipaddress", "json", "locale", "logging", "mailbox", "mimetypes", "numbers",
    "operator", "optparse", "os", "pathlib", "pickle", "pprint", "queue", "random", "re", "sched",
    "secrets", "shelve", "shlex", "shutil", "smtplib", "socket", "sqlite3", "statistics", "string",
    "subprocess", "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize",
    "typing", "unittest", "urllib", "uuid", "warnings", "wave", "weakref", "xml", "zipfile",
)
MAX_CHARS = 400  # longest text ever handed to a synthesiser


@lru_cache(maxsize=1)
def sentences() -> tuple[str, ...]:
    """Sentences from stdlib docstrings, cleaned and sorted (stable for one Python version)."""
    found: set[str] = set()
    _collect(found)
    if not found:
        found.add("The quick brown fox jumps over the lazy dog.")
    return tuple(sorted(found))


def _collect(found: set[str]) -> None:
    # parsed from the source files, not taken from live objects: a process's modules change as
    # other code imports submodules or patches functions, and the corpus must not
    for name in _STDLIB_MODULES:
        try:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec else None
            if not origin or not origin.endswith(".py"):
                continue
            tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
        except (ImportError, OSError, SyntaxError, ValueError, UnicodeDecodeError):
            continue
        docs = [ast.get_docstring(tree) or ""]
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                docs.append(ast.get_docstring(node) or "")
                if isinstance(node, ast.ClassDef):
                    docs += [ast.get_docstring(m) or "" for m in node.body
                             if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")]
        for doc in docs:
            text = re.sub(r"\s+", " ", doc)
            for s in re.split(r"(?<=[.!?])\s+", text):
                s = s.strip()
                if not 25 <= len(s) <= 180 or not s[0].isupper() or not s.endswith((".", "!", "?")):
                    continue
                if re.search(r"[^A-Za-z0-9 ,.;:'!?()-]", s) or sum(c.isalpha() for c in s) < 0.75 * len(s):
                    continue
                found.add(s)


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _InProcess:
    """espeak-ng from the wheel, loaded fresh for every utterance.

    The library keeps synthesis state in globals that survive ``espeak_Terminate`` (the same
    text comes out a few samples longer on every call) and seeds its noise from the clock, so
    each utterance gets a freshly loaded copy (``dlclose`` then ``dlopen`` re-reads its data
    section) and a fixed random seed: the same call gives the same samples in any process.
    Loading and initialising costs about 7 ms.
    """

    def __init__(self) -> None:
        import espeakng_loader

        self.library = espeakng_loader.get_library_path()
        self.home = str(Path(espeakng_loader.get_data_path()).parent).encode()
        self.lock = threading.Lock()
        self.rate = ESPEAK_RATE
        self.const_f0 = False
        lib = self._open()  # fail here, not later, when the library cannot be used
        self._close(lib)

    def _open(self):
        lib = ctypes.CDLL(self.library)
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        # both arrived with espeak-ng 1.52; without a seed the output is not reproducible
        if not hasattr(lib, "espeak_ng_SetRandSeed"):
            self._close(lib, initialised=False)
            raise RenderError("espeak-ng library older than 1.52 (no espeak_ng_SetRandSeed)")
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.const_f0 = hasattr(lib, "espeak_ng_SetConstF0")
        if self.const_f0:
            lib.espeak_ng_SetConstF0.argtypes = [ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(2, 0, self.home, 0)  # AUDIO_OUTPUT_SYNCHRONOUS
        if rate <= 0:
            self._close(lib, initialised=False)
            raise RenderError("espeak-ng did not initialise")
        self.rate = rate
        return lib

    @staticmethod
    def _close(lib, initialised: bool = True) -> None:
        import _ctypes

        if initialised:
            lib.espeak_Terminate()
        _ctypes.dlclose(lib._handle)

    @contextmanager
    def session(self, seed: int):
        """A freshly loaded engine for a sequence of utterances: yields ``utter(text, voice, rate_wpm,
        pitch, prange, max_seconds, const_f0=0) -> int16 samples``.  The sequence as a whole is
        deterministic (the engine starts from the same state every session)."""
        with self.lock:
            lib = self._open()
            try:
                lib.espeak_ng_SetRandSeed(int(seed) & 0x7FFFFFFF)

                def utter(text: str, voice: str, rate_wpm: int = 170, pitch: int = 50, prange: int = 50,
                          max_seconds: float = 20.0, const_f0: int = 0) -> np.ndarray:
                    chunks: list[np.ndarray] = []
                    cap = int(max_seconds * ESPEAK_RATE)
                    count = [0]

                    def on_audio(wav, n, events) -> int:
                        if n > 0 and wav:
                            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
                            count[0] += n
                        return 1 if count[0] >= cap else 0  # 1 aborts the synthesis

                    callback = _CALLBACK(on_audio)
                    lib.espeak_SetSynthCallback(callback)
                    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                        raise RenderError(f"espeak-ng has no voice {voice!r}")
                    lib.espeak_SetParameter(1, int(np.clip(rate_wpm, 80, 450)), 0)
                    lib.espeak_SetParameter(3, int(np.clip(pitch, 0, 99)), 0)
                    lib.espeak_SetParameter(4, int(np.clip(prange, 1, 99)), 0)  # range 0 crashes it
                    if self.const_f0:
                        lib.espeak_ng_SetConstF0(int(const_f0))  # 0: normal intonation
                    data = text[:MAX_CHARS].encode()
                    lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 1, None, None)  # CHARS_UTF8
                    out = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
                    return out[:cap]

                yield utter
            finally:
                self._close(lib)

    def say(self, text: str, voice: str, rate_wpm: int, pitch: int, prange: int, max_seconds: float,
            seed: int = 0) -> np.ndarray:
        with self.session(seed) as utter:
            out = utter(text, voice, rate_wpm, pitch, prange, max_seconds)
        return out.astype(np.float32) / 32768.0


@lru_cache(maxsize=1)
def _engine() -> _InProcess | None:
    try:
        return _InProcess()
    except (ImportError, OSError, RenderError):
        return None


def engine() -> _InProcess | None:
    """The in-process engine, or None where the wheel cannot be loaded."""
    return _engine()


def backend() -> str:
    """'wheel' (in-process), 'command' (espeak-ng binary) or 'none'."""
    if _engine() is not None:
        return "wheel"
    return "command" if shutil.which("espeak-ng") else "none"


def _decode_wav(wav: bytes, max_seconds: float) -> tuple[np.ndarray, int]:
    """A synthesiser's WAV output as (mono float32, rate), cut to ``max_seconds``."""
    import io

    import soundfile as sf

    audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
    return audio[: int(max_seconds * rate)], rate


def _random_text(rng: np.random.Generator, corpus: tuple[str, ...]) -> str:
    """One to three random sentences of ``corpus``."""
    n = int(rng.integers(1, 4))
    return " ".join(corpus[int(i)] for i in rng.integers(0, len(corpus), size=n))


def say(text: str, voice: str = "en", rate_wpm: int = 170, pitch: int = 50, prange: int = 50,
        max_seconds: float = 20.0, seed: int = 0) -> tuple[np.ndarray, int]:
    """Speak ``text``; returns (mono float32, rate).  Bounded to ``max_seconds`` of audio.

    Deterministic for given arguments (``seed`` drives espeak-ng's breath/noise generator).
    """
    eng = _engine()
    if eng is not None:
        return eng.say(text, voice, rate_wpm, pitch, prange, max_seconds, seed), eng.rate
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RenderError("no espeak-ng: pip install espeakng-loader, or apt-get install espeak-ng")
    wav = run_capped([exe, "--stdout", "-v", voice, "-s", str(int(rate_wpm)), "-p", str(int(pitch)),
                      "--stdin"], timeout=10.0 + max_seconds, max_bytes=int(max_seconds * ESPEAK_RATE * 2) + 4096,
                     stdin=text[:MAX_CHARS].encode())
    return _decode_wav(wav, max_seconds)


FLITE_RATE = 16000
#: flite's voices from Debian's package (kal, the 8 kHz diphone voice, is left out)
FLITE_VOICES = ("slt", "awb", "rms", "kal16")


def flite_available() -> bool:
    return shutil.which("flite") is not None


def flite_say(text: str, voice: str = "slt", f0_mean: float = 0.0, stretch: float = 1.0,
              max_seconds: float = 20.0) -> tuple[np.ndarray, int]:
    """Speak ``text`` with a flite voice; returns (mono float32, 16000).  ``f0_mean`` (Hz, 0 keeps
    the voice's own) and ``stretch`` (duration factor) vary the speaker.  Deterministic; run
    under a time and byte cap like every renderer."""
    exe = shutil.which("flite")
    if exe is None:
        raise RenderError("no flite: apt-get install flite")
    if voice not in FLITE_VOICES:
        raise RenderError(f"flite voice {voice!r} is not one of {', '.join(FLITE_VOICES)}")
    # more than max_seconds of text is synthesised whole, so bound the text as well as the output
    text = text[: max(20, int(max_seconds * 25))][:MAX_CHARS]
    cmd = [exe, "-voice", voice, "--setf", f"duration_stretch={float(stretch):.3f}"]
    if f0_mean > 0:
        cmd += ["--setf", f"int_f0_target_mean={float(f0_mean):.1f}"]
    longest_s = 0.3 * len(text) * stretch  # speech runs ~0.07 s a character: a 4x margin
    wav = run_capped([*cmd, "-t", text, "-o", "/dev/stdout"], timeout=10.0 + max_seconds,
                     max_bytes=int(longest_s * FLITE_RATE * 2) + 65536)
    return _decode_wav(wav, max_seconds)


def random_speech(rng: np.random.Generator, seconds: float, flite_share: float = 0.0) -> tuple[np.ndarray, int]:
    """A random speaker reading random sentences for up to about ``seconds`` (mono, rate).

    ``flite_share``: the chance that a flite voice reads (0 draws nothing for it, so the
    espeak-only streams stay as they were).  A flite speaker gets a random voice, mean F0
    and tempo, and a vocal-tract-length change (the audio is declared at 0.9-1.1x its rate,
    which moves pitch and formants together)."""
    corpus = sentences()
    if flite_share > 0 and rng.random() < flite_share:
        voice = FLITE_VOICES[int(rng.integers(len(FLITE_VOICES)))]
        text = _random_text(rng, corpus)
        f0 = float(rng.uniform(90, 140)) if voice in ("awb", "rms", "kal16") else float(rng.uniform(150, 240))
        warp = float(rng.uniform(0.9, 1.1))
        audio, rate = flite_say(text, voice, f0_mean=f0 if rng.random() < 0.7 else 0.0,
                                stretch=float(rng.uniform(0.8, 1.25)), max_seconds=seconds * warp)
        return audio, int(round(rate * warp))
    lang = LANGUAGES[int(rng.integers(len(LANGUAGES)))] if rng.random() < 0.6 else "en"
    variant = VARIANTS[int(rng.integers(len(VARIANTS)))]
    voice = f"{lang}+{variant}" if variant else lang
    text = _random_text(rng, corpus)
    return say(text, voice, rate_wpm=int(rng.integers(120, 230)), pitch=int(rng.integers(20, 80)),
               prange=int(rng.integers(20, 90)), max_seconds=seconds, seed=int(rng.integers(2**31)))
