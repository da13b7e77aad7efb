"""Small optimisers over named NumPy parameters: :class:`SGD`, :class:`Adam`, and
:func:`clip_grad_norm`.

Parameters are a mapping name -> ndarray (e.g. ``dict(lstm.named_parameters())``), updated
in place, so layers that own the arrays see the new values. Gradients are passed to
``step`` as a mapping with the same names (e.g. the ``grads`` returned by
``LSTM.backward``); names absent from it (or mapped to None) are not updated, as PyTorch
skips parameters whose ``.grad`` is None. Updates run in each parameter's own dtype
(float32 or float64); optimiser state has the parameter's dtype.

Sources: ``torch.optim.SGD``, ``torch.optim.Adam`` (Kingma & Ba 2015, with PyTorch's
placement of ``eps`` and L2 ``weight_decay``), ``torch.nn.utils.clip_grad_norm_``.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

__all__ = ["SGD", "Adam", "clip_grad_norm"]


class _Optimizer:
    def __init__(self, params, lr):
        items = params.items() if isinstance(params, Mapping) else params
        self.params = OrderedDict()
        for name, p in items:
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                got = getattr(p, "dtype", type(p).__name__)
                raise TypeError(f"params[{name!r}]: expected a float ndarray, got {got}")
            if not p.flags.writeable:
                raise ValueError(f"params[{name!r}]: array is read-only")
            self.params[name] = p
        if not lr >= 0.0:
            raise ValueError(f"lr: expected >= 0, got {lr}")
        self.lr = float(lr)
        self.state = {}

    def step(self, grads):
        """Update every parameter that has a gradient in ``grads`` (mapping name -> array
        shaped like the parameter, or None), in place.

        Raises
        ------
        ValueError
            A name of ``grads`` is not a parameter, or a gradient has the wrong shape.
        """
        for name, g in grads.items():
            if g is None:
                continue
            p = self.params.get(name)
            if p is None:
                raise ValueError(f"grads: unknown parameter {name!r}")
            g = np.asarray(g, dtype=p.dtype)
            if g.shape != p.shape:
                raise ValueError(f"grads[{name!r}]: expected shape {list(p.shape)}, "
                                 f"got {list(g.shape)}")
            self._update(name, p, g)

    def _update(self, name, p, g):
        raise NotImplementedError


class SGD(_Optimizer):
    """Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``::

        g = grad + weight_decay * p
        buf = g (first step) or momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (nesterov) or buf (momentum > 0)
        p -= lr * g

    Parameters
    ----------
    params : mapping name -> float ndarray (or iterable of (name, array) pairs)
    lr : float
    momentum, dampening, weight_decay : float
    nesterov : bool
        Requires momentum > 0 and dampening == 0.

    Raises
    ------
    ValueError
        Negative hyper-parameters or an invalid nesterov setting. TypeError: a parameter
        is not a float array.
    """

    def __init__(self, params, lr=1e-2, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        super().__init__(params, lr)
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"momentum and weight_decay must be >= 0, got {momentum}, "
                             f"{weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov: requires momentum > 0 and dampening == 0")
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.weight_decay = float(weight_decay)
        self.nesterov = bool(nesterov)

    def _update(self, name, p, g):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            buf = self.state.get(name)
            if buf is None:
                buf = self.state[name] = g.copy()
            else:
                buf *= self.momentum
                buf += (1.0 - self.dampening) * g
            g = g + self.momentum * buf if self.nesterov else buf
        p -= self.lr * g


class Adam(_Optimizer):
    """Adam (Kingma & Ba 2015) as ``torch.optim.Adam`` (amsgrad=False)::

        g = grad + weight_decay * p          (L2 penalty, not AdamW)
        m = β1 m + (1 - β1) g;  v = β2 v + (1 - β2) g²;  t += 1
        p -= lr / (1 - β1^t) * m / (sqrt(v) / sqrt(1 - β2^t) + eps)

    The step count ``t`` is kept per parameter (a parameter without a gradient in a step
    does not advance), as in PyTorch.

    Parameters
    ----------
    params : mapping name -> float ndarray (or iterable of (name, array) pairs)
    lr : float
    betas : (float, float)
        β1, β2 in [0, 1).
    eps, weight_decay : float

    Raises
    ------
    ValueError
        Hyper-parameters out of range. TypeError: a parameter is not a float array.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas: expected values in [0, 1), got {betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"eps and weight_decay must be >= 0, got {eps}, {weight_decay}")
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)

    def _update(self, name, p, g):
        b1, b2 = self.betas
        st = self.state.get(name)
        if st is None:
            st = self.state[name] = {"step": 0, "m": np.zeros_like(p), "v": np.zeros_like(p)}
        st["step"] += 1
        t = st["step"]
        if self.weight_decay:
            g = g + self.weight_decay * p
        m, v = st["m"], st["v"]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        denom = np.sqrt(v)
        denom /= math.sqrt(1.0 - b2 ** t)
        denom += self.eps
        p -= (self.lr / (1.0 - b1 ** t)) * (m / denom)


