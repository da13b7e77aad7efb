"""seqcore: fast CPU kernels for sequence models, under a thin NumPy API.

Shape legend: T time steps, N batch, I input size, H hidden size, G gates (4 LSTM, 3 GRU,
1 RNN). Sequences are time-major [T, N, ...]. See README.md for a tour.
"""
from importlib.metadata import PackageNotFoundError, version as _version

from ._isa import build_info         # first: picks the extension module (ISA path) and
from . import _core                  # registers it as seqcore._core
from ._core import get_num_threads
from ._parallel import set_num_threads
from .rnn import (GRUGrads, LSTMGrads, PackedRNN, RNNGrads, gru_backward, gru_cell,
                  gru_forward, lstm_backward, lstm_cell, lstm_forward, rnn_backward, rnn_cell,
                  rnn_forward)
from .layers import GRU, LSTM, RNN
from . import bleu
from .decoding import Hypothesis, beam_search, greedy_search, perplexity, sample
from .embedding import (SparseGrad, embedding_backward, embedding_bag_backward,
                        embedding_bag_forward, embedding_forward)
from .keyedvectors import KeyedVectors
from .glove import GloVe
from .word2vec import Word2Vec
from . import corpus, debias
from .ctc import (ctc_beam_search, ctc_greedy_decode, ctc_loss, ctc_loss_from_logits,
                  ctc_workspace_bytes)
from .ngram import NGramLM
from . import optim
from .seq2seq import Seq2Seq, error_analysis
from .attention import (AdditiveAttentionGrads, LuongAttentionGrads, MultiHeadAttentionGrads,
                        SdpaGrads, additive_attention_backward, additive_attention_forward,
                        dot_attention, general_attention, luong_attention_backward,
                        multi_head_attention_backward, multi_head_attention_forward,
                        precompute_keys, scaled_dot_product_attention, sdpa_backward,
                        sdpa_forward, sinusoidal_positional_encoding)
from .transformer import (LayerNormGrads, LinearGrads, Transformer, TransformerDecoder,
                          TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
                          layer_norm_backward, layer_norm_forward, linear_backward,
                          linear_forward)
from .plot import plot_attention
from .conv import (BatchNormGrads, Conv1dGrads, PackedConv1d, batch_norm_backward,
                   batch_norm_forward, conv1d_backward, conv1d_forward, conv1d_output_length)
from .output_layers import (BCEResult, CrossEntropyResult, HuffmanTree, SampledSoftmaxResult,
                            SparseLossResult, UnigramSampler, hierarchical_softmax_log_probs,
                            hierarchical_softmax_loss, log_softmax, negative_sampling_loss,
                            sampled_softmax_loss, softmax_cross_entropy,
                            binary_cross_entropy_with_logits)

try:
    __version__ = _version("seqcore")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = [
    "build_info", "get_num_threads", "set_num_threads",
    "LSTMGrads", "GRUGrads", "RNNGrads",
    "lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "PackedRNN",
    "rnn_forward", "rnn_backward", "lstm_cell", "gru_cell", "rnn_cell",
    "LSTM", "GRU", "RNN",
    "bleu", "Hypothesis", "beam_search", "greedy_search", "sample", "perplexity",
    "SparseGrad", "embedding_forward", "embedding_backward", "embedding_bag_forward",
    "embedding_bag_backward",
    "KeyedVectors", "GloVe", "corpus", "debias",
    "ctc_loss", "ctc_loss_from_logits", "ctc_workspace_bytes", "ctc_greedy_decode",
    "ctc_beam_search", "NGramLM",
    "optim", "Seq2Seq", "error_analysis",
    "SdpaGrads", "AdditiveAttentionGrads", "LuongAttentionGrads", "MultiHeadAttentionGrads",
    "sdpa_forward", "sdpa_backward", "scaled_dot_product_attention", "precompute_keys",
    "additive_attention_forward", "additive_attention_backward", "dot_attention",
    "general_attention", "luong_attention_backward", "multi_head_attention_forward",
    "multi_head_attention_backward", "sinusoidal_positional_encoding", "plot_attention",
    "LayerNormGrads", "LinearGrads", "layer_norm_forward", "layer_norm_backward",
    "linear_forward", "linear_backward", "TransformerEncoderLayer", "TransformerEncoder",
    "TransformerDecoderLayer", "TransformerDecoder", "Transformer",
    "Conv1dGrads", "BatchNormGrads", "conv1d_output_length", "conv1d_forward",
    "conv1d_backward", "PackedConv1d", "batch_norm_forward", "batch_norm_backward",
    "Word2Vec",
    "softmax_cross_entropy", "log_softmax", "UnigramSampler", "HuffmanTree",
    "negative_sampling_loss", "sampled_softmax_loss", "hierarchical_softmax_loss",
    "hierarchical_softmax_log_probs", "CrossEntropyResult", "SparseLossResult",
    "SampledSoftmaxResult", "binary_cross_entropy_with_logits", "BCEResult",
]
