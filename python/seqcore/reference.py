"""Plain NumPy float64 reference implementations of the recurrent layers.

These are written straight from the equations, one time step at a time, for readability
rather than speed. They are the ground truth of the tests (``tests/test_rnn.py``) and of the
max-abs-error column of ``seqcore bench``; keep the names and signatures stable.

Shape legend (see DESIGN.md): ``T`` time steps, ``N`` batch, ``I`` input size, ``H`` hidden
size, ``G`` gates (4 LSTM, 3 GRU, 1 RNN), ``L`` layers, ``D`` directions (1 or 2).
Sequences are time-major ``[T, N, ...]``.

Weights use PyTorch's layout and gate order (a ``torch.nn.LSTM/GRU/RNN`` state dict loads
unchanged): ``w_ih [G*H, I]``, ``w_hh [G*H, H]``, ``b_ih``, ``b_hh [G*H]``; gates i, f, g, o
(LSTM) and r, z, n (GRU).

Semantics of ``lengths`` and ``reverse`` (as ``torch.nn.utils.rnn.pack_padded_sequence``
with ``enforce_sorted=False``):

* ``lengths [N]``: sequence ``n`` has valid steps ``0 .. lengths[n]-1``; ``y`` is zero past
  its length and the final state is the state after its own last processed step (``h0`` for
  a length of 0).
* ``reverse=True``: each sequence is processed from its own last valid step
  ``lengths[n]-1`` back to step 0 (the reverse direction of a bidirectional layer);
  ``y[t]`` stays aligned with ``x[t]``.

Every function converts its inputs to float64 and returns float64 arrays.

Sources: Hochreiter & Schmidhuber 1997 / Gers et al. 2000 (LSTM), Cho et al. 2014 (GRU),
PyTorch ``torch.nn.LSTM``/``GRU``/``RNN`` documentation (gate order, linear_before_reset
form of the GRU, bidirectional and multi-layer composition).
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "sigmoid",
    "lstm_cell", "gru_cell", "rnn_cell",
    "lstm_forward", "gru_forward", "rnn_forward",
    "stacked_rnn_forward",
]


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def sigmoid(z):
    """Logistic function ``1 / (1 + exp(-z))``, computed without overflow warnings."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _affine(x, w, b):
    """``x @ w.T + b`` for ``x [N, K]``, ``w [M, K]``, ``b [M]`` or None -> ``[N, M]``."""
    out = x @ w.T
    if b is not None:
        out = out + b
    return out


# ----------------------------------------------------------------------------- cells


def lstm_cell(x_t, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step.

    ``x_t [N, I]``, ``h``, ``c [N, H]``, ``w_ih [4H, I]``, ``w_hh [4H, H]``, ``b_* [4H]``
    or None. Returns ``(h' [N, H], c' [N, H])``::

        i = σ(W_ii x + b_ii + W_hi h + b_hi)     f = σ(W_if x + b_if + W_hf h + b_hf)
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)  o = σ(W_io x + b_io + W_ho h + b_ho)
        c' = f * c + i * g                       h' = o * tanh(c')
    """
    x_t, h, c = _f64(x_t), _f64(h), _f64(c)
    H = h.shape[1]
    gates = _affine(x_t, _f64(w_ih), _f64(b_ih)) + _affine(h, _f64(w_hh), _f64(b_hh))
    i = sigmoid(gates[:, 0 * H:1 * H])
    f = sigmoid(gates[:, 1 * H:2 * H])
    g = np.tanh(gates[:, 2 * H:3 * H])
    o = sigmoid(gates[:, 3 * H:4 * H])
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    return h_new, c_new


def gru_cell(x_t, h, w_ih, w_hh, b_ih=None, b_hh=None, linear_before_reset=True):
    """One GRU step.

    ``x_t [N, I]``, ``h [N, H]``, ``w_ih [3H, I]``, ``w_hh [3H, H]``, ``b_* [3H]`` or None.
    Returns ``h' [N, H]``::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)     z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   linear_before_reset=True (PyTorch)
        n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)   linear_before_reset=False (Cho 2014)
        h' = (1 - z) * n + z * h
    """
    x_t, h = _f64(x_t), _f64(h)
    w_ih, w_hh, b_ih, b_hh = _f64(w_ih), _f64(w_hh), _f64(b_ih), _f64(b_hh)
    H = h.shape[1]
    gi = _affine(x_t, w_ih, b_ih)                       # [N, 3H]: input part of r, z, n
    w_hr, w_hz, w_hn = w_hh[0:H], w_hh[H:2 * H], w_hh[2 * H:3 * H]
    if b_hh is None:
        b_hr = b_hz = b_hn = None
    else:
        b_hr, b_hz, b_hn = b_hh[0:H], b_hh[H:2 * H], b_hh[2 * H:3 * H]
    r = sigmoid(gi[:, 0:H] + _affine(h, w_hr, b_hr))
    z = sigmoid(gi[:, H:2 * H] + _affine(h, w_hz, b_hz))
    if linear_before_reset:
        n = np.tanh(gi[:, 2 * H:3 * H] + r * _affine(h, w_hn, b_hn))
    else:
        n = np.tanh(gi[:, 2 * H:3 * H] + _affine(r * h, w_hn, b_hn))
    return (1.0 - z) * n + z * h


def rnn_cell(x_t, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman RNN step: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act = tanh or relu.

    ``x_t [N, I]``, ``h [N, H]``, ``w_ih [H, I]``, ``w_hh [H, H]``, ``b_* [H]`` or None.
    Returns ``h' [N, H]``.
    """
    pre = _affine(_f64(x_t), _f64(w_ih), _f64(b_ih)) + _affine(_f64(h), _f64(w_hh), _f64(b_hh))
    if nonlinearity == "tanh":
        return np.tanh(pre)
    if nonlinearity == "relu":
        return np.maximum(pre, 0.0)
    raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")


