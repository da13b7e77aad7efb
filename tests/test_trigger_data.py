"""seqcore.datasets.speech: eSpeak NG synthesis through espeakng-loader (plausible, repeatable
speech; voice checks), the Sequence Models course's trigger-word clips (labels as its
insert_ones, spectrograms as its graph_spectrogram, reproducible per clip, held-out test
voices), long trigger-free audio, and bad input."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

pytest.importorskip("espeakng_loader",
                    reason="espeakng-loader is not installed (pip install espeakng-loader==0.2.4"
                           " or pip install 'seqcore[data]')")

from seqcore.datasets import DatasetError, speech  # noqa: E402

SR = 44100


@pytest.fixture(scope="module")
def clips():
    return speech.trigger_word(4, split="train", seed=7, return_audio=True)


# ---- synthesis -------------------------------------------------------------------------------

def test_synthesize_activate_is_plausible_speech():
    x = speech.synthesize("activate")
    assert x.dtype == np.float32 and x.ndim == 1
    assert 0.5 <= x.size / speech.SAMPLE_RATE_ESPEAK <= 0.7       # ~0.6 s at 175 wpm
    assert np.abs(x).max() <= 1.0 and np.sqrt(np.mean(x ** 2)) > 0.01
    # trimmed: starts and ends on a sample of at least 1% of the peak
    assert min(abs(x[0]), abs(x[-1])) >= 0.01 * np.abs(x).max()
    # slower speech is longer
    assert speech.synthesize("activate", rate=100).size > 1.4 * x.size


def test_synthesize_is_repeatable_whatever_was_said_before():
    # eSpeak's flutter phase and filters carry over between utterances: each utterance
    # gets a fresh instance of the library, so the samples do not depend on the history
    a = speech.synthesize("computer", "en+klatt", 160, 40)
    speech._synth_int16.cache_clear()
    speech.synthesize("something else entirely", "en-us+f2", 200, 70)
    b = speech.synthesize("computer", "en+klatt", 160, 40)
    np.testing.assert_array_equal(a, b)


def _median_f0(z, sr=22050):
    """Median fundamental frequency (Hz) of the loud 46 ms frames, by autocorrelation."""
    frames = np.lib.stride_tricks.sliding_window_view(z.astype(np.float64), 1024)[::256]
    f0 = []
    for f in frames:
        if np.sqrt(np.mean(f ** 2)) < 0.05 * np.abs(z).max():
            continue
        f = f - f.mean()
        ac = np.correlate(f, f, "full")[1023:]
        lo, hi = sr // 400, sr // 60
        f0.append(sr / (lo + np.argmax(ac[lo:hi])))
    return float(np.median(f0))


def test_voices_differ():
    a = speech.synthesize("activate the computer", "en")
    b = speech.synthesize("activate the computer", "en-us+f2")
    lo = speech.synthesize("activate the computer", "en", pitch=20)
    hi = speech.synthesize("activate the computer", "en", pitch=80)
    for y in (b, lo, hi):
        n = min(a.size, y.size)
        assert a.size != y.size or not np.array_equal(a[:n], y[:n])
    # a male voice near 110 Hz; the pitch parameter moves it; the f2 variant is female
    f_lo, f_a, f_hi, f_b = (_median_f0(z) for z in (lo, a, hi, b))
    assert 80 < f_a < 150 and f_lo < f_a < f_hi and f_b > 1.4 * f_a


def test_english_voices():
    voices = speech.english_voices()
    assert voices == sorted(voices) and len(set(voices)) == len(voices)
    for v in ("en", "en-us", "en-gb-scotland", "en-029", "en-gb-x-rp", "en+m3", "en+f2",
              "en+klatt", "en-us+whisper"):
        assert v in voices
    bases = {v for v in voices if "+" not in v}
    assert len(bases) == 9
    if metadata.version("espeakng-loader") == "0.2.4":
        assert len(voices) == 9 * 105


@pytest.mark.parametrize("voice", ["en+nonexistent", "xx", "fr", "en+", "en+M3", ""])
def test_unknown_voice_raises(voice):
    with pytest.raises(ValueError, match="voice"):
        speech.synthesize("hello", voice)


def test_synthesize_bad_arguments():
    with pytest.raises(ValueError, match="text"):
        speech.synthesize("")
    with pytest.raises(ValueError, match="text"):
        speech.synthesize("   ")
    with pytest.raises(ValueError, match="text"):
        speech.synthesize("a\0b")
    with pytest.raises(ValueError, match="text"):
        speech.synthesize("x" * 1001)
    with pytest.raises(TypeError, match="text"):
        speech.synthesize(b"hello")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="voice"):
        speech.synthesize("hello", None)  # type: ignore[arg-type]
    for rate in (79, 451, -5):
        with pytest.raises(ValueError, match="rate"):
            speech.synthesize("hello", rate=rate)
    with pytest.raises(TypeError, match="rate"):
        speech.synthesize("hello", rate=175.5)  # type: ignore[arg-type]
    for pitch in (-1, 100):
        with pytest.raises(ValueError, match="pitch"):
            speech.synthesize("hello", pitch=pitch)


def test_missing_or_broken_espeak_gives_dataset_error(monkeypatch, tmp_path):
    monkeypatch.setattr(speech, "_engine", None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)   # import fails
    with pytest.raises(DatasetError, match=r"pip install espeakng-loader==0\.2\.4"):
        speech.synthesize("hello")
    monkeypatch.delitem(sys.modules, "espeakng_loader")
    import espeakng_loader
    bogus = tmp_path / "libespeak-ng.so"
    bogus.write_bytes(b"not a shared library")
    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: str(bogus))
    speech._engine = None
    with pytest.raises(DatasetError, match="does not load"):
        speech.english_voices()


def test_long_data_path_does_not_kill_the_process(monkeypatch, tmp_path):
    # eSpeak exit(1)s when its data path overflows its 160-byte buffer: the engine links the
    # data into a short temporary folder
    import espeakng_loader
    real = espeakng_loader.get_data_path()
    deep = tmp_path / ("x" * 150) / "espeak-ng-data"
    deep.parent.mkdir()
    os.symlink(real, deep)
    assert len(str(deep)) > 160
    monkeypatch.setattr(espeakng_loader, "get_data_path", lambda: str(deep))
    monkeypatch.setattr(speech, "_engine", None)
    x = speech.synthesize("a long data path, said once")
    assert x.size > 0.5 * speech.SAMPLE_RATE_ESPEAK


# ---- trigger-word clips ----------------------------------------------------------------------

def _insert_ones(trigger_ends, ty=1375):
    """The course's insert_ones, written out independently."""
    y = np.zeros(ty, np.float32)
    for end_s in trigger_ends:
        segment_end_ms = end_s * 1000.0
        segment_end_y = int(segment_end_ms * ty / 10000.0)
        for i in range(segment_end_y + 1, segment_end_y + 51):
            if i < ty:
                y[i] = 1.0
    return y


