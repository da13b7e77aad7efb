"""Trigger-word detection (the Sequence Models course, week 3) on synthesised speech.

Data (:func:`seqcore.datasets.trigger_word`): 10-second clips of synthetic background
(coloured noise, mains hum, babble) with "activate" and negative words (confusable ones
such as "active", "activity", "activated" among them) spoken by eSpeak NG voices, inserted
at random non-overlapping offsets and SNRs; the test clips and the background stream use
voices never heard in training. Model: :class:`seqcore.models.TriggerWordDetector` (Conv1D
-> batch norm -> ReLU -> 2 x GRU(128) with batch norm -> per-step sigmoid) trained with Adam
and early stopping on the dev loss.

Reported on held-out voices: the miss rate (triggers without a detection near their end)
and false accepts per hour (detections elsewhere, over the test clips and
``--fa-minutes`` of trigger-free background and negative speech run through the streaming
detector), at ``--threshold`` and as an ROC over thresholds; a test clip with a chime mixed
in at each detection (WAV) and a plot of its waveform, spectrogram and per-step
probability.

Run: ``seqcore demo trigger`` (~40 minutes on 2 cores, ~12 GB of memory for the 4,800
training clips; ``--train`` takes fewer) or ``--quick`` (seconds).
"""
from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import numpy as np

from .. import set_num_threads
from . import defaults_help
from ..models.trigger_word import TriggerWordDetector, detect, detection_errors

__all__ = ["add_arguments", "run", "main", "torch_model", "chime"]

# (full, quick)
_DEFAULTS = {"train": (4800, 48), "dev": (100, 8), "test": (200, 8), "epochs": (8, 1),
             "fa_minutes": (120, 1)}
_CHUNK = 4000        # streamed samples per feed: 50 hops of 80, 90.7 ms at 44.1 kHz


def torch_model(detector: Optional[TriggerWordDetector] = None):
    """The same network written with ``torch.nn`` (Conv1d, BatchNorm1d, GRU, Linear, Dropout)
    and the same parameter names; loads ``detector``'s weights when given. Input
    ``[N, Tx, F]``, output logits ``[N, Ty]``."""
    import torch
    from torch import nn

    d = detector or TriggerWordDetector()

    class TorchTriggerWord(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(d.n_freq, d.conv_channels, d.kernel_size, d.stride)
            self.bn0 = nn.BatchNorm1d(d.conv_channels, momentum=d.momentum)
            self.gru1 = nn.GRU(d.conv_channels, d.hidden_size, batch_first=True)
            self.bn1 = nn.BatchNorm1d(d.hidden_size, momentum=d.momentum)
            self.gru2 = nn.GRU(d.hidden_size, d.hidden_size, batch_first=True)
            self.bn2 = nn.BatchNorm1d(d.hidden_size, momentum=d.momentum)
            self.dense = nn.Linear(d.hidden_size, 1)
            self.drop = nn.Dropout(d.dropout)

        def forward(self, x):
            def bn(layer, h):   # BatchNorm1d normalises dim 1: [N, C, T]
                return layer(h.transpose(1, 2)).transpose(1, 2)
            a = self.drop(torch.relu(self.bn0(self.conv(x.transpose(1, 2))))).transpose(1, 2)
            a = bn(self.bn1, self.drop(self.gru1(a)[0]))
            a = self.drop(bn(self.bn2, self.drop(self.gru2(a)[0])))
            return self.dense(a)[..., 0]

    m = TorchTriggerWord().to(dtype=torch.float64 if d.dtype == np.float64 else torch.float32)
    if detector is not None:
        m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in d.state_dict().items()},
                          strict=False)
    return m


