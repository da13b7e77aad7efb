// Word2Vec kernels: the per-pair kernel (word2vec.c's inner loop: skip-gram / CBOW x negative
// sampling / hierarchical softmax) and the shared-negative skip-gram kernel (HogBatch), both
// weight matrices updated in place, Hogwild over chunks.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <type_traits>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/vec.h"  // dot
#include "seqcore/common.h"
#include "seqcore/word2vec.h"

namespace seqcore::cpu {

namespace {

// word2vec.c's sigmoid table: 1000 entries over [-6, 6).
constexpr int kExpTableSize = 1000;
constexpr double kMaxExp = 6.0;
// Table index per unit of x: word2vec.c writes EXP_TABLE_SIZE / MAX_EXP / 2 with integer
// macros, so it is 83, not 83.3 (gensim's Cython compiles to the same C). The lookup then
// reads sigmoid(0.996 x - 0.024), not sigmoid(x); kept, as it shapes the trained vectors
// (hs updates are bit-for-bit gensim's with it, up to summation order).
constexpr int kExpIndexScale = kExpTableSize / 6 / 2;

// Kept words trained per buffer fill of a long sentence (train_sentence): the per-thread
// sentence scratch is 12 (kPieceWords + 2 window) bytes whatever the line length.
constexpr int64_t kPieceWords = 10000;

// Hierarchical softmax on several threads: the inner nodes nearest the root lie on most
// paths, and two threads writing them in turn bounce their cache lines between the cores
// (sg-hs on 2 threads ran 1.7x slower than with thread-private output rows). Each thread
// therefore trains its own copy of the heaviest inner nodes (the last merged: rows
// V-1-n .. V-2 of syn1, at most kHotBytes of them) and merges it into syn1 every
// kHotMerge centre words: syn1 += copy - snapshot, then copy = snapshot = syn1. The other
// threads' updates of those rows arrive at the merges (a delayed Hogwild); a thread's own
// are immediate. One thread (and deterministic mode) trains syn1 directly.
constexpr int64_t kHotBytes = 128 << 10;
constexpr int64_t kHotMerge = 1024;

// Skip-gram negative sampling: the rows of a pair's negatives are prefetched this many
// pairs ahead.
constexpr int64_t kPairsAhead = 2;

struct SigmoidTable {
  float sigmoid[kExpTableSize];
  float nll[kExpTableSize];  // -log sigmoid(x) at the same points (the loss)
  SigmoidTable() {
    for (int i = 0; i < kExpTableSize; ++i) {
      const double x = (static_cast<double>(i) / kExpTableSize * 2 - 1) * kMaxExp;
      const double e = std::exp(x);
      sigmoid[i] = static_cast<float>(e / (e + 1));
      nll[i] = static_cast<float>(std::log1p(std::exp(-x)));
    }
  }
  // Inside the table for every x, NaN included (a diverged model: the caller then reports
  // the non-finite loss): never an out-of-bounds read.
  static int index(double x) { return at(position(x)); }
  // x's fractional table position, and the entry at a position (clamped; NaN: 0).
  static double position(double x) { return (x + kMaxExp) * kExpIndexScale; }
  static int at(double i) {
    if (!(i >= 0)) return 0;
    return i < kExpTableSize - 1 ? static_cast<int>(i) : kExpTableSize - 1;
  }
  // A position with at(result) == at(position(-x)), from i = position(x): for a float x,
  // |x| >= 2^-20 makes both positions exact in double (x + 6 and its product with 83 fit in
  // 53 bits), so position(-x) = 12 * 83 - i; a smaller |x| rounds both sides of 498
  // symmetrically, to the same entries (497 or 498). One subtraction instead of a second
  // conversion.
  template <typename T>
  static double mirrored(double i, T x) {
    if constexpr (std::is_same_v<T, float>) return 2 * kMaxExp * kExpIndexScale - i;
    else return position(-static_cast<double>(x));
  }
  // -log sigmoid(x), the table inside +-6, its asymptotes outside (0 and -x).
  double loss(double x) const {
    if (x >= kMaxExp) return 0.0;
    if (x <= -kMaxExp) return -x;
    return nll[index(x)];
  }
};
const SigmoidTable& table() {
  static const SigmoidTable t;
  return t;
}

// Dot products: cpu::dot of vec.h (fixed summation order, independent of alignment).

// Loops over D in packets, then one half and one quarter packet, then scalars: D = 100 is
// 12 AVX2 packets and a half one, or 6 AVX-512 packets and a quarter one (a compiler's
// vectorised loop takes such a tail one scalar at a time; a row update's scalar steps each
// wait on the store of the one before). Every element gets the same fused multiply-adds in
// any part, so results do not depend on where the parts fall.
template <typename T, typename F>
EIGEN_ALWAYS_INLINE void over_packets(int64_t n, F&& f) {
  using namespace Eigen::internal;
  using Packet = typename packet_traits<T>::type;
  using Half = typename unpacket_traits<Packet>::half;
  using Quarter = typename unpacket_traits<Half>::half;
  constexpr int64_t P = unpacket_traits<Packet>::size, PH = unpacket_traits<Half>::size,
                    PQ = unpacket_traits<Quarter>::size;
  int64_t i = 0;
  for (; i + P <= n; i += P) f(i, Packet{});
  if constexpr (PH < P)
    if (i + PH <= n) f(i, Half{}), i += PH;
  if constexpr (PQ < PH)
    if (i + PQ <= n) f(i, Quarter{}), i += PQ;
  for (; i < n; ++i) f(i, T{});
}

// Loads, stores and fused multiply-add of one part: a packet, a half packet or a scalar.
template <typename V, typename T>
EIGEN_ALWAYS_INLINE V load_v(const T* p) {
  if constexpr (std::is_same_v<V, T>) return *p;
  else return Eigen::internal::ploadu<V>(p);
}
template <typename V, typename T>
EIGEN_ALWAYS_INLINE void store_v(T* p, const V& v) {
  if constexpr (std::is_same_v<V, T>) *p = v;
  else Eigen::internal::pstoreu(p, v);
}
template <typename V, typename T>
EIGEN_ALWAYS_INLINE V madd_v(T a, const V& x, const V& y) {  // a x + y, one rounding
  if constexpr (std::is_same_v<V, T>) return madd(a, x, y);
  else return Eigen::internal::pmadd(Eigen::internal::pset1<V>(a), x, y);
}

// word2vec.c's per-node update for K rows in one pass over e and h, rows in order: per
// element e += g_0 r_0 (the row before its update), r_0 += g_0 h, e += g_1 r_1, ...: the
// operations of K node-by-node updates (the rows are distinct and none is e or h), with e
// and h loaded and e stored once instead of K times.
template <int K, typename T>
inline void update_rows_k(const T* g, T* const* rows, const T* h, T* e, int64_t n) {
  T* r[K];
  for (int j = 0; j < K; ++j) r[j] = rows[j];
  over_packets<T>(n, [&](int64_t i, auto tag) {
    using V = decltype(tag);
    V acc = load_v<V>(e + i);
    const V x = load_v<V>(h + i);
    for (int j = 0; j < K; ++j) {
      const V v = load_v<V>(r[j] + i);
      acc = madd_v(g[j], v, acc);
      store_v(r[j] + i, madd_v(g[j], x, v));
    }
    store_v(e + i, acc);
  });
}

// The update for rows[0, n) with gradients g[0, n), in order, four rows a pass.
template <typename T>
inline void update_rows(const T* g, T* const* rows, int64_t n, const T* h, T* e, int64_t D) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) update_rows_k<4>(g + j, rows + j, h, e, D);
  switch (n - j) {
    case 3: update_rows_k<3>(g + j, rows + j, h, e, D); break;
    case 2: update_rows_k<2>(g + j, rows + j, h, e, D); break;
    case 1: update_rows_k<1>(g + j, rows + j, h, e, D); break;
    default: break;
  }
}

