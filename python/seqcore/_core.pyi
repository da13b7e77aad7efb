"""
seqcore C++ kernels (Eigen + OpenMP). Use the seqcore package, not this module.
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['ArcStandardBeam', 'BeamSearch', 'Conv1dPacked', 'MultiHeadAttentionCache', 'RnnCache', 'RnnPacked', 'SdpaCache', 'StepAttentionCache', 'VocabCounter', 'VocabIndex', 'additive_attention_forward', 'arc_standard_oracle', 'batch_norm_backward', 'batch_norm_forward', 'binary_cross_entropy_with_logits', 'build_info', 'conv1d_backward', 'conv1d_forward', 'ctc_beam_search', 'ctc_greedy_decode', 'ctc_loss', 'ctc_workspace_bytes', 'embedding_backward', 'embedding_bag_backward', 'embedding_bag_forward', 'embedding_forward', 'encode_corpus', 'fma_peak_gflops', 'gemm', 'get_num_threads', 'glove_cooccur', 'glove_epoch', 'hierarchical_softmax_log_probs', 'hierarchical_softmax_loss', 'layer_norm_backward', 'layer_norm_forward', 'linear_backward', 'linear_forward', 'log_softmax', 'luong_attention_forward', 'mha_backward', 'mha_forward', 'negative_sampling_loss', 'precompute_keys', 'rnn_backward', 'rnn_forward', 'sampled_softmax_loss', 'sdpa_backward', 'sdpa_forward', 'seq2seq_beam_search', 'set_num_threads', 'softmax_cross_entropy', 'step_attention_backward', 'top_k_dot', 'word2vec_alpha', 'word2vec_chunks', 'word2vec_keep_probabilities', 'word2vec_score', 'word2vec_train']
class RnnCache:
    """
    Saved activations of a recurrent forward (post-activation gates and states of every valid step), consumed by the matching backward.
    """
    def __repr__(self) -> str:
        ...
    @property
    def consumed(self) -> bool:
        ...
    @property
    def mode(self) -> str:
        ...
    @property
    def nbytes(self) -> int:
        """
        Bytes held by the saved activations.
        """
    @property
    def shape(self) -> tuple[int, int, int, int]:
        """
        (T, N, I, H) of the forward.
        """
class RnnPacked:
    """
    See seqcore.rnn.PackedRNN: a layer's weights packed once.
    """
    def __init__(self, mode: str, w_ih: typing.Any, w_hh: typing.Any, b_ih: typing.Any, b_hh: typing.Any, linear_before_reset: bool) -> None:
        ...
    def __repr__(self) -> str:
        ...
    def forward(self, x: typing.Any, h0: typing.Any, c0: typing.Any) -> tuple:
        """
        Inference forward: (y, h_n, c_n or None, None).
        """
class BeamSearch:
    """
    Beam-search state (see seqcore.decoding.beam_search, which drives it).
    """
    def __init__(self, batch_size: typing.SupportsInt | typing.SupportsIndex, bos_id: typing.SupportsInt | typing.SupportsIndex, eos_id: typing.SupportsInt | typing.SupportsIndex, beam_width: typing.SupportsInt | typing.SupportsIndex, max_length: typing.SupportsInt | typing.SupportsIndex, min_length: typing.SupportsInt | typing.SupportsIndex, n_best: typing.SupportsInt | typing.SupportsIndex, length_penalty: typing.SupportsFloat | typing.SupportsIndex, length_penalty_mode: str, stopping: str, patience: typing.SupportsFloat | typing.SupportsIndex, repetition_penalty: typing.SupportsFloat | typing.SupportsIndex, no_repeat_ngram_size: typing.SupportsInt | typing.SupportsIndex, prefix: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]]) -> None:
        ...
    def advance(self, log_probs: typing.Any) -> None:
        """
        Consume the log-probs [M, V] of the live rows.
        """
    def beam_origin(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        Row of the previous step call that each live row extends [M] (int64).
        """
    def done(self) -> bool:
        ...
    def next_tokens(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        Token of each live row [M] (int64): the input of the next step call.
        """
    def num_rows(self) -> int:
        ...
    def results(self) -> list:
        ...
    def row_batch(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        Batch item of each live row [M] (int64).
        """
    def step(self) -> int:
        ...
class VocabCounter:
    """
    Word counts with gensim's max_vocab_size pruning and trim_rule.
    """
    def __init__(self, max_vocab_size: typing.SupportsInt | typing.SupportsIndex = 0, trim_rule: typing.Any = None) -> None:
        ...
    def add_file(self, path: str) -> None:
        ...
    def add_sentences(self, sentences: typing.Any) -> None:
        ...
    def counts(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        Counts of all words held (int64, no particular order).
        """
    def items(self, min_count: typing.SupportsInt | typing.SupportsIndex) -> tuple[list, numpy.typing.NDArray[numpy.int64]]:
        """
        (keys, counts int64) of the words with count >= min_count, in order of first occurrence.
        """
    @property
    def sentences(self) -> int:
        ...
    @property
    def total_words(self) -> int:
        ...
class VocabIndex:
    """
    word -> id map and corpus encoder.
    """
    def __init__(self, words: collections.abc.Sequence[str]) -> None:
        ...
    def __len__(self) -> int:
        ...
    def encode_file(self, path: str) -> tuple[numpy.typing.NDArray[numpy.int32], numpy.typing.NDArray[numpy.int64]]:
        ...
    def encode_sentences(self, sentences: typing.Any) -> tuple[numpy.typing.NDArray[numpy.int32], numpy.typing.NDArray[numpy.int64]]:
        ...
class SdpaCache:
    """
    What sdpa_backward needs: references to q, k, v and the mask, plus out and the logsumexp [B, H, Lq] (no [Lq, Lk] matrix).
    """
    @property
    def lse(self) -> numpy.ndarray:
        """
        Row logsumexp of the scaled, masked scores [B, H, Lq] (-inf: fully masked row).
        """
    @property
    def nbytes(self) -> int:
        """
        Bytes saved by the forward (out and the logsumexp).
        """
    @property
    def out(self) -> numpy.ndarray:
        ...
class StepAttentionCache:
    """
    Saved inputs and weights of an additive/dot/general attention step.
    """
    @property
    def kind(self) -> str:
        ...
class MultiHeadAttentionCache:
    """
    Projections, attention output and logsumexp of a multi-head attention forward.
    """
class _UnigramSampler:
    """
    Alias-method sampler of counts^power (see seqcore.UnigramSampler).
    """
    def __init__(self, counts: typing.Any, power: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    def log_q(self, ids: typing.Any, name: str = 'ids') -> numpy.typing.NDArray[numpy.float64]:
        ...
    def sample(self, seed: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex, first: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def power(self) -> float:
        ...
    @property
    def probs(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def size(self) -> int:
        ...
class _HuffmanTree:
    """
    Huffman tree of word2vec.c (see seqcore.HuffmanTree).
    """
    def __init__(self, counts: typing.Any) -> None:
        ...
    @property
    def children(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def codes(self) -> numpy.typing.NDArray[numpy.uint8]:
        ...
    @property
    def depth(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def max_depth(self) -> int:
        ...
    @property
    def num_inner(self) -> int:
        ...
    @property
    def offsets(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def points(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def size(self) -> int:
        ...
class Conv1dPacked:
    """
    See seqcore.PackedConv1d: conv1d_forward with the weight packed once.
    """
    def __call__(self, x: typing.Any) -> numpy.ndarray:
        ...
    def __init__(self, weight: typing.Any, bias: typing.Any, stride: typing.SupportsInt | typing.SupportsIndex, padding: typing.SupportsInt | typing.SupportsIndex, dilation: typing.SupportsInt | typing.SupportsIndex, channels_last: bool, activation: str) -> None:
        ...
    def __repr__(self) -> str:
        ...
class ArcStandardBeam:
    """
    Arc-standard parser states of a batch of sentences, searched with a beam (see seqcore.parsing, which drives it).
    """
    def __init__(self, lengths: typing.Any, num_labels: typing.SupportsInt | typing.SupportsIndex, beam_width: typing.SupportsInt | typing.SupportsIndex, gold: typing.Any = None) -> None:
        ...
    def advance(self, scores: typing.Any) -> None:
        """
        Consume the transition scores [M, A] of the live rows.
        """
    def done(self) -> bool:
        ...
    def features(self, attrs: typing.Any) -> numpy.typing.NDArray[numpy.int64]:
        """
        Chen & Manning's feature ids of the live rows [M, 18 C + 12] (int64) from the word attributes attrs [C, W].
        """
    def global_loss(self) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.int64], list]:
        """
        (loss [N], stop_step [N], dscores: one [M_j, A] float64 array per step).
        """
    def legal(self) -> numpy.typing.NDArray[numpy.bool]:
        """
        Legal transitions of the live rows [M, A] (bool).
        """
    def num_rows(self) -> int:
        ...
    def num_transitions(self) -> int:
        ...
    def results(self) -> list:
        """
        Per sentence, a list of (head [n], label [n], score), best first.
        """
    def row_sentence(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        Sentence of each live row [M] (int64).
        """
    def step(self) -> int:
        ...
def _set_thread_share(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Thread count of the kernels called from the calling Python thread (0: back to
    set_num_threads's). For seqcore's own side-by-side runs (seqcore._parallel).
    """
def additive_attention_forward(query: typing.Any, keys: typing.Any, values: typing.Any, w_q: typing.Any, w_k: typing.Any, v_a: typing.Any, key_lengths: typing.Any, proj_keys: typing.Any) -> tuple:
    """
    Bahdanau attention step -> (context, weights, cache).
    """
def arc_standard_oracle(lengths: typing.Any, heads: typing.Any, labels: typing.Any, num_labels: typing.SupportsInt | typing.SupportsIndex, attrs: typing.Any = None) -> tuple[numpy.typing.NDArray[numpy.int64], typing.Any]:
    """
    Static arc-standard oracle: (transitions [2W], features [2W, 18 C + 12] or None).
    """
def batch_norm_backward(x: typing.Any, weight: typing.Any, bias: typing.Any, mean: typing.Any, rstd: typing.Any, relu: bool, dy: typing.Any, need_dweight: bool, need_dbias: bool) -> tuple:
    """
    See seqcore.batch_norm_backward. Returns (dx [M, C], dweight [C] or None,
    dbias [C] or None).
    """
def batch_norm_forward(x: typing.Any, weight: typing.Any, bias: typing.Any, eps: typing.SupportsFloat | typing.SupportsIndex, relu: bool) -> tuple:
    """
    See seqcore.batch_norm_forward. x: [M, C]; weight, bias: [C] or None.
    Returns (y [M, C], mean [C], var [C] (biased), rstd [C]).
    """
def binary_cross_entropy_with_logits(logits: typing.Any, targets: typing.Any, weight: typing.Any, pos_weight: typing.SupportsFloat | typing.SupportsIndex, reduction: str, grad: bool) -> tuple:
    """
    See seqcore.binary_cross_entropy_with_logits. Returns (loss (shape of logits) or [1],
    dlogits or None).
    """
def build_info() -> dict:
    """
    Facts about this build: compiler, SIMD level, whether it was tuned for the build machine (native), OpenMP version, Eigen version, CUDA on/off and visible devices.
    """
def conv1d_backward(x: typing.Any, weight: typing.Any, dy: typing.Any, stride: typing.SupportsInt | typing.SupportsIndex, padding: typing.SupportsInt | typing.SupportsIndex, dilation: typing.SupportsInt | typing.SupportsIndex, channels_last: bool, need_dx: bool, need_dbias: bool) -> tuple:
    """
    See seqcore.conv1d_backward. dy: the gradient of the pre-activation output.
    Returns (dx or None, dweight [Co, Ci, Kw], dbias [Co] or None).
    """
def conv1d_forward(x: typing.Any, weight: typing.Any, bias: typing.Any, stride: typing.SupportsInt | typing.SupportsIndex, padding: typing.SupportsInt | typing.SupportsIndex, dilation: typing.SupportsInt | typing.SupportsIndex, channels_last: bool, activation: str) -> typing.Any:
    """
    See seqcore.conv1d_forward. x: [N, Ci, L] ([N, L, Ci] channels_last), weight:
    [Co, Ci, Kw], bias: [Co] or None. Returns y [N, Co, Lo] ([N, Lo, Co]).
    """
def ctc_beam_search(log_probs: typing.Any, input_lengths: typing.Any, beam_width: typing.SupportsInt | typing.SupportsIndex, blank: typing.SupportsInt | typing.SupportsIndex, n_best: typing.SupportsInt | typing.SupportsIndex, beam_threshold: typing.SupportsFloat | typing.SupportsIndex, token_top_k: typing.SupportsInt | typing.SupportsIndex, token_min_logp: typing.SupportsFloat | typing.SupportsIndex, lm: typing.Any, lm_weight: typing.SupportsFloat | typing.SupportsIndex, word_score: typing.SupportsFloat | typing.SupportsIndex, word_delimiter: typing.SupportsInt | typing.SupportsIndex) -> list:
    """
    Prefix beam search: per utterance a list of (tokens, score). Use seqcore.ctc_beam_search.
    """
def ctc_greedy_decode(log_probs: typing.Any, input_lengths: typing.Any, blank: typing.SupportsInt | typing.SupportsIndex) -> list:
    """
    Best-path CTC decoding: list of (tokens, frames) int64 arrays per utterance.
    """
def ctc_loss(x: typing.Any, targets: typing.Any, input_lengths: typing.Any, target_lengths: typing.Any, blank: typing.SupportsInt | typing.SupportsIndex, reduction: str, zero_infinity: bool, from_logits: bool) -> tuple:
    """
    CTC loss and its gradient w.r.t. x [T, N, C] (log_probs, or logits when from_logits). Returns (loss: 0-d or [N] for reduction 'none', grad [T, N, C]). Use seqcore.ctc_loss.
    """
def ctc_workspace_bytes(x: typing.Any, targets: typing.Any, input_lengths: typing.Any, target_lengths: typing.Any, blank: typing.SupportsInt | typing.SupportsIndex, from_logits: bool, threads: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    Scratch bytes ctc_loss allocates for these inputs with `threads` threads.
    """
def embedding_backward(dout: typing.Any, ids: typing.Any, num_embeddings: typing.SupportsInt | typing.SupportsIndex, padding_idx: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Gradient of the weight as (rows [R] int64 sorted unique, grads [R, D]); padding_idx -1 for none.
    """
def embedding_bag_backward(dout: typing.Any, ids: typing.Any, offsets: typing.Any, num_embeddings: typing.SupportsInt | typing.SupportsIndex, mean: bool, padding_idx: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Gradient of embedding_bag_forward's weight as (rows [R], grads [R, D]).
    """
def embedding_bag_forward(weight: typing.Any, ids: typing.Any, offsets: typing.Any, mean: bool, padding_idx: typing.SupportsInt | typing.SupportsIndex) -> numpy.ndarray:
    """
    Sum (mean) of the rows of each bag ids[offsets[b]:offsets[b+1]]: [B, D].
    """
def embedding_forward(weight: typing.Any, ids: typing.Any) -> numpy.ndarray:
    """
    Rows of weight [V, D] at ids (any shape, int32/int64 in [0, V)): ids.shape + [D].
    """
def encode_corpus(index: VocabIndex, sentences: typing.Any, path: typing.Any, expect_tokens: typing.SupportsInt | typing.SupportsIndex, expect_sentences: typing.SupportsInt | typing.SupportsIndex) -> tuple[numpy.typing.NDArray[numpy.int32], numpy.typing.NDArray[numpy.int64]]:
    """
    Encode sentences (lists of str) or the file at path (one sentence a line) with a VocabIndex: (tokens [n] int32, offsets [S + 1] int64), out-of-vocabulary words dropped; expect_*: capacity reserved (from the vocabulary scan).
    """
def fma_peak_gflops(threads: typing.SupportsInt | typing.SupportsIndex, seconds: typing.SupportsFloat | typing.SupportsIndex = 0.2) -> float:
    """
    float32 FMA roof of this machine in GFLOP/s: `threads` threads each running
    independent FMA chains in registers (widest vectors of this build) for about
    `seconds`. Raises ValueError unless threads >= 1 and 0 < seconds <= 10.
    """
def gemm(a: typing.Any, b: typing.Any, transpose_a: bool = False, transpose_b: bool = False, out: typing.Any = None) -> typing.Any:
    """
    op(a) @ op(b) with seqcore's blocked GEMM (the micro-kernel family every recurrent and
    attention kernel uses). a: [M, K] ([K, M] if transpose_a), b: [K, N] ([N, K] if
    transpose_b), float32 or float64 (b of a's dtype). With out ([M, N], C-contiguous)
    the product is added to out in place and out is returned; else a new [M, N] array.
    Bit-identical for every thread count. Raises TypeError (dtype) and ValueError (shape).
    """
def get_num_threads() -> int:
    """
    Number of threads seqcore kernels use (default: OpenMP's, i.e. OMP_NUM_THREADS or the number of cores).
    """
def glove_cooccur(tokens: typing.Any, offsets: typing.Any, V: typing.SupportsInt | typing.SupportsIndex, window: typing.SupportsInt | typing.SupportsIndex) -> tuple[numpy.typing.NDArray[numpy.int32], numpy.typing.NDArray[numpy.int32], numpy.typing.NDArray[numpy.float64]]:
    """
    Symmetric 1/distance co-occurrence counts: (row [nnz] int32, col [nnz] int32, value [nnz] float64), sorted by (row, col).
    """
def glove_epoch(row: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], col: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], log_x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], params: numpy.ndarray, gradsq: numpy.ndarray, learning_rate: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, epoch: typing.SupportsInt | typing.SupportsIndex, workers: typing.SupportsInt | typing.SupportsIndex) -> float:
    """
    One shuffled AdaGrad epoch of GloVe, in place on params/gradsq [2V, D + 1]; returns J. log_x = log X, weight = min(1, (X / x_max)^alpha) per entry [nnz].
    """
def hierarchical_softmax_log_probs(h: typing.Any, w_inner: typing.Any, tree: _HuffmanTree, ids: typing.Any) -> numpy.ndarray:
    """
    See seqcore.hierarchical_softmax_log_probs. Returns log-probabilities [N, M] or [N, V].
    """
def hierarchical_softmax_loss(h: typing.Any, w_inner: typing.Any, tree: _HuffmanTree, targets: typing.Any, reduction: str) -> tuple:
    """
    See seqcore.hierarchical_softmax_loss. Returns (loss, dh, rows, drows).
    """
def layer_norm_backward(input: typing.Any, weight: typing.Any, mean: typing.Any, rstd: typing.Any, dy: typing.Any, need_dweight: bool, need_dbias: bool) -> tuple:
    """
    See seqcore.layer_norm_backward. Returns (dinput [M, D], dweight [D] or None,
    dbias [D] or None).
    """
def layer_norm_forward(x: typing.Any, residual: typing.Any, weight: typing.Any, bias: typing.Any, eps: typing.SupportsFloat | typing.SupportsIndex, save_input: bool) -> tuple:
    """
    See seqcore.layer_norm_forward. x, residual: [M, D]; weight, bias: [D] or None.
    Returns (y [M, D], x + residual [M, D] or None, mean [M], rstd [M]).
    """
def linear_backward(x: typing.Any, weight: typing.Any, activation: str, z: typing.Any, dy: typing.Any, need_dx: bool, need_dbias: bool) -> tuple:
    """
    See seqcore.linear_backward. z: the pre-activation (or the output for relu) [M, O].
    Returns (dx [M, I] or None, dweight [O, I], dbias [O] or None).
    """
def linear_forward(x: typing.Any, weight: typing.Any, bias: typing.Any, activation: str, save_pre: bool) -> tuple:
    """
    See seqcore.linear_forward. x: [M, I], weight: [O, I], bias: [O] or None.
    Returns (y [M, O], x W^T + b [M, O] or None).
    """
def log_softmax(x: typing.Any) -> numpy.ndarray:
    """
    Row-wise log-softmax of x [M, V].
    """
def luong_attention_forward(query: typing.Any, keys: typing.Any, values: typing.Any, key_lengths: typing.Any, w: typing.Any) -> tuple:
    """
    Luong dot (w None) or general attention -> (context, weights, cache).
    """
def mha_backward(cache: MultiHeadAttentionCache, dout: typing.Any) -> tuple:
    """
    Multi-head attention backward -> (dquery, dkey, dvalue, d_in_proj_weight, d_in_proj_bias, d_out_proj_weight, d_out_proj_bias).
    """
def mha_forward(query: typing.Any, key: typing.Any, value: typing.Any, in_proj_weight: typing.Any, in_proj_bias: typing.Any, out_proj_weight: typing.Any, out_proj_bias: typing.Any, num_heads: typing.SupportsInt | typing.SupportsIndex, attn_mask: typing.Any, is_causal: bool, key_lengths: typing.Any) -> tuple:
    """
    Multi-head attention forward in nn.MultiheadAttention's layout -> (out, cache).
    """
def negative_sampling_loss(h: typing.Any, w_out: typing.Any, targets: typing.Any, negatives: typing.Any, shared_negatives: bool, reduction: str) -> tuple:
    """
    See seqcore.negative_sampling_loss. Returns (loss, dh, rows, drows).
    """
def precompute_keys(keys: typing.Any, w_k: typing.Any) -> numpy.ndarray:
    """
    proj_keys [N, T, A] = keys [N, T, Dk] @ w_k[A, Dk]^T.
    """
def rnn_backward(cache: RnnCache, family: str, dy: typing.Any, dh_n: typing.Any, dc_n: typing.Any, retain_cache: bool) -> tuple:
    """
    Recurrent layer BPTT; see seqcore.rnn. Returns (dx, dh0, dc0 or None, dw_ih, dw_hh, db_ih or None, db_hh or None).
    """
def rnn_forward(mode: str, x: typing.Any, w_ih: typing.Any, w_hh: typing.Any, b_ih: typing.Any, b_hh: typing.Any, h0: typing.Any, c0: typing.Any, lengths: typing.Any, training: bool, reverse: bool, linear_before_reset: bool) -> tuple:
    """
    Recurrent layer forward; see seqcore.rnn. Returns (y, h_n, c_n or None, cache or None).
    """
def sampled_softmax_loss(h: typing.Any, w_out: typing.Any, b_out: typing.Any, targets: typing.Any, sampled: typing.Any, log_q_true: typing.Any, log_q_sampled: typing.Any, remove_accidental_hits: bool, reduction: str) -> tuple:
    """
    See seqcore.sampled_softmax_loss. Returns (loss, dh, rows, drows, dbias or None).
    """
def sdpa_backward(cache: SdpaCache, dout: typing.Any) -> tuple:
    """
    Scaled dot-product attention backward -> (dq, dk, dv).
    """
def sdpa_forward(q: typing.Any, k: typing.Any, v: typing.Any, attn_mask: typing.Any, is_causal: bool, scale: typing.Any, causal_offset: typing.SupportsInt | typing.SupportsIndex, key_lengths: typing.Any, block_q: typing.SupportsInt | typing.SupportsIndex, block_k: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Scaled dot-product attention forward (see seqcore.attention.sdpa_forward).
    """
def seq2seq_beam_search(arg0: str, arg1: bool, arg2: bool, arg3: typing.SupportsInt | typing.SupportsIndex, arg4: typing.SupportsInt | typing.SupportsIndex, arg5: typing.SupportsInt | typing.SupportsIndex, arg6: typing.SupportsInt | typing.SupportsIndex, arg7: typing.SupportsInt | typing.SupportsIndex, arg8: dict, arg9: typing.Any, arg10: typing.Any, arg11: typing.SupportsInt | typing.SupportsIndex, arg12: typing.SupportsInt | typing.SupportsIndex, arg13: typing.SupportsInt | typing.SupportsIndex, arg14: typing.SupportsInt | typing.SupportsIndex, arg15: typing.SupportsInt | typing.SupportsIndex, arg16: typing.SupportsInt | typing.SupportsIndex, arg17: typing.SupportsFloat | typing.SupportsIndex, arg18: str, arg19: str, arg20: typing.SupportsFloat | typing.SupportsIndex, arg21: typing.SupportsFloat | typing.SupportsIndex, arg22: typing.SupportsInt | typing.SupportsIndex, arg23: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]], arg24: bool) -> list:
    """
    Native beam-search translation (see seqcore.Seq2Seq.translate).
    """
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set the number of OpenMP threads used by every seqcore kernel (n >= 1).
    
    Raises ValueError if n < 1. Results are bit-identical for every thread count.
    """
def softmax_cross_entropy(logits: typing.Any, targets: typing.Any, reduction: str, ignore_index: typing.Any, label_smoothing: typing.SupportsFloat | typing.SupportsIndex, grad: bool) -> tuple:
    """
    See seqcore.softmax_cross_entropy. Returns (loss [N] or [1], dlogits or None).
    """
def step_attention_backward(cache: StepAttentionCache, kind: str, dcontext: typing.Any, dweights: typing.Any) -> tuple:
    """
    Backward of additive ('additive') or dot/general ('luong') attention.
    """
def top_k_dot(vectors: typing.Any, queries: typing.Any, k: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Top-k rows of vectors [V, D] by dot product with each query [Q, D]: (indices [Q, K] int64, scores [Q, K]); score descending, ties by lower index, NaN as -inf.
    """
def word2vec_alpha(alpha: typing.SupportsFloat | typing.SupportsIndex, min_alpha: typing.SupportsFloat | typing.SupportsIndex, epoch: typing.SupportsInt | typing.SupportsIndex, epochs: typing.SupportsInt | typing.SupportsIndex, position: typing.SupportsInt | typing.SupportsIndex, n_tokens: typing.SupportsInt | typing.SupportsIndex) -> float:
    """
    Learning rate of the word at token `position` of epoch `epoch` (linear decay).
    """
def word2vec_chunks(offsets: typing.Any, batch_words: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.int64]:
    """
    Chunk boundaries [n_chunks + 1] (sentence indices) of about batch_words tokens.
    """
def word2vec_keep_probabilities(counts: typing.Any, sample: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float64]:
    """
    Subsampling keep probability per word [V] (float64), word2vec.c / gensim 4.
    """
def word2vec_score(tokens: typing.Any, offsets: typing.Any, syn0: numpy.ndarray, syn1: typing.Any, tree: _HuffmanTree, window: typing.SupportsInt | typing.SupportsIndex, sg: bool, cbow_mean: bool, workers: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float64]:
    """
    Log-probability [S] (float64) of each sentence under the hierarchical-softmax model syn0, syn1 [V, D] with tree (gensim's score).
    """
def word2vec_train(tokens: typing.Any, offsets: typing.Any, chunks: typing.Any, chunk_begin: typing.SupportsInt | typing.SupportsIndex, chunk_end: typing.SupportsInt | typing.SupportsIndex, keep: typing.Any, syn0: numpy.ndarray, syn1: typing.Any, syn1neg: typing.Any, vectors_lockf: typing.Any, sampler: _UnigramSampler, tree: _HuffmanTree, window: typing.SupportsInt | typing.SupportsIndex, sg: bool, hs: bool, negative: typing.SupportsInt | typing.SupportsIndex, cbow_mean: bool, alpha: typing.SupportsFloat | typing.SupportsIndex, min_alpha: typing.SupportsFloat | typing.SupportsIndex, shrink_windows: bool, compute_loss: bool, deterministic: bool, workers: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, epoch: typing.SupportsInt | typing.SupportsIndex, epochs: typing.SupportsInt | typing.SupportsIndex, shared_negatives: bool = False, decay_by_sentences: bool = False) -> tuple[float, int, int, float]:
    """
    Train chunks [chunk_begin, chunk_end) of one epoch in place on syn0 [V, D], syn1 [V, D] (hs) and syn1neg [V, D] (negative), input-vector updates scaled by vectors_lockf [V] (None: 1); returns (loss, raw_words, effective_words, last_alpha).
    """
