"""A typed tour of seqcore's NumPy API (checked with ``mypy --strict`` in the test suite and
run as a script): a recurrent layer forward and backward, CTC, attention, an output layer,
Word2Vec and word-vector queries."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

import seqcore


def recurrent(rng: np.random.Generator) -> float:
    T, N, I, H = 7, 3, 5, 8
    x: npt.NDArray[np.float32] = rng.standard_normal((T, N, I), dtype=np.float32)
    lstm = seqcore.LSTM(I, H, num_layers=2, bidirectional=True, seed=0)
    y, (h_n, c_n), cache = lstm.forward(x, lengths=np.array([7, 4, 1]))
    dx, dstate0, grads = lstm.backward(cache, np.ones_like(y))
    assert sorted(grads)[0] == "bias_hh_l0" and dx.shape == x.shape
    return float(np.abs(dx).sum())


def ctc(rng: np.random.Generator) -> float:
    T, N, C = 12, 2, 6
    logits = rng.standard_normal((T, N, C)).astype(np.float32)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    loss, grad = seqcore.ctc_loss(log_probs, np.array([[1, 2, 3], [4, 4, 0]]),
                                  np.array([12, 10]), np.array([3, 2]))
    return float(np.sum(loss))


def attention(rng: np.random.Generator) -> tuple[int, ...]:
    q = rng.standard_normal((2, 4, 9, 16), dtype=np.float32)
    out, cache = seqcore.sdpa_forward(q, q, q, None, True, None)
    return tuple(out.shape)


def word_vectors() -> list[tuple[str, float]]:
    sentences = [["the", "king", "rules", "the", "land"],
                 ["the", "queen", "rules", "the", "land"]] * 100
    model = seqcore.Word2Vec(sentences, vector_size=16, window=2, min_count=1, epochs=2,
                             workers=1, progress=False)
    assert model.wv is not None          # built by the constructor's corpus
    neighbours: list[tuple[str, float]] = model.wv.most_similar("king", topn=2)
    return neighbours


def main() -> None:
    rng = np.random.default_rng(0)
    print("lstm |dx|:", recurrent(rng))
    print("ctc loss:", ctc(rng))
    print("sdpa out:", attention(rng))
    print("king:", word_vectors())


if __name__ == "__main__":
    main()