// y += a x (element-wise, order-free).
template <typename T>
inline void axpy(T a, const T* x, T* y, int64_t n) {
  over_packets<T>(n, [&](int64_t i, auto tag) {
    using V = decltype(tag);
    store_v(y + i, madd_v(a, load_v<V>(x + i), load_v<V>(y + i)));
  });
}

// axpy(a[j], x(j), y, n) for j = 0, 1, ..., m-1 (no x(j) is y), the same fused
// multiply-adds in the same order, with y held in registers: loaded and stored once
// instead of each step waiting on the store of the one before.
template <typename T, typename Row>
inline void axpys(int64_t m, const T* a, Row&& x, T* y, int64_t n) {
  over_packets<T>(n, [&](int64_t i, auto tag) {
    using V = decltype(tag);
    V acc = load_v<V>(y + i);
    for (int64_t j = 0; j < m; ++j) acc = madd_v(a[j], load_v<V>(x(j) + i), acc);
    store_v(y + i, acc);
  });
}

// Prefetch of a row (every 64-byte line) for writing.
template <typename T>
inline void prefetch_row(const T* row, int64_t n) {
  const char* p = reinterpret_cast<const char*>(row);
  for (int64_t b = 0; b < n * static_cast<int64_t>(sizeof(T)); b += 64) __builtin_prefetch(p + b, 1);
}

