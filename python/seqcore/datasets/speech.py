"""Synthesised speech for trigger-word detection (the "Trigger word detection" assignment of
week 3 of Andrew Ng's Sequence Models course), made on the fly with eSpeak NG.

The course builds 10-second training clips by overlaying recordings of "activate" and of
other words on background recordings (``create_training_example``, ``insert_audio_clip``,
``insert_ones``). Its recordings are not redistributable, so this module synthesises every
word with eSpeak NG 1.52 (the ``libespeak-ng`` that the ``espeakng-loader`` 0.2.4 wheel
bundles with its voice data; GPL-3.0-or-later, loaded with ctypes, never linked) and makes
the background from coloured noise, mains hum and low-level babble of synthetic words.

* :func:`synthesize`: one utterance as float32 audio at 22,050 Hz.
* :func:`english_voices`, :func:`split_voices`: the English voices and their partition
  into train/dev and held-out test speakers.
* :func:`trigger_word`: the course's training examples (spectrograms ``[N, Tx, 101]`` and
  labels ``[N, Ty]``), each clip reproducible from ``(split, seed, index)``.
* :func:`spectrogram`: the course's ``graph_spectrogram`` features of any 44.1 kHz audio.
* :func:`trigger_labels`: the course's ``insert_ones`` from trigger end times.
* :func:`background_audio`: long trigger-free audio for false accepts per hour.

eSpeak NG keeps state between utterances in static variables (the phase of its pitch
"flutter", the Klatt filters, its random generator), so the same call gives different
samples depending on what was said before, and re-initialising it does not reset them.
Each utterance is therefore synthesised by a freshly loaded private copy of the library
(dlopen, synthesise, dlclose; about 5 ms): the samples of a word depend only on
``(text, voice, rate, pitch)``. The unloads leak about 2 KB of native memory each.
"""
from __future__ import annotations

import atexit
import ctypes
import functools
import hashlib
import math
import os
import shutil
import tempfile
import threading
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import DatasetError
from .._validate import float_arg, int_arg, option

__all__ = ["SAMPLE_RATE_ESPEAK", "SAMPLE_RATE", "CLIP_SECONDS", "CLIP_SAMPLES", "NFFT", "HOP",
           "TX", "N_FREQ", "TY", "LABEL_STEPS", "SPLITS", "TRIGGER", "CONFUSABLES",
           "OTHER_WORDS", "synthesize", "english_voices", "split_voices", "spectrogram",
           "trigger_labels", "trigger_word", "TriggerWordData", "background_audio",
           "BackgroundAudio"]

#: Sample rate of eSpeak NG's output (Hz).
SAMPLE_RATE_ESPEAK = 22050
#: Sample rate of the clips (Hz): eSpeak's output upsampled 2x, as the course's 44.1 kHz wavs.
SAMPLE_RATE = 44100
CLIP_SECONDS = 10
CLIP_SAMPLES = SAMPLE_RATE * CLIP_SECONDS   # 441,000
#: FFT length and hop of the spectrogram (the course's nfft=200, noverlap=120).
NFFT = 200
HOP = 80
#: Spectrogram frames of a 10-second clip: (441000 - 200) // 80 + 1.
TX = (CLIP_SAMPLES - NFFT) // HOP + 1        # 5511
#: Frequency bins: nfft // 2 + 1.
N_FREQ = NFFT // 2 + 1                       # 101
#: Output steps of the course's model (Conv1D stride 4 then GRUs) for a 10-second clip.
TY = 1375
#: Output steps set to 1 after each trigger's end (the course's insert_ones).
LABEL_STEPS = 50
SPLITS = ("train", "dev", "test")
TRIGGER = "activate"
#: Negative words that sound like the trigger.
CONFUSABLES = ("active", "activity", "activated", "activation", "captivate", "motivate",
               "cultivate")
#: Ordinary negative words (also the babble vocabulary).
OTHER_WORDS = ("banana", "hello", "computer", "weather", "music", "seven", "tomorrow",
               "window", "coffee", "telephone", "yesterday", "garden", "purple", "thirteen",
               "morning", "kitchen", "elephant", "bicycle", "station", "message", "minute",
               "yellow", "pizza", "library", "doctor", "forty", "umbrella", "vacation",
               "turn on the lights", "what time is it", "good morning", "see you later",
               "how are you", "play some music", "the quick brown fox", "call my sister")

# Spectrogram feature: (10 log10(psd + _PSD_EPS) - _DB_MEAN) / _DB_STD. Fixed constants (not
# per-clip statistics) so that streaming audio gets exactly the training features; they are
# the rounded mean and standard deviation of the log power over 200 train clips (seed 0).
_PSD_EPS = 1e-12     # floor at -120 dB, below every background level the clips use
_DB_MEAN = -98.5
_DB_STD = 12.6