# ---------------------------------------------------------------------------- layers


def _prepare(x, w_hh, h0, lengths):
    """Common input handling: float64 x, initial state, lengths -> per-step masks."""
    x = _f64(x)
    if x.ndim != 3:
        raise ValueError(f"x: expected shape [T, N, I], got {list(x.shape)}")
    T, N, _ = x.shape
    H = np.asarray(w_hh).shape[1]
    h = np.zeros((N, H)) if h0 is None else _f64(h0).copy()
    if lengths is None:
        lengths = np.full(N, T, dtype=np.int64)
    else:
        lengths = np.asarray(lengths)
        if lengths.shape != (N,):
            raise ValueError(f"lengths: expected shape [{N}], got {list(lengths.shape)}")
        if lengths.size and (lengths.min() < 0 or lengths.max() > T):
            raise ValueError(f"lengths: values must be in [0, {T}], got {lengths.tolist()}")
    return x, h, lengths.astype(np.int64), T, N, H


def _time_steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _run_layer(step, x, state, lengths, reverse):
    """Run ``step(x_t, state) -> new_state`` over time with masking by ``lengths``.

    ``state`` is a tuple of ``[N, H]`` arrays whose first entry is the hidden state ``h``.
    A step ``t`` is valid for sequence ``n`` when ``t < lengths[n]``; invalid steps leave
    the state unchanged and give ``y[t, n] = 0``. Going forwards, the state therefore stops
    changing after the sequence's last step; going backwards (``reverse``), the state stays
    at its initial value until ``t = lengths[n] - 1`` and then runs down to step 0, which is
    exactly "each sequence processed from its own last valid step back to step 0".
    """
    T, N, _ = x.shape
    H = state[0].shape[1]
    y = np.zeros((T, N, H))
    for t in _time_steps(T, reverse):
        valid = (t < lengths)[:, None]                  # [N, 1]
        new_state = step(x[t], state)
        state = tuple(np.where(valid, new, old) for new, old in zip(new_state, state))
        y[t] = np.where(valid, state[0], 0.0)
    return y, state


def lstm_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, lengths=None,
                 reverse=False):
    """LSTM layer forward (one direction), float64 reference of :func:`seqcore.lstm_forward`.

    Parameters
    ----------
    x : [T, N, I]; w_ih : [4H, I]; w_hh : [4H, H]; b_ih, b_hh : [4H] or None
    h0, c0 : [N, H] or None (zeros)
    lengths : [N] integers in [0, T] or None (all T)
    reverse : bool

    Returns
    -------
    y : [T, N, H] (zero past each length), h_n : [N, H], c_n : [N, H]
    """
    x, h, lengths, T, N, H = _prepare(x, w_hh, h0, lengths)
    c = np.zeros((N, H)) if c0 is None else _f64(c0).copy()

    def step(x_t, state):
        return lstm_cell(x_t, state[0], state[1], w_ih, w_hh, b_ih, b_hh)

    y, (h_n, c_n) = _run_layer(step, x, (h, c), lengths, reverse)
    return y, h_n, c_n


def gru_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, lengths=None,
                linear_before_reset=True, reverse=False):
    """GRU layer forward (one direction), float64 reference of :func:`seqcore.gru_forward`.

    Parameters
    ----------
    x : [T, N, I]; w_ih : [3H, I]; w_hh : [3H, H]; b_ih, b_hh : [3H] or None
    h0 : [N, H] or None (zeros)
    lengths : [N] integers in [0, T] or None (all T)
    linear_before_reset : bool (see :func:`gru_cell`)
    reverse : bool

    Returns
    -------
    y : [T, N, H] (zero past each length), h_n : [N, H]
    """
    x, h, lengths, T, N, H = _prepare(x, w_hh, h0, lengths)

    def step(x_t, state):
        return (gru_cell(x_t, state[0], w_ih, w_hh, b_ih, b_hh, linear_before_reset),)

    y, (h_n,) = _run_layer(step, x, (h,), lengths, reverse)
    return y, h_n


