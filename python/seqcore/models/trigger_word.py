"""Trigger-word detection (Ng, *Sequence Models*, week 3): the course's model on seqcore
kernels, trained on spectrograms of 10-second clips, with offline and streaming inference.

Shape legend: ``N`` clips, ``Tx`` spectrogram frames (5511 for 10 s), ``F`` frequency bins
(101), ``Ty`` output steps (1375: one per 4 frames), ``C`` conv channels (196), ``H`` GRU
size (128).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from types import SimpleNamespace
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from scipy.special import expit

from .._validate import float_arg, int_arg
from ..conv import (PackedConv1d, batch_norm_backward, batch_norm_forward, conv1d_backward,
                    conv1d_forward, conv1d_output_length)
from ..layers import GRU, dropout_mask, load_params
from ..optim import Adam
from ..output_layers import binary_cross_entropy_with_logits
from ..rnn import PackedRNN

__all__ = ["TriggerWordDetector", "TriggerWordStream", "Detection", "detect",
           "detection_errors"]

# Audio framing of seqcore.datasets.speech (kept here so the model needs no dataset import)
_SAMPLE_RATE, _NFFT, _HOP = 44100, 200, 80


class Detection(NamedTuple):
    """A detected trigger word: output ``step`` (from the start of the audio), ``time`` in
    seconds (``step * 4 * 80 / 44100``: the step's first frame) and the probability there."""
    step: int
    time: float
    probability: float


def detect(probs, threshold: float = 0.5, refractory: int = 75, start: int = 0,
           last: Optional[int] = None) -> Tuple[List[int], Optional[int]]:
    """Steps where a trigger is detected in per-step probabilities ``probs [Ty]``: the
    course's ``chime_on_activate`` rule, a step above ``threshold`` at least ``refractory``
    steps after the previous detection. ``start`` numbers the first step; ``last`` is the
    previous detection's step (for a stream fed in pieces). Returns (steps, last).

    Raises ValueError / TypeError for a refractory that is not an integer >= 0."""
    refractory = int_arg("refractory", refractory, 0)
    above = np.flatnonzero(np.asarray(probs) > threshold) + start
    out: List[int] = []
    i = 0 if last is None else int(np.searchsorted(above, last + refractory))
    while i < len(above):              # one pass per detection: skip its refractory steps
        last = int(above[i])
        out.append(last)
        i = int(np.searchsorted(above, last + refractory)) if refractory > 0 else i + 1
    return out, last


def detection_errors(detected: Sequence[int], trigger_steps: Sequence[int],
                     window: int = 50, tolerance: int = 25) -> Tuple[int, int]:
    """(misses, false accepts) of ``detected`` steps against the steps where triggers end:
    a trigger ending at step e is found by a detection in ``[e - tolerance, e + window +
    tolerance]`` (its label window, widened); every other detection is a false accept."""
    used = set()
    misses = 0
    for e in trigger_steps:
        hits = [d for d in detected if e - tolerance <= d <= e + window + tolerance
                and d not in used]
        if hits:
            used.add(hits[0])
        else:
            misses += 1
    return misses, len([d for d in detected if d not in used])


class TriggerWordDetector:
    """The course's trigger-word model: ``Conv1D(C, Kw, stride) -> BatchNorm -> ReLU ->
    Dropout -> GRU(H) -> Dropout -> BatchNorm -> GRU(H) -> Dropout -> BatchNorm -> Dropout
    -> Dense(1) -> sigmoid`` per output step, on seqcore kernels (conv1d, batch norm with the
    fused ReLU, GRU, sigmoid cross-entropy).

    Parameter names follow ``torch.nn`` (``conv.weight``, ``bn0.running_mean``,
    ``gru1.weight_ih_l0``, ``dense.bias``, ...): :meth:`state_dict` loads into the module of
    :func:`seqcore.demo.trigger.torch_model` and back.

    Parameters
    ----------
    n_freq : int
        Frequency bins of the input spectrogram (101).
    conv_channels, kernel_size, stride : int
        The Conv1D layer (196, 15, 4: 5511 frames -> 1375 steps).
    hidden_size : int
        Size of both GRU layers (128).
    dropout : float in [0, 1)
        Rate of the four dropout layers (the course's Keras code uses 0.8; 0.2 trains
        better on the synthetic clips in a few epochs).
    momentum : float
        Batch norm's running-average momentum (torch's convention).
    seed : int or None
        Initial weights (torch's default initialisation) and the dropout masks.
    dtype : float32 or float64
        Of the parameters and the computation.

    Source: Ng, Katanforoosh & Mourri, *Sequence Models*, week 3 "Trigger word detection".
    """

    def __init__(self, n_freq: int = 101, conv_channels: int = 196, kernel_size: int = 15,
                 stride: int = 4, hidden_size: int = 128, *, dropout: float = 0.2,
                 momentum: float = 0.1, seed: Optional[int] = None, dtype=np.float32) -> None:
        F = self.n_freq = int_arg("n_freq", n_freq, 1, 1 << 16)
        C = self.conv_channels = int_arg("conv_channels", conv_channels, 1, 1 << 16)
        K = self.kernel_size = int_arg("kernel_size", kernel_size, 1, 1 << 10)
        self.stride = int_arg("stride", stride, 1, 1 << 10)
        H = self.hidden_size = int_arg("hidden_size", hidden_size, 1, 1 << 14)
        self.dropout = float_arg("dropout", dropout, 0.0, 1.0)
        if self.dropout >= 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout}")
        self.momentum = float_arg("momentum", momentum, 0.0, 1.0)
        self.dtype = dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
        self._rng = np.random.default_rng(seed)
        r = self._rng

        def uniform(bound, *shape):   # torch's default init of Conv1d / Linear
            return r.uniform(-bound, bound, shape).astype(dtype)

        p: "OrderedDict[str, np.ndarray]" = OrderedDict()
        p["conv.weight"] = uniform(1 / math.sqrt(F * K), C, F, K)
        p["conv.bias"] = uniform(1 / math.sqrt(F * K), C)
        self.buffers: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self.grus = []
        for k, (name, size) in enumerate((("bn0", C), ("gru1", H), ("bn1", H), ("gru2", H),
                                          ("bn2", H))):
            if name.startswith("bn"):
                p[f"{name}.weight"] = np.ones(size, dtype)
                p[f"{name}.bias"] = np.zeros(size, dtype)
                self.buffers[f"{name}.running_mean"] = np.zeros(size, dtype)
                self.buffers[f"{name}.running_var"] = np.ones(size, dtype)
            else:
                gru = GRU(C if name == "gru1" else H, H, batch_first=True, dtype=dtype,
                          seed=int(r.integers(1 << 31)))
                for pname, arr in gru.named_parameters():
                    p[f"{name}.{pname}"] = arr
                self.grus.append(gru)
        p["dense.weight"] = uniform(1 / math.sqrt(H), 1, H)
        p["dense.bias"] = uniform(1 / math.sqrt(H), 1)
        self.params = p

    # ------------------------------------------------------------------ state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of the parameters and batch-norm buffers, torch.nn names."""
        out = OrderedDict((k, v.copy()) for k, v in self.params.items())
        out.update((k, v.copy()) for k, v in self.buffers.items())
        return out

    def load_state_dict(self, state_dict) -> None:
        """Load parameters and buffers (numpy arrays or torch tensors) in place; extra keys of
        torch's BatchNorm (``num_batches_tracked``) are ignored. All-or-nothing."""
        sd = {k: v for k, v in dict(state_dict).items() if not k.endswith("num_batches_tracked")}
        merged = OrderedDict(self.params)
        merged.update(self.buffers)
        load_params(merged, sd)

    def num_parameters(self) -> int:
        return sum(p.size for p in self.params.values())

    def _bn(self, k):
        return (self.params[f"bn{k}.weight"], self.params[f"bn{k}.bias"],
                self.buffers[f"bn{k}.running_mean"], self.buffers[f"bn{k}.running_var"])

    def _check_input(self, x):
        x = np.asarray(x)
        if x.dtype.kind != "f":
            raise TypeError(f"spectrograms: expected a float array, got {x.dtype}")
        if x.ndim != 3 or x.shape[2] != self.n_freq:
            raise ValueError(f"spectrograms: expected shape [N, Tx, F] with F = {self.n_freq}, "
                             f"got {list(x.shape)}")
        if x.shape[1] < self.kernel_size:
            raise ValueError(f"spectrograms: expected at least {self.kernel_size} frames, got "
                             f"{x.shape[1]}")
        return np.ascontiguousarray(x, dtype=self.dtype)

    # ------------------------------------------------------------------ training
    def forward(self, x, training: bool = True):
        """Logits ``[N, Ty]`` of spectrograms ``x [N, Tx, F]``, and the cache for
        :meth:`backward` (training: batch statistics, dropout, running averages updated)."""
        x = self._check_input(x)
        p, q, rng = self.params, self.dropout if training else 0.0, self._rng

        def drop(a):
            if not q:
                return a, None
            m = dropout_mask(rng, a.shape, q, a.dtype)
            return a * m, m
        c, conv_cache = conv1d_forward(x, p["conv.weight"], p["conv.bias"], self.stride,
                                       channels_last=True)
        caches: Dict[str, Any] = {"conv": conv_cache}
        w, b, rm, rv = self._bn(0)
        a, caches["bn0"] = batch_norm_forward(c, w, b, rm, rv, training=training,
                                              momentum=self.momentum, relu=True)
        a, caches["m0"] = drop(a)
        for k, gru in enumerate(self.grus, 1):
            h, _, caches[f"gru{k}"] = gru.forward(a, training=training)
            h, caches[f"m{k}"] = drop(h)
            w, b, rm, rv = self._bn(k)
            a, caches[f"bn{k}"] = batch_norm_forward(h, w, b, rm, rv, training=training,
                                                     momentum=self.momentum)
        a, caches["m3"] = drop(a)
        caches["top"] = a
        # einsum, not matmul: its loops run in this thread, where a BLAS gemv would wake
        # OpenBLAS's threads, which then spin on the cores seqcore's OpenMP threads need
        # (~10% of a training step on two cores).
        logits = np.einsum("nth,h->nt", a, p["dense.weight"][0]) + p["dense.bias"][0]
        return logits, caches

    def backward(self, caches, dlogits) -> "OrderedDict[str, np.ndarray]":
        """Gradients of every parameter (names of :attr:`params`) from ``dlogits [N, Ty]``."""
        p, g = self.params, OrderedDict()
        top = caches["top"]
        H = top.shape[-1]
        dl = np.asarray(dlogits, dtype=self.dtype)
        g["dense.weight"] = np.einsum("i,ih->h", dl.reshape(-1), top.reshape(-1, H))[None, :]
        g["dense.bias"] = np.array([dl.sum()], self.dtype)
        da = dl[..., None] * p["dense.weight"][0]
        if caches["m3"] is not None:
            da *= caches["m3"]
        for k in (2, 1):
            gb = batch_norm_backward(caches[f"bn{k}"], da)
            g[f"bn{k}.weight"], g[f"bn{k}.bias"] = gb.dweight, gb.dbias
            dh = gb.dx
            if caches[f"m{k}"] is not None:
                dh *= caches[f"m{k}"]
            da, _, grads = self.grus[k - 1].backward(caches[f"gru{k}"], dh)
            for name, v in grads.items():
                g[f"gru{k}.{name}"] = v
        if caches["m0"] is not None:
            da *= caches["m0"]
        gb = batch_norm_backward(caches["bn0"], da)
        g["bn0.weight"], g["bn0.bias"] = gb.dweight, gb.dbias
        gc = conv1d_backward(caches["conv"], gb.dx, need_dx=False)
        g["conv.weight"], g["conv.bias"] = gc.dweight, gc.dbias
        return OrderedDict((name, g[name]) for name in p)

    def loss_and_grads(self, x, labels, pos_weight: float = 1.0):
        """Mean per-step binary cross-entropy of a batch against ``labels [N, Ty]`` (0/1) and
        the gradients of every parameter (a training forward: dropout, batch statistics)."""
        logits, caches = self.forward(x, training=True)
        labels = np.asarray(labels, dtype=self.dtype)
        if labels.shape != logits.shape:
            raise ValueError(f"labels: expected shape [N, Ty] = {list(logits.shape)}, got "
                             f"{list(labels.shape)}")
        loss, dlogits = binary_cross_entropy_with_logits(logits, labels, pos_weight=pos_weight)
        return float(loss), self.backward(caches, dlogits)

    def train_step(self, x, labels, optimizer, pos_weight: float = 1.0) -> float:
        loss, grads = self.loss_and_grads(x, labels, pos_weight)
        optimizer.step(grads)
        return loss

    def fit(self, train, dev=None, *, epochs: int = 10, batch_size: int = 16,
            lr: float = 1e-3, lr_decay: float = 1.0, decay_after: int = 0,
            pos_weight: float = 1.0, patience: int = 3, progress: bool = True,
            log=None) -> List[Dict[str, float]]:
        """Train with Adam on ``train`` (an object with ``spectrograms [N, Tx, F]`` and
        ``labels [N, Ty]``, e.g. :func:`seqcore.datasets.trigger_word`), shuffled each epoch;
        after each epoch the mean loss on ``dev`` (inference mode) decides early stopping:
        training stops after ``patience`` epochs without improvement and the best weights
        are restored. Epoch ``e`` (from 1) uses the learning rate ``lr * lr_decay **
        max(0, e - decay_after)`` (torch's ExponentialLR once ``decay_after`` epochs are
        done; the default ``lr_decay=1`` keeps ``lr``). Returns one dict per epoch
        (train_loss, dev_loss, lr, seconds)."""
        import time
        from tqdm.auto import tqdm
        epochs = int_arg("epochs", epochs, 1)
        batch_size = int_arg("batch_size", batch_size, 1)
        patience = int_arg("patience", patience, 1)
        lr = float_arg("lr", lr, 0.0, finite=True, lo_open=True)
        lr_decay = float_arg("lr_decay", lr_decay, 0.0, 1.0, lo_open=True)
        decay_after = int_arg("decay_after", decay_after, 0)
        X, Y = train.spectrograms, train.labels
        opt = Adam(self.params, lr=lr)
        history: List[Dict[str, float]] = []
        best, best_state, bad = math.inf, None, 0
        for epoch in range(epochs):
            t0 = time.perf_counter()
            opt.lr = lr * lr_decay ** max(0, epoch + 1 - decay_after)
            order = self._rng.permutation(len(X))
            losses = []
            bar = tqdm(range(0, len(X), batch_size), desc=f"epoch {epoch + 1}/{epochs}",
                       disable=not progress, leave=False)
            for i in bar:
                idx = np.sort(order[i:i + batch_size])
                losses.append(self.train_step(X[idx], Y[idx], opt, pos_weight))
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
            row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "lr": opt.lr,
                   "seconds": time.perf_counter() - t0}
            if dev is not None:
                row["dev_loss"] = self.loss(dev.spectrograms, dev.labels, pos_weight)
            history.append(row)
            if log is not None:
                log(row)
            score = row.get("dev_loss", row["train_loss"])
            if score < best:
                best, best_state, bad = score, self.state_dict(), 0
            else:
                bad += 1
                if bad >= patience:
                    break
        if best_state is not None:
            self.load_state_dict(best_state)
        return history

    def loss(self, x, labels, pos_weight: float = 1.0, batch_size: int = 32) -> float:
        """Mean per-step binary cross-entropy in inference mode."""
        total, n = 0.0, 0
        for i in range(0, len(x), batch_size):
            logits = self.logits(x[i:i + batch_size])
            y = np.asarray(labels[i:i + batch_size], dtype=self.dtype)
            total += float(binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight,
                                                            reduction="sum", grad=False).loss)
            n += y.size
        return total / max(n, 1)

    # ------------------------------------------------------------------ inference
    def _inference_net(self) -> SimpleNamespace:
        """The inference network with every batch norm folded into the layer next to it (in
        inference a batch norm is a per-channel affine map): bn0 into the conv (w s,
        (b - mean) s + beta; the ReLU in the GEMM's epilogue; the weight packed once,
        :class:`~seqcore.PackedConv1d`), bn1 into gru2's input weights (W_ih s, W_ih t +
        b_ih: W x + b is linear in x, for the n gate too), bn2 into the dense layer.
        ``s = gamma / sqrt(var + eps)``, ``t = beta - mean s``. The GRUs' weights are packed
        once as well (:class:`~seqcore.PackedRNN`)."""
        def affine(k):
            w, b, rm, rv = self._bn(k)
            sc = (w / np.sqrt(rv + 1e-5)).astype(self.dtype)
            return sc, (b - rm * sc).astype(self.dtype)
        p, dt = self.params, self.dtype
        s0, t0 = affine(0)
        s1, t1 = affine(1)
        s2, t2 = affine(2)
        grus = []
        for k, (s, t) in enumerate(((None, None), (s1, t1))):
            g = dict(self.grus[k].named_parameters())
            w_ih, b_ih = g["weight_ih_l0"], g["bias_ih_l0"]
            if s is not None:
                w_ih, b_ih = (w_ih * s).astype(dt), (w_ih @ t + b_ih).astype(dt)
            grus.append(PackedRNN("gru", w_ih, g["weight_hh_l0"], b_ih, g["bias_hh_l0"]))
        w = p["dense.weight"][0]
        conv = PackedConv1d((p["conv.weight"] * s0[:, None, None]).astype(dt),
                            (p["conv.bias"] * s0 + t0).astype(dt), self.stride,
                            channels_last=True, activation="relu")
        return SimpleNamespace(conv=conv, grus=grus, dense_w=(w * s2).astype(dt),
                               dense_b=dt.type(w @ t2 + p["dense.bias"][0]))

    def _infer(self, frames, state, net):
        """Logits ``[N, steps]`` of the conv windows of ``frames [N, n, F]``, continuing the
        GRU ``state`` (two ``[N, H]`` arrays, or None) through :meth:`_inference_net`'s
        ``net``; returns (logits, new state). The one inference path of :meth:`logits` and of
        the stream, so the two agree."""
        a = net.conv(frames).transpose(1, 0, 2)          # time-major [steps, N, C]
        new_state = []
        for k, gru in enumerate(net.grus):
            a, hn = gru(a, None if state is None else state[k])
            new_state.append(hn)
        # batch-major rows for the dense layer: each sequence's dots the same for any N
        a = np.ascontiguousarray(a.transpose(1, 0, 2))
        return a @ net.dense_w + net.dense_b, new_state

    def logits(self, x, batch_size: int = 32):
        """Inference-mode logits ``[N, Ty]`` of spectrograms ``x [N, Tx, F]``."""
        x = self._check_input(x)
        net = self._inference_net()
        return np.concatenate([self._infer(x[i:i + batch_size], None, net)[0]
                               for i in range(0, len(x), batch_size)]) if len(x) else \
            np.zeros((0, conv1d_output_length(x.shape[1], self.kernel_size, self.stride)),
                     self.dtype)

    def predict(self, spectrograms, batch_size: int = 32):
        """Per-step probabilities that a trigger word has just ended: ``[Ty]`` for one
        spectrogram ``[Tx, F]``, ``[N, Ty]`` for ``[N, Tx, F]`` (inference mode)."""
        x = np.asarray(spectrograms)
        single = x.ndim == 2
        z = self.logits(x[None] if single else x, batch_size)
        p = expit(z.astype(np.float64))          # the stream's sigmoid too
        return (p[0] if single else p).astype(self.dtype)

    def stream(self, threshold: float = 0.5, refractory: int = 75) -> "TriggerWordStream":
        """A :class:`TriggerWordStream` over this model (inference mode)."""
        return TriggerWordStream(self, threshold, refractory)

    def __repr__(self):
        return (f"TriggerWordDetector(n_freq={self.n_freq}, conv_channels={self.conv_channels},"
                f" kernel_size={self.kernel_size}, stride={self.stride}, hidden_size="
                f"{self.hidden_size}, dropout={self.dropout}, dtype={self.dtype.name}; "
                f"{self.num_parameters():,} parameters)")