_SPLIT_ID = {name: i for i, name in enumerate(SPLITS)}
_SAME_AS_EN = ("en-shaw",)         # bases that speak Latin text exactly as "en"
_SAME_AS_BASE = ("fast",)          # variants that change nothing below 450 wpm
_TEST_VARIANT_MOD = 5          # a variant is test-only when sha256(name) % 5 == 0
_RATES = np.arange(130, 211, 5)    # words per minute
_PITCHES = np.arange(20, 81, 5)    # eSpeak's 0-99 pitch scale
_MAX_TEXT = 1000                   # characters per utterance
_GAP = int(0.1 * SAMPLE_RATE)      # silence kept between inserted words
_FADE = int(0.05 * SAMPLE_RATE)    # cross-fade between the 10-s blocks of background_audio
_INSTALL = "pip install espeakng-loader==0.2.4 (or pip install 'seqcore[data]')"


# ---- the eSpeak NG engine (ctypes) ---------------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000   # return an error instead of calling exit(1) on bad data
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
# eSpeak keeps its data path in a 160-byte buffer and silently truncates longer paths (then
# exit(1)s in espeak_Initialize); our symlink keeps it far below that.
_MAX_DATA_PATH = 100

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.c_void_p)
_lock = threading.RLock()   # eSpeak is not thread-safe; one utterance at a time per process


class _Engine(NamedTuple):
    library: str          # our private copy of libespeak-ng
    data: str             # a short path to espeak-ng-data
    bases: Tuple[str, ...]
    variants: Tuple[str, ...]


_engine: Optional[_Engine] = None


def _remove_tree(path: str, pid: int) -> None:
    if os.getpid() == pid:   # not from a forked child
        shutil.rmtree(path, ignore_errors=True)


def _find_voices(data: str) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    bases = set()
    for _root, _dirs, files in os.walk(os.path.join(data, "lang")):
        for f in files:
            name = f.lower()
            if name == "en" or name.startswith("en-"):
                bases.add(name)
    vdir = os.path.join(data, "voices", "!v")
    variants = (sorted(f for f in os.listdir(vdir) if os.path.isfile(os.path.join(vdir, f)))
                if os.path.isdir(vdir) else [])
    return tuple(sorted(bases)), tuple(variants)


def _get_engine() -> _Engine:
    global _engine
    with _lock:
        if _engine is not None:
            return _engine
        try:
            import espeakng_loader
        except ImportError:
            raise DatasetError(f"speech synthesis needs eSpeak NG from the espeakng-loader "
                               f"wheel, which is not installed: {_INSTALL}") from None
        try:
            library = str(espeakng_loader.get_library_path())
            data = str(espeakng_loader.get_data_path())
        except Exception as err:   # RuntimeError when its data folder is missing
            raise DatasetError(f"espeakng-loader is installed but damaged ({err}): "
                               f"pip install --force-reinstall espeakng-loader==0.2.4"
                               ) from None
        for f in (library, os.path.join(data, "phontab"), os.path.join(data, "en_dict")):
            if not os.path.isfile(f):
                raise DatasetError(f"espeakng-loader: {f} is missing (pip install "
                                   f"--force-reinstall espeakng-loader==0.2.4)")
        bases, variants = _find_voices(data)
        if "en" not in bases:
            raise DatasetError(f"espeakng-loader: no English voice under {data}/lang")
        # A private folder with a copy of the library (a file of its own is loaded as a new
        # instance even if someone else in this process loaded espeakng-loader's) and a
        # short link to the data (see _MAX_DATA_PATH).
        tmp = tempfile.mkdtemp(prefix="seqcore-espeak-",
                               dir="/tmp" if os.access("/tmp", os.W_OK) else None)
        atexit.register(_remove_tree, tmp, os.getpid())
        copy = os.path.join(tmp, "libespeak-ng-seqcore" + os.path.splitext(library)[1])
        try:
            shutil.copyfile(library, copy)
        except OSError as err:
            raise DatasetError(f"cannot copy {library} to {tmp}: {err}") from None
        link = os.path.join(tmp, "espeak-ng-data")
        try:
            os.symlink(data, link, target_is_directory=True)
            data = link
        except OSError:
            pass   # no symlinks (Windows without privileges): use the path as it is
        if len(os.fsencode(data)) > _MAX_DATA_PATH:
            raise DatasetError(f"the eSpeak NG data path {data!r} is longer than "
                               f"{_MAX_DATA_PATH} bytes (eSpeak would exit the process); "
                               f"set TMPDIR to a short folder")
        try:   # fail here, with a clear message, if it cannot load
            _dlclose(ctypes.CDLL(copy)._handle)   # closed: it must not stay loaded
        except OSError as err:
            raise DatasetError(f"libespeak-ng from espeakng-loader does not load ({err}): "
                               f"pip install --force-reinstall espeakng-loader==0.2.4"
                               ) from None
        _engine = _Engine(copy, data, bases, variants)
        return _engine