def rnn_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, lengths=None,
                nonlinearity="tanh", reverse=False):
    """Elman RNN layer forward (one direction), reference of :func:`seqcore.rnn_forward`.

    Parameters
    ----------
    x : [T, N, I]; w_ih : [H, I]; w_hh : [H, H]; b_ih, b_hh : [H] or None
    h0 : [N, H] or None (zeros)
    lengths : [N] integers in [0, T] or None (all T)
    nonlinearity : 'tanh' or 'relu'
    reverse : bool

    Returns
    -------
    y : [T, N, H] (zero past each length), h_n : [N, H]
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
    x, h, lengths, T, N, H = _prepare(x, w_hh, h0, lengths)

    def step(x_t, state):
        return (rnn_cell(x_t, state[0], w_ih, w_hh, b_ih, b_hh, nonlinearity),)

    y, (h_n,) = _run_layer(step, x, (h,), lengths, reverse)
    return y, h_n


# ------------------------------------------------------------------ stacked layers

_MODES = {
    "lstm": ("lstm", None), "gru": ("gru", None), "rnn": ("rnn", None),
    "rnn_tanh": ("rnn", "tanh"), "rnn_relu": ("rnn", "relu"),
}


def stacked_rnn_forward(mode, x, params, num_layers=1, bidirectional=False, h0=None,
                        c0=None, lengths=None, linear_before_reset=True,
                        nonlinearity="tanh"):
    """Multi-layer, optionally bidirectional recurrent network, composed as PyTorch does.

    Reference for ``torch.nn.LSTM/GRU/RNN(num_layers=L, bidirectional=..., batch_first=False,
    dropout=0)`` and for ``seqcore.LSTM/GRU/RNN``.

    Parameters
    ----------
    mode : {'lstm', 'gru', 'rnn', 'rnn_tanh', 'rnn_relu'} (case-insensitive)
        'rnn' uses ``nonlinearity``; 'rnn_tanh'/'rnn_relu' override it.
    x : [T, N, I]
    params : dict
        PyTorch state-dict names: ``weight_ih_l{k}[_reverse]`` ``[G*H, I_k]``,
        ``weight_hh_l{k}[_reverse]`` ``[G*H, H]``, and optionally ``bias_ih_l{k}[_reverse]``,
        ``bias_hh_l{k}[_reverse]`` ``[G*H]`` (a missing bias means no bias). ``I_0 = I``;
        ``I_k = D*H`` for ``k >= 1``. Values may be numpy arrays or anything
        ``np.asarray`` accepts (e.g. CPU torch tensors detached from the graph).
    num_layers : int (L)
    bidirectional : bool (D = 2 if True else 1)
    h0 : [L*D, N, H] or None (zeros); c0 : [L*D, N, H] or None (zeros), LSTM only
        State index = ``layer * D + direction`` (direction 0 forward, 1 reverse).
    lengths : [N] integers in [0, T] or None
    linear_before_reset : bool, GRU form (see :func:`gru_cell`)
    nonlinearity : 'tanh' or 'relu', for mode 'rnn'

    Returns
    -------
    y : [T, N, D*H]
        Output of the last layer; with D=2 the last axis is ``[forward, reverse]``.
    h_n : [L*D, N, H]
    c_n : [L*D, N, H] for LSTM, else None
    """
    key = str(mode).lower()
    if key not in _MODES:
        raise ValueError(f"mode: expected one of {sorted(_MODES)}, got {mode!r}")
    cell, act = _MODES[key]
    if act is None:
        act = nonlinearity
    if cell != "lstm" and c0 is not None:
        raise ValueError("c0: only an LSTM has a cell state")
    D = 2 if bidirectional else 1
    layer_input = _f64(x)
    h_list, c_list = [], []
    for layer in range(num_layers):
        outputs = []
        for direction in range(D):
            suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
            w_ih = _f64(params[f"weight_ih{suffix}"])
            w_hh = _f64(params[f"weight_hh{suffix}"])
            b_ih = _f64(params.get(f"bias_ih{suffix}"))
            b_hh = _f64(params.get(f"bias_hh{suffix}"))
            idx = layer * D + direction
            h_init = None if h0 is None else _f64(h0)[idx]
            reverse = direction == 1
            if cell == "lstm":
                c_init = None if c0 is None else _f64(c0)[idx]
                y, h_n, c_n = lstm_forward(layer_input, w_ih, w_hh, b_ih, b_hh, h_init,
                                           c_init, lengths, reverse)
                c_list.append(c_n)
            elif cell == "gru":
                y, h_n = gru_forward(layer_input, w_ih, w_hh, b_ih, b_hh, h_init, lengths,
                                     linear_before_reset, reverse)
            else:
                y, h_n = rnn_forward(layer_input, w_ih, w_hh, b_ih, b_hh, h_init, lengths,
                                     act, reverse)
            outputs.append(y)
            h_list.append(h_n)
        layer_input = np.concatenate(outputs, axis=-1)
    h_n = np.stack(h_list)
    c_n = np.stack(c_list) if cell == "lstm" else None
    return layer_input, h_n, c_n


# ------------------------------------------------------------------ word embeddings (GloVe)
def glove_cooccurrence(sentences, window):
    """Dense float64 co-occurrence matrix [V, V] of id sentences (lists of ints in [0, V)):
    a pair at distance 1 <= d <= window in one sentence adds 1/d to X[i, j] and X[j, i]
    (Stanford GloVe cooccur, symmetric, distance-weighted). V = 1 + the largest id."""
    V = 1 + max((max(s) for s in sentences if len(s)), default=-1)
    X = np.zeros((V, V))
    for s in sentences:
        for p in range(len(s)):
            for d in range(1, window + 1):
                if p - d < 0:
                    break
                X[s[p], s[p - d]] += 1.0 / d
                X[s[p - d], s[p]] += 1.0 / d
    return X


def glove_loss(params, X, x_max, alpha):
    """GloVe objective J = sum over X_ij > 0 of f(X_ij)(w_i.w~_j + b_i + b~_j - log X_ij)^2,
    f(x) = min(1, (x / x_max)^alpha), for params [2V, D + 1] laid out as seqcore.GloVe."""
    V = X.shape[0]
    p = _f64(params)
    w, b = p[:V, :-1], p[:V, -1]
    wc, bc = p[V:, :-1], p[V:, -1]
    i, j = np.nonzero(X)
    x = X[i, j]
    err = np.einsum("nd,nd->n", w[i], wc[j]) + b[i] + bc[j] - np.log(x)
    f = np.minimum(1.0, (x / x_max) ** alpha)
    return float(np.sum(f * err ** 2))
# --------------------------------------------------------------------------------------
# CTC (Graves et al. 2006): per-utterance negative log-likelihood by the alpha recursion
# --------------------------------------------------------------------------------------

def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0):
    """Per-utterance CTC losses ``[N]`` (float64; +inf when no alignment exists).

    log_probs: [T, N, C]; targets padded [N, S] or concatenated; lengths: [N].
    """
    lp = _f64(log_probs)
    N = lp.shape[1]
    targets = np.asarray(targets)
    offsets = np.concatenate([[0], np.cumsum(target_lengths)])
    out = np.empty(N)
    for n in range(N):
        L, Tn = int(target_lengths[n]), int(input_lengths[n])
        lab = targets[n, :L] if targets.ndim == 2 else targets[offsets[n]:offsets[n] + L]
        ext = np.full(2 * L + 1, blank, dtype=np.int64)
        ext[1::2] = lab
        if Tn == 0:
            out[n] = 0.0 if L == 0 else np.inf
            continue
        alpha = np.full(2 * L + 1, -np.inf)
        alpha[0] = lp[0, n, ext[0]]
        if L:
            alpha[1] = lp[0, n, ext[1]]
        for t in range(1, Tn):
            prev = alpha
            alpha = prev.copy()
            alpha[1:] = np.logaddexp(alpha[1:], prev[:-1])
            skip = np.zeros(2 * L + 1, bool)
            skip[3::2] = ext[3::2] != ext[1:-2:2]
            alpha[skip] = np.logaddexp(alpha[skip], prev[np.flatnonzero(skip) - 2])
            alpha = alpha + lp[t, n, ext]
        out[n] = -np.logaddexp.reduce(alpha[-2:] if L else alpha[-1:])
    return out
# ------------------------------------------------------------------------- attention

def _allowed_mask(B, H, Lq, Lk, attn_mask, is_causal, causal_offset, key_lengths):
    """Bool [B, H, Lq, Lk] of allowed (query, key) pairs and the float mask (or zeros)."""
    allowed = np.ones((B, H, Lq, Lk), bool)
    add = np.zeros((B, H, Lq, Lk))
    if attn_mask is not None:
        m = np.asarray(attn_mask)
        if m.dtype == bool:
            allowed &= np.broadcast_to(m, allowed.shape)
        else:
            add = add + np.broadcast_to(m.astype(np.float64), allowed.shape)
    if is_causal:
        i = np.arange(Lq)[:, None]
        j = np.arange(Lk)[None, :]
        allowed &= (j <= i + causal_offset)
    if key_lengths is not None:
        kl = np.asarray(key_lengths)
        allowed &= np.arange(Lk)[None, None, None, :] < kl[:, None, None, None]
    return allowed, add


def sdpa_forward(q, k, v, attn_mask=None, is_causal=False, scale=None, causal_offset=0,
                 key_lengths=None):
    """out [B,H,Lq,Dv] and probabilities [B,H,Lq,Lk] of softmax(q k^T scale + mask) v
    (float64; GQA by repeating k/v heads; fully masked rows give zeros)."""
    q, k, v = _f64(q), _f64(k), _f64(v)
    B, H, Lq, D = q.shape
    Hkv, Lk = k.shape[1], k.shape[2]
    k = np.repeat(k, H // Hkv, axis=1)
    v = np.repeat(v, H // Hkv, axis=1)
    scale = 1.0 / np.sqrt(D) if scale is None else scale
    allowed, add = _allowed_mask(B, H, Lq, Lk, attn_mask, is_causal, causal_offset, key_lengths)
    s = np.einsum("bhid,bhjd->bhij", q, k) * scale + add
    s = np.where(allowed, s, -np.inf)
    allowed = allowed & np.isfinite(s)
    mx = np.max(np.where(allowed, s, -np.inf), axis=-1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    e = np.where(allowed, np.exp(np.where(allowed, s - mx, 0.0)), 0.0)
    den = e.sum(-1, keepdims=True)
    p = np.where(den > 0, e / np.where(den > 0, den, 1.0), 0.0)
    return np.einsum("bhij,bhjd->bhid", p, v), p


def additive_attention(query, keys, values, w_q, w_k, v_a, key_lengths=None):
    """Bahdanau: (context [N,Dv], weights [N,T]); W_k keys recomputed (float64)."""
    query, keys, values, w_q, w_k, v_a = map(_f64, (query, keys, values, w_q, w_k, v_a))
    e = np.tanh((query @ w_q.T)[:, None, :] + keys @ w_k.T) @ v_a
    return _masked_softmax_context(e, values, key_lengths)


def _masked_softmax_context(e, values, key_lengths):
    N, T = e.shape
    valid = np.ones((N, T), bool) if key_lengths is None else \
        np.arange(T)[None, :] < np.asarray(key_lengths)[:, None]
    mx = np.max(np.where(valid, e, -np.inf), axis=1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    ex = np.where(valid, np.exp(np.where(valid, e - mx, 0.0)), 0.0)
    den = ex.sum(1, keepdims=True)
    w = np.where(den > 0, ex / np.where(den > 0, den, 1.0), 0.0)
    return np.einsum("nt,ntd->nd", w, _f64(values)), w


def luong_attention(query, keys, values, w=None, key_lengths=None):
    """Luong dot (w None) or general (score keys . (w query)): (context, weights), float64."""
    qk = _f64(query) if w is None else _f64(query) @ _f64(w).T
    e = np.einsum("ntd,nd->nt", _f64(keys), qk)
    return _masked_softmax_context(e, values, key_lengths)


def multi_head_attention(query, key, value, in_proj_weight, in_proj_bias, out_proj_weight,
                         out_proj_bias, num_heads, attn_mask=None, is_causal=False,
                         key_lengths=None):
    """nn.MultiheadAttention forward (batch_first=False, bool mask True = not allowed)."""
    query, key, value = _f64(query), _f64(key), _f64(value)
    L, N, E = query.shape
    S = key.shape[0]
    w = _f64(in_proj_weight)
    b = np.zeros(3 * E) if in_proj_bias is None else _f64(in_proj_bias)
    Dh = E // num_heads

    def heads(x, wi, bi, Lx):
        return (x @ wi.T + bi).reshape(Lx, N, num_heads, Dh).transpose(1, 2, 0, 3)
    q = heads(query, w[:E], b[:E], L)
    k = heads(key, w[E:2 * E], b[E:2 * E], S)
    v = heads(value, w[2 * E:], b[2 * E:], S)
    mask = None
    if attn_mask is not None:
        m = np.asarray(attn_mask)
        if m.ndim == 3:
            m = m.reshape(N, num_heads, L, S)
        mask = ~m if m.dtype == bool else m
    ctx, _ = sdpa_forward(q, k, v, mask, is_causal, None, 0, key_lengths)
    ctx = ctx.transpose(2, 0, 1, 3).reshape(L, N, E)
    ob = 0.0 if out_proj_bias is None else _f64(out_proj_bias)
    return ctx @ _f64(out_proj_weight).T + ob
def layer_norm(x, weight=None, bias=None, eps=1e-5, residual=None):
    """``torch.nn.functional.layer_norm`` over the last axis of ``x + residual``, float64."""
    s = _f64(x) + (0.0 if residual is None else _f64(residual))
    mu = s.mean(axis=-1, keepdims=True)
    y = (s - mu) / np.sqrt(((s - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    return y * (1.0 if weight is None else _f64(weight)) + (0.0 if bias is None else _f64(bias))


def activation(z, name):
    """none, relu, gelu (exact, erf) or gelu_tanh of z, float64."""
    from math import erf
    z = _f64(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "gelu":
        return 0.5 * z * (1.0 + np.vectorize(erf)(z / np.sqrt(2.0)))
    if name == "gelu_tanh":
        return 0.5 * z * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (z + 0.044715 * z ** 3)))
    return z


def linear(x, weight, bias=None, act="none"):
    """``act(x W^T + b)`` in float64."""
    return activation(_f64(x) @ _f64(weight).T + (0.0 if bias is None else _f64(bias)), act)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """``torch.nn.functional.conv1d`` of x [N, Ci, L] with weight [Co, Ci, Kw], float64, by
    its definition (a loop over output steps and taps)."""
    x, w = _f64(x), _f64(weight)
    N, Ci, L = x.shape
    Co, _, Kw = w.shape
    xp = np.zeros((N, Ci, L + 2 * padding))
    xp[:, :, padding:padding + L] = x
    Lo = (L + 2 * padding - dilation * (Kw - 1) - 1) // stride + 1
    y = np.zeros((N, Co, Lo)) + (0.0 if bias is None else _f64(bias)[None, :, None])
    for t in range(Lo):
        for j in range(Kw):
            y[:, :, t] += xp[:, :, t * stride + j * dilation] @ w[:, :, j].T
    return y


def batch_norm(x, weight=None, bias=None, eps=1e-5):
    """Training-mode batch norm of the last axis of x over all others, float64; returns
    (y, mean, biased var)."""
    x = _f64(x)
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean) / np.sqrt(var + eps)
    y = y * (1.0 if weight is None else _f64(weight)) + (0.0 if bias is None else _f64(bias))
    return y, mean, var


def binary_cross_entropy_with_logits(z, y, weight=None, pos_weight=1.0):
    """Elementwise ``-w (pos_weight y log sigmoid(z) + (1 - y) log(1 - sigmoid(z)))``,
    float64 (log sigmoid through logaddexp: exact for any |z|)."""
    z, y = _f64(z), _f64(y)
    w = 1.0 if weight is None else _f64(weight)
    return w * (pos_weight * y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z))


def transformer_encoder_layer(x, params, nhead, activation_name="relu", norm_first=False,
                              eps=1e-5, attn_mask=None, is_causal=False, key_lengths=None):
    """``torch.nn.TransformerEncoderLayer`` forward without dropout, time-major ``x [S, N, E]``,
    params by torch's names (biases optional), float64."""
    p = {k: _f64(v) for k, v in params.items()}

    def attn(h):
        return multi_head_attention(h, h, h, p["self_attn.in_proj_weight"],
                                    p.get("self_attn.in_proj_bias"),
                                    p["self_attn.out_proj.weight"],
                                    p.get("self_attn.out_proj.bias"), nhead, attn_mask,
                                    is_causal, key_lengths)

    def ff(h):
        u = linear(h, p["linear1.weight"], p.get("linear1.bias"), activation_name)
        return linear(u, p["linear2.weight"], p.get("linear2.bias"))

    def norm(h, k):
        return layer_norm(h, p[f"{k}.weight"], p.get(f"{k}.bias"), eps)

    x = _f64(x)
    if norm_first:
        x = x + attn(norm(x, "norm1"))
        return x + ff(norm(x, "norm2"))
    x = norm(x + attn(x), "norm1")
    return norm(x + ff(x), "norm2")