// Sequential random stream of one chunk (splitmix64 of a counter).
struct Rng {
  uint64_t state;
  uint64_t next() { return splitmix64(state += 0x9E3779B97F4A7C15ull); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in [0, n) by multiply-shift (Lemire 2019, without the rejection step).
  int64_t below(int64_t n) {
    return static_cast<int64_t>(((next() >> 32) * static_cast<uint64_t>(n)) >> 32);
  }
};

template <typename T>
struct Worker {
  const Word2VecConfig& cfg;
  const UnigramSampler* sampler;
  const HuffmanTree* tree;
  T *syn0, *syn1, *syn1neg;
  const T* lockf;  // [V] factor of each word's input-vector updates (gensim's vectors_lockf)
  const SigmoidTable& tab;
  Buffer<T> neu1, neu1e;
  // the output rows of one prediction (a Huffman path; the target and its negatives), their
  // dot products and gradients, and the negative-sampling rows' words
  std::vector<T*> path_rows;
  std::vector<T> path_f, path_g;
  std::vector<int64_t> out_ids;
  std::vector<const T*> in_ctx;  // CBOW: the context rows of one centre word
  // shared negatives: O before the update, G^T, and one column of L^T or G^T (scratch)
  Buffer<T> out_blk, logit_grad, grad_col;
  std::vector<T*> out_ptrs;  // shared negatives: the rows of out_blk
  std::vector<const T*> in_rows;   // shared negatives: the context rows of I
  std::vector<int64_t> out_rows, negs;
  std::vector<int64_t> window_negs;  // skip-gram: the negatives of one centre word's pairs
  std::vector<int32_t> sen;     // buffered words of the subsampled sentence
  std::vector<int64_t> pos;     // their token positions (for the learning rate)
  std::vector<int32_t> ctx;     // context words of one centre word
  double loss = 0.0;
  // the thread's copy of the heaviest inner nodes (kHotBytes): points >= hot_first
  int64_t hot_first, hot_rows = 0, since_merge = 0;
  Buffer<T> hot, hot_snapshot;

  Worker(const Word2VecConfig& c, const UnigramSampler* s, const HuffmanTree* t, T* s0, T* s1,
         T* s1n, const T* lock, int64_t V, bool private_hot)
      : cfg(c), sampler(s), tree(t), syn0(s0), syn1(s1), syn1neg(s1n), lockf(lock),
        tab(table()),
        neu1(static_cast<size_t>(c.D)), neu1e(static_cast<size_t>(c.D)),
        negs(static_cast<size_t>(c.negative)), hot_first(V - 1) {
    const size_t rows = static_cast<size_t>(std::max<int64_t>(c.hs ? t->max_depth() : 0,
                                                              c.negative + 1));
    path_rows.resize(rows);
    path_f.resize(rows);
    path_g.resize(rows);
    out_ids.resize(static_cast<size_t>(c.negative + 1));
    if (private_hot && c.hs) {
      hot_rows = std::min<int64_t>(V - 1, kHotBytes / (c.D * static_cast<int64_t>(sizeof(T))));
      hot_first = V - 1 - hot_rows;
      const size_t n = static_cast<size_t>(hot_rows * c.D);
      hot.resize(n);
      hot_snapshot.resize(n);
      std::copy(syn1 + hot_first * c.D, syn1 + (V - 1) * c.D, hot.data());
      std::copy(hot.data(), hot.data() + n, hot_snapshot.data());
    }
    if (c.shared_negatives) {
      const size_t B = static_cast<size_t>(2 * c.window), K1 = static_cast<size_t>(c.negative + 1);
      logit_grad.resize(B * K1);
      grad_col.resize(K1);
      out_blk.resize(K1 * static_cast<size_t>(c.D));
      out_ptrs.resize(K1);
      in_rows.resize(B);
      out_rows.resize(K1);
    }
  }

  T lock(int32_t w) const { return lockf ? lockf[w] : T(1); }

  // Prefetch of word w's Huffman path rows (random rows of syn1, out of L1 and often L2),
  // issued a centre word ahead of their use.
  void prefetch_path(int32_t w) const {
    const int64_t* points = tree->points().data();
    for (int64_t j = tree->offsets()[w], end = tree->offsets()[w + 1]; j < end; ++j)
      if (points[j] < hot_first) prefetch_row(syn1 + points[j] * cfg.D, cfg.D);
  }