def _dlclose(handle: int) -> None:
    import _ctypes
    close: Any = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
    if close is not None:
        close(handle)


def _run_espeak(engine: _Engine, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
    """int16 samples at 22,050 Hz from a freshly loaded instance of the library."""
    chunks: List[np.ndarray] = []

    def collect(wav: Any, n: int, events: Any) -> int:
        if wav and n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0   # 0: go on synthesising

    callback = _SynthCallback(collect)
    # Nobody else holds our copy open, so this dlopen maps a new instance (fresh static
    # state) and the dlclose below unmaps it.
    lib = ctypes.CDLL(engine.library)
    try:
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        rate_hz = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                        os.fsencode(engine.data), _INITIALIZE_DONT_EXIT)
        if rate_hz != SAMPLE_RATE_ESPEAK:
            raise DatasetError(f"espeak_Initialize failed with the data in {engine.data!r} "
                               f"(returned {rate_hz}; see stderr): pip install "
                               f"--force-reinstall espeakng-loader==0.2.4")
        try:
            # eSpeak seeds its noise source (whispered and breathy voices) from the clock at
            # initialisation: a fixed seed makes every word the same in every process.
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_ng_SetRandSeed(0)
            lib.espeak_SetSynthCallback(callback)
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise DatasetError(f"eSpeak NG cannot load the voice {voice!r}")
            if (lib.espeak_SetParameter(_PARAM_RATE, rate, 0) != 0
                    or lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0) != 0):
                raise DatasetError(f"eSpeak NG refused rate={rate} or pitch={pitch}")
            raw = text.encode("utf-8") + b"\0"
            err = lib.espeak_Synth(raw, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                   None, None)
            if err != 0:
                raise DatasetError(f"espeak_Synth failed (error {err}) on {text!r}")
            lib.espeak_Synchronize()
        finally:
            lib.espeak_Terminate()
    finally:
        _dlclose(lib._handle)
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


# ---- voices and synthesis -----------------------------------------------------------------

def english_voices() -> List[str]:
    """The English eSpeak NG voices that exist in the installed data, sorted: each base
    voice (the accents in ``espeak-ng-data/lang/gmw/en*``: ``en`` (British), ``en-029``,
    ``en-gb-scotland``, ``en-gb-x-gbclan``, ``en-gb-x-gbcwmd``, ``en-gb-x-rp``, ``en-shaw``,
    ``en-us``, ``en-us-nyc``) alone and with each variant of ``espeak-ng-data/voices/!v``
    (``"en+m3"``, ``"en-us+f2"``, ``"en+klatt"``, ...): 9 x 105 = 945 names with
    espeakng-loader 0.2.4.

    Only these names are accepted by :func:`synthesize`: eSpeak itself silently falls back
    to the base voice for an unknown variant.

    Raises DatasetError when espeakng-loader is missing or damaged.
    """
    engine = _get_engine()
    return sorted(b if not v else f"{b}+{v}" for b in engine.bases
                  for v in ("",) + engine.variants)


def _variant(voice: str) -> str:
    return voice.partition("+")[2]


def _is_test_variant(variant: str) -> bool:
    digest = hashlib.sha256(variant.encode("utf-8")).digest()
    return variant != "" and int.from_bytes(digest[:8], "big") % _TEST_VARIANT_MOD == 0


def split_voices(split: str) -> List[str]:
    """The voices that speak in a split of :func:`trigger_word` (foreground and babble).

    Two names that speak exactly as another are left out: the base ``en-shaw`` (for the
    Shavian alphabet; on Latin text it is ``en``) and the variant ``fast`` (it only changes
    speech faster than 450 wpm), leaving 8 x 104 = 832 distinct voices.
    The voice variants are partitioned by a hash of their name (sha256, fixed across
    machines and versions of Python): about one in five variants (with every base accent)
    is held out for ``"test"``; ``"train"`` and ``"dev"`` share the others and the plain
    base voices. So test clips are spoken by voices no train or dev clip uses.

    Raises ValueError for an unknown split, DatasetError when espeakng-loader is missing.
    """
    option("split", split, SPLITS)
    test = split == "test"
    return [v for v in english_voices() if _is_test_variant(_variant(v)) == test
            and v.partition("+")[0] not in _SAME_AS_EN and _variant(v) not in _SAME_AS_BASE]