def test_clip_shapes_and_labels(clips):
    n = 4
    assert clips.spectrograms.shape == (n, 5511, 101) and clips.spectrograms.dtype == np.float32
    assert clips.labels.shape == (n, 1375) and clips.labels.dtype == np.float32
    assert clips.audio is not None
    assert clips.audio.shape == (n, 441000) and clips.audio.dtype == np.float32
    assert np.abs(clips.audio).max() <= 1.0
    assert len(clips.trigger_ends) == len(clips.negatives) == len(clips.voices) == n
    assert sum(len(e) for e in clips.trigger_ends) > 0          # this seed has triggers
    for i in range(n):
        ends = clips.trigger_ends[i]
        assert len(ends) <= 4 and len(clips.negatives[i]) <= 2
        assert len(clips.voices[i]) == len(ends) + len(clips.negatives[i])
        np.testing.assert_array_equal(clips.labels[i], _insert_ones(ends))
        # words do not overlap, and lie inside the clip
        spans = sorted([(e - 0.3, e) for e in ends]
                       + [(s, e) for _, s, e in clips.negatives[i]])
        assert all(0 <= s < e < 10 for s, e in spans)
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
        for word, s, e in clips.negatives[i]:
            assert word != "activate" and 0.2 < e - s < 2.0
        np.testing.assert_array_equal(clips.spectrograms[i], speech.spectrogram(clips.audio[i]))


def test_trigger_is_where_the_labels_say(clips):
    # the 0.3 s before each end are louder than the background (SNR >= 5 dB)
    for i, ends in enumerate(clips.trigger_ends):
        a = clips.audio[i].astype(np.float64)
        quiet = np.sqrt(np.median(a.reshape(-1, 4410) ** 2))    # background RMS (0.1 s)
        for e in ends:
            j = int(round(e * SR))
            word = a[j - int(0.3 * SR):j + 1]
            assert np.sqrt(np.mean(word ** 2)) > 1.5 * quiet