# ------------------------------------------------------------------- output layers
# NumPy float64 references of seqcore.output_layers (softmax cross-entropy, negative
# sampling, sampled softmax, Huffman code lengths, hierarchical softmax). Gradients of the
# sampled losses are returned dense ([V, D]); the losses per row ([N]), unreduced.


def log_softmax(x, axis=-1):
    """``x - logsumexp(x, axis)`` in float64."""
    x = _f64(x)
    m = np.max(x, axis=axis, keepdims=True)
    return x - (m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)))


def softmax_cross_entropy(logits, targets, reduction="mean", ignore_index=None,
                          label_smoothing=0.0):
    """torch.nn.functional.cross_entropy semantics (class-index targets).

    Returns ``(loss, dlogits)``: loss reduced as asked (``[N]`` for "none"), dlogits the
    gradient of the reduced loss (of the sum for "none")."""
    x = _f64(logits)
    t = np.asarray(targets, dtype=np.int64)
    N, V = x.shape
    eps = float(label_smoothing)
    keep = np.ones(N, bool) if ignore_index is None else t != ignore_index
    lp = log_softmax(x)
    tt = np.where(keep, t, 0)
    per_row = -(1 - eps) * lp[np.arange(N), tt] - eps * lp.mean(axis=1)
    per_row = np.where(keep, per_row, 0.0)
    target = np.full((N, V), eps / V)
    target[np.arange(N), tt] += 1 - eps
    grad = (np.exp(lp) - target) * keep[:, None]
    if reduction == "none":
        return per_row, grad
    if reduction == "sum":
        return per_row.sum(), grad
    count = keep.sum()
    return per_row.sum() / count if count else np.nan, grad / max(count, 1)


