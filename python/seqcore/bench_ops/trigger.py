"""``seqcore bench --ops trigger``: the trigger-word model (:class:`seqcore.models.
TriggerWordDetector`: Conv1D 196 x 15 / 4, batch norm, 2 x GRU(128), per-step sigmoid) on
10-second spectrograms ``[N, 5511, 101]``.

* ``train step``: forward, backward and an Adam step on a batch of 16 clips, against the same
  network written with torch.nn (``seqcore.demo.trigger.torch_model``: Conv1d, BatchNorm1d,
  GRU, Linear, binary_cross_entropy_with_logits, torch.optim.Adam) from the same weights;
  dropout 0 on both sides (the error column compares the first step's losses).
* ``stream 1 s``: one second of audio (11 chunks of 4,000 samples, 90.7 ms each, 0.998 s;
  also, in the default suite, 5 chunks of 8,800, 200 ms each) through
  :class:`seqcore.models.TriggerWordStream` on one thread (spectrogram frames, the folded
  conv, two GRU steps per output, detection), against torch re-running the model (eval
  mode, one thread) on the last 10 s of spectrogram after every chunk: the sliding window a
  stateless model needs. The throughput column is seconds of audio per second. A chunk
  re-reads the packed weights (2.1 MB, more than the L2 cache): the per-chunk cost is why
  the longer chunks are cheaper per second of audio.

FLOPs: conv and GRU products (forward; x3 for a training step, minus the conv's unneeded
input gradient); batch norm and the pointwise work are left out.
"""
from __future__ import annotations

from typing import List

import numpy as np

from seqcore.bench import Bound, Case, one_thread, register, require_torch, train_step_bound

N, TX, F, C, K, S, H = 16, 5511, 101, 196, 15, 4, 128
TY = (TX - K) // S + 1
CHUNKS = ((4000, 11), (8800, 5))    # (samples per chunk, chunks): 0.998 s of audio


def _model_flops(n, ty):
    conv = 2 * n * ty * C * F * K
    gru = 2 * n * ty * 3 * H * ((C + H) + (H + H))
    return conv, gru


def _train_case() -> Case:
    def setup() -> Bound:
        torch = require_torch()
        from seqcore.demo.trigger import torch_model
        from seqcore.models import TriggerWordDetector
        from seqcore.optim import Adam

        r = np.random.default_rng(0)
        x = r.standard_normal((N, TX, F)).astype(np.float32)
        y = (r.random((N, TY)) < 0.07).astype(np.float32)
        model = TriggerWordDetector(dropout=0.0, seed=0)
        reference = torch_model(model).train()
        opt = Adam(model.params, lr=1e-3)
        topt = torch.optim.Adam(reference.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def ours():
            return model.train_step(x, y, opt)

        def theirs():
            topt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(reference(xt), yt)
            loss.backward()
            topt.step()
            return loss.item()

        return train_step_bound(ours, theirs)

    conv, gru = _model_flops(N, TY)
    return Case("trigger", "train step", f"N={N} Tx={TX} F={F} C={C} H={H}",
                2 * conv + 3 * gru, setup, "torch.nn", ("quick", "default", "full"),
                items=N * 10.0, unit="s audio")


def _stream_case(chunk: int, chunks: int, suites) -> Case:
    def setup() -> Bound:
        torch = require_torch()
        from seqcore.datasets.speech import spectrogram
        from seqcore.demo.trigger import torch_model
        from seqcore.models import TriggerWordDetector

        r = np.random.default_rng(0)
        model = TriggerWordDetector(seed=0)
        for name, buf in model.buffers.items():      # a trained model's statistics
            buf[...] = r.uniform(0.5, 1.5, buf.shape) if "var" in name else \
                r.normal(0.0, 0.3, buf.shape)
        reference = torch_model(model).eval()
        audio = (r.standard_normal(chunk * chunks) * 0.1).astype(np.float32)
        history = spectrogram((r.standard_normal(441_000) * 0.1).astype(np.float32))
        stream = model.stream()

        @one_thread
        def ours():
            stream.reset()
            for i in range(chunks):
                stream.feed(audio[i * chunk:(i + 1) * chunk])
            return stream.probabilities

        @one_thread
        def theirs():
            # the new frames of each chunk, then the whole 10-s window re-run
            window = history
            tail = np.zeros(0, np.float32)
            with torch.no_grad():
                for i in range(chunks):
                    tail = np.concatenate([tail, audio[i * chunk:(i + 1) * chunk]])
                    n = (len(tail) - 200) // 80 + 1
                    window = np.concatenate([window[n:], spectrogram(tail[:(n - 1) * 80 + 200])])
                    tail = tail[n * 80:]
                    p = torch.sigmoid(reference(torch.from_numpy(window[None])))
            return p.numpy()

        def error(a, b):
            return {"y": float("nan")}

        return Bound(ours, theirs, error)

    conv, gru = _model_flops(1, (chunk * chunks // 80) // S)
    return Case("trigger", "stream 1 s (1 thread)", f"chunks {chunks}x{chunk} samples",
                conv + gru, setup, "torch window", suites,
                items=chunk * chunks / 44100, unit="s audio")


@register("trigger", note="trigger-word model (Conv1D 196x15/4, BN, 2xGRU(128), sigmoid) on "
                          "10-s spectrograms: train step (batch 16, Adam) vs the same torch.nn "
                          "model; 1 s of audio streamed in 90.7-ms chunks on one thread vs "
                          "torch re-running the model on the last 10 s after each chunk")
def _trigger_cases() -> List[Case]:
    return [_train_case(), _stream_case(*CHUNKS[0], ("quick", "default", "full")),
            _stream_case(*CHUNKS[1], ("default", "full"))]
