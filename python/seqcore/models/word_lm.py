"""Word-level LSTM language model (Zaremba, Sutskever & Vinyals 2014, "Recurrent Neural
Network Regularization"), trained by truncated backpropagation through time.

Shapes: ``T`` window length (unrolled steps), ``N`` batch (parallel streams), ``V``
vocabulary, ``E`` embedding size, ``H`` hidden size, ``L`` layers.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from .. import _core
from .._validate import int_arg
from ..embedding import SparseGrad, embedding_backward, embedding_forward
from ..layers import LSTM, dropout_mask
from ..optim import SGD, clip_grad_norm
from ..output_layers import (HuffmanTree, UnigramSampler, hierarchical_softmax_log_probs,
                             hierarchical_softmax_loss, sampled_softmax_loss,
                             softmax_cross_entropy)

__all__ = ["WordLM", "batchify", "windows"]

_OUTPUTS = ("softmax", "sampled", "hierarchical")


def batchify(stream, batch_size: int) -> np.ndarray:
    """Cut a token stream into ``batch_size`` parallel streams, time-major ``[len // N, N]``
    (the remainder is dropped), as Zaremba's reader and PyTorch's word_language_model."""
    stream = np.asarray(stream)
    if stream.ndim != 1 or stream.dtype.kind not in "iu":
        raise TypeError(f"stream: expected a 1-D integer array, got {stream.dtype} with shape "
                        f"{list(stream.shape)}")
    N = int_arg("batch_size", batch_size, 1, max(1, len(stream)))
    n = len(stream) // N
    return np.ascontiguousarray(stream[:n * N].reshape(N, n).T).astype(np.int64, copy=False)


def windows(data: np.ndarray, bptt: int) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """The truncated-BPTT windows of ``data [n, N]``: ``(inputs, targets)``, each ``[T, N]``
    with ``T = bptt`` (the last window is shorter), targets the inputs shifted by one;
    ``(n - 1) // bptt`` full windows, as Zaremba's ``epoch_size``."""
    T = int_arg("bptt", bptt, 1, 1 << 30)
    for i in range(0, len(data) - 1, T):
        t = min(T, len(data) - 1 - i)
        yield data[i:i + t], data[i + 1:i + 1 + t]


def _merge(a: Any, b: Any, V: int) -> Any:
    """The sum of two gradients of one ``[V, D]`` weight, each dense or a SparseGrad."""
    if isinstance(a, SparseGrad) and isinstance(b, SparseGrad):
        rows, inverse = np.unique(np.concatenate([a.rows, b.rows]), return_inverse=True)
        grads = np.zeros((len(rows), a.grads.shape[1]), a.grads.dtype)
        np.add.at(grads, inverse, np.concatenate([a.grads, b.grads]))
        return SparseGrad(rows, grads)
    dense, sparse = (a, b) if isinstance(b, SparseGrad) else (b, a)
    if isinstance(sparse, SparseGrad):
        dense[sparse.rows] += sparse.grads   # rows are unique
    else:
        dense += sparse
    return dense


class WordLM:
    """Embedding -> L stacked LSTM layers -> output layer, predicting the next word.

    Dropout (inverted, seeded) is applied to the non-recurrent connections only, as Zaremba et
    al.: the embedding output, between layers, and the top layer's output. The state is
    carried across windows (:meth:`train_step` returns it) without a gradient across the
    boundary. All parameters start uniform in ``[-init_scale, init_scale]``.

    Parameters
    ----------
    vocab_size : int
        V.
    hidden_size : int
        H (200 "small", 650 "medium", 1500 "large").
    num_layers : int
        L.
    embedding_size : int, optional
        E (default H; must equal H with ``tie_weights``).
    dropout : float in [0, 1)
        Probability of zeroing an activation in training.
    output : {"softmax", "sampled", "hierarchical"}
        The training loss: the full softmax cross-entropy (:func:`seqcore.softmax_cross_entropy`
        over the ``[T·N, V]`` logits of three GEMMs); sampled softmax
        (:func:`seqcore.sampled_softmax_loss`, ``num_sampled`` classes from the unigram^0.75
        of ``counts``; evaluated with the full softmax of the same weights); or hierarchical
        softmax over the Huffman tree of ``counts`` (:func:`seqcore.hierarchical_softmax_loss`;
        its own normalised distribution, evaluated exactly).
    counts : ndarray [V], optional
        Word counts of the training data, for "sampled" and "hierarchical".
    num_sampled : int
        Classes drawn per window for "sampled".
    tie_weights : bool
        Share the embedding and the output weight (Press & Wolf 2017; not with
        "hierarchical", whose weights are the V-1 inner nodes).
    init_scale : float
        Half-width of the uniform initialisation (0.1 small, 0.05 medium, 0.04 large).
    seed : int, optional
        Seeds the initial weights, the dropout masks and the sampler.
    dtype : float32 (default) or float64 (gradient checks)

    Attributes
    ----------
    params : OrderedDict name -> ndarray
        ``embedding [V, E]``; ``lstm.weight_ih_l{k}`` etc. (torch.nn.LSTM's names and
        layout, so its state dict loads); ``out.weight [V, H]`` (absent when tied) and
        ``out.bias [V]``; or ``out.inner [V-1, H]`` for "hierarchical".

    Raises
    ------
    ValueError
        A size out of range, an unknown ``output``, ``dropout`` outside [0, 1), missing or
        mis-sized ``counts``, ``tie_weights`` with E != H or with "hierarchical".
    """

    def __init__(self, vocab_size: int, hidden_size: int = 200, num_layers: int = 2, *,
                 embedding_size: Optional[int] = None, dropout: float = 0.0,
                 output: str = "softmax", counts=None, num_sampled: int = 1024,
                 tie_weights: bool = False, init_scale: float = 0.1,
                 seed: Optional[int] = None, dtype=np.float32) -> None:
        V = self.vocab_size = int_arg("vocab_size", vocab_size, 2, 1 << 31)
        H = self.hidden_size = int_arg("hidden_size", hidden_size, 1, 1 << 16)
        L = self.num_layers = int_arg("num_layers", num_layers, 1, 64)
        E = self.embedding_size = int_arg("embedding_size", H if embedding_size is None
                                          else embedding_size, 1, 1 << 16)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout}")
        if output not in _OUTPUTS:
            raise ValueError(f"output: expected one of {', '.join(_OUTPUTS)}, got {output!r}")
        if tie_weights and (E != H or output == "hierarchical"):
            raise ValueError("tie_weights: needs embedding_size == hidden_size and an output "
                             "layer with a [V, H] weight (softmax or sampled)")
        if not init_scale > 0:
            raise ValueError(f"init_scale: expected > 0, got {init_scale}")
        self.dropout, self.output, self.tie_weights = float(dropout), output, bool(tie_weights)
        self.num_sampled = int_arg("num_sampled", num_sampled, 1, 1 << 30)
        self.dtype = dtype = np.dtype(dtype)
        self.sampler: Optional[UnigramSampler] = None
        self.tree: Optional[HuffmanTree] = None
        if output != "softmax":
            if counts is None or np.shape(counts) != (V,):
                raise ValueError(f"counts: output={output!r} needs the [V] = [{V}] word counts "
                                 f"of the training data, got "
                                 f"{None if counts is None else list(np.shape(counts))}")
            counts = np.maximum(np.asarray(counts, np.float64), 1.0)   # every word drawable
            if output == "sampled":
                self.sampler = UnigramSampler(counts, 0.75, seed=0 if seed is None else seed)
            else:
                self.tree = HuffmanTree(counts)
        self._rng = np.random.default_rng(seed)
        r = self._rng

        def uniform(*shape):
            return r.uniform(-init_scale, init_scale, shape).astype(dtype)

        self.params: "OrderedDict[str, np.ndarray]" = OrderedDict(embedding=uniform(V, E))
        self.layers: List[LSTM] = []
        for k in range(L):
            layer = LSTM(E if k == 0 else H, H, dtype=dtype)
            for name, p in layer.named_parameters():   # weight_ih_l0 ... of a 1-layer LSTM
                p[...] = uniform(*p.shape)
                self.params[f"lstm.{name[:-1]}{k}"] = p
            self.layers.append(layer)
        if output == "hierarchical":
            self.params["out.inner"] = uniform(V - 1, H)
        else:
            self.params["out.weight"] = (self.params["embedding"] if tie_weights
                                         else uniform(V, H))
            self.params["out.bias"] = uniform(V)

    # ---------------------------------------------------------------- state and forward
    def init_state(self, batch_size: int) -> Tuple[np.ndarray, np.ndarray]:
        """Zero state ``(h, c)``, each ``[L, N, H]``."""
        shape = (self.num_layers, int(batch_size), self.hidden_size)
        return np.zeros(shape, self.dtype), np.zeros(shape, self.dtype)

    def _check(self, ids, name):
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.dtype.kind not in "iu":
            raise TypeError(f"{name}: expected a [T, N] integer array, got {ids.dtype} with "
                            f"shape {list(ids.shape)}")
        return ids

    def _run(self, ids, state, training):
        """Embedding -> LSTM layers -> top output ``[T·N, H]`` (dropout when training)."""
        ids = self._check(ids, "ids")
        T, N = ids.shape
        h0, c0 = self.init_state(N) if state is None else state
        if np.shape(h0) != (self.num_layers, N, self.hidden_size) or np.shape(c0) != np.shape(h0):
            raise ValueError(f"state: expected (h, c) of [L, N, H] = "
                             f"[{self.num_layers}, {N}, {self.hidden_size}]")
        drop = training and self.dropout > 0
        x = embedding_forward(self.params["embedding"], ids)
        masks, caches = [], []
        if drop:
            masks.append(dropout_mask(self._rng, x.shape, self.dropout, self.dtype))
            x = x * masks[-1]
        h_n, c_n = np.empty_like(h0), np.empty_like(c0)
        for k, layer in enumerate(self.layers):
            x, (h, c), cache = layer(x, (h0[k:k + 1], c0[k:k + 1]), training=training)
            h_n[k], c_n[k] = h[0], c[0]
            caches.append(cache)
            if drop:
                masks.append(dropout_mask(self._rng, x.shape, self.dropout, self.dtype))
                x = x * masks[-1]
        return x.reshape(T * N, self.hidden_size), (h_n, c_n), caches, masks

    def _logits(self, h):
        """Full-softmax logits ``[M, V]`` of ``h [M, H]``: one GEMM plus the bias."""
        logits = np.empty((h.shape[0], self.vocab_size), self.dtype)
        logits[...] = self.params["out.bias"]
        return _core.gemm(h, self.params["out.weight"], transpose_b=True, out=logits)

    # ---------------------------------------------------------------- training
    def loss_and_grads(self, ids: Any, targets: Any,
                       state: Any = None) -> Tuple[float, "OrderedDict[str, Any]", Any]:
        """One truncated-BPTT window.

        Parameters
        ----------
        ids, targets : ndarray [T, N] of int
            The window's words and the next words.
        state : (h, c) of [L, N, H], or None (zeros)

        Returns
        -------
        loss : float
            Mean training loss per word (the cross-entropy in nats; for "sampled", the
            sampled-softmax loss).
        grads : OrderedDict name -> ndarray or SparseGrad
            Of the loss summed over the T steps and averaged over the N streams (Zaremba's
            objective, for which lr 1 and clipping at 5 are tuned). The embedding (and a
            sampled layer's weight) as :class:`seqcore.SparseGrad`.
        state : (h, c)
            The final state, to carry into the next window.
        """
        targets = self._check(targets, "targets")
        if np.shape(ids) != targets.shape:
            raise ValueError(f"targets: expected the shape of ids {list(np.shape(ids))}, got "
                             f"{list(targets.shape)}")
        h, state, caches, masks = self._run(ids, state, training=True)
        T, N = targets.shape
        t = targets.reshape(-1)
        grads: Dict[str, Any] = OrderedDict()
        V = self.vocab_size
        if self.output == "softmax":
            res = softmax_cross_entropy(self._logits(h), t)
            d = res.dlogits   # of the mean; x T (sum over steps, mean over streams) is applied
            out_w = _core.gemm(d, h * T, transpose_a=True)   # to the [M, H] and [V] factors
            grads["out.bias"] = d.sum(axis=0) * T
            dh = _core.gemm(d, self.params["out.weight"])
            dh *= T
        elif self.output == "sampled":
            res = sampled_softmax_loss(h, self.params["out.weight"], self.params["out.bias"], t,
                                       self.sampler, self.num_sampled)
            dh = res.dh * T
            out_w = SparseGrad(res.rows, res.drows * T)
            db = np.zeros(V, self.dtype)
            db[res.rows] = res.dbias * T
            grads["out.bias"] = db
        else:
            res = hierarchical_softmax_loss(h, self.params["out.inner"], t, self.tree)
            dh = res.dh * T
            grads["out.inner"] = SparseGrad(res.rows, res.drows * T)
        dy = dh.reshape(T, N, self.hidden_size)
        layer_grads = []
        for k in reversed(range(self.num_layers)):
            if masks:
                dy = dy * masks[k + 1]
            dy, _, g = self.layers[k].backward(caches[k], dy)
            layer_grads.append({f"lstm.{n[:-1]}{k}": v for n, v in g.items()})
        if masks:
            dy = dy * masks[0]
        emb = embedding_backward(dy, np.asarray(ids), V)
        if self.output != "hierarchical":
            if self.tie_weights:
                emb = _merge(out_w, emb, V)
            else:
                grads["out.weight"] = out_w
        out: "OrderedDict[str, Any]" = OrderedDict(embedding=emb)
        for g in reversed(layer_grads):
            out.update(g)
        out.update((k, v) for k, v in grads.items() if k not in out)
        return float(res.loss), out, state

    def train_step(self, ids, targets, state, optimizer, max_norm: Optional[float] = 5.0):
        """:meth:`loss_and_grads`, gradients clipped to global norm ``max_norm`` (None: no
        clipping), and one step of ``optimizer`` (a :class:`seqcore.optim.SGD` or ``Adam``
        over :attr:`params`). Sparse gradients update only their rows under plain SGD (the
        same result as the dense update); other optimisers get them dense. Returns
        ``(loss, state)``; the state has no gradient history."""
        loss, grads, state = self.loss_and_grads(ids, targets, state)
        if max_norm is not None:
            clip_grad_norm([g.grads if isinstance(g, SparseGrad) else g
                            for g in grads.values()], max_norm)
        plain = (isinstance(optimizer, SGD) and not optimizer.momentum
                 and not optimizer.weight_decay)
        dense = OrderedDict()
        for name, g in grads.items():
            if isinstance(g, SparseGrad):
                if plain:
                    self.params[name][g.rows] -= optimizer.lr * g.grads
                    continue
                g = g.to_dense(self.params[name].shape[0])
            dense[name] = g
        optimizer.step(dense)
        return loss, state

    # ---------------------------------------------------------------- evaluation
    def _nll(self, h, t):
        """Summed exact negative log-likelihood of targets ``t [M]`` from ``h [M, H]``."""
        if self.output == "hierarchical":
            return float(hierarchical_softmax_loss(h, self.params["out.inner"], t, self.tree,
                                                   reduction="sum").loss)
        return float(softmax_cross_entropy(self._logits(h), t, reduction="sum",
                                           grad=False).loss)

    def perplexity(self, stream, batch_size: int = 1, chunk: int = 1000) -> float:
        """Exact perplexity ``exp(mean -log p(w_t | w_<t))`` of a token stream: the state is
        carried through ``batch_size`` parallel streams (1: one stream, as Zaremba's test
        evaluation), read ``chunk`` steps at a time; the full softmax (or the tree's exact
        probabilities for "hierarchical"), no dropout."""
        data = batchify(stream, batch_size)
        state, nll, count = None, 0.0, 0
        for ids, targets in windows(data, chunk):
            h, state, _, _ = self._run(ids, state, training=False)
            nll += self._nll(h, targets.reshape(-1))
            count += targets.size
        if count == 0:
            raise ValueError("stream: needs at least batch_size + 1 tokens")
        return math.exp(nll / count)

    def log_probs(self, ids, state=None):
        """``log p(next word | ids[:t+1])`` for every position: ``([T, N, V], state)``."""
        h, state, _, _ = self._run(ids, state, training=False)
        T, N = np.shape(ids)
        if self.output == "hierarchical":
            logp = hierarchical_softmax_log_probs(h, self.params["out.inner"], self.tree)
        else:
            logits = self._logits(h)
            logp = logits - logits.max(axis=1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
        return logp.reshape(T, N, -1), state

    def sample(self, n: int, prime=(), temperature: float = 1.0, top_k: Optional[int] = None,
               top_p: Optional[float] = None, seed: Optional[int] = None) -> List[int]:
        """Sample ``n`` word ids after the ids ``prime`` (one stream).

        ``temperature`` divides the log-probabilities; ``top_k`` keeps the k likeliest words;
        ``top_p`` keeps the smallest set of likeliest words whose probability reaches p
        (nucleus sampling, Holtzman et al. 2020); both may be combined (k first).

        Raises ValueError for n < 0, temperature <= 0, top_k outside [1, V], top_p outside
        (0, 1], or a prime id outside [0, V).
        """
        n = int_arg("n", n, 0, 1 << 30)
        if not temperature > 0:
            raise ValueError(f"temperature: expected > 0, got {temperature}")
        V = self.vocab_size
        if top_k is not None:
            top_k = int_arg("top_k", top_k, 1, V)
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p: expected a probability in (0, 1], got {top_p}")
        prime = np.asarray(prime, np.int64).reshape(-1)
        if prime.size and (prime.min() < 0 or prime.max() >= V):
            raise ValueError(f"prime: ids must be in [0, {V})")
        rng = np.random.default_rng(seed)
        state, out = None, []
        word = prime if prime.size else np.array([rng.integers(V)])
        for _ in range(n):
            logp, state = self.log_probs(word.reshape(-1, 1), state)
            z = logp[-1, 0].astype(np.float64) / temperature
            order = np.argsort(-z, kind="stable")
            if top_k is not None:
                order = order[:top_k]
            p = np.exp(z[order] - z[order[0]])
            p /= p.sum()
            if top_p is not None:
                keep = int(np.searchsorted(np.cumsum(p), top_p)) + 1
                order, p = order[:keep], p[:keep] / p[:keep].sum()
            word = np.array([order[rng.choice(len(order), p=p)]])
            out.append(int(word[0]))
        return out

    def num_parameters(self) -> int:
        seen, total = set(), 0
        for p in self.params.values():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.size
        return total

    def __repr__(self):
        return (f"WordLM(V={self.vocab_size}, E={self.embedding_size}, H={self.hidden_size}, "
                f"L={self.num_layers}, dropout={self.dropout}, output={self.output!r}, "
                f"tie_weights={self.tie_weights})")