def _check_voice(voice: Any) -> str:
    if not isinstance(voice, str):
        raise TypeError(f"voice: expected a str such as 'en-us+f2', got "
                        f"{type(voice).__name__}")
    base, plus, variant = voice.partition("+")
    name = base.lower() + plus + variant   # eSpeak matches the accent case-insensitively
    engine = _get_engine()
    if base.lower() not in engine.bases or (plus and variant not in engine.variants):
        raise ValueError(f"voice: {voice!r} is not an English eSpeak NG voice (a base of "
                         f"{list(engine.bases)}, optionally '+' one of the "
                         f"{len(engine.variants)} variants such as 'm3', 'f2', 'klatt'; "
                         f"see english_voices())")
    return name


@functools.lru_cache(maxsize=2048)   # ~27 KB each: at most about 55 MB
def _synth_int16(text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
    engine = _get_engine()
    with _lock:
        x = _run_espeak(engine, text, voice, rate, pitch)
    # trim leading/trailing silence: samples under 1% of the peak (-40 dB)
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > 0.01 * np.abs(x.astype(np.int32)).max()
                          ) if x.size else x
    if loud.size == 0:
        raise ValueError(f"text: {text!r} gives no audible speech")
    x = x[loud[0]:loud[-1] + 1].copy()
    x.flags.writeable = False   # shared by the cache
    return x