def _log_sigmoid(z):
    z = _f64(z)
    return -(np.maximum(-z, 0) + np.log1p(np.exp(-np.abs(z))))


def negative_sampling_loss(h, w_out, targets, negatives):
    """Per-row ``-log σ(w_t·h) - Σ_k log σ(-w_k·h)`` with ``negatives [N, K]``.

    Returns ``(loss [N], dh [N, D], dw_out [V, D])`` (gradients of the sum)."""
    h, w = _f64(h), _f64(w_out)
    t = np.asarray(targets, np.int64)
    neg = np.asarray(negatives, np.int64)
    ids = np.concatenate([t[:, None], neg], axis=1)            # [N, K+1]
    sign = np.ones(ids.shape)
    sign[:, 1:] = -1
    s = np.einsum("nkd,nd->nk", w[ids], h)
    loss = -_log_sigmoid(sign * s).sum(axis=1)
    g = -sign * sigmoid(-sign * s)                               # dloss/ds
    dh = np.einsum("nk,nkd->nd", g, w[ids])
    dw = np.zeros_like(w)
    np.add.at(dw, ids.ravel(), (g[:, :, None] * h[:, None, :]).reshape(-1, h.shape[1]))
    return loss, dh, dw


def sampled_softmax_loss(h, w_out, b_out, targets, sampled, log_q_true=None,
                         log_q_sampled=None, remove_accidental_hits=True):
    """TensorFlow's sampled_softmax_loss (one true class, sampled ids shared by the batch).

    Returns ``(loss [N], dh [N, D], dw_out [V, D], db_out [V])`` (gradients of the sum)."""
    h, w = _f64(h), _f64(w_out)
    V = w.shape[0]
    b = np.zeros(V) if b_out is None else _f64(b_out)
    t = np.asarray(targets, np.int64)
    s_ids = np.asarray(sampled, np.int64)
    N = h.shape[0]
    ids = np.concatenate([t[:, None], np.broadcast_to(s_ids, (N, s_ids.size))], axis=1)
    z = np.einsum("nkd,nd->nk", w[ids], h) + b[ids]
    if log_q_true is not None:
        z[:, 0] -= _f64(log_q_true)
        z[:, 1:] -= _f64(log_q_sampled)[None, :]
    if remove_accidental_hits:
        z[:, 1:][ids[:, 1:] == t[:, None]] = -np.inf
    lp = log_softmax(z)
    loss = -lp[:, 0]
    g = np.exp(lp)
    g[:, 0] -= 1
    dh = np.einsum("nk,nkd->nd", g, w[ids])
    dw = np.zeros_like(w)
    np.add.at(dw, ids.ravel(), (g[:, :, None] * h[:, None, :]).reshape(-1, h.shape[1]))
    db = np.zeros(V)
    np.add.at(db, ids.ravel(), g.ravel())
    return loss, dh, dw, db