  // syn1 += hot - hot_snapshot over the private rows, then hot = hot_snapshot = syn1; one
  // thread at a time (two merges at once would lose one's changes; ~10 us each).
  void merge_hot() {
    since_merge = 0;
    T* g = syn1 + hot_first * cfg.D;
    T* l = hot.data();
    T* s = hot_snapshot.data();
    const int64_t n = hot_rows * cfg.D;
#pragma omp critical(seqcore_word2vec_hot_rows)
    {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const T v = g[i] + (l[i] - s[i]);
        g[i] = v;
        l[i] = v;
        s[i] = v;
      }
    }
  }

  // Skip-gram negative sampling for all B contexts of centre word w with one shared set of
  // K negatives (HogBatch, Ji et al. 2016) as three small GEMMs with the input rows
  // I [B, D] (syn0 rows of the contexts) and output rows O = [w, negatives] [K+1, D]:
  // logits L = I O^T [B, K+1], G = (label - sigma(L)) alpha, then O += G^T I and
  // I += G O, both from the values before the update (O is copied first; I is read before
  // its update), as rank-1 updates of each destination row held in registers (axpys:
  // vectorised over D, a fixed order: deterministic). No [B, D] temporaries; each output
  // row is read once per centre word instead of once per pair. Hogwild: a concurrent update
  // of a row while its updates run is lost, as in word2vec.c's races.
  void train_shared(const int32_t* ctx, int64_t B, int32_t w, T alpha, Rng& rng) {
    const int64_t D = cfg.D, K1 = cfg.negative + 1;
    out_rows[0] = w;
    for (int64_t k = 1; k < K1; ++k) {
      out_rows[k] = sampler->sample_bits(rng.next());
      prefetch_row(syn1neg + out_rows[k] * D, D);
    }
    const T** I = in_rows.data();
    for (int64_t b = 0; b < B; ++b) I[b] = syn0 + int64_t{ctx[b]} * D;
    T* O = out_blk.data();
    for (int64_t k = 0; k < K1; ++k) {
      std::copy(syn1neg + out_rows[k] * D, syn1neg + (out_rows[k] + 1) * D, O + k * D);
      out_ptrs[k] = O + k * D;
    }
    T* Gt = logit_grad.data();  // L, then G, transposed: [K+1, B]
    T* fs = grad_col.data();
    for (int64_t b = 0; b < B; ++b) {  // each dot as dot() gives it, three rows a pass over I[b]
      row_dots(I[b], out_ptrs.data(), K1, fs);
      for (int64_t k = 0; k < K1; ++k) Gt[k * B + b] = fs[k];
    }
    for (int64_t k = 0; k < K1; ++k) {
      const bool skip = k > 0 && out_rows[k] == w;  // a negative equal to the target
      const T label = k == 0 ? T(1) : T(0);
      for (int64_t b = 0; b < B; ++b) {
        T g = 0;
        if (!skip) {
          const T f = Gt[k * B + b];
          if (f > kMaxExp) g = (label - 1) * alpha;  // word2vec.c saturates the gradient
          else if (f < -kMaxExp) g = label * alpha;
          else g = (label - tab.sigmoid[SigmoidTable::index(f)]) * alpha;
          if (cfg.compute_loss) loss += tab.loss(k == 0 ? f : -f);
        }
        Gt[k * B + b] = g;
      }
    }
    for (int64_t k = 0; k < K1; ++k) {  // O += G^T I
      if (k > 0 && out_rows[k] == w) continue;
      axpys(B, Gt + k * B, [&](int64_t b) { return I[b]; }, syn1neg + out_rows[k] * D, D);
    }
    T* gb = grad_col.data();
    for (int64_t b = 0; b < B; ++b) {  // I += G O
      const T l = lock(ctx[b]);
      for (int64_t k = 0; k < K1; ++k) gb[k] = l * Gt[k * B + b];
      axpys(K1, gb, [&](int64_t k) { return O + k * D; }, syn0 + int64_t{ctx[b]} * D, D);
    }
  }

  // The negatives of `pairs` predictions, K each, in stream order, the rows of the first
  // `ahead` pairs prefetched.
  void draw_negatives(int64_t pairs, int64_t ahead, Rng& rng, int64_t* out) const {
    for (int64_t d = 0; d < pairs * cfg.negative; ++d) {
      out[d] = sampler->sample_bits(rng.next());
      if (d < ahead * cfg.negative) prefetch_row(syn1neg + out[d] * cfg.D, cfg.D);
    }
  }

