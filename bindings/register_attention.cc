// Bindings for attention.h: scaled dot-product attention, additive / dot / general
// attention, multi-head attention (nn.MultiheadAttention layout), and their caches.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <memory>
#include <string>

#include "numpy_glue.h"
#include "seqcore/attention.h"

namespace py = pybind11;

namespace seqcore {
namespace {

using namespace py_glue;

// ------------------------------------------------------------------------------ masks

// A mask broadcastable to [B, H, Lq, Lk], read in place through its strides.
struct MaskArg {
  py::array arr;        // keeps the data alive (bool or float, or uint8 "allowed" copy)
  bool is_bool = false;
  bool present = false;
};

// Fills d.mask from the array's strides; dimensions of size 1 (or missing on the left)
// get stride 0. ValueError if not broadcastable. invert: bool True means "masked".
template <typename T>
MaskArg parse_mask(py::handle obj, SdpaDesc& d, const char* name, bool invert_bool = false) {
  MaskArg m;
  if (obj.is_none()) return m;
  py::array a = as_array(obj, name);
  const char kind = a.dtype().kind();
  if (kind == 'b') {
    m.is_bool = true;
    if (invert_bool) {  // a fresh "allowed" array of the same (small) shape
      py::array_t<uint8_t> allowed(shape_of(a));
      auto src = carray<bool, py::array::forcecast>::ensure(a);
      const bool* s = src.data();
      uint8_t* o = allowed.mutable_data();
      for (py::ssize_t i = 0; i < src.size(); ++i) o[i] = s[i] ? 0 : 1;
      a = allowed;
    }
  } else if (kind == 'f') {
    if (!py::isinstance<py::array_t<T>>(a))
      throw py::type_error(std::string(name) + ": a float mask must have the dtype of q (" +
                           py::str(py::dtype::of<T>()).cast<std::string>() + "), got " +
                           dtype_name(a));
  } else {
    throw py::type_error(std::string(name) + ": expected a bool or float array, got " +
                         dtype_name(a));
  }
  const std::vector<int64_t> full = {d.B, d.H, d.Lq, d.Lk};
  if (a.ndim() > 4 || a.ndim() < 1)
    throw std::invalid_argument(std::string(name) + ": expected 1 to 4 dims broadcastable to " +
                                "[B, H, Lq, Lk] = " + shape_str(full) + ", got " +
                                shape_str(shape_of(a)));
  bool unusual = !(a.flags() & kAligned);
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    unusual = unusual || a.strides(i) < 0 || a.strides(i) % a.itemsize() != 0;
  if (unusual) a = py::array::ensure(a, py::array::c_style | kAligned);  // one compact copy
  int64_t st[4] = {0, 0, 0, 0};
  const int off = 4 - static_cast<int>(a.ndim());
  for (int i = 0; i < 4; ++i) {
    if (i < off) continue;
    const int64_t n = a.shape(i - off);
    if (n != 1 && n != full[i])
      throw std::invalid_argument(std::string(name) + ": shape " + shape_str(shape_of(a)) +
                                  " is not broadcastable to [B, H, Lq, Lk] = " +
                                  shape_str(full));
    st[i] = n == 1 ? 0 : a.strides(i - off) / a.itemsize();
  }
  d.mask.b = st[0];
  d.mask.h = st[1];
  d.mask.l = st[2];
  d.mask.d = st[3];
  m.arr = a;
  m.present = true;
  return m;
}

inline const uint8_t* bool_ptr(const MaskArg& m) {
  return m.present && m.is_bool ? static_cast<const uint8_t*>(m.arr.data()) : nullptr;
}
template <typename T>
const T* float_ptr(const MaskArg& m) {
  return m.present && !m.is_bool ? static_cast<const T*>(m.arr.data()) : nullptr;
}

py::array_t<int64_t> lengths_arg(py::handle obj, int64_t n, const char* legend) {
  return indices(obj, "key_lengths", {n}, legend);
}

// ------------------------------------------------------------------------------- sdpa

struct SdpaCacheBase {
  virtual ~SdpaCacheBase() = default;
  SdpaDesc desc;
  MaskArg mask;
  std::optional<py::array_t<int64_t>> key_lengths;
  py::array q, k, v, out, lse;
  size_t nbytes() const { return size_t(out.nbytes() + lse.nbytes()); }
};
template <typename T>
struct SdpaCacheT : SdpaCacheBase {};

template <typename T>
py::tuple sdpa_forward_typed(const py::array& q_any, py::handle k_o, py::handle v_o,
                             py::handle mask_o, bool is_causal, py::handle scale_o,
                             int64_t causal_offset, py::handle lengths_o, int64_t block_q,
                             int64_t block_k) {
  if (q_any.ndim() != 4)
    throw std::invalid_argument("q: expected shape [B, H, Lq, D], got " +
                                shape_str(shape_of(q_any)));
  SdpaDesc d;
  d.B = q_any.shape(0);
  d.H = q_any.shape(1);
  d.Lq = q_any.shape(2);
  d.D = q_any.shape(3);
  check(d.H >= 1 && d.D >= 1, "q: H and D must be >= 1, got shape " + shape_str(shape_of(q_any)));
  py::array k_a = as_array(k_o, "k"), v_a = as_array(v_o, "v");
  if (k_a.ndim() != 4 || k_a.shape(0) != d.B || k_a.shape(3) != d.D || k_a.shape(1) < 1)
    throw std::invalid_argument("k: expected shape [B, Hkv, Lk, D] with B=" +
                                std::to_string(d.B) + ", D=" + std::to_string(d.D) + ", got " +
                                shape_str(shape_of(k_a)));
  d.Hkv = k_a.shape(1);
  d.Lk = k_a.shape(2);
  if (d.H % d.Hkv != 0)
    throw std::invalid_argument("k: heads of q (H=" + std::to_string(d.H) +
                                ") must be a multiple of the heads of k (Hkv=" +
                                std::to_string(d.Hkv) + ")");
  if (v_a.ndim() != 4 || v_a.shape(0) != d.B || v_a.shape(1) != d.Hkv || v_a.shape(2) != d.Lk ||
      v_a.shape(3) < 1)
    throw std::invalid_argument("v: expected shape [B, Hkv, Lk, Dv] = " +
                                shape_str({d.B, d.Hkv, d.Lk, -1}) + " (Dv >= 1), got " +
                                shape_str(shape_of(v_a)));
  d.Dv = v_a.shape(3);
  auto q = carray<T>::ensure(q_any);
  auto k = floats<T>(k_a, "k", {d.B, d.Hkv, d.Lk, d.D}, "[B, Hkv, Lk, D]", "q");
  auto v = floats<T>(v_a, "v", {d.B, d.Hkv, d.Lk, d.Dv}, "[B, Hkv, Lk, Dv]", "q");
  d.q = contiguous_strides(d.H, d.Lq, d.D);
  d.k = contiguous_strides(d.Hkv, d.Lk, d.D);
  d.v = contiguous_strides(d.Hkv, d.Lk, d.Dv);
  d.o = contiguous_strides(d.H, d.Lq, d.Dv);
  d.scale = scale_o.is_none() ? 1.0 / std::sqrt(double(d.D)) : scale_o.cast<double>();
  check(std::isfinite(d.scale), "scale: must be finite");
  d.is_causal = is_causal;
  d.causal_offset = causal_offset;
  d.block_q = block_q;
  d.block_k = block_k;
  auto cache = std::make_shared<SdpaCacheT<T>>();
  cache->mask = parse_mask<T>(mask_o, d, "attn_mask");
  if (!lengths_o.is_none()) cache->key_lengths = lengths_arg(lengths_o, d.B, "[B]");
  py::array_t<T> out({d.B, d.H, d.Lq, d.Dv}), lse({d.B, d.H, d.Lq});
  const int64_t* kl = cache->key_lengths ? cache->key_lengths->data() : nullptr;
  {
    py::gil_scoped_release nogil;
    sdpa_forward<T>(d, q.data(), k.data(), v.data(), bool_ptr(cache->mask),
                    float_ptr<T>(cache->mask), kl, out.mutable_data(), lse.mutable_data());
  }
  cache->desc = d;
  cache->q = q;
  cache->k = k;
  cache->v = v;
  cache->out = out;
  cache->lse = lse;
  return py::make_tuple(out, py::cast(std::shared_ptr<SdpaCacheBase>(cache)));
}

py::tuple sdpa_forward_py(py::handle q_o, py::handle k, py::handle v, py::handle mask,
                          bool is_causal, py::handle scale, int64_t causal_offset,
                          py::handle lengths, int64_t block_q, int64_t block_k) {
  py::array q = as_array(q_o, "q");
  if (float_kind(q, "q") == 's')
    return sdpa_forward_typed<float>(q, k, v, mask, is_causal, scale, causal_offset, lengths,
                                     block_q, block_k);
  return sdpa_forward_typed<double>(q, k, v, mask, is_causal, scale, causal_offset, lengths,
                                    block_q, block_k);
}

template <typename T>
py::tuple sdpa_backward_typed(SdpaCacheBase& c, py::handle dout_o) {
  const SdpaDesc& d = c.desc;
  auto dout = floats<T>(dout_o, "dout", {d.B, d.H, d.Lq, d.Dv}, "[B, H, Lq, Dv]", "q");
  py::array_t<T> dq({d.B, d.H, d.Lq, d.D}), dk({d.B, d.Hkv, d.Lk, d.D}),
      dv({d.B, d.Hkv, d.Lk, d.Dv});
  auto q = carray<T>::ensure(c.q), k = carray<T>::ensure(c.k),
       v = carray<T>::ensure(c.v), out = carray<T>::ensure(c.out),
       lse = carray<T>::ensure(c.lse);
  const int64_t* kl = c.key_lengths ? c.key_lengths->data() : nullptr;
  {
    py::gil_scoped_release nogil;
    sdpa_backward<T>(d, q.data(), k.data(), v.data(), bool_ptr(c.mask), float_ptr<T>(c.mask),
                     kl, out.data(), lse.data(), dout.data(), dq.mutable_data(),
                     dk.mutable_data(), dv.mutable_data());
  }
  return py::make_tuple(dq, dk, dv);
}

py::tuple sdpa_backward_py(const std::shared_ptr<SdpaCacheBase>& cache, py::handle dout) {
  if (!cache) throw std::invalid_argument("cache: expected the cache of sdpa_forward, got None");
  if (dynamic_cast<SdpaCacheT<float>*>(cache.get())) return sdpa_backward_typed<float>(*cache, dout);
  return sdpa_backward_typed<double>(*cache, dout);
}

// ------------------------------------------------------------- single-query attention

struct StepCacheBase {
  virtual ~StepCacheBase() = default;
  std::string kind;  // "additive", "dot", "general"
  StepAttnDesc desc;
  std::optional<py::array_t<int64_t>> key_lengths;
  py::array query, keys, values, w_q, w_k, v_a, proj_keys, query_proj, weights, w;
};
template <typename T>
struct StepCacheT : StepCacheBase {};

// Common shapes: query [N, Dq], keys [N, T, Dk], values [N, T, Dv].
template <typename T>
StepAttnDesc step_shapes(const py::array& query_any, py::handle keys_o, py::handle values_o,
                         py::array_t<T>& query, py::array_t<T>& keys, py::array_t<T>& values) {
  StepAttnDesc d;
  if (query_any.ndim() != 2)
    throw std::invalid_argument("query: expected shape [N, Dq], got " +
                                shape_str(shape_of(query_any)));
  d.N = query_any.shape(0);
  d.Dq = query_any.shape(1);
  check(d.Dq >= 1, "query: Dq must be >= 1");
  py::array ka = as_array(keys_o, "keys"), va = as_array(values_o, "values");
  if (ka.ndim() != 3 || ka.shape(0) != d.N || ka.shape(2) < 1)
    throw std::invalid_argument("keys: expected shape [N, T, Dk] with N=" + std::to_string(d.N) +
                                ", got " + shape_str(shape_of(ka)));
  d.T = ka.shape(1);
  d.Dk = ka.shape(2);
  if (va.ndim() != 3 || va.shape(0) != d.N || va.shape(1) != d.T || va.shape(2) < 1)
    throw std::invalid_argument("values: expected shape [N, T, Dv] with N=" +
                                std::to_string(d.N) + ", T=" + std::to_string(d.T) + ", got " +
                                shape_str(shape_of(va)));
  d.Dv = va.shape(2);
  query = carray<T>::ensure(query_any);
  keys = floats<T>(ka, "keys", {d.N, d.T, d.Dk}, "[N, T, Dk]", "query");
  values = floats<T>(va, "values", {d.N, d.T, d.Dv}, "[N, T, Dv]", "query");
  return d;
}

template <typename T>
py::array_t<T> precompute_keys_typed(const py::array& keys_any, py::handle w_k_o) {
  if (keys_any.ndim() != 3 || keys_any.shape(2) < 1)
    throw std::invalid_argument("keys: expected shape [N, T, Dk], got " +
                                shape_str(shape_of(keys_any)));
  StepAttnDesc d;
  d.N = keys_any.shape(0);
  d.T = keys_any.shape(1);
  d.Dk = keys_any.shape(2);
  py::array wa = as_array(w_k_o, "w_k");
  if (wa.ndim() != 2 || wa.shape(1) != d.Dk || wa.shape(0) < 1)
    throw std::invalid_argument("w_k: expected shape [A, Dk] with Dk=" + std::to_string(d.Dk) +
                                ", got " + shape_str(shape_of(wa)));
  d.A = wa.shape(0);
  auto keys = carray<T>::ensure(keys_any);
  auto w_k = floats<T>(wa, "w_k", {d.A, d.Dk}, "[A, Dk]", "keys");
  py::array_t<T> pk({d.N, d.T, d.A});
  {
    py::gil_scoped_release nogil;
    additive_precompute_keys<T>(d, keys.data(), w_k.data(), pk.mutable_data());
  }
  return pk;
}

py::array precompute_keys_py(py::handle keys_o, py::handle w_k) {
  py::array keys = as_array(keys_o, "keys");
  if (float_kind(keys, "keys") == 's') return precompute_keys_typed<float>(keys, w_k);
  return precompute_keys_typed<double>(keys, w_k);
}

template <typename T>
py::tuple additive_forward_typed(const py::array& query_any, py::handle keys_o,
                                 py::handle values_o, py::handle w_q_o, py::handle w_k_o,
                                 py::handle v_a_o, py::handle lengths_o, py::handle pk_o) {
  py::array_t<T> query, keys, values;
  StepAttnDesc d = step_shapes<T>(query_any, keys_o, values_o, query, keys, values);
  py::array wq_a = as_array(w_q_o, "w_q");
  if (wq_a.ndim() != 2 || wq_a.shape(1) != d.Dq || wq_a.shape(0) < 1)
    throw std::invalid_argument("w_q: expected shape [A, Dq] with Dq=" + std::to_string(d.Dq) +
                                ", got " + shape_str(shape_of(wq_a)));
  d.A = wq_a.shape(0);
  auto w_q = floats<T>(wq_a, "w_q", {d.A, d.Dq}, "[A, Dq]", "query");
  auto w_k = floats<T>(w_k_o, "w_k", {d.A, d.Dk}, "[A, Dk]", "query");
  auto v_a = floats<T>(v_a_o, "v_a", {d.A}, "[A]", "query");
  auto c = std::make_shared<StepCacheT<T>>();
  if (!lengths_o.is_none()) c->key_lengths = lengths_arg(lengths_o, d.N, "[N]");
  const int64_t* kl = c->key_lengths ? c->key_lengths->data() : nullptr;
  py::array_t<T> pk;
  if (pk_o.is_none())
    pk = precompute_keys_typed<T>(keys, w_k);
  else
    pk = floats<T>(pk_o, "proj_keys", {d.N, d.T, d.A}, "[N, T, A]", "query");
  py::array_t<T> qp({d.N, d.A}), context({d.N, d.Dv}), weights({d.N, d.T});
  {
    py::gil_scoped_release nogil;
    additive_attention_forward<T>(d, query.data(), w_q.data(), pk.data(), values.data(),
                                  v_a.data(), kl, qp.mutable_data(), context.mutable_data(),
                                  weights.mutable_data());
  }
  c->kind = "additive";
  c->desc = d;
  c->query = query;
  c->keys = keys;
  c->values = values;
  c->w_q = w_q;
  c->w_k = w_k;
  c->v_a = v_a;
  c->proj_keys = pk;
  c->query_proj = qp;
  c->weights = weights;
  return py::make_tuple(context, weights, py::cast(std::shared_ptr<StepCacheBase>(c)));
}

py::tuple additive_forward_py(py::handle query_o, py::handle keys, py::handle values,
                              py::handle w_q, py::handle w_k, py::handle v_a,
                              py::handle lengths, py::handle proj_keys) {
  py::array query = as_array(query_o, "query");
  if (float_kind(query, "query") == 's')
    return additive_forward_typed<float>(query, keys, values, w_q, w_k, v_a, lengths, proj_keys);
  return additive_forward_typed<double>(query, keys, values, w_q, w_k, v_a, lengths, proj_keys);
}

// Luong dot (w None) or general (w [Dk, Dq]: score = keys . (w query)).
template <typename T>
py::tuple luong_forward_typed(const py::array& query_any, py::handle keys_o, py::handle values_o,
                              py::handle lengths_o, py::handle w_o) {
  py::array_t<T> query, keys, values;
  StepAttnDesc d = step_shapes<T>(query_any, keys_o, values_o, query, keys, values);
  auto c = std::make_shared<StepCacheT<T>>();
  py::array_t<T> qk = query;  // the query in key space
  if (!w_o.is_none()) {
    auto w = floats<T>(w_o, "w", {d.Dk, d.Dq}, "[Dk, Dq]", "query");
    qk = py::array_t<T>({d.N, d.Dk});
    {
      py::gil_scoped_release nogil;
      linear_forward<T>(d.N, d.Dq, d.Dk, query.data(), w.data(), nullptr, qk.mutable_data());
    }
    c->w = w;
  } else if (d.Dq != d.Dk) {
    throw std::invalid_argument("keys: dot attention needs Dk == Dq=" + std::to_string(d.Dq) +
                                ", got keys of shape " + shape_str(shape_of(keys)));
  }
  if (!lengths_o.is_none()) c->key_lengths = lengths_arg(lengths_o, d.N, "[N]");
  const int64_t* kl = c->key_lengths ? c->key_lengths->data() : nullptr;
  py::array_t<T> context({d.N, d.Dv}), weights({d.N, d.T});
  {
    py::gil_scoped_release nogil;
    dot_attention_forward<T>(d, qk.data(), keys.data(), values.data(), kl,
                             context.mutable_data(), weights.mutable_data());
  }
  c->kind = w_o.is_none() ? "dot" : "general";
  c->desc = d;
  c->query = query;
  c->query_proj = qk;
  c->keys = keys;
  c->values = values;
  c->weights = weights;
  return py::make_tuple(context, weights, py::cast(std::shared_ptr<StepCacheBase>(c)));
}

py::tuple luong_forward_py(py::handle query_o, py::handle keys, py::handle values,
                           py::handle lengths, py::handle w) {
  py::array query = as_array(query_o, "query");
  if (float_kind(query, "query") == 's')
    return luong_forward_typed<float>(query, keys, values, lengths, w);
  return luong_forward_typed<double>(query, keys, values, lengths, w);
}

template <typename T>
py::tuple step_backward_typed(StepCacheBase& c, py::handle dctx_o, py::handle dw_o) {
  const StepAttnDesc& d = c.desc;
  auto dctx = floats<T>(dctx_o, "dcontext", {d.N, d.Dv}, "[N, Dv]", "query");
  std::optional<py::array_t<T>> dweights;
  if (!dw_o.is_none()) dweights = floats<T>(dw_o, "dweights", {d.N, d.T}, "[N, T]", "query");
  const T* dwp = dweights ? dweights->data() : nullptr;
  const int64_t* kl = c.key_lengths ? c.key_lengths->data() : nullptr;
  auto A = [](const py::array& a) { return carray<T>::ensure(a); };
  auto query = A(c.query), keys = A(c.keys), values = A(c.values), weights = A(c.weights),
       qp = A(c.query_proj);
  py::array_t<T> dkeys({d.N, d.T, d.Dk}), dvalues({d.N, d.T, d.Dv});
  if (c.kind == "additive") {
    auto w_q = A(c.w_q), w_k = A(c.w_k), v_a = A(c.v_a), pk = A(c.proj_keys);
    py::array_t<T> dquery({d.N, d.Dq}), dw_q({d.A, d.Dq}), dw_k({d.A, d.Dk}), dv_a({d.A});
    {
      py::gil_scoped_release nogil;
      additive_attention_backward<T>(d, query.data(), keys.data(), values.data(), w_q.data(),
                                     w_k.data(), v_a.data(), kl, qp.data(), pk.data(),
                                     weights.data(), dctx.data(), dwp, dquery.mutable_data(),
                                     dkeys.mutable_data(), dvalues.mutable_data(),
                                     dw_q.mutable_data(), dw_k.mutable_data(),
                                     dv_a.mutable_data());
    }
    return py::make_tuple(dquery, dkeys, dvalues, dw_q, dw_k, dv_a);
  }
  py::array_t<T> dqk({d.N, d.Dk});
  {
    py::gil_scoped_release nogil;
    dot_attention_backward<T>(d, qp.data(), keys.data(), values.data(), kl, weights.data(),
                              dctx.data(), dwp, dqk.mutable_data(), dkeys.mutable_data(),
                              dvalues.mutable_data());
  }
  if (c.kind == "dot") return py::make_tuple(dqk, dkeys, dvalues, py::none());
  auto w = A(c.w);
  py::array_t<T> dquery({d.N, d.Dq}), dw({d.Dk, d.Dq});
  {
    py::gil_scoped_release nogil;
    linear_backward<T>(d.N, d.Dq, d.Dk, query.data(), w.data(), dqk.data(),
                       dquery.mutable_data(), dw.mutable_data(), nullptr, false);
  }
  return py::make_tuple(dquery, dkeys, dvalues, dw);
}

py::tuple step_backward_py(const std::shared_ptr<StepCacheBase>& c, const std::string& kind,
                           py::handle dctx, py::handle dweights) {
  if (!c) throw std::invalid_argument("cache: expected the cache of an attention forward, got None");
  const bool luong = kind == "luong" && (c->kind == "dot" || c->kind == "general");
  if (!luong && c->kind != kind)
    throw std::invalid_argument("cache: it comes from a '" + c->kind + "' attention forward");
  if (dynamic_cast<StepCacheT<float>*>(c.get())) return step_backward_typed<float>(*c, dctx, dweights);
  return step_backward_typed<double>(*c, dctx, dweights);
}

// ------------------------------------------------------------------ multi-head attention

struct MhaCacheBase {
  virtual ~MhaCacheBase() = default;
  SdpaDesc desc;
  int64_t L = 0, S = 0, N = 0, E = 0;
  bool has_in_bias = false, has_out_bias = false;
  MaskArg mask;
  std::optional<py::array_t<int64_t>> key_lengths;
  py::array xq, xk, xv, in_w, out_w, Q, K, V, ctx, lse;
};
template <typename T>
struct MhaCacheT : MhaCacheBase {};

template <typename T>
py::tuple mha_forward_typed(const py::array& xq_any, py::handle xk_o, py::handle xv_o,
                            py::handle in_w_o, py::handle in_b_o, py::handle out_w_o,
                            py::handle out_b_o, int64_t heads, py::handle mask_o,
                            bool is_causal, py::handle lengths_o) {
  if (xq_any.ndim() != 3)
    throw std::invalid_argument("query: expected shape [L, N, E], got " +
                                shape_str(shape_of(xq_any)));
  const int64_t L = xq_any.shape(0), N = xq_any.shape(1), E = xq_any.shape(2);
  check(E >= 1, "query: E must be >= 1");
  check(heads >= 1 && E % heads == 0, "num_heads: must divide E=" + std::to_string(E) +
                                          ", got " + std::to_string(heads));
  py::array xk_a = as_array(xk_o, "key");
  if (xk_a.ndim() != 3 || xk_a.shape(1) != N || xk_a.shape(2) != E)
    throw std::invalid_argument("key: expected shape [S, N, E] with N=" + std::to_string(N) +
                                ", E=" + std::to_string(E) + ", got " + shape_str(shape_of(xk_a)));
  const int64_t S = xk_a.shape(0);
  auto xq = carray<T>::ensure(xq_any);
  auto xk = floats<T>(xk_a, "key", {S, N, E}, "[S, N, E]", "query");
  auto xv = floats<T>(xv_o, "value", {S, N, E}, "[S, N, E]", "query");
  auto in_w = floats<T>(in_w_o, "in_proj_weight", {3 * E, E}, "[3E, E]", "query");
  auto out_w = floats<T>(out_w_o, "out_proj_weight", {E, E}, "[E, E]", "query");
  std::optional<py::array_t<T>> in_b, out_b;
  if (!in_b_o.is_none()) in_b = floats<T>(in_b_o, "in_proj_bias", {3 * E}, "[3E]", "query");
  if (!out_b_o.is_none()) out_b = floats<T>(out_b_o, "out_proj_bias", {E}, "[E]", "query");

  auto c = std::make_shared<MhaCacheT<T>>();
  SdpaDesc& d = c->desc;
  const int64_t Dh = E / heads;
  d.B = N;
  d.H = d.Hkv = heads;
  d.Lq = L;
  d.Lk = S;
  d.D = d.Dv = Dh;
  d.scale = 1.0 / std::sqrt(double(Dh));
  d.is_causal = is_causal;
  d.block_q = is_causal ? 64 : 128;  // as sdpa_forward's default
  // Projections stay in [L, N, E] layout; head h of batch n is a strided view of it.
  d.q = Strides4{E, Dh, N * E, 1};
  d.k = d.v = Strides4{E, Dh, N * E, 1};
  d.o = d.q;
  // torch: attn_mask [L, S] or [N*heads, L, S]; bool True = not allowed.
  if (!mask_o.is_none()) {
    py::array m = as_array(mask_o, "attn_mask");
    if (m.ndim() == 3) {
      if (m.shape(0) != N * heads)
        throw std::invalid_argument("attn_mask: expected shape [L, S] or [N*num_heads, L, S] = " +
                                    shape_str({N * heads, L, S}) + ", got " +
                                    shape_str(shape_of(m)));
      m = m.reshape({N, heads, m.shape(1), m.shape(2)});
    } else if (m.ndim() != 2) {
      throw std::invalid_argument("attn_mask: expected shape [L, S] or [N*num_heads, L, S], got " +
                                  shape_str(shape_of(m)));
    }
    c->mask = parse_mask<T>(m, d, "attn_mask", /*invert_bool=*/true);
  }
  if (!lengths_o.is_none()) c->key_lengths = lengths_arg(lengths_o, N, "[N]");
  const int64_t* kl = c->key_lengths ? c->key_lengths->data() : nullptr;
  py::array_t<T> Q({L, N, E}), K({S, N, E}), V({S, N, E}), ctx({L, N, E}), lse({N, heads, L}),
      y({L, N, E});
  const T* ib = in_b ? in_b->data() : nullptr;
  {
    py::gil_scoped_release nogil;
    const T* w = in_w.data();
    linear_forward<T>(L * N, E, E, xq.data(), w, ib, Q.mutable_data());
    linear_forward<T>(S * N, E, E, xk.data(), w + E * E, ib ? ib + E : nullptr, K.mutable_data());
    linear_forward<T>(S * N, E, E, xv.data(), w + 2 * E * E, ib ? ib + 2 * E : nullptr,
                      V.mutable_data());
    sdpa_forward<T>(d, Q.data(), K.data(), V.data(), bool_ptr(c->mask), float_ptr<T>(c->mask),
                    kl, ctx.mutable_data(), lse.mutable_data());
    linear_forward<T>(L * N, E, E, ctx.data(), out_w.data(), out_b ? out_b->data() : nullptr,
                      y.mutable_data());
  }
  c->L = L;
  c->S = S;
  c->N = N;
  c->E = E;
  c->has_in_bias = bool(in_b);
  c->has_out_bias = bool(out_b);
  c->xq = xq;
  c->xk = xk;
  c->xv = xv;
  c->in_w = in_w;
  c->out_w = out_w;
  c->Q = Q;
  c->K = K;
  c->V = V;
  c->ctx = ctx;
  c->lse = lse;
  return py::make_tuple(y, py::cast(std::shared_ptr<MhaCacheBase>(c)));
}

py::tuple mha_forward_py(py::handle xq_o, py::handle xk, py::handle xv, py::handle in_w,
                         py::handle in_b, py::handle out_w, py::handle out_b, int64_t heads,
                         py::handle mask, bool is_causal, py::handle lengths) {
  py::array xq = as_array(xq_o, "query");
  if (float_kind(xq, "query") == 's')
    return mha_forward_typed<float>(xq, xk, xv, in_w, in_b, out_w, out_b, heads, mask,
                                    is_causal, lengths);
  return mha_forward_typed<double>(xq, xk, xv, in_w, in_b, out_w, out_b, heads, mask, is_causal,
                                   lengths);
}

template <typename T>
py::tuple mha_backward_typed(MhaCacheBase& c, py::handle dy_o) {
  const int64_t L = c.L, S = c.S, N = c.N, E = c.E;
  auto dy = floats<T>(dy_o, "dout", {L, N, E}, "[L, N, E]", "query");
  auto A = [](const py::array& a) { return carray<T>::ensure(a); };
  auto xq = A(c.xq), xk = A(c.xk), xv = A(c.xv), in_w = A(c.in_w), out_w = A(c.out_w),
       Q = A(c.Q), K = A(c.K), V = A(c.V), ctx = A(c.ctx), lse = A(c.lse);
  py::array_t<T> dxq({L, N, E}), dxk({S, N, E}), dxv({S, N, E}), d_in_w({3 * E, E}),
      d_out_w({E, E}), dctx({L, N, E}), dQ({L, N, E}), dK({S, N, E}), dV({S, N, E});
  std::optional<py::array_t<T>> d_in_b, d_out_b;
  if (c.has_in_bias) d_in_b = py::array_t<T>({3 * E});
  if (c.has_out_bias) d_out_b = py::array_t<T>({E});
  const int64_t* kl = c.key_lengths ? c.key_lengths->data() : nullptr;
  {
    py::gil_scoped_release nogil;
    T* dib = d_in_b ? d_in_b->mutable_data() : nullptr;
    linear_backward<T>(L * N, E, E, ctx.data(), out_w.data(), dy.data(), dctx.mutable_data(),
                       d_out_w.mutable_data(), d_out_b ? d_out_b->mutable_data() : nullptr,
                       false);
    sdpa_backward<T>(c.desc, Q.data(), K.data(), V.data(), bool_ptr(c.mask),
                     float_ptr<T>(c.mask), kl, ctx.data(), lse.data(), dctx.data(),
                     dQ.mutable_data(), dK.mutable_data(), dV.mutable_data());
    const T* w = in_w.data();
    T* dw = d_in_w.mutable_data();
    linear_backward<T>(L * N, E, E, xq.data(), w, dQ.data(), dxq.mutable_data(), dw, dib, false);
    linear_backward<T>(S * N, E, E, xk.data(), w + E * E, dK.data(), dxk.mutable_data(),
                       dw + E * E, dib ? dib + E : nullptr, false);
    linear_backward<T>(S * N, E, E, xv.data(), w + 2 * E * E, dV.data(), dxv.mutable_data(),
                       dw + 2 * E * E, dib ? dib + 2 * E : nullptr, false);
  }
  auto opt = [](const std::optional<py::array_t<T>>& a) {
    return a ? py::object(*a) : py::object(py::none());
  };
  return py::make_tuple(dxq, dxk, dxv, d_in_w, opt(d_in_b), d_out_w, opt(d_out_b));
}

py::tuple mha_backward_py(const std::shared_ptr<MhaCacheBase>& c, py::handle dy) {
  if (!c) throw std::invalid_argument("cache: expected the cache of multi_head_attention_forward");
  if (dynamic_cast<MhaCacheT<float>*>(c.get())) return mha_backward_typed<float>(*c, dy);
  return mha_backward_typed<double>(*c, dy);
}

}  // namespace

void register_attention(py::module_& m) {
  py::class_<SdpaCacheBase, std::shared_ptr<SdpaCacheBase>>(
      m, "SdpaCache",
      "What sdpa_backward needs: references to q, k, v and the mask, plus out and the "
      "logsumexp [B, H, Lq] (no [Lq, Lk] matrix).")
      .def_property_readonly("nbytes", &SdpaCacheBase::nbytes,
                             "Bytes saved by the forward (out and the logsumexp).")
      .def_property_readonly("lse", [](const SdpaCacheBase& c) { return c.lse; },
                             "Row logsumexp of the scaled, masked scores [B, H, Lq] (-inf: "
                             "fully masked row).")
      .def_property_readonly("out", [](const SdpaCacheBase& c) { return c.out; });
  m.def("sdpa_forward", &sdpa_forward_py, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("attn_mask"), py::arg("is_causal"), py::arg("scale"), py::arg("causal_offset"),
        py::arg("key_lengths"), py::arg("block_q"), py::arg("block_k"),
        "Scaled dot-product attention forward (see seqcore.attention.sdpa_forward).");
  m.def("sdpa_backward", &sdpa_backward_py, py::arg("cache"), py::arg("dout"),
        "Scaled dot-product attention backward -> (dq, dk, dv).");

  py::class_<StepCacheBase, std::shared_ptr<StepCacheBase>>(
      m, "StepAttentionCache", "Saved inputs and weights of an additive/dot/general attention step.")
      .def_property_readonly("kind", [](const StepCacheBase& c) { return c.kind; });
  m.def("precompute_keys", &precompute_keys_py, py::arg("keys"), py::arg("w_k"),
        "proj_keys [N, T, A] = keys [N, T, Dk] @ w_k[A, Dk]^T.");
  m.def("additive_attention_forward", &additive_forward_py, py::arg("query"), py::arg("keys"),
        py::arg("values"), py::arg("w_q"), py::arg("w_k"), py::arg("v_a"),
        py::arg("key_lengths"), py::arg("proj_keys"),
        "Bahdanau attention step -> (context, weights, cache).");
  m.def("luong_attention_forward", &luong_forward_py, py::arg("query"), py::arg("keys"),
        py::arg("values"), py::arg("key_lengths"), py::arg("w"),
        "Luong dot (w None) or general attention -> (context, weights, cache).");
  m.def("step_attention_backward", &step_backward_py, py::arg("cache"), py::arg("kind"),
        py::arg("dcontext"), py::arg("dweights"),
        "Backward of additive ('additive') or dot/general ('luong') attention.");

  py::class_<MhaCacheBase, std::shared_ptr<MhaCacheBase>>(
      m, "MultiHeadAttentionCache",
      "Projections, attention output and logsumexp of a multi-head attention forward.");
  m.def("mha_forward", &mha_forward_py, py::arg("query"), py::arg("key"), py::arg("value"),
        py::arg("in_proj_weight"), py::arg("in_proj_bias"), py::arg("out_proj_weight"),
        py::arg("out_proj_bias"), py::arg("num_heads"), py::arg("attn_mask"),
        py::arg("is_causal"), py::arg("key_lengths"),
        "Multi-head attention forward in nn.MultiheadAttention's layout -> (out, cache).");
  m.def("mha_backward", &mha_backward_py, py::arg("cache"), py::arg("dout"),
        "Multi-head attention backward -> (dquery, dkey, dvalue, d_in_proj_weight, "
        "d_in_proj_bias, d_out_proj_weight, d_out_proj_bias).");
}

}  // namespace seqcore
