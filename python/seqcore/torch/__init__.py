"""PyTorch adapter: seqcore kernels as ``torch.autograd.Function``\\ s and drop-in modules.

Replace ``torch.nn.LSTM`` with ``seqcore.torch.LSTM`` (likewise ``GRU``, ``RNN``) and keep the
rest of the training code: the modules are ``torch.nn.RNNBase`` subclasses, so the
constructor, parameters, state dict, ``forward(input, hx)`` and outputs are PyTorch's (not
subclasses of ``torch.nn.LSTM`` itself, which Dynamo refuses to trace). The work runs in
seqcore's C++ kernels on the NumPy views of the tensors (``Tensor.numpy()`` /
``torch.from_numpy``: no copy for contiguous CPU tensors). seqcore does not link against
PyTorch; this module imports only when torch is installed.

Notes:

* Supported: float32/float64 CPU tensors, ``batch_first``, ``bidirectional``,
  ``num_layers``, ``dropout`` between layers (``torch.nn.functional.dropout``, so torch's
  RNG and seed govern it), ``PackedSequence`` input (run on seqcore's ``lengths`` path: work
  in proportion to the real lengths, output packed like the input), ``(h0, c0)``, unbatched
  2-D input; ``GRU(..., linear_before_reset=False)`` adds the GRU of Cho et al. 2014 (the
  form taught in the Sequence Models course), which ``torch.nn.GRU`` lacks.
* ``scaled_dot_product_attention``, ``MultiheadAttention``, ``cross_entropy``,
  ``ctc_loss``/``CTCLoss``/``ctc_loss_from_logits``, ``NegativeSamplingLoss`` and
  ``HierarchicalSoftmax`` wrap the attention, CTC and output-layer kernels with the
  signatures of their torch counterparts (see :mod:`seqcore.torch.functional`).
* ``TransformerEncoderLayer`` and ``TransformerDecoderLayer`` run seqcore's layers
  (:mod:`seqcore.transformer`) with torch's constructors and state dicts (eager mode).
* Unsupported cases raise ``ValueError``/``TypeError`` naming the case, never fall back:
  CUDA or other non-CPU tensors (when seqcore was built without CUDA), dtypes other than
  float32/float64, ``proj_size > 0``.
* Gradients flow to the input, the initial states and every parameter. The backward kernels
  consume the saved activations (as haste does); a second backward through the same graph
  (``retain_graph=True``, ``gradcheck``) recomputes them from the saved inputs. Double
  backward (gradients of gradients) is not supported.
* ``torch.compile``: under compilation every module and function calls its kernel as a
  ``torch.library`` custom operator (:mod:`seqcore.torch._ops`: fake implementations for
  the shapes, registered backwards), so ``torch.compile(model, fullgraph=True)`` traces
  models built from them, forward and backward, with eager mode's results. Eager calls keep
  the ``torch.autograd.Function`` path (no dispatcher overhead).
"""
from __future__ import annotations

try:
    import torch as _torch
except ImportError as e:  # pragma: no cover - exercised only without torch
    raise ImportError("seqcore.torch needs PyTorch: pip install torch==2.13.0 "
                      "(the CPU wheel)") from e

from .rnn import GRU, LSTM, RNN, rnn_layer
from .functional import (CTCLoss, HierarchicalSoftmax, MultiheadAttention,
                         NegativeSamplingLoss, cross_entropy, ctc_loss, ctc_loss_from_logits,
                         scaled_dot_product_attention)
from .transformer import TransformerDecoderLayer, TransformerEncoderLayer

__all__ = ["LSTM", "GRU", "RNN", "rnn_layer", "scaled_dot_product_attention",
           "MultiheadAttention", "cross_entropy", "NegativeSamplingLoss", "HierarchicalSoftmax",
           "ctc_loss", "ctc_loss_from_logits", "CTCLoss", "TransformerEncoderLayer",
           "TransformerDecoderLayer"]