  // fs[j] = h . rows[j] for j < n, three rows a pass over h.
  void row_dots(const T* h, T* const* rows, int64_t n, T* fs) const {
    const int64_t D = cfg.D;
    int64_t j = 0;
    for (; j + 3 <= n; j += 3) dots<3>(h, rows + j, D, fs + j);
    if (n - j == 2) dots<2>(h, rows + j, D, fs + j);
    if (n - j == 1) fs[j] = dot(h, rows[j], D);
  }

  // One prediction of word w from the hidden vector h: accumulates the error into neu1e
  // and updates the output rows (word2vec.c: hs first, then negative sampling). The K
  // negatives are drawn here, or taken from `drawn` (drawn from the same stream before).
  void train_target(const T* h, int32_t w, T alpha, Rng& rng, bool negatives = true,
                    const int64_t* drawn = nullptr) {
    const int64_t D = cfg.D;
    T* e = neu1e.data();
    double lsum = 0.0;  // the loss in a register: `loss` is a member the row stores may alias
    if (cfg.hs) {
      // Each node's dot product reads h and its row before that row's own update only (a
      // path never repeats a node, and h is not updated along it), so all the dots come
      // first, three rows a pass over h (independent: their loads overlap), and the updates
      // after, node order kept: the same arithmetic as node by node.
      const int64_t* points = tree->points().data();
      const uint8_t* codes = tree->codes().data();
      const int64_t begin = tree->offsets()[w], len = tree->offsets()[w + 1] - begin;
      T** rows = path_rows.data();
      T* fs = path_f.data();
      for (int64_t j = 0; j < len; ++j) {
        const int64_t p = points[begin + j];
        rows[j] = p >= hot_first ? hot.data() + (p - hot_first) * D : syn1 + p * D;
      }
      row_dots(h, rows, len, fs);
      T* gs = path_g.data();
      int64_t n = 0;  // the unsaturated nodes, compacted in order
      for (int64_t j = 0; j < len; ++j) {
        const T f = fs[j];
        // word2vec.c skips saturated nodes; a NaN (a diverged model, which train() reports
        // from the vectors) is skipped too, so that the positions below lie in (0, 996)
        if (!(f > -kMaxExp && f < kMaxExp)) continue;
        const uint8_t code = codes[begin + j];
        const double i = SigmoidTable::position(f);
        gs[n] = (T(1) - T(code) - tab.sigmoid[static_cast<int>(i)]) * alpha;
        rows[n++] = rows[j];
        if (cfg.compute_loss)  // tab.loss(code ? -f : f)
          lsum += tab.nll[static_cast<int>(code ? SigmoidTable::mirrored(i, f) : i)];
      }
      update_rows(gs, rows, n, h, e, D);
    }
    if (!negatives || cfg.negative == 0) {
      loss += lsum;
      return;
    }
    // draw the K negatives first (same stream order as drawing them in the loop) and
    // prefetch their rows: on a large vocabulary they are random rows out of cache
    const int64_t* neg = drawn;
    if (!neg) {
      draw_negatives(1, 1, rng, negs.data());
      neg = negs.data();
    }
    // The target, then the negatives that differ from it (word2vec.c skips those equal to
    // it). When no row repeats, every dot product reads its row before that row's own
    // update only, so the dots come first and the updates after, as on a Huffman path.
    T** rows = path_rows.data();
    int64_t* ids = out_ids.data();
    int64_t m = 0;
    bool repeat = false;
    ids[m] = w, rows[m++] = syn1neg + w * D;
    for (int64_t d = 0; d < cfg.negative; ++d) {
      if (neg[d] == w) continue;
      for (int64_t k = 1; k < m; ++k) repeat |= ids[k] == neg[d];
      ids[m] = neg[d], rows[m++] = syn1neg + neg[d] * D;
    }
    T* fs = path_f.data();
    T* gs = path_g.data();
    if (!repeat) row_dots(h, rows, m, fs);
    for (int64_t k = 0; k < m; ++k) {
      const T label = k == 0 ? T(1) : T(0);
      const T f = repeat ? dot(h, rows[k], D) : fs[k];
      T g;
      if (f > kMaxExp) g = (label - 1) * alpha;  // word2vec.c saturates the gradient
      else if (f < -kMaxExp) g = label * alpha;
      else g = (label - tab.sigmoid[SigmoidTable::index(f)]) * alpha;
      if (cfg.compute_loss) lsum += tab.loss(label > 0 ? f : -f);
      if (repeat) update_rows_k<1>(&g, rows + k, h, e, D);  // a later dot sees this update
      gs[k] = g;
    }
    if (!repeat) update_rows(gs, rows, m, h, e, D);
    loss += lsum;
  }