def test_trigger_labels_edges():
    y = speech.trigger_labels([0.0])
    assert y[0] == 0 and y[1:51].all() and not y[51:].any()
    y = speech.trigger_labels([9.99])                 # int(9990 * 0.1375) = 1373
    assert y[1374] == 1 and y.sum() == 1
    assert speech.trigger_labels([]).sum() == 0
    with pytest.raises(ValueError, match="trigger_ends"):
        speech.trigger_labels([10.5])
    with pytest.raises(ValueError, match="trigger_ends"):
        speech.trigger_labels([float("nan")])


def test_clips_reproducible_and_independent_of_n(clips):
    first = speech.trigger_word(2, split="train", seed=7)
    np.testing.assert_array_equal(first.spectrograms, clips.spectrograms[:2])
    np.testing.assert_array_equal(first.labels, clips.labels[:2])
    assert first.trigger_ends == clips.trigger_ends[:2]
    assert first.negatives == clips.negatives[:2]
    assert first.voices == clips.voices[:2]
    assert first.audio is None


def test_seeds_and_splits_differ(clips):
    other = speech.trigger_word(1, split="train", seed=8, return_audio=True)
    dev = speech.trigger_word(1, split="dev", seed=7, return_audio=True)
    assert other.audio is not None and dev.audio is not None and clips.audio is not None
    assert not np.array_equal(other.audio[0], clips.audio[0])
    assert not np.array_equal(dev.audio[0], clips.audio[0])


def test_test_voices_are_held_out(clips):
    train, dev, test = (set(speech.split_voices(s)) for s in ("train", "dev", "test"))
    assert train == dev and test and train and not (test & train)
    assert train | test <= set(speech.english_voices())
    # held out by variant: no test variant speaks in train
    assert not ({v.partition("+")[2] for v in test} & {v.partition("+")[2] for v in train})
    assert all(v in train for vs in clips.voices for v in vs)
    t = speech.trigger_word(2, split="test", seed=0)
    assert all(v in test for vs in t.voices for v in vs)


def test_confusable_rate():
    for rate, want in ((1.0, True), (0.0, False)):
        d = speech.trigger_word(3, seed=3, max_positives=0, max_negatives=3,
                                confusable_rate=rate)
        words = [w for negs in d.negatives for w, _, _ in negs]
        assert words and all((w in speech.CONFUSABLES) == want for w in words)
        assert not d.labels.any()


def test_zero_clips():
    d = speech.trigger_word(0)
    assert d.spectrograms.shape == (0, 5511, 101) and d.labels.shape == (0, 1375)
    assert d.trigger_ends == [] and d.voices == []


def test_trigger_word_bad_arguments():
    with pytest.raises(ValueError, match="n_clips"):
        speech.trigger_word(-1)
    with pytest.raises(ValueError, match="split"):
        speech.trigger_word(1, split="valid")
    with pytest.raises(ValueError, match="seed"):
        speech.trigger_word(1, seed=-1)
    with pytest.raises(TypeError, match="n_clips"):
        speech.trigger_word(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="snr_db"):
        speech.trigger_word(1, snr_db=(10.0, 5.0))
    with pytest.raises(ValueError, match="max_positives"):
        speech.trigger_word(1, max_positives=-1)
    with pytest.raises(ValueError, match="confusable_rate"):
        speech.trigger_word(1, confusable_rate=1.5)


# ---- spectrogram -----------------------------------------------------------------------------

def _reference_spectrogram(x):
    """graph_spectrogram's PSD (matplotlib specgram: NFFT=200, noverlap=120, Hann, one-sided
    density) from numpy alone, then the documented dB standardisation."""
    x = x.astype(np.float64)
    w = np.hanning(200)
    frames = np.lib.stride_tricks.sliding_window_view(x, 200)[::80] * w
    p = np.abs(np.fft.rfft(frames, axis=1)) ** 2 / (SR * np.sum(w ** 2))
    p[:, 1:-1] *= 2
    return (10 * np.log10(p + 1e-12) + 98.5) / 12.6


