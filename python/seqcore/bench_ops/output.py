"""``seqcore bench --ops output``: output layers for large vocabularies.

Shapes: ``N`` rows (batch × positions), ``D`` hidden size, ``V`` vocabulary; targets are
Zipf-distributed (word frequencies), as are the counts of the sampler and Huffman tree.
Every call is loss + all gradients (forward and backward).

Ops (seqcore side) and references:

``ce fwd+bwd``          softmax_cross_entropy on given logits [N, V] vs
                        ``torch.nn.functional.cross_entropy`` + ``backward`` (grad of logits).
``ns K=k``              negative_sampling_loss, K negatives per row drawn by UnigramSampler
                        (sampling included); ``ns shared K=k``: one set of K for the batch.
``sampled softmax S=s`` sampled_softmax_loss with S classes drawn for the batch.
``hs``                  hierarchical_softmax_loss over a Huffman tree of the counts.

References: ``torch full softmax`` = the full output layer with its projection,
``cross_entropy(h @ W.T)`` + backward (grads of h and W, N·V logits); ``torch adaptive`` =
``torch.nn.AdaptiveLogSoftmaxWithLoss(D, V, cutoffs=[V/50, V/10], div_value=4)`` + backward;
``seqcore per-row``: the same negative sampling with per-row negatives (the shared-negatives
speed-up). ``max abs err``: loss vs the NumPy float64 reference of :mod:`seqcore.reference`
on the same inputs (CE: on the first 64 rows).

V = 10⁶ cases with a torch full softmax (4 GB of logits, ~12 GB in all) and the CE at
V = 10⁶ are only in the ``full`` suite.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from seqcore.bench import Bound, Case, _maxabs, _reference, _torch, register

N_DEFAULT, D_DEFAULT = 1024, 256
VOCABS = (10_000, 100_000, 1_000_000)
BIG = 1_000_000          # cases needing N·V torch memory at this V go to "full" only


def _zipf_counts(V, seed=0):
    rng = np.random.default_rng(seed)
    return np.maximum(1.0, np.floor(1e7 / np.arange(1, V + 1) * rng.uniform(0.8, 1.2, V)))


class _Inputs:
    """Seeded float32 inputs shared by the cases of one (N, D, V); built lazily, cached."""
    _cache: Dict[tuple, dict] = {}

    @classmethod
    def get(cls, N, D, V):
        key = (N, D, V)
        if key not in cls._cache:
            cls._cache.clear()            # one vocabulary in memory at a time
            cls._cache[key] = cls(N, D, V)
        return cls._cache[key]

    def __init__(self, N, D, V):
        import seqcore
        rng = np.random.default_rng(1)
        self.N, self.D, self.V = N, D, V
        self.counts = _zipf_counts(V)
        p = self.counts / self.counts.sum()
        self.targets = rng.choice(V, size=N, p=p).astype(np.int64)
        self.h = rng.standard_normal((N, D), dtype=np.float32)
        self.w = rng.standard_normal((V, D), dtype=np.float32)   # float32 draws: no 8·V·D temporary
        self.w *= 0.05
        self.b = np.zeros(V, np.float32)
        self._tree = None
        self.sampler = seqcore.UnigramSampler(self.counts, 0.75, seed=2)

    @property
    def tree(self):
        if self._tree is None:
            import seqcore
            self._tree = seqcore.HuffmanTree(self.counts)
        return self._tree


def _torch_full_softmax(a):
    torch = _torch()
    h = torch.from_numpy(a.h.copy()).requires_grad_(True)
    w = torch.from_numpy(a.w).requires_grad_(True)      # shares memory; grads are new
    t = torch.from_numpy(a.targets)

    def call():
        h.grad = w.grad = None
        loss = torch.nn.functional.cross_entropy(h @ w.t(), t)
        loss.backward()
        return loss.detach()
    return call


def _torch_adaptive(a):
    torch = _torch()
    V, D = a.V, a.D
    cutoffs = [max(1, V // 50), max(2, V // 10)]
    torch.manual_seed(0)
    asm = torch.nn.AdaptiveLogSoftmaxWithLoss(D, V, cutoffs=cutoffs, div_value=4.0)
    h = torch.from_numpy(a.h.copy()).requires_grad_(True)
    t = torch.from_numpy(a.targets)

    def call():
        h.grad = None
        for p in asm.parameters():
            p.grad = None
        out = asm(h, t)
        out.loss.backward()
        return out.loss.detach()
    return call


def _ns_call(a, K, shared):
    import seqcore
    shape = (K,) if shared else (a.N, K)

    def call():
        neg = a.sampler.sample(shape)
        return neg, seqcore.negative_sampling_loss(a.h, a.w, a.targets, neg,
                                                   shared_negatives=shared)

    def error(out, _ref):
        neg, res = out
        npref = _reference()
        if npref is None:
            return {}
        full = np.broadcast_to(neg, (a.N, K))
        loss = npref.negative_sampling_loss(a.h, a.w, a.targets, full)[0].mean()
        return {"y": _maxabs(res.loss, loss)}
    return call, error


def _ss_call(a, S):
    import seqcore

    def call():
        sampled = a.sampler.sample((S,))
        return sampled, seqcore.sampled_softmax_loss(a.h, a.w, a.b, a.targets, a.sampler, S,
                                                     sampled=sampled)

    def error(out, _ref):
        sampled, res = out
        npref = _reference()
        if npref is None:
            return {}
        loss = npref.sampled_softmax_loss(a.h, a.w, a.b, a.targets, sampled,
                                          a.sampler.log_q(a.targets), a.sampler.log_q(sampled))[0]
        return {"y": _maxabs(res.loss, loss.mean())}
    return call, error


def _hs_call(a, w_inner):
    import seqcore

    def call():
        return seqcore.hierarchical_softmax_loss(a.h, w_inner, a.targets, a.tree)

    def error(res, _ref):
        npref = _reference()
        if npref is None:
            return {}
        t = a.tree
        loss = npref.hierarchical_softmax_loss(a.h, w_inner, a.targets, t.offsets, t.points,
                                               t.codes)[0]
        return {"y": _maxabs(res.loss, loss.mean())}
    return call, error


def _case(op, N, D, V, ref, suites, flops=0.0) -> Case:
    """One case: ``op`` in ce / ns K / ns shared K / ss S / hs; ``ref`` in torch,
    torch full softmax, torch adaptive, seqcore per-row."""
    def setup() -> Bound:
        import seqcore
        a = _Inputs.get(N, D, V)
        reference = None
        if ref == "torch full softmax":
            reference = _torch_full_softmax(a)
        elif ref == "torch adaptive":
            reference = _torch_adaptive(a)
        kind, _, arg = op.partition(" ")
        if kind == "ce":
            logits = (a.h @ a.w.T).astype(np.float32)

            def call():
                return seqcore.softmax_cross_entropy(logits, a.targets)

            def error(res, _ref):
                npref = _reference()
                if npref is None:
                    return {}
                rows = min(N, 64)
                l_ref, g_ref = npref.softmax_cross_entropy(logits[:rows], a.targets[:rows], "sum")
                sub = seqcore.softmax_cross_entropy(logits[:rows], a.targets[:rows], "sum")
                return {"y": max(_maxabs(sub.loss, l_ref), _maxabs(res.dlogits[:rows] * N, g_ref))}
            if ref == "torch":
                torch = _torch()
                x = torch.from_numpy(logits).requires_grad_(True)
                t = torch.from_numpy(a.targets)

                def reference():
                    x.grad = None
                    loss = torch.nn.functional.cross_entropy(x, t)
                    loss.backward()
                    return loss.detach()
            return Bound(call, reference, error)
        if kind == "hs":
            rng = np.random.default_rng(3)
            w_inner = rng.standard_normal((V - 1, D), dtype=np.float32)
            w_inner *= 0.05
            call, error = _hs_call(a, w_inner)
        elif kind == "ss":
            call, error = _ss_call(a, int(arg))
        else:                                    # "ns K" or "ns shared K"
            shared = arg.startswith("shared")
            K = int(arg.split()[-1])
            call, error = _ns_call(a, K, shared)
            if ref == "seqcore per-row":
                reference = _ns_call(a, K, False)[0]
        return Bound(call, reference, error)

    labels = {"ce": "ce fwd+bwd", "hs": "hs loss+grad"}
    kind, _, arg = op.partition(" ")
    if kind == "ns":
        variant = f"ns {arg.replace('shared ', 'shared K=') if 'shared' in arg else 'K=' + arg}"
    elif kind == "ss":
        variant = f"sampled softmax S={arg}"
    else:
        variant = labels[kind]
    vs = {"torch": "", "torch full softmax": " vs full", "torch adaptive": " vs adaptive",
          "seqcore per-row": " vs per-row", "-": ""}[ref]
    return Case("output", variant + vs, f"N={N} D={D} V={V}", flops, setup, ref, tuple(suites))


def _flops(op, N, D):
    """Nominal FLOPs: 6·N·(K+1)·D for the sampled losses (dots, dh, dW); 0 (not reported)
    for CE (memory-bound) and HS (depends on the targets' code lengths)."""
    kind, _, arg = op.partition(" ")
    if kind in ("ce", "hs"):
        return 0.0
    K = int(arg.split()[-1])
    return 6.0 * N * (K + 1) * D


@register("output", note="max abs err = |loss - NumPy float64 reference| (CE rows: also the "
                         "gradient); references: torch CE, the projected full softmax "
                         "(cross_entropy(h @ W.T)), AdaptiveLogSoftmaxWithLoss, or seqcore's "
                         "per-row negative sampling")
def _output_cases() -> List[Case]:
    has_torch = _torch() is not None
    out: List[Case] = []

    def add(op, N, D, V, ref, suites):
        if ref.startswith("torch") and not has_torch:
            ref = "-"
        out.append(_case(op, N, D, V, ref, suites, _flops(op, N, D)))

    # quick: tiny smoke shapes of every op and reference
    q = ("quick",)
    add("ce", 8, 16, 50, "torch", q)
    add("hs", 8, 16, 50, "torch full softmax", q)
    add("ns 5", 8, 16, 50, "torch adaptive", q)
    add("ns shared 5", 8, 16, 50, "seqcore per-row", q)
    add("ss 8", 8, 16, 50, "torch full softmax", q)

    N, D = N_DEFAULT, D_DEFAULT
    for V in VOCABS:
        big = V >= BIG
        dflt = ("full",) if big else ("default", "full")
        every = ("default", "full")
        add("ce", N, D, V, "torch", dflt)
        for op in ("hs", "ns 5", "ns 25", "ns shared 5", "ns shared 25", "ss 1024"):
            add(op, N, D, V, "torch full softmax", dflt)
            add(op, N, D, V, "torch adaptive", every)
        add("ns shared 5", N, D, V, "seqcore per-row", every)
        add("ns shared 25", N, D, V, "seqcore per-row", every)
    return out