def chime(seconds: float = 0.25, sample_rate: int = 44100) -> np.ndarray:
    """A soft two-tone chime (880 + 1320 Hz, exponential decay), float32 in [-0.5, 0.5]."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = np.sin(2 * np.pi * 880 * t) + 0.5 * np.sin(2 * np.pi * 1320 * t)
    return (0.33 * tone * np.exp(-t / (seconds / 4))).astype(np.float32)


def add_arguments(parser):
    """Add the demo's options to an ``argparse`` parser (or sub-parser)."""
    def d(key):
        return defaults_help(_DEFAULTS, key)

    parser.add_argument("--quick", action="store_true", help="a tiny run: seconds")
    parser.add_argument("--train", type=int, default=None, help="training clips " + d("train"))
    parser.add_argument("--dev", type=int, default=None, help="dev clips " + d("dev"))
    parser.add_argument("--test", type=int, default=None,
                        help="test clips, held-out voices " + d("test"))
    parser.add_argument("--epochs", type=int, default=None, help="at most " + d("epochs"))
    parser.add_argument("--patience", type=int, default=3,
                        help="stop after this many epochs without a better dev loss (3)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (16)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--lr-decay", type=float, default=0.5,
                        help="learning rate factor per epoch after --decay-after (0.5)")
    parser.add_argument("--decay-after", type=int, default=3,
                        help="epochs at the full learning rate (3)")
    parser.add_argument("--max-negatives", type=int, default=4,
                        help="negative words per training / dev clip, uniform in [0, max] (4; "
                             "the course: 2)")
    parser.add_argument("--confusable-rate", type=float, default=0.75,
                        help="share of the training / dev negatives that rhyme with or "
                             "contain the trigger (0.75)")
    parser.add_argument("--dropout", type=float, default=0.2, help="dropout rate (0.2)")
    parser.add_argument("--pos-weight", type=float, default=1.0,
                        help="weight of the positive frames in the loss (1)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="detection threshold on the per-step probability (0.5)")
    parser.add_argument("--fa-minutes", type=int, default=None,
                        help="minutes of trigger-free audio streamed for false accepts "
                             + d("fa_minutes"))
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--threads", type=int, default=None, help="seqcore threads")
    parser.add_argument("--plot", default="trigger_word.png",
                        help="waveform / spectrogram / probability plot ('' for none)")
    parser.add_argument("--wav", default="trigger_chime.wav",
                        help="a test clip with chimes at the detections ('' for none)")
    parser.add_argument("--save", default="",
                        help="write the trained model's state dict here (.npz; '' for none)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _config(args):
    cfg = SimpleNamespace()
    for key in _DEFAULTS:
        value = getattr(args, key)
        cfg.__dict__[key] = _DEFAULTS[key][1 if args.quick else 0] if value is None else value
        if cfg.__dict__[key] < 1:
            raise SystemExit(f"seqcore demo trigger: --{key.replace('_', '-')} must be >= 1")
    return cfg


def _trigger_steps(ends, ty=1375) -> List[int]:
    return [int(e * 1000.0 * ty / 10000.0) for e in ends]   # trigger_labels' own rule


def _errors(test_probs, test_ends, background_probs, threshold, refractory=75):
    misses = fas = triggers = 0
    for p, ends in zip(test_probs, test_ends):
        found, _ = detect(p, threshold, refractory)
        steps = _trigger_steps(ends)
        m, f = detection_errors(found, steps)
        misses, fas, triggers = misses + m, fas + f, triggers + len(steps)
    fas += len(detect(background_probs, threshold, refractory)[0])
    return misses, fas, triggers


def run(args) -> Dict[str, Any]:
    """Generate the data, train, evaluate; returns the metrics and the ROC."""
    from ..datasets import speech
    cfg = _config(args)
    if args.threads:
        set_num_threads(args.threads)
    progress = not args.no_progress
    t0 = time.perf_counter()
    # More negatives than the course's 0-2, most of them confusable: the false accepts of a
    # model trained on the course's mix are the rhymes ("cultivate", "motivate") and the
    # words that begin like the trigger ("active", "activated").
    hard = {"max_negatives": args.max_negatives, "confusable_rate": args.confusable_rate}
    train = speech.trigger_word(cfg.train, split="train", seed=args.seed, progress=progress,
                                **hard)
    dev = speech.trigger_word(cfg.dev, split="dev", seed=args.seed, progress=progress, **hard)
    test = speech.trigger_word(cfg.test, split="test", seed=args.seed, return_audio=True,
                               progress=progress)
    print(f"seqcore demo trigger: {cfg.train} training / {cfg.dev} dev / {cfg.test} test clips "
          f"of 10 s ({int(train.labels.any(axis=1).sum())} training clips hold a trigger), "
          f"made in {time.perf_counter() - t0:.0f} s")
    model = TriggerWordDetector(dropout=args.dropout, seed=args.seed)
    print(model)

    def log(row):
        print(f"epoch {row['epoch']:2d} (lr {row['lr']:.2g}): train loss "
              f"{row['train_loss']:.4f}, dev loss {row['dev_loss']:.4f} ({row['seconds']:.0f} s)")
    history = model.fit(train, dev, epochs=cfg.epochs, batch_size=args.batch, lr=args.lr,
                        lr_decay=args.lr_decay, decay_after=args.decay_after,
                        pos_weight=args.pos_weight, patience=args.patience, progress=progress,
                        log=log)

    if args.save:
        state: Dict[str, Any] = dict(model.state_dict())
        np.savez(args.save, **state)
        print(f"model: {args.save} (TriggerWordDetector().load_state_dict(np.load(path)))")
    test_probs = model.predict(test.spectrograms)
    # Trigger-free audio (held-out voices) through the streaming detector, minute by minute.
    stream = model.stream(threshold=args.threshold)
    t1, streamed = time.perf_counter(), 0.0
    for k in range(cfg.fa_minutes):
        audio = speech.background_audio(60, seed=10_000 * (args.seed + 1) + k, split="test").audio
        tf = time.perf_counter()
        for i in range(0, len(audio) - len(audio) % _CHUNK, _CHUNK):
            stream.feed(audio[i:i + _CHUNK])
        streamed += time.perf_counter() - tf
    background = stream.probabilities
    hours = (cfg.test * 10 + cfg.fa_minutes * 60) / 3600
    print(f"streamed {cfg.fa_minutes} min of trigger-free audio in {streamed:.1f} s "
          f"(real-time factor {streamed / (cfg.fa_minutes * 60):.4f}; "
          f"{time.perf_counter() - t1:.0f} s with its synthesis)")

    roc = []
    for thr in np.round(np.concatenate([np.arange(0.05, 0.95, 0.05), [0.95, 0.98, 0.99]]), 2):
        m, f, n = _errors(test_probs, test.trigger_ends, background, thr)
        roc.append({"threshold": float(thr), "miss_rate": m / max(n, 1),
                    "fa_per_hour": f / hours})
    m, f, n = _errors(test_probs, test.trigger_ends, background, args.threshold)
    f_stream = len(detect(background, args.threshold)[0])
    result = {"history": history, "triggers": n, "misses": m, "false_accepts": f,
              "hours": hours, "miss_rate": m / max(n, 1), "fa_per_hour": f / hours,
              "false_accepts_stream": f_stream, "threshold": args.threshold, "roc": roc}
    print(f"held-out voices, threshold {args.threshold}: miss rate {result['miss_rate']:.1%} "
          f"({m} of {n} triggers), {result['fa_per_hour']:.2f} false accepts per hour ({f} in "
          f"{hours:.2f} h: {f - f_stream} in the test clips, {f_stream} in the stream)")
    print("ROC: threshold  miss rate  false accepts/h")
    for r in roc:
        print(f"      {r['threshold']:.2f}      {r['miss_rate']:6.1%}     {r['fa_per_hour']:7.2f}")

    # One test clip with a trigger: chimes at the detections, and the plot.
    i = next((k for k, e in enumerate(test.trigger_ends) if e), 0)
    assert test.audio is not None   # asked for with return_audio
    audio = test.audio[i].copy()
    found, _ = detect(test_probs[i], args.threshold)
    ring = chime()
    for step in found:
        at = int(step * 4 * 80)
        seg = audio[at:at + len(ring)]
        seg += ring[:len(seg)]
    if args.wav:
        from scipy.io import wavfile
        wavfile.write(args.wav, 44100, (np.clip(audio, -1, 1) * 32767).astype(np.int16))
        print(f"chime example (test clip {i}, {len(found)} detections): {args.wav}")
    if args.plot:
        _plot(args.plot, audio, test.spectrograms[i], test_probs[i], test.labels[i],
              args.threshold)
    return result


def _plot(path, audio, spec, probs, labels, threshold):
    from . import pyplot, save_figure
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
    ax[0].plot(np.arange(len(audio)) / 44100, audio, lw=0.3)
    ax[0].set_ylabel("waveform")
    ax[1].imshow(spec.T, origin="lower", aspect="auto", extent=(0, 10, 0, 22.05))
    ax[1].set_ylabel("kHz")
    t = np.arange(len(probs)) * 10 / len(probs)
    ax[2].fill_between(t, 0, labels, color="tab:green", alpha=0.3, label="label")
    ax[2].plot(t, probs, label="P(trigger)")
    ax[2].axhline(threshold, color="gray", ls="--", lw=0.8)
    ax[2].set_ylabel("probability")
    ax[2].set_xlabel("seconds")
    ax[2].legend(loc="upper right")
    save_figure(plt, fig, path, "plot")


def main(argv=None) -> int:
    """``python -m seqcore.demo.trigger``: the same as ``seqcore demo trigger``."""
    from . import run_demo
    return run_demo("trigger", argv)


if __name__ == "__main__":
    raise SystemExit(main())