class TriggerWordStream:
    """Streaming detection on raw audio at 44.1 kHz fed in chunks (e.g. 4,000 samples,
    90.7 ms): spectrogram frames, conv windows and the GRU state carry over between chunks,
    so the per-step probabilities equal :meth:`TriggerWordDetector.predict` on the whole
    audio (the same kernels on the same values; the GRUs' input products may group the
    steps differently, so equal to float rounding).

    ``feed(chunk)`` returns the detections completed by the chunk; ``probabilities`` holds
    every step's probability so far. The model's weights are read (batch norms folded, the
    conv's weight packed) when the stream is made: make a new stream after changing them.
    ``reset()`` starts a new audio stream with the same weights.
    """

    def __init__(self, model: TriggerWordDetector, threshold: float = 0.5,
                 refractory: int = 75) -> None:
        if model.n_freq != _NFFT // 2 + 1:
            raise ValueError(f"model: a stream computes spectrograms of {_NFFT // 2 + 1} "
                             f"bins; this model takes n_freq={model.n_freq}")
        self.model = model
        self.threshold = float_arg("threshold", threshold, 0.0, 1.0)
        self.refractory = int_arg("refractory", refractory, 0)
        self._net = model._inference_net()
        self.reset()

    def reset(self) -> None:
        """Forget the audio so far (carried samples, frames, GRU state, probabilities)."""
        self._audio = np.zeros(0, np.float64)
        self._frames = np.zeros((0, self.model.n_freq), self.model.dtype)
        self._state = None
        self._steps = 0
        self._last: Optional[int] = None
        self._probs: List[np.ndarray] = []

    @property
    def probabilities(self) -> np.ndarray:
        return (np.concatenate(self._probs) if self._probs
                else np.zeros(0, self.model.dtype))

    def feed(self, chunk, sample_rate: int = _SAMPLE_RATE) -> List[Detection]:
        """Process the next ``chunk [L]`` of float samples (L a multiple of the 80-sample
        hop) and return the detections it completes.

        Raises
        ------
        ValueError
            Another sample rate, a chunk that is not 1-D, empty, not a multiple of 80
            samples, or not finite.
        TypeError
            A chunk that is not a float array.
        """
        from ..datasets.speech import _spectrogram_frames
        if int_arg("sample_rate", sample_rate) != _SAMPLE_RATE:
            raise ValueError(f"sample_rate: expected {_SAMPLE_RATE} Hz, got {sample_rate}")
        x = np.asarray(chunk)
        if x.dtype.kind != "f":
            raise TypeError(f"chunk: expected float samples, got dtype {x.dtype}")
        if x.ndim != 1 or x.size == 0 or x.size % _HOP:
            raise ValueError(f"chunk: expected a 1-D array of a positive multiple of {_HOP} "
                             f"samples (the spectrogram's hop), got shape {list(x.shape)}")
        if not np.isfinite(x).all():
            raise ValueError("chunk: contains NaN or infinity")
        m = self.model
        audio = np.concatenate([self._audio, x])       # float64: the carried samples' dtype
        if len(audio) < _NFFT:
            self._audio = audio
            return []
        n = (len(audio) - _NFFT) // _HOP + 1           # frames complete in audio
        frames = np.concatenate([self._frames, _spectrogram_frames(audio)])
        self._audio = audio[n * _HOP:]
        if len(frames) < m.kernel_size:
            self._frames = frames
            return []
        steps = (len(frames) - m.kernel_size) // m.stride + 1
        used = (steps - 1) * m.stride + m.kernel_size
        z, self._state = m._infer(frames[None, :used], self._state, self._net)
        self._frames = frames[steps * m.stride:]
        p = expit(z[0].astype(np.float64)).astype(m.dtype)
        self._probs.append(p)
        first = self._steps
        self._steps += steps
        if not (p > self.threshold).any():    # nothing to detect (the common case)
            return []
        found, self._last = detect(p, self.threshold, self.refractory, first, self._last)
        step_seconds = m.stride * _HOP / _SAMPLE_RATE
        return [Detection(s, s * step_seconds, float(p[s - first])) for s in found]