  // Sentence [begin, end) of the token array, subsampled as it is read into a buffer of at
  // most kPieceWords + 2 window kept words (a fixed scratch, whatever the line length): the
  // centres whose whole right context is buffered are trained, then all but the last
  // window words before the next centre are dropped. A sentence that fits is read whole
  // before its first centre, as word2vec.c does.
  void train_sentence(const int32_t* tokens, int64_t begin, int64_t end, const double* keep,
                      double alpha0, double alpha_end, double alpha_step, Rng& rng,
                      int64_t* effective) {
    // a window wider than the sentence buffers the sentence (no overflow for any window)
    const int64_t W = std::min(cfg.window, end - begin), cap = kPieceWords + 2 * W;
    sen.clear();
    pos.clear();
    int64_t next = 0;  // buffer index of the next centre word
    for (int64_t p = begin;;) {
      for (; p < end && static_cast<int64_t>(sen.size()) < cap; ++p) {
        const int32_t w = tokens[p];
        if (keep[w] < 1.0 && !(rng.uniform() < keep[w])) continue;
        sen.push_back(w);
        pos.push_back(p);
        ++*effective;
      }
      const bool last = p >= end;
      const int64_t n = static_cast<int64_t>(sen.size());
      const int64_t limit = last ? n : n - W;  // centres with their whole window buffered
      for (int64_t i = next; i < limit; ++i) {
        const T alpha = static_cast<T>(
            std::max(alpha_end, alpha0 - alpha_step * static_cast<double>(pos[i])));
        train_centre(sen.data(), n, i, alpha, rng);
      }
      if (last) return;
      const int64_t drop = limit - W;  // == kPieceWords: keeps the left context of `limit`
      sen.erase(sen.begin(), sen.begin() + drop);
      pos.erase(pos.begin(), pos.begin() + drop);
      next = limit - drop;
    }
  }

  // Centre word sen[i] of the buffered words sen[0, n) (sen[0] is the sentence's first word
  // or at least `window` words before i; sen[n - 1] its last or `window` after i).
  void train_centre(const int32_t* sen, int64_t n, int64_t i, T alpha, Rng& rng) {
    const int64_t D = cfg.D;
    T* e = neu1e.data();
    const int64_t span = cfg.shrink_windows ? cfg.window - rng.below(cfg.window) : cfg.window;
    const int64_t j0 = std::max<int64_t>(0, i - span), j1 = std::min<int64_t>(n, i + span + 1);
    const int32_t w = sen[i];
    if (cfg.hs && i + 1 < n) prefetch_path(sen[i + 1]);
    // the rows the next centre word adds: its own output row and the input row of the word
    // entering the widest window (the others are this window's, in cache after its updates)
    if (cfg.negative > 0 && i + 1 < n) prefetch_row(syn1neg + int64_t{sen[i + 1]} * D, D);
    if (i + cfg.window + 1 < n) prefetch_row(syn0 + int64_t{sen[i + cfg.window + 1]} * D, D);
    if (hot_rows > 0 && ++since_merge >= kHotMerge) merge_hot();
    if (cfg.sg) {
      // each context word's input vector predicts the centre word (word2vec.c, gensim)
      const bool shared = cfg.shared_negatives && cfg.negative > 0;
      if (cfg.hs || !shared) {
        // Negative sampling: the centre word's pairs draw only their negatives from the
        // stream, so all of them are drawn (and their rows prefetched) first, in the same
        // order: a pair's rows arrive while the pairs before it train.
        const bool ns = !shared && cfg.negative > 0;
        const int64_t pairs = j1 - j0 - 1, K = cfg.negative;
        if (ns) {
          if (window_negs.size() < static_cast<size_t>(pairs * K))
            window_negs.resize(static_cast<size_t>(pairs * K));
          draw_negatives(pairs, kPairsAhead, rng, window_negs.data());
        }
        for (int64_t j = j0, pair = 0; j < j1; ++j) {
          if (j == i) continue;
          T* l1 = syn0 + static_cast<int64_t>(sen[j]) * D;
          std::fill(e, e + D, T(0));
          const int64_t* drawn = ns ? window_negs.data() + pair * K : nullptr;
          if (ns && pair + kPairsAhead < pairs)
            for (int64_t d = 0; d < K; ++d)
              prefetch_row(syn1neg + drawn[kPairsAhead * K + d] * D, D);
          train_target(l1, w, alpha, rng, !shared, drawn);
          ++pair;
          axpy(lock(sen[j]), e, l1, D);
        }
      }
      if (shared) {
        ctx.clear();
        for (int64_t j = j0; j < j1; ++j)
          if (j != i) ctx.push_back(sen[j]);
        if (!ctx.empty()) train_shared(ctx.data(), static_cast<int64_t>(ctx.size()), w, alpha, rng);
      }
      return;
    }
    // h = the context rows summed in order (then their mean), in one pass over D
    in_ctx.clear();
    for (int64_t j = j0; j < j1; ++j)
      if (j != i) in_ctx.push_back(syn0 + static_cast<int64_t>(sen[j]) * D);
    const int64_t cw = static_cast<int64_t>(in_ctx.size());
    if (cw == 0) return;  // a one-word sentence has no context (word2vec.c)
    const T* const* in = in_ctx.data();
    const T inv = T(1) / static_cast<T>(cw);
    T* h = neu1.data();
    const bool mean = cfg.cbow_mean;
    over_packets<T>(D, [&](int64_t d, auto tag) {
      using V = decltype(tag);
      V acc = Eigen::internal::pset1<V>(T(0));  // 0 + r_0: a -0 in r_0 sums to +0
      for (int64_t k = 0; k < cw; ++k) acc = acc + load_v<V>(in[k] + d);
      if (mean) acc = acc * Eigen::internal::pset1<V>(inv);
      store_v(h + d, acc);
    });
    std::fill(e, e + D, T(0));
    train_target(h, w, alpha, rng);
    // gensim divides the error of the summed input by the context count
    const T scale = cfg.cbow_mean ? T(1) : inv;
    for (int64_t j = j0; j < j1; ++j) {
      if (j == i) continue;
      axpy(scale * lock(sen[j]), e, syn0 + static_cast<int64_t>(sen[j]) * D, D);
    }
  }
};

}  // namespace

