"""Plots: the attention heat map of a translation (matplotlib, imported lazily, Agg backend)."""
from __future__ import annotations

import numpy as np

__all__ = ["plot_attention"]


def plot_attention(weights, source_tokens, target_tokens, path, *, title=None, cmap="viridis"):
    """Draw the attention weights of one sentence pair as a heat map and save it.

    Parameters
    ----------
    weights : array [S, T]
        ``weights[s, t]``: attention of target (output) step s on source position t, e.g.
        the stacked ``weights`` of :func:`seqcore.additive_attention_forward` over the
        decoder steps. Rows past ``len(target_tokens)`` / columns past
        ``len(source_tokens)`` are cut off.
    source_tokens : sequence of str (length <= T), labels of the x axis
    target_tokens : sequence of str (length <= S), labels of the y axis
    path : str or path-like; the format follows the suffix (``.png``, ``.pdf``, ``.svg``)

    Returns the path. Raises ValueError if weights is not 2-d or has fewer rows/columns than
    tokens. Source: the attention visualisation of Bahdanau et al. 2015 (fig. 3) and of the
    Sequence Models course.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"weights: expected shape [S, T], got {w.shape}")
    src, tgt = list(source_tokens), list(target_tokens)
    if len(tgt) > w.shape[0] or len(src) > w.shape[1]:
        raise ValueError(f"weights: shape {w.shape} is smaller than [len(target_tokens), "
                         f"len(source_tokens)] = [{len(tgt)}, {len(src)}]")
    w = w[:len(tgt) or w.shape[0], :len(src) or w.shape[1]]
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1 + 0.45 * max(w.shape[1], 4), 1 + 0.45 * max(w.shape[0], 4)))
    try:
        im = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=max(1e-12, float(w.max(initial=0.0))),
                       aspect="auto")
        if src:
            ax.set_xticks(range(len(src)))
            ax.set_xticklabels(src, rotation=90)
        if tgt:
            ax.set_yticks(range(len(tgt)))
            ax.set_yticklabels(tgt)
        ax.set_xlabel("source")
        ax.set_ylabel("target")
        if title:
            ax.set_title(title)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
