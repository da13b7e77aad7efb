// Bindings for word2vec.h (driven by seqcore.word2vec.Word2Vec).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "numpy_glue.h"
#include "seqcore/embeddings.h"
#include "seqcore/word2vec.h"

namespace py = pybind11;

namespace seqcore {
namespace {

using namespace py_glue;

// The encoded corpus's token ids: a 1-D int32 array (TypeError otherwise), C-contiguous.
carray<int32_t> tokens_array(py::handle obj) {
  py::array a = as_array(obj, "tokens");
  if (a.ndim() != 1 || !py::isinstance<py::array_t<int32_t>>(a))
    throw py::type_error("tokens: expected a 1-D int32 array [n_tokens]");
  return carray<int32_t>::ensure(a);
}

py::array_t<int64_t> offsets_array(py::handle obj) {
  py::array a = as_array(obj, "offsets");
  if (a.ndim() != 1 || a.shape(0) < 1)
    throw std::invalid_argument("offsets: expected shape [S + 1] with S >= 0, got " +
                                shape_str(shape_of(a)));
  return indices(a, "offsets", shape_of(a), "[S + 1]");
}

// A writeable C-contiguous weight matrix of dtype T and shape [rows, D], or nullptr for None.
template <typename T>
T* weights(py::handle obj, const char* name, int64_t rows, int64_t D) {
  if (obj.is_none()) return nullptr;
  py::array a = as_array(obj, name);
  if (!is_inplace<T>(a))
    throw py::type_error(std::string(name) + ": expected a writeable, aligned, C-contiguous "
                         "array of the dtype of syn0");
  check_shape(a, name, {rows, D}, "[rows, D]");
  return static_cast<T*>(a.mutable_data());
}

// A 1-D array that takes over the vector's buffer: no copy, so an encoded corpus costs its
// own size once (4 bytes a token) rather than vector + copy.
template <typename T>
py::array_t<T> adopt(std::vector<T>&& v) {
  auto* owner = new std::vector<T>(std::move(v));
  py::capsule release(owner, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(static_cast<py::ssize_t>(owner->size()), owner->data(), release);
}

}  // namespace

void register_word2vec(py::module_& m) {
  m.def(
      "encode_corpus",
      [](const VocabIndex& index, py::handle sentences, py::object path, int64_t expect_tokens,
         int64_t expect_sentences) {
        // reserved up front from the vocabulary scan (the usual case: training on the corpus
        // the vocabulary came from), so the token array never grows by doubling (up to 3x
        // its size while it is copied); a larger reserve is untouched, hence not resident
        std::vector<int32_t> tokens;
        std::vector<int64_t> offsets{0};
        tokens.reserve(static_cast<size_t>(std::max<int64_t>(expect_tokens, 0)));
        offsets.reserve(static_cast<size_t>(std::max<int64_t>(expect_sentences, 0)) + 1);
        if (!path.is_none()) {
          const std::string file = path.cast<std::string>();
          py::gil_scoped_release release;
          index.encode_file(file, &tokens, &offsets);
        } else {
          for (py::handle sentence : py::iter(sentences)) {
            if (PyUnicode_Check(sentence.ptr()) || PyBytes_Check(sentence.ptr()))
              throw py::type_error("sentences: expected each sentence to be a list of str "
                                   "tokens, got " + std::string(Py_TYPE(sentence.ptr())->tp_name));
            for (py::handle tok : py::iter(sentence)) {
              Py_ssize_t n = 0;
              if (!PyUnicode_Check(tok.ptr()))
                throw py::type_error("sentences: expected str tokens, got " +
                                     std::string(Py_TYPE(tok.ptr())->tp_name));
              const char* w = PyUnicode_AsUTF8AndSize(tok.ptr(), &n);
              if (!w) throw py::error_already_set();
              const int32_t id = index.find(std::string_view(w, static_cast<size_t>(n)));
              if (id >= 0) tokens.push_back(id);
            }
            offsets.push_back(static_cast<int64_t>(tokens.size()));
          }
        }
        return py::make_tuple(adopt(std::move(tokens)), adopt(std::move(offsets)));
      },
      py::arg("index"), py::arg("sentences"), py::arg("path"), py::arg("expect_tokens"),
      py::arg("expect_sentences"),
      "Encode sentences (lists of str) or the file at path (one sentence a line) with a "
      "VocabIndex: (tokens [n] int32, offsets [S + 1] int64), out-of-vocabulary words "
      "dropped; expect_*: capacity reserved (from the vocabulary scan).");

  m.def(
      "word2vec_chunks",
      [](py::handle offsets, int64_t batch_words) {
        auto o = offsets_array(offsets);
        return to_numpy(word2vec_chunks(o.data(), o.shape(0) - 1, batch_words));
      },
      py::arg("offsets"), py::arg("batch_words"),
      "Chunk boundaries [n_chunks + 1] (sentence indices) of about batch_words tokens.");

  m.def(
      "word2vec_keep_probabilities",
      [](py::handle counts, double sample) {
        py::array a = as_array(counts, "counts");
        auto c = indices(a, "counts", {a.ndim() == 1 ? a.shape(0) : -1}, "[V]");
        return to_numpy(word2vec_keep_probabilities(c.data(), c.shape(0), sample));
      },
      py::arg("counts"), py::arg("sample"),
      "Subsampling keep probability per word [V] (float64), word2vec.c / gensim 4.");

  m.def("word2vec_alpha", &word2vec_alpha, py::arg("alpha"), py::arg("min_alpha"),
        py::arg("epoch"), py::arg("epochs"), py::arg("position"), py::arg("n_tokens"),
        "Learning rate of the word at token `position` of epoch `epoch` (linear decay).");

  m.def(
      "word2vec_score",
      [](py::handle tokens_o, py::handle offsets_o, py::array syn0_o, py::handle syn1_o,
         std::shared_ptr<HuffmanTree> tree, int64_t window, bool sg, bool cbow_mean,
         int workers) {
        auto tokens = tokens_array(tokens_o);
        auto offsets = offsets_array(offsets_o);
        if (!tree) throw std::invalid_argument("tree: required");
        if (syn0_o.ndim() != 2)
          throw std::invalid_argument("syn0: expected shape [V, D], got " +
                                      shape_str(shape_of(syn0_o)));
        const int64_t V = syn0_o.shape(0), D = syn0_o.shape(1);
        auto run = [&](auto tag) {
          using T = decltype(tag);
          auto s0 = carray<T>::ensure(syn0_o);
          py::array s1a = as_array(syn1_o, "syn1");
          if (!py::isinstance<py::array_t<T>>(s1a))
            throw py::type_error("syn1: expected the dtype of syn0");
          check_shape(s1a, "syn1", {V, D}, "[V, D]");
          auto s1 = carray<T>::ensure(s1a);
          py::gil_scoped_release release;
          return word2vec_score<T>(tokens.data(), tokens.shape(0), offsets.data(),
                                   offsets.shape(0) - 1, s0.data(), s1.data(), V, D, *tree,
                                   window, sg, cbow_mean, workers);
        };
        return to_numpy(float_kind(syn0_o, "syn0") == 's' ? run(float{}) : run(double{}));
      },
      py::arg("tokens"), py::arg("offsets"), py::arg("syn0"), py::arg("syn1"), py::arg("tree"),
      py::arg("window"), py::arg("sg"), py::arg("cbow_mean"), py::arg("workers"),
      "Log-probability [S] (float64) of each sentence under the hierarchical-softmax model "
      "syn0, syn1 [V, D] with tree (gensim's score).");

  m.def(
      "word2vec_train",
      [](py::handle tokens_o, py::handle offsets_o, py::handle chunks_o, int64_t chunk_begin,
         int64_t chunk_end, py::handle keep_o, py::array syn0_o, py::handle syn1_o,
         py::handle syn1neg_o, py::handle lockf_o, std::shared_ptr<UnigramSampler> sampler,
         std::shared_ptr<HuffmanTree> tree, int64_t window, bool sg, bool hs, int64_t negative,
         bool cbow_mean, double alpha, double min_alpha, bool shrink_windows, bool compute_loss,
         bool deterministic, int workers, uint64_t seed, int64_t epoch, int64_t epochs,
         bool shared_negatives, bool decay_by_sentences) {
        auto tokens = tokens_array(tokens_o);
        auto offsets = offsets_array(offsets_o);
        py::array ca = as_array(chunks_o, "chunks");
        auto chunks = indices(ca, "chunks", {ca.ndim() == 1 ? ca.shape(0) : -1}, "[n_chunks + 1]");
        if (chunks.shape(0) < 1) throw std::invalid_argument("chunks: expected [n_chunks + 1]");
        if (syn0_o.ndim() != 2)
          throw std::invalid_argument("syn0: expected shape [V, D], got " +
                                      shape_str(shape_of(syn0_o)));
        const int64_t V = syn0_o.shape(0), D = syn0_o.shape(1);
        py::array ka = as_array(keep_o, "keep");
        if (ka.ndim() != 1 || ka.shape(0) != V || !py::isinstance<py::array_t<double>>(ka))
          throw std::invalid_argument("keep: expected float64 [V] with V = " + std::to_string(V));
        auto keep = carray<double>::ensure(ka);
        Word2VecConfig cfg;
        cfg.D = D;
        cfg.window = window;
        cfg.sg = sg;
        cfg.hs = hs;
        cfg.negative = negative;
        cfg.cbow_mean = cbow_mean;
        cfg.alpha = alpha;
        cfg.min_alpha = min_alpha;
        cfg.shrink_windows = shrink_windows;
        cfg.compute_loss = compute_loss;
        cfg.deterministic = deterministic;
        cfg.workers = workers;
        cfg.seed = seed;
        cfg.shared_negatives = shared_negatives;
        cfg.decay_by_sentences = decay_by_sentences;
        PythonStop stop;
        cfg.stop = &stop.token;
        auto run = [&](auto tag) {
          using T = decltype(tag);
          T* s0 = weights<T>(syn0_o, "syn0", V, D);
          T* s1 = weights<T>(syn1_o, "syn1", V, D);
          T* s1n = weights<T>(syn1neg_o, "syn1neg", V, D);
          carray<T> lockf;  // kept alive for the call
          const T* lp = nullptr;
          if (!lockf_o.is_none()) {
            py::array la = as_array(lockf_o, "vectors_lockf");
            if (la.ndim() != 1 || la.shape(0) != V || !py::isinstance<py::array_t<T>>(la))
              throw std::invalid_argument("vectors_lockf: expected [V] with V = " +
                                          std::to_string(V) + " of the weights' dtype");
            lockf = carray<T>::ensure(la);
            lp = lockf.data();
          }
          py::gil_scoped_release release;
          return word2vec_train<T>(tokens.data(), tokens.shape(0), offsets.data(),
                                   offsets.shape(0) - 1, chunks.data(), chunks.shape(0) - 1,
                                   chunk_begin, chunk_end, keep.data(), V, s0, s1, s1n,
                                   lp,
                                   sampler.get(), tree.get(), cfg, epoch, epochs);
        };
        const Word2VecStats st =
            float_kind(syn0_o, "syn0") == 's' ? run(float{}) : run(double{});
        stop.raise_if_stopped();
        return py::make_tuple(st.loss, st.raw_words, st.effective_words, st.last_alpha);
      },
      py::arg("tokens"), py::arg("offsets"), py::arg("chunks"), py::arg("chunk_begin"),
      py::arg("chunk_end"), py::arg("keep"), py::arg("syn0"), py::arg("syn1"),
      py::arg("syn1neg"), py::arg("vectors_lockf"), py::arg("sampler"), py::arg("tree"), py::arg("window"),
      py::arg("sg"), py::arg("hs"), py::arg("negative"), py::arg("cbow_mean"), py::arg("alpha"),
      py::arg("min_alpha"), py::arg("shrink_windows"), py::arg("compute_loss"),
      py::arg("deterministic"), py::arg("workers"), py::arg("seed"), py::arg("epoch"),
      py::arg("epochs"), py::arg("shared_negatives") = false,
      py::arg("decay_by_sentences") = false,
      "Train chunks [chunk_begin, chunk_end) of one epoch in place on syn0 [V, D], syn1 "
      "[V, D] (hs) and syn1neg [V, D] (negative), input-vector updates scaled by "
      "vectors_lockf [V] (None: 1); returns (loss, raw_words, "
      "effective_words, last_alpha).");
}

}  // namespace seqcore