def synthesize(text: str, voice: str = "en", rate: int = 175, pitch: int = 50) -> np.ndarray:
    """Speak ``text`` with eSpeak NG.

    Parameters
    ----------
    text : str, 1 to 1000 characters with something to say (plain text, UTF-8; no SSML).
    voice : one of :func:`english_voices`, e.g. ``"en"`` (British), ``"en-us+f2"``.
    rate : speaking rate in words per minute, 80 to 450 (eSpeak's range).
    pitch : base pitch on eSpeak's scale 0 to 99 (50 is the voice's default).

    Returns
    -------
    audio ``[T]`` float32 in [-1, 1) (the int16 output / 32768), mono at
    :data:`SAMPLE_RATE_ESPEAK` = 22,050 Hz, with leading and trailing samples under 1% of the
    peak trimmed. "activate" at 175 wpm lasts about 0.6 s. The same arguments give the same
    samples in every call and process (a per-process cache of 2048 utterances keeps them).

    Raises
    ------
    TypeError for a non-str text or voice, non-int rate or pitch; ValueError (naming the
    argument) for empty or too long text, text with nothing audible, an unknown voice, a rate
    or pitch out of range; DatasetError when espeakng-loader is missing or does not load.

    Source: eSpeak NG 1.52 (GPL-3.0-or-later) as bundled by espeakng-loader 0.2.4.
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    if not text.strip() or "\0" in text or len(text) > _MAX_TEXT:
        raise ValueError(f"text: expected 1 to {_MAX_TEXT} characters with something to say "
                         f"(no NUL), got {text[:40]!r}{'...' if len(text) > 40 else ''}")
    rate = int_arg("rate", rate, 80, 450)
    pitch = int_arg("pitch", pitch, 0, 99)
    name = _check_voice(voice)
    return _synth_int16(text, name, rate, pitch).astype(np.float32) / np.float32(32768.0)


# ---- features and labels ------------------------------------------------------------------

def spectrogram(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The course's ``graph_spectrogram`` features of mono audio at 44.1 kHz, standardised.

    Frames of ``NFFT`` = 200 samples every ``HOP`` = 80 samples (the course's nfft=200,
    noverlap=120; 4.5 ms windows every 1.8 ms), a symmetric Hann window (``np.hanning``, as
    matplotlib's ``specgram``), no detrending, one-sided power spectral density
    (``scipy.signal.spectrogram(..., scaling="density", mode="psd")``, the values
    ``specgram`` returns: 1/Hz for audio in full-scale units, non-DC/Nyquist bins doubled).
    The feature is that power in dB, standardised with fixed constants (so streaming audio
    gets exactly the training features)::

        feature = (10 * log10(psd + 1e-12) - (-98.5)) / 12.6

    (-98.5 dB and 12.6 dB: the rounded mean and standard deviation over 200 train clips;
    the 1e-12 floors digital silence at -120 dB, a feature of -1.71).

    Parameters
    ----------
    audio : ``[L]`` float32 or float64 samples in [-1, 1] (values beyond are allowed), at
        least ``NFFT`` = 200 of them. A 10-second clip (441,000 samples) gives ``TX`` = 5511
        frames.
    sample_rate : must be 44,100 (Hz): the features and the model's time steps assume it.

    Returns
    -------
    ``[(L - 200) // 80 + 1, 101]`` float32, time by frequency (0 to 22,050 Hz in steps of
    220.5 Hz); frame ``t`` covers samples ``80 t`` to ``80 t + 199``.

    Raises
    ------
    TypeError for audio that is not a float array; ValueError (naming the argument) for
    another sample rate, audio that is not 1-D, shorter than 200 samples, or not finite.
    """
    rate = int_arg("sample_rate", sample_rate)
    if rate != SAMPLE_RATE:
        raise ValueError(f"sample_rate: expected {SAMPLE_RATE} Hz (resample first, e.g. "
                         f"scipy.signal.resample_poly), got {rate}")
    x = np.asarray(audio)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"audio: expected float samples in [-1, 1], got dtype {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"audio: expected mono samples [L], got shape {x.shape}")
    if x.shape[0] < NFFT:
        raise ValueError(f"audio: expected at least {NFFT} samples ({NFFT / SAMPLE_RATE * 1e3:.1f}"
                         f" ms), got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ValueError("audio: contains NaN or infinity")
    return _spectrogram_frames(x)


# A symmetric Hann window and the density scaling 1 / (fs sum w^2), doubled for the bins
# that stand for both signs of frequency (all but DC and Nyquist; NFFT is even).
_WINDOW = np.hanning(NFFT)
_PSD_SCALE = np.full(NFFT // 2 + 1, 2.0 / (SAMPLE_RATE * np.sum(_WINDOW ** 2)))
_PSD_SCALE[[0, -1]] /= 2
_DB_PER_NEPER = 10.0 / math.log(10.0)


def _spectrogram_frames(x: np.ndarray) -> np.ndarray:
    """:func:`spectrogram` of checked samples (1-D, finite, >= NFFT of them): the periodogram
    of every frame, scipy.signal.spectrogram's ``mode="psd"`` values (the same FFT,
    pocketfft through scipy.fft) without its set-up, which costs several times the FFT on a
    stream's chunk. ``10 log10`` is taken as ``(10 / ln 10) ln``: half the time, and the
    float32 features come out the same (tests: within one ulp of scipy's)."""
    from scipy import fft
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = (len(x) - NFFT) // HOP + 1
    frames = np.ndarray((n, NFFT), np.float64, x, 0, (HOP * 8, 8))  # a view: frame t at 80 t
    spec = fft.rfft(frames * _WINDOW, axis=1)
    psd = spec.real ** 2
    psd += spec.imag ** 2
    psd *= _PSD_SCALE
    psd += _PSD_EPS
    db = np.log(psd, out=psd)
    db *= _DB_PER_NEPER
    db -= _DB_MEAN
    db /= _DB_STD
    return db.astype(np.float32)


def trigger_labels(trigger_ends: Sequence[float], ty: int = TY) -> np.ndarray:
    """The course's ``insert_ones`` for a 10-second clip: ``[ty]`` float32 with ones on the
    ``LABEL_STEPS`` = 50 output steps after each trigger's end.

    For each end time ``e`` (seconds; the time of the trigger's last sample)::

        segment_end_y = int(e * 1000.0 * ty / 10000.0)
        y[segment_end_y + 1 : segment_end_y + 51] = 1      # clipped at ty

    Raises ValueError for an end time that is not finite or outside [0, 10] s, or ty < 1.
    """
    ty = int_arg("ty", ty, 1)
    y = np.zeros(ty, np.float32)
    for e in trigger_ends:
        e = float_arg("trigger_ends", e, 0.0, float(CLIP_SECONDS))
        end_y = int(e * 1000.0 * ty / 10000.0)
        y[end_y + 1:end_y + 1 + LABEL_STEPS] = 1.0
    return y


# ---- clips ---------------------------------------------------------------------------------

_Speaker = Tuple[str, int, int]


def _speaker(rng: np.random.Generator, pool: Sequence[str]) -> _Speaker:
    return (pool[int(rng.integers(len(pool)))], int(rng.choice(_RATES)),
            int(rng.choice(_PITCHES)))


def _word(text: str, speaker: _Speaker) -> np.ndarray:
    """float64 at 44.1 kHz (eSpeak's 22,050 Hz upsampled 2x, polyphase)."""
    from scipy import signal
    x = _synth_int16(text, *speaker).astype(np.float64) / 32768.0
    return signal.resample_poly(x, 2, 1)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    """Unit-RMS white, pink (1/f power) or brown (1/f^2) noise, shaped in the frequency
    domain; flat below 20 Hz so brown noise does not drift."""
    x = rng.standard_normal(n)
    alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0}[colour]
    if alpha:
        freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
        x = np.fft.irfft(np.fft.rfft(x) * np.maximum(freqs, 20.0) ** (-alpha / 2), n)
    x -= x.mean()
    return x / max(_rms(x), 1e-12)


def _hum(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-RMS mains hum: 50 or 60 Hz (+-0.5%) and 2 to 7 more harmonics."""
    f0 = float(rng.choice([50.0, 60.0])) * rng.uniform(0.995, 1.005)
    t = np.arange(n) / SAMPLE_RATE
    x = np.zeros(n)
    for k in range(1, int(rng.integers(3, 9)) + 1):
        x += rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    return x / max(_rms(x), 1e-12)


def _babble(rng: np.random.Generator, n: int, pool: Sequence[str]) -> np.ndarray:
    """Unit-RMS babble: 2 to 6 ordinary words by random voices, overlapping freely."""
    x = np.zeros(n)
    for _ in range(int(rng.integers(2, 7))):
        w = _word(OTHER_WORDS[int(rng.integers(len(OTHER_WORDS)))], _speaker(rng, pool))
        w = w[:n] / max(_rms(w), 1e-12) * 10 ** (rng.uniform(-6.0, 0.0) / 20)
        start = int(rng.integers(0, n - w.size + 1))
        x[start:start + w.size] += w
    return x / max(_rms(x), 1e-12)


def _background(rng: np.random.Generator, n: int, pool: Sequence[str]) -> np.ndarray:
    """Coloured noise (0 dB), hum (probability 0.4, -20 to 0 dB) and babble (probability 0.7,
    -5 to +10 dB), mixed then scaled to -50 to -30 dBFS RMS."""
    bg = _coloured_noise(rng, n, ("white", "pink", "brown")[int(rng.integers(3))])
    if rng.random() < 0.4:
        bg += _hum(rng, n) * 10 ** (rng.uniform(-20.0, 0.0) / 20)
    if rng.random() < 0.7:
        bg += _babble(rng, n, pool) * 10 ** (rng.uniform(-5.0, 10.0) / 20)
    return bg * (10 ** (rng.uniform(-50.0, -30.0) / 20) / _rms(bg))


def _place(rng: np.random.Generator, length: int, n: int, margin: int,
           taken: List[Tuple[int, int]]) -> Optional[int]:
    """The course's get_random_time_segment + is_overlapping at sample level: a uniform
    start whose [start, end] keeps _GAP from the segments taken; None after 50 tries."""
    hi = n - margin - length
    if hi < margin:
        return None
    for _ in range(50):
        start = int(rng.integers(margin, hi + 1))
        end = start + length - 1
        if all(end + _GAP < s or start > e + _GAP for s, e in taken):
            taken.append((start, end))
            return start
    return None


class _Clip(NamedTuple):
    audio: np.ndarray                             # [n] float32
    trigger_ends: List[float]                     # seconds
    negatives: List[Tuple[str, float, float]]     # (word, start s, end s)
    voices: List[str]


def _render(rng: np.random.Generator, pool: Sequence[str], n: int, n_pos: int, n_neg: int,
            snr_db: Tuple[float, float], margin: int = 0, confusable_rate: float = 0.5) -> _Clip:
    """The course's create_training_example: background, then the positives, then the
    negatives, each at a random free place and a random SNR over the background RMS."""
    x = _background(rng, n, pool)
    bg_rms = _rms(x)
    taken: List[Tuple[int, int]] = []
    ends: List[float] = []
    negatives: List[Tuple[str, float, float]] = []
    voices: List[str] = []
    for k in range(n_pos + n_neg):
        if k < n_pos:
            text = TRIGGER
        elif rng.random() < confusable_rate:
            text = CONFUSABLES[int(rng.integers(len(CONFUSABLES)))]
        else:
            text = OTHER_WORDS[int(rng.integers(len(OTHER_WORDS)))]
        speaker = _speaker(rng, pool)
        snr = rng.uniform(*snr_db)
        w = _word(text, speaker)
        start = _place(rng, w.size, n, margin, taken)
        if start is None:   # no room left (the course skips the word too)
            continue
        x[start:start + w.size] += w * (bg_rms * 10 ** (snr / 20) / _rms(w))
        end = start + w.size - 1
        if k < n_pos:
            ends.append(end / SAMPLE_RATE)
        else:
            negatives.append((text, start / SAMPLE_RATE, end / SAMPLE_RATE))
        voices.append(speaker[0])
    peak = float(np.abs(x).max())
    if peak > 0.99:   # keep the mix in [-1, 1] (scales every part alike)
        x *= 0.99 / peak
    return _Clip(x.astype(np.float32), ends, negatives, voices)


def _snr_arg(snr_db: Any) -> Tuple[float, float]:
    try:
        lo, hi = snr_db
    except (TypeError, ValueError):
        raise TypeError(f"snr_db: expected a pair (low, high) in dB, got {snr_db!r}") from None
    lo = float_arg("snr_db", lo, -30.0, 60.0)
    hi = float_arg("snr_db", hi, -30.0, 60.0)
    if lo > hi:
        raise ValueError(f"snr_db: expected low <= high, got {snr_db!r}")
    return lo, hi


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="clip", disable=not enabled)


class TriggerWordData(NamedTuple):
    """Clips of :func:`trigger_word`.

    * ``spectrograms [N, TX=5511, N_FREQ=101]`` float32: :func:`spectrogram` of each clip
      (batch, time, frequency; 2.2 MB per clip).
    * ``labels [N, TY=1375]`` float32: :func:`trigger_labels` of ``trigger_ends``.
    * ``trigger_ends``: per clip, the end time (s) of each "activate", in insertion order.
    * ``negatives``: per clip, ``(word, start s, end s)`` of each negative word.
    * ``voices``: per clip, the voice of each inserted word (positives then negatives).
    * ``audio [N, 441000]`` float32 at 44.1 kHz in [-1, 1], or None unless
      ``return_audio=True``.
    """
    spectrograms: np.ndarray
    labels: np.ndarray
    trigger_ends: List[List[float]]
    negatives: List[List[Tuple[str, float, float]]]
    voices: List[List[str]]
    audio: Optional[np.ndarray] = None


def trigger_word(n_clips: int, *, split: str = "train", seed: int = 0,
                 max_positives: int = 4, max_negatives: int = 2,
                 snr_db: Tuple[float, float] = (5.0, 25.0), confusable_rate: float = 0.5,
                 return_audio: bool = False, progress: bool = False) -> TriggerWordData:
    """Synthetic training examples for trigger-word ("activate") detection, made as the
    course's ``create_training_example`` makes them.

    Each 10-second clip at 44.1 kHz is a background: coloured noise (white, pink or brown),
    mains hum (50/60 Hz with harmonics) in 40% of the clips and babble of 2-6 synthetic
    ordinary words in 70%, at -50 to -30 dBFS RMS; then 0 to ``max_positives`` "activate"
    and 0 to ``max_negatives`` negative words (each confusable with probability
    ``confusable_rate``: "active", "activity", "activated", "activation", "captivate", ...;
    the others ordinary words and phrases) at uniform random non-overlapping places (0.1 s
    apart; a word with no room after 50 tries is left out, as in the course's
    ``insert_audio_clip``), each at an SNR drawn uniformly from ``snr_db`` over the
    background RMS. Every word has its own speaker: a voice of :func:`split_voices`
    (``split``), a rate of 130-210 wpm and a pitch of 20-80 (steps of 5). A mix above 0.99
    peak is scaled down.

    Clip ``i`` is made from ``numpy.random.default_rng([seed, split_id, i])`` alone
    (split_id 0/1/2 for train/dev/test), so it is the same whatever ``n_clips`` is, and in
    every process. Speed: 0.1 to 0.2 s per clip on one core (eSpeak, noise, spectrogram; a
    cache keeps the last 2048 utterances).

    Parameters
    ----------
    n_clips : number of clips N >= 0.
    split : ``"train"``, ``"dev"`` or ``"test"``; test clips are spoken (foreground and
        babble) by held-out voice variants that train and dev never use.
    seed : int >= 0.
    max_positives, max_negatives : the counts are uniform in [0, max] (course: 4 and 2).
    snr_db : (low, high) SNR range in dB (RMS of the word over RMS of the background).
    confusable_rate : probability in [0, 1] that a negative word is one of
        :data:`CONFUSABLES` (0.5; training sets with more of them teach the model to reject
        the rhymes, see ``seqcore demo trigger``).
    return_audio : also return the audio ``[N, 441000]`` float32 (1.76 MB per clip).
    progress : show a tqdm progress bar.

    Returns
    -------
    :class:`TriggerWordData`; labels as the course's ``insert_ones`` (see
    :func:`trigger_labels`): 1 on the 50 output steps (0.36 s) after each "activate" ends.

    Raises
    ------
    ValueError (naming the argument) for n_clips < 0, an unknown split, a negative seed or
    count, a bad snr_db or confusable_rate; TypeError for arguments of the wrong type;
    DatasetError when espeakng-loader is missing.
    """
    n_clips = int_arg("n_clips", n_clips, 0)
    option("split", split, SPLITS)
    seed = int_arg("seed", seed, 0)
    max_positives = int_arg("max_positives", max_positives, 0, 10)
    max_negatives = int_arg("max_negatives", max_negatives, 0, 10)
    snr = _snr_arg(snr_db)
    confusable_rate = float_arg("confusable_rate", confusable_rate, 0.0, 1.0)
    pool = split_voices(split)
    spectrograms = np.empty((n_clips, TX, N_FREQ), np.float32)
    labels = np.empty((n_clips, TY), np.float32)
    audio = np.empty((n_clips, CLIP_SAMPLES), np.float32) if return_audio else None
    ends, negatives, voices = [], [], []
    with _progress(n_clips, f"trigger_word {split}", progress) as bar:
        for i in range(n_clips):
            rng = np.random.default_rng([seed, _SPLIT_ID[split], i])
            n_pos = int(rng.integers(0, max_positives + 1))
            n_neg = int(rng.integers(0, max_negatives + 1))
            clip = _render(rng, pool, CLIP_SAMPLES, n_pos, n_neg, snr,
                           confusable_rate=confusable_rate)
            spectrograms[i] = spectrogram(clip.audio)
            labels[i] = trigger_labels(clip.trigger_ends)
            if audio is not None:
                audio[i] = clip.audio
            ends.append(clip.trigger_ends)
            negatives.append(clip.negatives)
            voices.append(clip.voices)
            bar.update(1)
    return TriggerWordData(spectrograms, labels, ends, negatives, voices, audio)


class BackgroundAudio(NamedTuple):
    """``audio [L]`` float32 at 44.1 kHz without the trigger; ``negatives``: ``(word,
    start s, end s)`` of each negative word in it."""
    audio: np.ndarray
    negatives: List[Tuple[str, float, float]]


def background_audio(seconds: float, seed: int = 0, *, split: str = "test",
                     max_negatives: int = 4, snr_db: Tuple[float, float] = (5.0, 25.0),
                     progress: bool = False) -> BackgroundAudio:
    """Long audio that never says "activate", to count false accepts per hour.

    Made of 10-second blocks like :func:`trigger_word`'s clips without positives and with 0
    to ``max_negatives`` negative words each (confusable or ordinary, by voices of
    :func:`split_voices` ``(split)``), cross-faded over 50 ms (no word in the fades). Block
    ``k`` comes from ``numpy.random.default_rng([seed, 100 + split_id, k])``: a stream apart
    from the clips', and the first seconds are the same for any ``seconds``.

    Parameters
    ----------
    seconds : length in seconds, > 0 (176 KB of float32 per second: an hour is 635 MB).
    seed : int >= 0.
    split : whose voices speak (default ``"test"``, the held-out voices).
    max_negatives : negative words per 10-second block, uniform in [0, max_negatives].
    snr_db : (low, high) SNR range of the words in dB.
    progress : show a tqdm progress bar.

    Returns
    -------
    :class:`BackgroundAudio` ``(audio [round(seconds * 44100)] float32, negatives)``.

    Raises ValueError (naming the argument) for seconds <= 0 or not finite, a negative seed,
    an unknown split, bad counts or snr_db; DatasetError when espeakng-loader is missing.
    """
    seconds = float_arg("seconds", seconds, 0.0, 1e7, finite=True, lo_open=True)
    seed = int_arg("seed", seed, 0)
    option("split", split, SPLITS)
    max_negatives = int_arg("max_negatives", max_negatives, 0, 10)
    snr = _snr_arg(snr_db)
    pool = split_voices(split)
    total = max(1, int(round(seconds * SAMPLE_RATE)))
    step = CLIP_SAMPLES - _FADE
    n_blocks = max(1, math.ceil((total - _FADE) / step))
    out = np.zeros(n_blocks * step + _FADE, np.float32)
    fade_in = (0.5 - 0.5 * np.cos(np.pi * (np.arange(_FADE) + 0.5) / _FADE)).astype(np.float32)
    negatives: List[Tuple[str, float, float]] = []
    with _progress(n_blocks, "background_audio", progress) as bar:
        for k in range(n_blocks):
            rng = np.random.default_rng([seed, 100 + _SPLIT_ID[split], k])
            clip = _render(rng, pool, CLIP_SAMPLES, 0,
                           int(rng.integers(0, max_negatives + 1)), snr, margin=_FADE)
            x = clip.audio
            if k > 0:
                x[:_FADE] *= fade_in
            if k < n_blocks - 1:
                x[-_FADE:] *= fade_in[::-1]
            out[k * step:k * step + CLIP_SAMPLES] += x
            offset = k * step / SAMPLE_RATE
            negatives += [(w, s + offset, e + offset) for w, s, e in clip.negatives
                          if (e + offset) * SAMPLE_RATE < total]
            bar.update(1)
    return BackgroundAudio(np.clip(out[:total], -1.0, 1.0), negatives)