def test_spectrogram_matches_an_independent_computation(clips):
    x = clips.audio[0]
    s = speech.spectrogram(x)
    assert s.shape == (5511, 101) and s.dtype == np.float32 and s.flags.c_contiguous
    np.testing.assert_allclose(s, _reference_spectrogram(x), rtol=1e-5, atol=1e-4)
    short = np.random.default_rng(0).uniform(-0.5, 0.5, 1000)
    assert speech.spectrogram(short).shape == ((1000 - 200) // 80 + 1, 101)
    np.testing.assert_allclose(speech.spectrogram(short), _reference_spectrogram(short),
                               rtol=1e-5, atol=1e-4)
    # silence sits on the documented floor
    np.testing.assert_allclose(speech.spectrogram(np.zeros(400)), (-120 + 98.5) / 12.6,
                               rtol=1e-6)


def test_spectrogram_equals_scipy_signal_spectrogram():
    """The features are scipy.signal.spectrogram's PSD (Hann window, density scaling) in dB,
    standardised: within one float32 ulp of it (10 log10 is taken as (10 / ln 10) ln)."""
    signal = pytest.importorskip("scipy.signal")
    r = np.random.default_rng(3)
    mixed = r.standard_normal(44100) * 0.3
    mixed[10000:20000] *= 1e-5                    # quiet stretches next to loud ones
    for x in (mixed, r.uniform(-1, 1, 279).astype(np.float32), np.zeros(400),
              np.sin(np.arange(8000) * 0.05)):
        _, _, psd = signal.spectrogram(np.asarray(x, np.float64), fs=SR,
                                       window=np.hanning(200), nperseg=200, noverlap=120,
                                       nfft=200, detrend=False, return_onesided=True,
                                       scaling="density", mode="psd")
        expect = ((10 * np.log10(psd.T + 1e-12) + 98.5) / 12.6).astype(np.float32)
        np.testing.assert_array_max_ulp(speech.spectrogram(x), expect, maxulp=1)


def test_spectrogram_agrees_with_matplotlib_specgram():
    mlab = pytest.importorskip("matplotlib.mlab")
    x = np.random.default_rng(1).standard_normal(4000) * 0.1
    pxx, _, _ = mlab.specgram(x, NFFT=200, Fs=SR, noverlap=120)
    np.testing.assert_allclose(speech.spectrogram(x),
                               (10 * np.log10(pxx.T + 1e-12) + 98.5) / 12.6,
                               rtol=1e-5, atol=1e-4)


def test_spectrogram_bad_input():
    ok = np.zeros(1000, np.float32)
    with pytest.raises(ValueError, match="sample_rate"):
        speech.spectrogram(ok, sample_rate=22050)
    with pytest.raises(ValueError, match="audio"):
        speech.spectrogram(np.zeros(0))
    with pytest.raises(ValueError, match="audio"):
        speech.spectrogram(np.zeros(199))
    with pytest.raises(ValueError, match="audio"):
        speech.spectrogram(np.zeros((2, 1000)))
    bad = ok.copy()
    bad[10] = np.nan
    with pytest.raises(ValueError, match="audio"):
        speech.spectrogram(bad)
    with pytest.raises(TypeError, match="audio"):
        speech.spectrogram(np.zeros(1000, np.int16))


# ---- long background audio -------------------------------------------------------------------

def test_background_audio():
    b = speech.background_audio(12.5, seed=3)
    assert b.audio.shape == (int(12.5 * SR),) and b.audio.dtype == np.float32
    assert np.isfinite(b.audio).all() and np.abs(b.audio).max() <= 1.0
    assert all(w != "activate" and 0 <= s < e < 12.5 for w, s, e in b.negatives)
    head = speech.background_audio(4.0, seed=3)
    np.testing.assert_array_equal(head.audio, b.audio[:4 * SR])
    assert not np.array_equal(speech.background_audio(4.0, seed=4).audio, head.audio)
    with pytest.raises(ValueError, match="seconds"):
        speech.background_audio(0)
    with pytest.raises(ValueError, match="split"):
        speech.background_audio(1.0, split="all")


def test_synthesis_is_the_same_in_every_process():
    """eSpeak seeds the noise of its whispered and breathy voices from the clock unless told
    otherwise: a fixed seed makes a word, and so a clip, the same in every process."""
    code = ("import hashlib; from seqcore.datasets import speech; "
            "print(hashlib.sha256(speech.synthesize('banana', 'en+whisper', 170, 50)"
            ".tobytes()).hexdigest())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip() for _ in range(2)}
    here = hashlib.sha256(speech.synthesize("banana", "en+whisper", 170, 50).tobytes())
    assert runs == {here.hexdigest()}
