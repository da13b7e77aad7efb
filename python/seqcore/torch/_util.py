"""Tensor <-> ndarray at the adapter boundary (no copy for contiguous CPU tensors)."""
from __future__ import annotations

import numpy as np
import torch


def to_numpy(t):
    """The ndarray view of a CPU tensor (None stays None); a copy only if not contiguous."""
    if t is None:
        return None
    return t.detach().contiguous().numpy()


def from_numpy(a):
    """A tensor sharing ``a``'s memory (None stays None)."""
    if a is None:
        return None
    return torch.from_numpy(np.ascontiguousarray(a))