_BLOCK = 4096


def _sum_squares(r):
    """``sum(r**2)`` of a 1-D float array as a Python float, accumulated in float64."""
    if r.dtype == np.float32 and r.size >= _BLOCK:
        n = r.size - r.size % _BLOCK
        blocks = r[:n].reshape(-1, _BLOCK)
        total = float(np.einsum("ij,ij->i", blocks, blocks).sum(dtype=np.float64))
        if math.isfinite(total):   # else a block overflowed float32: redo it in float64
            tail = r[n:].astype(np.float64)
            return total + float(np.dot(tail, tail))
    r = r.astype(np.float64, copy=False)
    return float(np.dot(r, r))


def clip_grad_norm(grads, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale gradients in place so that their global norm is at most ``max_norm``.

    The global norm is the ``norm_type``-norm of all gradient entries together (the norm
    of the per-array norms), accumulated in float64 (for float32 2-norms, float64 sums of
    float32 dot products over blocks of 4096 entries: relative error ~1e-7 at a quarter of
    the memory traffic; torch computes it in float32). If it exceeds ``max_norm`` every
    gradient is multiplied by ``max_norm / (total_norm + 1e-6)``, as
    ``torch.nn.utils.clip_grad_norm_``.

    Parameters
    ----------
    grads : mapping name -> float ndarray (None values are skipped), or an iterable of arrays
    max_norm : float
    norm_type : float
        p of the p-norm; ``inf`` for the max-norm.
    error_if_nonfinite : bool
        Raise if the total norm is NaN or inf. Otherwise a non-finite norm leaves the
        gradients unchanged (the caller sees it in the return value).

    Returns
    -------
    total_norm : float
        The norm before clipping.

    Raises
    ------
    ValueError
        ``max_norm`` or ``norm_type`` is not positive, or (with ``error_if_nonfinite``)
        the norm is not finite.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm: expected > 0, got {max_norm}")
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"norm_type: expected > 0, got {norm_type}")
    items = (list(grads.items()) if isinstance(grads, Mapping)
             else list(enumerate(grads)))
    arrays = []
    for name, g in items:
        if g is None:
            continue
        # scaled in place: a float ndarray (a list could not be updated)
        if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
            got = getattr(g, "dtype", type(g).__name__)
            raise TypeError(f"grads[{name!r}]: expected a float ndarray, got {got}")
        arrays.append(g)
    if not arrays:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in arrays)
    elif norm_type == 2.0:
        total = math.sqrt(sum(_sum_squares(np.ravel(g)) for g in arrays))
    else:
        total = sum(float(np.sum(np.abs(g.astype(np.float64, copy=False)) ** norm_type))
                    for g in arrays) ** (1.0 / norm_type)
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise ValueError(f"clip_grad_norm: the total norm of order {norm_type} is "
                             f"non-finite ({total})")
        return total
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in arrays:
            g *= coef
    return total