def huffman_code_lengths(counts):
    """Code lengths of a textbook Huffman code (heapq merge of the two lightest subtrees)."""
    import heapq
    counts = [float(c) for c in counts]
    V = len(counts)
    if V == 1:
        return np.zeros(1, np.int64)
    depth = np.zeros(V, np.int64)
    heap = [(c, i, [i]) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    tick = V
    while len(heap) > 1:
        c1, _, w1 = heapq.heappop(heap)
        c2, _, w2 = heapq.heappop(heap)
        depth[w1 + w2] += 1
        heapq.heappush(heap, (c1 + c2, tick, w1 + w2))
        tick += 1
    return depth


def huffman_paths_heapq(counts):
    """gensim 4's Huffman tree (``_build_heap`` + ``_assign_binary_codes``) with Python's
    heapq, items compared by count alone: per word ``(codes, points)`` lists, root first;
    the first node popped at a merge takes bit 0, inner node ``a`` is the ``a``-th merge."""
    import heapq

    class Item:
        __slots__ = ("count", "index")

        def __init__(self, count, index):
            self.count, self.index = count, index

        def __lt__(self, other):  # gensim's Heapitem.__lt__: the count alone
            return self.count < other.count

    V = len(counts)
    heap = [Item(float(c), i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    parent, bit = {}, {}
    for a in range(V - 1):
        m1, m2 = heapq.heappop(heap), heapq.heappop(heap)
        parent[m1.index], bit[m1.index] = V + a, 0
        parent[m2.index], bit[m2.index] = V + a, 1
        heapq.heappush(heap, Item(m1.count + m2.count, V + a))
    paths = []
    for w in range(V):
        codes, points, b = [], [], w
        while b in parent:
            codes.append(bit[b])
            points.append(parent[b] - V)
            b = parent[b]
        paths.append((codes[::-1], points[::-1]))
    return paths


def hierarchical_softmax_loss(h, w_inner, targets, offsets, points, codes):
    """Per-row ``-log P(t | h)`` over the CSR paths; returns ``(loss [N], dh [N, D],
    dw_inner [V-1, D])`` (gradients of the sum)."""
    h, w = _f64(h), _f64(w_inner)
    loss = np.zeros(h.shape[0])
    dh = np.zeros_like(h)
    dw = np.zeros_like(w)
    for n, t in enumerate(np.asarray(targets, np.int64)):
        for j in range(offsets[t], offsets[t + 1]):
            p, sign = points[j], 1.0 - 2.0 * codes[j]
            s = w[p] @ h[n]
            loss[n] -= _log_sigmoid(sign * s)
            g = -sign * sigmoid(-sign * s)
            dh[n] += g * w[p]
            dw[p] += g * h[n]
    return loss, dh, dw


# ---- word2vec ------------------------------------------------------------------------------


def word2vec_sigmoid_table(x):
    """word2vec.c's tabulated sigmoid: 1000 entries over [-6, 6), entry i at
    x_i = (2 i / 1000 - 1) * 6, looked up at int((x + 6) * 83): EXP_TABLE_SIZE / MAX_EXP / 2
    is an integer expression in word2vec.c and gensim (1000 / 6 / 2 == 83 in C; gensim's
    word2vec_inner.c reads ``EXP_TABLE[(int)((f_dot + 6.0) * ((0x3E8 / 6) / 2))]``)."""
    i = int((x + 6.0) * (1000 // 6 // 2))
    xi = (i / 1000 * 2 - 1) * 6.0
    return float(np.float32(np.exp(xi) / (np.exp(xi) + 1)))


def word2vec_hs_epoch(sentences, syn0, syn1, offsets, points, codes, window, sg, cbow_mean,
                      alpha):
    """One epoch of word2vec with hierarchical softmax only, no subsampling and the full
    window (shrink_windows=False): the deterministic case of word2vec.c's training loop
    (float64; the learning rate ``alpha(p)`` is a function of the token position ``p``).
    Skip-gram: each context word's input vector predicts the centre word. CBOW: the mean
    (cbow_mean) or sum of the context vectors predicts it; the error is added to every
    context vector (divided by the context count for the sum, as gensim). A node with
    |w . h| >= 6 is skipped. Returns (syn0, syn1) updated copies."""
    syn0, syn1 = _f64(syn0).copy(), _f64(syn1).copy()
    p = 0
    for sent in sentences:
        n = len(sent)
        for i, w in enumerate(sent):
            a = alpha(p + i)
            ctx = [sent[j] for j in range(max(0, i - window), min(n, i + window + 1)) if j != i]
            inputs = [syn0[c][None, :] for c in ctx] if sg else []
            if not sg:
                if not ctx:
                    continue
                h = np.sum([syn0[c] for c in ctx], axis=0)
                if cbow_mean:
                    h = h / len(ctx)
                inputs = [h[None, :]]
            for k, h in enumerate(inputs):
                h = h[0].copy()
                e = np.zeros_like(h)
                for j in range(offsets[w], offsets[w + 1]):
                    node = points[j]
                    f = h @ syn1[node]
                    if f <= -6 or f >= 6:
                        continue
                    g = (1 - codes[j] - word2vec_sigmoid_table(f)) * a
                    e += g * syn1[node]
                    syn1[node] += g * h
                if sg:
                    syn0[ctx[k]] += e
                else:
                    scale = 1.0 if cbow_mean else 1.0 / len(ctx)
                    for c in ctx:
                        syn0[c] += scale * e
        p += n
    return syn0, syn1


# ---- arc-standard parsing ------------------------------------------------------------------
# Written from the definitions: children are found by scanning the arcs, not kept as the C++
# state machine keeps them.

class ArcStandard:
    """An arc-standard configuration of n words (0 = ROOT) with L labels; transitions 0 SHIFT,
    1 + l LEFT-ARC(l), 1 + L + l RIGHT-ARC(l), RIGHT-ARC from ROOT only with an empty
    buffer (Nivre 2004; Chen & Manning 2014)."""

    def __init__(self, n, L):
        self.n, self.L = n, L
        self.stack, self.next = [0], 1
        self.head = {}
        self.label = {}

    def copy(self):
        c = ArcStandard(self.n, self.L)
        c.stack, c.next = list(self.stack), self.next
        c.head, c.label = dict(self.head), dict(self.label)
        return c

    def terminal(self):
        return self.stack == [0] and self.next > self.n

    def legal(self):
        two = len(self.stack) >= 2
        s2 = self.stack[-2] if two else None
        left = two and s2 != 0
        right = two and (s2 != 0 or self.next > self.n)
        return [self.next <= self.n] + [left] * self.L + [right] * self.L

    def apply(self, a):
        if a == 0:
            self.stack.append(self.next)
            self.next += 1
        elif a <= self.L:
            d = self.stack.pop(-2)
            self.head[d], self.label[d] = self.stack[-1], a - 1
        else:
            d = self.stack.pop()
            self.head[d], self.label[d] = self.stack[-1], a - 1 - self.L

    def _child(self, p, k, left):
        """k-th leftmost left child (left) or k-th rightmost right child of p, or None."""
        if p is None:
            return None
        kids = sorted((d for d, h in self.head.items() if h == p and (d < p) == left),
                      reverse=not left)
        return kids[k - 1] if len(kids) >= k else None

    def features(self, attrs):
        """Chen & Manning's ids: each attribute of 18 positions, the labels of the last 12.
        attrs: C arrays [n] of ids of words 1..n; 0 NULL, 1 ROOT; label ids 1 + l, 0 NULL."""
        s = [self.stack[-1 - i] if len(self.stack) > i else None for i in range(3)]
        b = [self.next + i if self.next + i <= self.n else None for i in range(3)]
        pos = s + b
        for x in s[:2]:
            pos += [self._child(x, 1, True), self._child(x, 1, False),
                    self._child(x, 2, True), self._child(x, 2, False)]
        pos += [self._child(pos[6], 1, True), self._child(pos[7], 1, False),
                self._child(pos[10], 1, True), self._child(pos[11], 1, False)]

        def ident(p, ids):
            return 0 if p is None else (1 if p == 0 else int(ids[p - 1]))
        return ([ident(p, ids) for ids in attrs for p in pos]
                + [0 if p is None else 1 + self.label[p] for p in pos[6:]])


def arc_standard_parses(n, L):
    """Every complete transition sequence of n words (exhaustive search; small n only)."""
    out = []

    def walk(c, seq):
        if c.terminal():
            out.append(list(seq))
            return
        for a, ok in enumerate(c.legal()):
            if ok:
                d = c.copy()
                d.apply(a)
                walk(d, seq + [a])
    walk(ArcStandard(n, L), [])
    return out