template <typename T>
void word2vec_train(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets,
                    int64_t n_sentences, const int64_t* chunks, int64_t chunk_begin,
                    int64_t chunk_end, const double* keep, int64_t V, T* syn0, T* syn1,
                    T* syn1neg, const T* lockf, const UnigramSampler* sampler,
                    const HuffmanTree* tree, const Word2VecConfig& cfg, int64_t epoch,
                    int64_t epochs, Word2VecStats* stats) {
  const int64_t nc = chunk_end - chunk_begin;
  // per word: alpha(p) = alpha - (alpha - min_alpha) * (epoch * n + p) / (epochs * n),
  // floored (word2vec_alpha, incrementally); per chunk: word2vec_alpha of its first sentence
  const double total = static_cast<double>(epochs) * static_cast<double>(n_tokens);
  const double word_step =
      total > 0 && !cfg.decay_by_sentences ? (cfg.alpha - cfg.min_alpha) / total : 0.0;
  const double epoch_alpha =
      cfg.alpha - word_step * static_cast<double>(epoch) * static_cast<double>(n_tokens);
  std::vector<double> chunk_loss(static_cast<size_t>(nc), 0.0);
  std::vector<int64_t> chunk_effective(static_cast<size_t>(nc), 0);
  const int nt = cfg.deterministic ? 1 : static_cast<int>(std::min<int64_t>(cfg.workers, nc));
  (void)table();  // built before the region
  RegionErrors errors;  // the worker's scratch and sentence buffers
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    std::unique_ptr<Worker<T>> worker;
    errors.run([&] {
      worker = std::make_unique<Worker<T>>(cfg, sampler, tree, syn0, syn1, syn1neg, lockf, V,
                                                nt > 1);
    });
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = chunk_begin; c < chunk_end; ++c) errors.run([&] {
      Rng rng{counter_random(cfg.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(c))};
      worker->loss = 0.0;
      int64_t effective = 0;
      const double alpha0 = cfg.decay_by_sentences
                                ? word2vec_alpha(cfg.alpha, cfg.min_alpha, epoch, epochs,
                                                 chunks[c], n_sentences)
                                : epoch_alpha;
      for (int64_t s = chunks[c]; s < chunks[c + 1] && !stop_requested(cfg.stop); ++s)
        worker->train_sentence(tokens, offsets[s], offsets[s + 1], keep, alpha0, cfg.min_alpha,
                               word_step, rng, &effective);
      chunk_loss[c - chunk_begin] = worker->loss;
      chunk_effective[c - chunk_begin] = effective;
    });
    if (worker && worker->hot_rows > 0) worker->merge_hot();
  }
  errors.rethrow();
  for (int64_t c = 0; c < nc; ++c) {  // fixed order
    stats->loss += chunk_loss[c];
    stats->effective_words += chunk_effective[c];
  }
  stats->raw_words = offsets[chunks[chunk_end]] - offsets[chunks[chunk_begin]];
}

