"""Embedding lookup: row gather and bags of rows, with their gradients as sparse rows.

Shape legend: ``V`` vocabulary (``num_embeddings``), ``D`` embedding dim, ``n`` ids, ``B``
bags. Semantics of ``torch.nn.functional.embedding`` / ``embedding_bag`` (``padding_idx``:
that id's rows get no gradient, and bags skip it); the weight gradient comes back in the
sorted-unique-rows form of the output layers (:class:`SparseGrad`): a lookup touches few of
the V rows, so an optimiser updates only those. Kernels in C++ (``_core.embedding_*``):
OpenMP over ids / bags / unique rows, each row's gradient summed in occurrence order
(bit-identical at any thread count). Used by the sentiment models, taggers and language
models.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from . import _core
from ._typing import Array, ArrayLike
from ._validate import INT64_MAX, int_arg, option

__all__ = ["SparseGrad", "embedding_forward", "embedding_backward", "embedding_bag_forward",
           "embedding_bag_backward"]


class SparseGrad(NamedTuple):
    """Gradient of a ``[V, D]`` weight touched at a few rows: ``rows [R]`` int64, sorted and
    unique; ``grads [R, D]``, each the sum of the row's contributions."""
    rows: np.ndarray
    grads: np.ndarray

    def to_dense(self, num_embeddings: int) -> Array:
        """The full ``[V, D]`` gradient (zeros outside ``rows``)."""
        V = int_arg("num_embeddings", num_embeddings, 1, INT64_MAX)
        if self.rows.size and self.rows[-1] >= V:
            raise ValueError(f"num_embeddings: {V} is not above the largest row "
                             f"{int(self.rows[-1])}")
        out = np.zeros((V, self.grads.shape[1]), self.grads.dtype)
        out[self.rows] = self.grads
        return out


def _padding(padding_idx, V):
    """-1 for None; torch's range [-V, V) (negative counts from the end)."""
    if padding_idx is None:
        return -1
    p = int_arg("padding_idx", padding_idx, -V, V - 1)
    return p + V if p < 0 else p


def _num_embeddings(value):
    return int_arg("num_embeddings", value, 1, INT64_MAX)


def _mean(mode):
    return option("mode", mode, ("sum", "mean")) == "mean"


def embedding_forward(weight: ArrayLike, ids: ArrayLike) -> Array:
    """``weight[ids]``: the rows of ``weight [V, D]`` (float32 or float64) at ``ids``
    (any shape, int32 or int64, each in ``[0, V)``). Returns ``ids.shape + [D]``, the
    weight's dtype.

    Raises ValueError for an id out of range or a weight that is not 2-D; TypeError for
    non-integer ids or a non-float weight. Source: ``torch.nn.functional.embedding``.
    """
    return _core.embedding_forward(weight, ids)


def embedding_backward(dout: ArrayLike, ids: ArrayLike, num_embeddings: int,
                       padding_idx: Optional[int] = None) -> SparseGrad:
    """Gradient of :func:`embedding_forward`'s weight from ``dout [*ids.shape, D]``: the
    distinct ids (but ``padding_idx``) as ``rows``, and for each the sum of ``dout`` over
    its occurrences. ``num_embeddings``: V. ``padding_idx``: None, or an id in ``[-V, V)``
    whose rows get no gradient (as torch).

    Returns :class:`SparseGrad` (``.to_dense(V)`` for ``[V, D]``). Raises ValueError for an
    id or padding_idx out of range or a dout of the wrong shape; TypeError for dtypes.
    """
    V = _num_embeddings(num_embeddings)
    return SparseGrad(*_core.embedding_backward(dout, ids, V, _padding(padding_idx, V)))


def _offsets(offsets):
    """Bag boundaries [B + 1] (torch's offsets with include_last_offset=True)."""
    o = np.asarray(offsets)
    if o.dtype.kind not in "iu":
        raise TypeError(f"offsets: expected an integer array, got {o.dtype}")
    return o


def embedding_bag_forward(weight: ArrayLike, ids: ArrayLike, offsets: ArrayLike,
                          mode: str = "mean", padding_idx: Optional[int] = None) -> Array:
    """Bags of rows: ``out[b] = reduce(weight[ids[offsets[b]:offsets[b+1]]])`` with
    ``mode`` ``"sum"`` or ``"mean"`` (over the bag's ids other than ``padding_idx``; an
    empty bag gives zeros), as ``torch.nn.functional.embedding_bag`` with
    ``include_last_offset=True``.

    weight [V, D] float32/float64; ids [n] int32/int64 in [0, V); offsets [B + 1] int,
    ``offsets[0] == 0``, non-decreasing, ``offsets[B] == n``. Returns [B, D].
    Raises ValueError for ids, offsets or padding_idx out of range, an unknown mode;
    TypeError for dtypes. (The GloVe-average sentence model of the course is one call.)
    """
    w = np.asarray(weight)
    V = w.shape[0] if w.ndim == 2 else 1
    return _core.embedding_bag_forward(weight, ids, _offsets(offsets), _mean(mode),
                                       _padding(padding_idx, V))


def embedding_bag_backward(dout: ArrayLike, ids: ArrayLike, offsets: ArrayLike,
                           num_embeddings: int, mode: str = "mean",
                           padding_idx: Optional[int] = None) -> SparseGrad:
    """Gradient of :func:`embedding_bag_forward`'s weight from ``dout [B, D]``: each
    non-padding id of bag b receives ``dout[b]`` (divided by the bag's count for
    ``"mean"``), summed per distinct id. Returns :class:`SparseGrad`; raises as the
    forward does."""
    V = _num_embeddings(num_embeddings)
    return SparseGrad(*_core.embedding_bag_backward(dout, ids, _offsets(offsets), V,
                                                    _mean(mode), _padding(padding_idx, V)))
