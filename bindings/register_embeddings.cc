// Bindings for embeddings.h: nearest-neighbour top-k, the vocabulary layer and GloVe kernels
// (driven by seqcore.keyedvectors, seqcore.corpus and seqcore.glove).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "numpy_glue.h"
#include "seqcore/embeddings.h"

namespace py = pybind11;

namespace seqcore {
namespace {

using namespace py_glue;

template <typename T>
py::tuple top_k_typed(const py::array& vec, py::handle q_obj, int64_t k) {
  auto v = carray<T>::ensure(vec);
  const int64_t V = vec.shape(0), D = vec.shape(1);
  py::array qa = as_array(q_obj, "queries");
  if (qa.ndim() != 2 || qa.shape(1) != D)
    throw std::invalid_argument("queries: expected shape [Q, D] with D = " + std::to_string(D) +
                                ", got " + shape_str(shape_of(qa)));
  auto q = floats<T>(qa, "queries", shape_of(qa), "[Q, D]", "vectors");
  const int64_t Q = qa.shape(0);
  py::array_t<int64_t> idx({Q, k});
  py::array_t<T> sc({Q, k});
  const T* vp = v.data();
  const T* qp = q.data();
  int64_t* ip = idx.mutable_data();
  T* sp = sc.mutable_data();
  {
    py::gil_scoped_release release;
    top_k_dot(vp, V, D, qp, Q, k, ip, sp);
  }
  return py::make_tuple(idx, sc);
}

// Calls fn(sentence_index, token_view) for every str token of an iterable of token lists
// and end() after each sentence. TypeError for anything but lists of str.
template <typename WordFn, typename EndFn>
void for_each_token(py::handle sentences, WordFn fn, EndFn end) {
  for (py::handle sentence : py::iter(sentences)) {
    if (PyUnicode_Check(sentence.ptr()) || PyBytes_Check(sentence.ptr()))
      throw py::type_error("sentences: expected each sentence to be a list of str tokens, got " +
                           py::str(py::type::of(sentence).attr("__name__")).cast<std::string>());
    for (py::handle tok : py::iter(sentence)) {
      Py_ssize_t n = 0;
      if (!PyUnicode_Check(tok.ptr()))
        throw py::type_error("sentences: expected str tokens, got " +
                             py::str(py::type::of(tok).attr("__name__")).cast<std::string>());
      const char* s = PyUnicode_AsUTF8AndSize(tok.ptr(), &n);
      if (!s) throw py::error_already_set();
      fn(std::string_view(s, static_cast<size_t>(n)));
    }
    end();
  }
}

}  // namespace

namespace {

// ids (any integer dtype, any shape) flattened to int64 [n].
py::array_t<int64_t> flat_ids(py::handle obj) {
  py::array a = as_array(obj, "ids");
  const int64_t n = a.size();
  return indices(a.reshape({n}), "ids", {n}, "[n]");
}

py::array_t<int64_t> bag_offsets(py::handle obj) {
  py::array a = as_array(obj, "offsets");
  if (a.ndim() != 1 || a.shape(0) < 1)
    throw std::invalid_argument("offsets: expected shape [B + 1], got " +
                                shape_str(shape_of(a)));
  return indices(a, "offsets", {a.shape(0)}, "[B + 1]");
}

template <typename T>
py::array embedding_forward_typed(const py::array& weight_a, py::handle ids_o) {
  const int64_t V = weight_a.shape(0), D = weight_a.shape(1);
  auto weight = floats<T>(weight_a, "weight", {V, D}, "[V, D]", "weight");
  py::array ids_a = as_array(ids_o, "ids");
  auto ids = flat_ids(ids_a);
  std::vector<py::ssize_t> shape(ids_a.shape(), ids_a.shape() + ids_a.ndim());
  shape.push_back(D);
  py::array_t<T> out(shape);
  {
    py::gil_scoped_release release;
    embedding_forward<T>(weight.data(), V, D, ids.data(), ids.shape(0), out.mutable_data());
  }
  return out;
}

template <typename T>
py::tuple embedding_backward_typed(py::array dout_a, py::handle ids_o, int64_t V,
                                   int64_t padding_idx) {
  py::array ids_a = as_array(ids_o, "ids");
  auto ids = flat_ids(ids_a);
  const int64_t n = ids.shape(0);
  const int64_t D = dout_a.ndim() >= 1 ? dout_a.shape(dout_a.ndim() - 1) : 0;
  std::vector<int64_t> expected = shape_of(ids_a);
  expected.push_back(D);
  if (shape_of(dout_a) != expected || D < 1)
    throw std::invalid_argument("dout: expected shape ids.shape + [D] = " +
                                shape_str(expected) + " with D >= 1, got " +
                                shape_str(shape_of(dout_a)));
  auto dout = floats<T>(dout_a.reshape({n, D}), "dout", {n, D}, "[n, D]", "dout");
  SparseRows<T> g;
  {
    py::gil_scoped_release release;
    embedding_backward<T>(dout.data(), ids.data(), n, V, D, padding_idx, g);
  }
  return sparse_result(g, D);
}

template <typename T>
py::array bag_forward_typed(const py::array& weight_a, py::handle ids_o, py::handle offsets_o,
                            bool mean, int64_t padding_idx) {
  const int64_t V = weight_a.shape(0), D = weight_a.shape(1);
  auto weight = floats<T>(weight_a, "weight", {V, D}, "[V, D]", "weight");
  auto ids = flat_ids(ids_o);
  auto offsets = bag_offsets(offsets_o);
  const int64_t B = offsets.shape(0) - 1;
  py::array_t<T> out({B, D});
  {
    py::gil_scoped_release release;
    embedding_bag_forward<T>(weight.data(), V, D, ids.data(), ids.shape(0), offsets.data(), B,
                             mean, padding_idx, out.mutable_data());
  }
  return out;
}

template <typename T>
py::tuple bag_backward_typed(const py::array& dout_a, py::handle ids_o, py::handle offsets_o,
                             int64_t V, bool mean, int64_t padding_idx) {
  auto ids = flat_ids(ids_o);
  auto offsets = bag_offsets(offsets_o);
  const int64_t B = offsets.shape(0) - 1;
  const int64_t D = dout_a.ndim() == 2 ? dout_a.shape(1) : 0;
  if (dout_a.ndim() != 2 || dout_a.shape(0) != B || D < 1)
    throw std::invalid_argument("dout: expected shape [B, D] with B = " + std::to_string(B) +
                                ", got " + shape_str(shape_of(dout_a)));
  auto dout = floats<T>(dout_a, "dout", {B, D}, "[B, D]", "dout");
  SparseRows<T> g;
  {
    py::gil_scoped_release release;
    embedding_bag_backward<T>(dout.data(), ids.data(), ids.shape(0), offsets.data(), B, V, D,
                              mean, padding_idx, g);
  }
  return sparse_result(g, D);
}

py::array matrix(py::handle obj, const char* name) {
  py::array a = as_array(obj, name);
  if (a.ndim() != 2)
    throw std::invalid_argument(std::string(name) + ": expected shape [V, D], got " +
                                shape_str(shape_of(a)));
  return a;
}

}  // namespace

void register_embeddings(py::module_& m) {
  m.def(
      "embedding_forward",
      [](py::handle weight, py::handle ids) {
        py::array w = matrix(weight, "weight");
        return float_kind(w, "weight") == 's' ? embedding_forward_typed<float>(w, ids)
                                              : embedding_forward_typed<double>(w, ids);
      },
      py::arg("weight"), py::arg("ids"),
      "Rows of weight [V, D] at ids (any shape, int32/int64 in [0, V)): ids.shape + [D].");
  m.def(
      "embedding_backward",
      [](py::handle dout, py::handle ids, int64_t num_embeddings, int64_t padding_idx) {
        py::array d = as_array(dout, "dout");
        return float_kind(d, "dout") == 's'
                   ? embedding_backward_typed<float>(d, ids, num_embeddings, padding_idx)
                   : embedding_backward_typed<double>(d, ids, num_embeddings, padding_idx);
      },
      py::arg("dout"), py::arg("ids"), py::arg("num_embeddings"), py::arg("padding_idx"),
      "Gradient of the weight as (rows [R] int64 sorted unique, grads [R, D]); padding_idx "
      "-1 for none.");
  m.def(
      "embedding_bag_forward",
      [](py::handle weight, py::handle ids, py::handle offsets, bool mean,
         int64_t padding_idx) {
        py::array w = matrix(weight, "weight");
        return float_kind(w, "weight") == 's'
                   ? bag_forward_typed<float>(w, ids, offsets, mean, padding_idx)
                   : bag_forward_typed<double>(w, ids, offsets, mean, padding_idx);
      },
      py::arg("weight"), py::arg("ids"), py::arg("offsets"), py::arg("mean"),
      py::arg("padding_idx"),
      "Sum (mean) of the rows of each bag ids[offsets[b]:offsets[b+1]]: [B, D].");
  m.def(
      "embedding_bag_backward",
      [](py::handle dout, py::handle ids, py::handle offsets, int64_t num_embeddings,
         bool mean, int64_t padding_idx) {
        py::array d = as_array(dout, "dout");
        return float_kind(d, "dout") == 's'
                   ? bag_backward_typed<float>(d, ids, offsets, num_embeddings, mean,
                                               padding_idx)
                   : bag_backward_typed<double>(d, ids, offsets, num_embeddings, mean,
                                                padding_idx);
      },
      py::arg("dout"), py::arg("ids"), py::arg("offsets"), py::arg("num_embeddings"),
      py::arg("mean"), py::arg("padding_idx"),
      "Gradient of embedding_bag_forward's weight as (rows [R], grads [R, D]).");

  m.def(
      "top_k_dot",
      [](py::handle vectors, py::handle queries, int64_t k) {
        py::array a = as_array(vectors, "vectors");
        if (a.ndim() != 2)
          throw std::invalid_argument("vectors: expected shape [V, D], got " +
                                      shape_str(shape_of(a)));
        return float_kind(a, "vectors") == 's' ? top_k_typed<float>(a, queries, k)
                                               : top_k_typed<double>(a, queries, k);
      },
      py::arg("vectors"), py::arg("queries"), py::arg("k"),
      "Top-k rows of vectors [V, D] by dot product with each query [Q, D]: (indices [Q, K] "
      "int64, scores [Q, K]); score descending, ties by lower index, NaN as -inf.");

  py::class_<VocabCounter>(m, "VocabCounter",
                           "Word counts with gensim's max_vocab_size pruning and trim_rule.")
      .def(py::init([](int64_t max_vocab_size, py::object trim_rule) {
             VocabCounter::TrimRule rule;
             if (!trim_rule.is_none()) {
               // asked while the GIL may be released (add_file): take it for the call
               rule = [trim_rule](const std::string& w, int64_t count, int64_t min_count) {
                 py::gil_scoped_acquire gil;
                 py::object r = trim_rule(py::str(w), count, min_count);
                 return r.is_none() ? 0 : r.cast<int>();
               };
             }
             return std::make_unique<VocabCounter>(max_vocab_size, std::move(rule));
           }),
           py::arg("max_vocab_size") = 0, py::arg("trim_rule") = py::none())
      .def(
          "add_sentences",
          [](VocabCounter& c, py::handle sentences) {
            for_each_token(
                sentences, [&](std::string_view w) { c.add_word(w); },
                [&]() { c.end_sentence(); });
          },
          py::arg("sentences"))
      .def(
          "add_file",
          [](VocabCounter& c, const std::string& path) {
            py::gil_scoped_release release;
            c.add_file(path);
          },
          py::arg("path"))
      .def(
          "items",
          [](const VocabCounter& c, int64_t min_count) {
            auto words = c.items(min_count);
            py::list keys;
            py::array_t<int64_t> counts(static_cast<py::ssize_t>(words.size()));
            for (size_t i = 0; i < words.size(); ++i) {
              keys.append(py::str(words[i].first));  // UnicodeDecodeError for invalid UTF-8
              counts.mutable_data()[i] = words[i].second;
            }
            return py::make_tuple(keys, counts);
          },
          py::arg("min_count"),
          "(keys, counts int64) of the words with count >= min_count, in order of first "
          "occurrence.")
      .def(
          "counts", [](const VocabCounter& c) { return to_numpy(c.counts()); },
          "Counts of all words held (int64, no particular order).")
      .def_property_readonly("total_words", &VocabCounter::total_words)
      .def_property_readonly("sentences", &VocabCounter::sentences);

  py::class_<VocabIndex>(m, "VocabIndex", "word -> id map and corpus encoder.")
      .def(py::init<const std::vector<std::string>&>(), py::arg("words"))
      .def("__len__", &VocabIndex::size)
      .def(
          "encode_sentences",
          [](const VocabIndex& v, py::handle sentences) {
            std::vector<int32_t> tokens;
            std::vector<int64_t> offsets{0};
            for_each_token(
                sentences,
                [&](std::string_view w) {
                  const int32_t id = v.find(w);
                  if (id >= 0) tokens.push_back(id);
                },
                [&]() { offsets.push_back(static_cast<int64_t>(tokens.size())); });
            return py::make_tuple(to_numpy(tokens), to_numpy(offsets));
          },
          py::arg("sentences"))
      .def(
          "encode_file",
          [](const VocabIndex& v, const std::string& path) {
            std::vector<int32_t> tokens;
            std::vector<int64_t> offsets{0};
            {
              py::gil_scoped_release release;
              v.encode_file(path, &tokens, &offsets);
            }
            return py::make_tuple(to_numpy(tokens), to_numpy(offsets));
          },
          py::arg("path"));

  m.def(
      "glove_cooccur",
      [](py::handle tokens_obj, py::handle offsets_obj, int64_t V, int64_t window) {
        py::array ta = as_array(tokens_obj, "tokens");
        py::array oa = as_array(offsets_obj, "offsets");
        if (ta.ndim() != 1) throw std::invalid_argument("tokens: expected shape [n_tokens]");
        if (oa.ndim() != 1 || oa.shape(0) < 1)
          throw std::invalid_argument("offsets: expected shape [S + 1] with S >= 0");
        auto t = carray<int32_t, py::array::forcecast>::ensure(ta);
        auto o = indices(oa, "offsets", shape_of(oa), "[S + 1]");
        Cooccurrence x;
        {
          py::gil_scoped_release release;
          x = glove_cooccur(t.data(), ta.shape(0), o.data(), oa.shape(0) - 1, V, window);
        }
        return py::make_tuple(to_numpy(x.row), to_numpy(x.col), to_numpy(x.value));
      },
      py::arg("tokens"), py::arg("offsets"), py::arg("V"), py::arg("window"),
      "Symmetric 1/distance co-occurrence counts: (row [nnz] int32, col [nnz] int32, value "
      "[nnz] float64), sorted by (row, col).");

  m.def(
      "glove_epoch",
      [](carray<int32_t> row, carray<int32_t> col,
         carray<double> log_x,
         carray<double> weight, py::array params, py::array gradsq,
         double learning_rate, uint64_t seed, int64_t epoch, int workers) {
        const int64_t nnz = row.shape(0);
        if (row.ndim() != 1 || col.ndim() != 1 || log_x.ndim() != 1 || weight.ndim() != 1 ||
            col.shape(0) != nnz || log_x.shape(0) != nnz || weight.shape(0) != nnz)
          throw std::invalid_argument(
              "cooccurrence: row, col, log_x and weight must be 1-D of equal length [nnz]");
        if (params.ndim() != 2 || params.shape(0) % 2 != 0 || params.shape(1) < 2)
          throw std::invalid_argument("params: expected shape [2V, D + 1], got " +
                                      shape_str(shape_of(params)));
        check_shape(gradsq, "gradsq", shape_of(params), "[2V, D + 1]");
        const int64_t V = params.shape(0) / 2, D = params.shape(1) - 1;
        PythonStop stop;
        auto run = [&](auto tag) -> double {
          using T = decltype(tag);
          if (!is_inplace<T>(params) || !is_inplace<T>(gradsq))
            throw py::type_error("params, gradsq: expected writeable, aligned, C-contiguous "
                                 "arrays of one float dtype");
          T* p = static_cast<T*>(params.mutable_data());
          T* g = static_cast<T*>(gradsq.mutable_data());
          py::gil_scoped_release release;
          return glove_epoch<T>(row.data(), col.data(), log_x.data(), weight.data(), nnz, p, g,
                                V, D, learning_rate, seed, epoch, workers, &stop.token);
        };
        const double loss = float_kind(params, "params") == 's' ? run(float{}) : run(double{});
        stop.raise_if_stopped();
        return loss;
      },
      py::arg("row"), py::arg("col"), py::arg("log_x"), py::arg("weight"), py::arg("params"),
      py::arg("gradsq"), py::arg("learning_rate"), py::arg("seed"), py::arg("epoch"),
      py::arg("workers"),
      "One shuffled AdaGrad epoch of GloVe, in place on params/gradsq [2V, D + 1]; returns J. "
      "log_x = log X, weight = min(1, (X / x_max)^alpha) per entry [nnz].");
}

}  // namespace seqcore