// log p(w | h) over w's Huffman path: sum of log sigma(+-h . node), gensim's score_pair_*_hs
// (nodes with |h . node| >= 6 skipped, log sigma from the table: -nll).
template <typename T>
double path_log_probability(const T* h, const T* syn1, const HuffmanTree& tree, int32_t w,
                            int64_t D) {
  const SigmoidTable& tab = table();
  double logp = 0.0;
  for (int64_t j = tree.offsets()[w], end = tree.offsets()[w + 1]; j < end; ++j) {
    T f = dot(h, syn1 + tree.points()[j] * D, D);
    if (tree.codes()[j]) f = -f;
    if (f <= -kMaxExp || f >= kMaxExp) continue;
    logp -= tab.nll[SigmoidTable::index(f)];
  }
  return logp;
}

template <typename T>
void word2vec_score(const int32_t* tokens, const int64_t* offsets, int64_t n_sentences,
                    const T* syn0, const T* syn1, int64_t D, const HuffmanTree& tree,
                    int64_t window, bool sg, bool cbow_mean, int workers, double* scores) {
  (void)table();  // built before the region
  RegionErrors errors;  // the hidden-vector scratch
#pragma omp parallel num_threads(workers) if (workers > 1)
  {
    Buffer<T> hidden;
    errors.run([&] { hidden.resize(static_cast<size_t>(D)); });
#pragma omp for schedule(dynamic, 16)
    for (int64_t s = 0; s < n_sentences; ++s) {
      if (errors.failed()) continue;
      double acc = 0.0;
      const int64_t b = offsets[s], e = offsets[s + 1];
      for (int64_t i = b; i < e; ++i) {
        const int32_t w = tokens[i];
        const int64_t j0 = std::max(b, i - window), j1 = std::min(e, i + window + 1);
        if (sg) {  // each context word's vector predicts the centre word
          for (int64_t j = j0; j < j1; ++j)
            if (j != i)
              acc += path_log_probability(syn0 + int64_t{tokens[j]} * D, syn1, tree, w, D);
          continue;
        }
        T* h = hidden.data();  // CBOW: the sum (mean) of the context vectors
        std::fill(h, h + D, T(0));
        int64_t count = 0;
        for (int64_t j = j0; j < j1; ++j) {
          if (j == i) continue;
          axpy(T(1), syn0 + int64_t{tokens[j]} * D, h, D);
          ++count;
        }
        if (cbow_mean && count > 0) {
          const T inv = T(1) / static_cast<T>(count);
          for (int64_t d = 0; d < D; ++d) h[d] *= inv;
        }
        acc += path_log_probability(static_cast<const T*>(h), syn1, tree, w, D);
      }
      scores[s] = acc;
    }
  }
  errors.rethrow();
}

template void word2vec_score<float>(const int32_t*, const int64_t*, int64_t, const float*,
                                    const float*, int64_t, const HuffmanTree&, int64_t, bool,
                                    bool, int, double*);
template void word2vec_score<double>(const int32_t*, const int64_t*, int64_t, const double*,
                                     const double*, int64_t, const HuffmanTree&, int64_t, bool,
                                     bool, int, double*);

template void word2vec_train<float>(const int32_t*, int64_t, const int64_t*, int64_t,
                                    const int64_t*, int64_t, int64_t, const double*, int64_t,
                                    float*, float*, float*, const float*, const UnigramSampler*,
                                    const HuffmanTree*, const Word2VecConfig&, int64_t, int64_t,
                                    Word2VecStats*);
template void word2vec_train<double>(const int32_t*, int64_t, const int64_t*, int64_t,
                                     const int64_t*, int64_t, int64_t, const double*, int64_t,
                                     double*, double*, double*, const double*,
                                     const UnigramSampler*, const HuffmanTree*,
                                     const Word2VecConfig&, int64_t, int64_t, Word2VecStats*);

}  // namespace seqcore::cpu
