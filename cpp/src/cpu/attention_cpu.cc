// CPU kernels for attention.h (Eigen + OpenMP). See attention.h for the plan.
#include "cpu/attention_cpu.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "cpu/activation.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"
#include "cpu/vec.h"

namespace seqcore::cpu {
namespace {


template <typename T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// exp(x) for x <= ~0 (scores minus a running max or a logsumexp), and exactly 0 where
// x == -inf: float by vec.h's exp_bounded (0 below -87.33; ~2.6x the rate of Eigen's pexp);
// double by Eigen's pexp, which returns a tiny positive number at -inf that must not leak
// into masked probabilities.
template <typename Packet>
inline Packet exp_or_zero(const Packet& x) {
  using namespace Eigen::internal;
  using T = typename unpacket_traits<Packet>::type;
  if constexpr (std::is_same_v<T, float>) {
    return exp_bounded(x);
  } else {
    const Packet ninf = pset1<Packet>(-std::numeric_limits<T>::infinity());
    return pselect(pcmp_eq(x, ninf), pzero(x), pexp(x));
  }
}

// Threads for a call of `flops` work: one when nested or when the work is too small to pay
// for waking a team. Results never depend on it (work items are computed independently).
int threads_for(double flops, double per_thread = 2e5) {
  if (omp_in_parallel()) return 1;
  const int want = get_num_threads();
  return std::max(1, std::min<int>(want, static_cast<int>(flops / per_thread) + 1));
}

// The single-query kernels (kStepWorkPerThread, attention_cpu.h) run once per decoder step,
// between other ops: a team is woken only for steps of a millisecond or more, since a late
// worker (a busy core) stalls the whole step at the closing barrier for a scheduler slice.

// ------------------------------------------------------------------ scaled dot-product
//
// Both kernels work on transposed score tiles St [keys, queries] = K_j (scale Q_i)^T:
// K and V are then read in place as the row operands of the tile products (never packed),
// only Q_i^T (and dO_i^T in the backward) is packed, once per tile, into SIMD panels; and
// the softmax statistics of a query are vertical (one lane per query), never horizontal.

// Where the masks of one (b, h) start, and how a tile of scores is masked.
template <typename T>
struct MaskView {
  const uint8_t* bm = nullptr;
  const T* fm = nullptr;
  int64_t sl = 0, sd = 0;  // row and column strides of the mask
};

template <typename T>
MaskView<T> mask_view(const SdpaDesc& d, const uint8_t* bm, const T* fm, int64_t b, int64_t h) {
  MaskView<T> m;
  const int64_t off = b * d.mask.b + h * d.mask.h;
  if (bm) m.bm = bm + off;
  if (fm) m.fm = fm + off;
  m.sl = d.mask.l;
  m.sd = d.mask.d;
  return m;
}

// True if some entry of the bool-mask tile [i0, i0+bq) x [j0, j0+bk) allows attention.
template <typename T>
bool tile_any_allowed(const MaskView<T>& mv, int64_t i0, int64_t bq, int64_t j0, int64_t bk) {
  if (!mv.bm) return true;
  for (int64_t r = 0; r < bq; ++r) {
    const uint8_t* row = mv.bm + (i0 + r) * mv.sl + j0 * mv.sd;
    for (int64_t c = 0; c < bk; ++c)
      if (row[c * mv.sd]) return true;
  }
  return false;
}

// Transposed scores St [bk, bq] (ld ldS) of keys j0.. and queries i0..: + float mask, -inf
// where the causal limit or the bool mask forbids (columns may end up all -inf).
template <typename T>
void mask_scores_t(T* St, int64_t ldS, int64_t bk, int64_t bq, int64_t i0, int64_t j0,
                   const SdpaDesc& d, const MaskView<T>& mv) {
  if (!d.is_causal && !mv.fm && !mv.bm) return;
  for (int64_t j = 0; j < bk; ++j) {
    T* row = St + j * ldS;
    // query i sees key j0 + j iff j0 + j <= i + causal_offset
    const int64_t c0 =
        d.is_causal ? std::clamp<int64_t>(j0 + j - d.causal_offset - i0, 0, bq) : 0;
    std::fill(row, row + c0, kNegInf<T>);
    if (mv.fm) {
      const T* f = mv.fm + i0 * mv.sl + (j0 + j) * mv.sd;
      for (int64_t c = c0; c < bq; ++c) row[c] += f[c * mv.sl];
    }
    if (mv.bm) {
      const uint8_t* m = mv.bm + i0 * mv.sl + (j0 + j) * mv.sd;
      for (int64_t c = c0; c < bq; ++c)
        if (!m[c * mv.sl]) row[c] = kNegInf<T>;
    }
  }
}

// Rows far apart (heads interleaved in [L, N, E] as multi-head attention stores them: a
// row stride of N*E elements) map a tile's rows to the same few L1 sets, and every row to
// another page; such tiles are copied to contiguous buffers before the tile products.
inline bool rows_far_apart(const SdpaDesc& d, size_t elem) {
  return std::max({d.q.l, d.k.l, d.v.l, d.o.l}) * static_cast<int64_t>(elem) >= 2048;
}

// Keys [0, kv_end) that some query of rows [i0, i1) may see (key length and causal limit).
inline int64_t kv_end_for(const SdpaDesc& d, const int64_t* key_lengths, int64_t b, int64_t i1) {
  int64_t end = key_lengths ? key_lengths[b] : d.Lk;
  if (d.is_causal) end = std::min(end, std::max<int64_t>(0, i1 - 1 + d.causal_offset + 1));
  return end;
}

// Work items in decreasing cost, so that a dynamic schedule balances causal work (the
// longest jobs start first); ties keep their natural order.
inline std::vector<int64_t> longest_first(const std::vector<double>& cost) {
  std::vector<int64_t> order(cost.size());
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return cost[a] > cost[b]; });
  return order;
}

}  // namespace

template <typename T>
void sdpa_forward_cpu(const SdpaDesc& d, const T* q, const T* k, const T* v,
                      const uint8_t* bool_mask, const T* float_mask,
                      const int64_t* key_lengths, T* out, T* lse) {
  using TL = Gemm<T>;
  using Packet = typename TL::Packet;
  using namespace Eigen::internal;
  constexpr int64_t P = TL::P, NR = TL::NR;
  const int64_t Bq = d.block_q, Bk = d.block_k, D = d.D, Dv = d.Dv;
  const int64_t Lk = d.Lk, nqb = (d.Lq + Bq - 1) / Bq;
  const int64_t group = d.H / d.Hkv;
  // Causal: an item is the pair of q blocks (p, nqb-1-p), so that every item has about the
  // same number of key tiles (balanced threads) while items stay in (b, h) order: the K and
  // V of one head stay in L2 from one item to the next (longest-first single blocks would
  // interleave heads and stream K, V from memory for every item).
  const bool pair = d.is_causal && nqb > 1;
  const int64_t per_bh = pair ? (nqb + 1) / 2 : nqb;
  const int64_t n_items = d.B * d.H * per_bh;
  if (n_items == 0) return;
  const T scale = static_cast<T>(d.scale);
  // V rows are the panels of P V when they hold whole packets; else a padded copy per tile.
  const int64_t Wv = TL::pad_p(Dv), ldS = TL::pad_nr(Bq);
  const int64_t Wd = TL::pad_p(D);
  const bool far = rows_far_apart(d, sizeof(T)), v_direct = Wv == Dv && !far;

  std::vector<double> cost(static_cast<size_t>(n_items));
  double total = 0;
  auto blocks_of = [&](int64_t it, int64_t qbs[2]) {  // q blocks of item it
    qbs[0] = it % per_bh;
    const int64_t other = nqb - 1 - qbs[0];
    return pair && other != qbs[0] ? (qbs[1] = other, 2) : 1;
  };
  for (int64_t it = 0; it < n_items; ++it) {
    const int64_t b = it / (d.H * per_bh);
    int64_t qbs[2];
    cost[it] = 0;
    for (int n = 0, nb = blocks_of(it, qbs); n < nb; ++n) {
      const int64_t i1 = std::min(d.Lq, (qbs[n] + 1) * Bq);
      cost[it] += double(i1 - qbs[n] * Bq) * double(kv_end_for(d, key_lengths, b, i1) + 1);
    }
    total += cost[it];
  }
  const std::vector<int64_t> order = longest_first(cost);
  const int nt = threads_for(total * double(D + Dv) * 2.0);

  RegionErrors errors;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    // Per-thread tiles, allocated once per call: Q_i^T panels, St, O, the running max m,
    // sum l and rescale factor alpha of each query, and the padded V tile if needed.
    Buffer<T> Qt, St, O, m, l, alpha, Vpad, Kpad;
    errors.run([&] {
      Qt.resize(static_cast<size_t>(D * ldS));
      St.resize(static_cast<size_t>(Bk * ldS));
      O.resize(static_cast<size_t>(Bq * Wv));
      m.resize(static_cast<size_t>(ldS));
      l.resize(static_cast<size_t>(ldS));
      alpha.resize(static_cast<size_t>(ldS));
      Vpad.resize(v_direct ? 0 : static_cast<size_t>(Bk * Wv));
      Kpad.resize(far ? static_cast<size_t>(Bk * Wd) : 0);
    });
#pragma omp for schedule(dynamic, 1)
    for (int64_t oi = 0; oi < n_items; ++oi) {
      if (errors.failed()) continue;
      const int64_t it = order[oi];
      const int64_t bh = it / per_bh;
      const int64_t b = bh / d.H, h = bh % d.H, hk = h / group;
      int64_t qbs[2];
      for (int n = 0, nb = blocks_of(it, qbs); n < nb; ++n) {
        const int64_t qb = qbs[n];
        const int64_t i0 = qb * Bq, i1 = std::min(d.Lq, i0 + Bq), bq = i1 - i0;
        const int64_t Wq = TL::pad_p(bq);
        const T* K = k + b * d.k.b + hk * d.k.h;
        const T* V = v + b * d.v.b + hk * d.v.h;
        const MaskView<T> mv = mask_view(d, bool_mask, float_mask, b, h);
        TL::pack_t(q + b * d.q.b + h * d.q.h + i0 * d.q.l, d.q.l, bq, D, scale, Qt.data());
        std::fill(O.begin(), O.begin() + bq * Wv, T(0));
        std::fill(m.begin(), m.begin() + Wq, kNegInf<T>);
        std::fill(l.begin(), l.begin() + Wq, T(0));
        const int64_t kv_end = kv_end_for(d, key_lengths, b, i1);
        for (int64_t j0 = 0; j0 < kv_end; j0 += Bk) {
          const int64_t bk = std::min(Bk, kv_end - j0);
          if (!tile_any_allowed(mv, i0, bq, j0, bk)) continue;  // fully masked tile
          const T* Kj = K + j0 * d.k.l;
          int64_t ldk = d.k.l;
          if (far) {
            TL::copy_pad(Kj, d.k.l, bk, D, Wd, Kpad.data());
            Kj = Kpad.data();
            ldk = Wd;
          }
          TL::template tiles<TileOp::kSet>(bk, Wq, D, Kj, ldk, 1, Qt.data(), D * NR,
                                          NR, St.data(), ldS);
          mask_scores_t(St.data(), ldS, bk, bq, i0, j0, d, mv);
          // Online softmax (Milakov & Gimelshein 2018), one lane per query: new max, the
          // factor alpha that rescales what was summed so far, P = exp(S - max) in place.
          for (int64_t c = 0; c < Wq; c += P) {
            const Packet m_old = pload<Packet>(m.data() + c);
            Packet mx = m_old;
            for (int64_t j = 0; j < bk; ++j) mx = pmax(mx, pload<Packet>(St.data() + j * ldS + c));
            // a column with nothing allowed yet keeps max -inf; subtract 0 there instead
            const Packet mm = pselect(pcmp_eq(mx, pset1<Packet>(kNegInf<T>)), pzero(mx), mx);
            const Packet al = exp_or_zero(psub(m_old, mm));
            Packet s = pzero(mx);
            for (int64_t j = 0; j < bk; ++j) {
              T* x = St.data() + j * ldS + c;
              const Packet e = exp_or_zero(psub(pload<Packet>(x), mm));
              pstore(x, e);
              s = padd(s, e);
            }
            pstore(l.data() + c, pmadd(pload<Packet>(l.data() + c), al, s));
            pstore(m.data() + c, mx);
            pstore(alpha.data() + c, al);
          }
          // O = alpha O + P V, P read from St column-wise (A(r, k) = St[k][r]).
          const T* Vb = V + j0 * d.v.l;
          int64_t ldv = d.v.l;
          if (!v_direct) {
            TL::copy_pad(Vb, d.v.l, bk, Dv, Wv, Vpad.data());
            Vb = Vpad.data();
            ldv = Wv;
          }
          TL::template tiles<TileOp::kScaleAdd>(bq, Wv, bk, St.data(), 1, ldS, Vb, NR, ldv,
                                               O.data(), Wv, alpha.data());
        }
        T* Out = out + b * d.o.b + h * d.o.h + i0 * d.o.l;
        T* Lse = lse + (b * d.H + h) * d.Lq + i0;
        for (int64_t r = 0; r < bq; ++r) {
          Arr<T> dst(Out + r * d.o.l, Dv);
          if (l[r] > T(0)) {
            dst = CArr<T>(O.data() + r * Wv, Dv) * (T(1) / l[r]);
            Lse[r] = m[r] + std::log(l[r]);
          } else {  // fully masked row: zeros, never NaN
            dst.setZero();
            Lse[r] = kNegInf<T>;
          }
        }
      }
    }
  }
  errors.rethrow();
}

template <typename T>
void sdpa_backward_cpu(const SdpaDesc& d, const T* q, const T* k, const T* v,
                       const uint8_t* bool_mask, const T* float_mask,
                       const int64_t* key_lengths, const T* out, const T* lse, const T* dout,
                       T* dq, T* dk, T* dv) {
  using TL = Gemm<T>;
  using Packet = typename TL::Packet;
  using namespace Eigen::internal;
  constexpr int64_t P = TL::P, NR = TL::NR;
  const int64_t Bq = d.block_q, Bk = d.block_k, D = d.D, Dv = d.Dv;
  const int64_t Lq = d.Lq, Lk = d.Lk, H = d.H, Hkv = d.Hkv;
  const int64_t group = H / Hkv;
  const int64_t nqb = (Lq + Bq - 1) / Bq, nkb = (Lk + Bk - 1) / Bk;
  const T scale = static_cast<T>(d.scale);
  const int64_t Wd = TL::pad_p(D), Wv = TL::pad_p(Dv), ldS = TL::pad_nr(Bq);
  const bool far = rows_far_apart(d, sizeof(T));
  const bool d_direct = Wd == D && !far, v_direct = Wv == Dv && !far;
  // Chunks of kv blocks per (b, hkv): enough items to keep a team busy when B*Hkv is
  // small. Depends on the shape only (never on the thread count) so that the dQ sum
  // order, hence the result, is the same for every thread count. Chunk c accumulates dQ
  // into its own buffer [B, H, Lq, Wd] (chunk 0 straight into dq when its rows hold whole
  // packets), summed in chunk order at the end; capped at 8 chunks to bound that memory.
  const int64_t BHk = d.B * Hkv;
  const int64_t chunks =
      nkb == 0 ? 1 : std::clamp<int64_t>((64 + BHk - 1) / std::max<int64_t>(BHk, 1), 1,
                                         std::min<int64_t>(8, nkb));
  const int64_t per_chunk = nkb == 0 ? 0 : (nkb + chunks - 1) / chunks;
  const int64_t n_items = BHk * chunks;
  const size_t dq_size = static_cast<size_t>(d.B * H * Lq * Wd);
  const int64_t c_buf = d_direct ? 1 : 0;  // first chunk with a buffer
  Buffer<T> dQall(static_cast<size_t>(chunks - c_buf) * dq_size);
  Buffer<T> Drow(static_cast<size_t>(d.B * H * Lq));

  std::vector<double> cost(static_cast<size_t>(n_items), 0.0);
  double total = 0;
  for (int64_t it = 0; it < n_items; ++it) {
    const int64_t b = it / (Hkv * chunks), c = it % chunks;
    const int64_t kl = key_lengths ? key_lengths[b] : Lk;
    for (int64_t kb = c * per_chunk; kb < std::min(nkb, (c + 1) * per_chunk); ++kb) {
      const int64_t j0 = kb * Bk;
      if (j0 >= kl) break;
      // q rows that can reach this block: i + offset >= j0
      const int64_t first = d.is_causal ? std::clamp<int64_t>(j0 - d.causal_offset, 0, Lq) : 0;
      cost[it] += double(Lq - first) * double(std::min(Bk, kl - j0)) * group;
    }
    total += cost[it];
  }
  const std::vector<int64_t> order = longest_first(cost);
  const int nt = threads_for(total * double(D + Dv) * 5.0);

  RegionErrors errors;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    // D = rowsum(dO * O); the dQ buffers start at zero (they are accumulated).
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < d.B * H; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      for (int64_t i = 0; i < Lq; ++i) {
        const int64_t off = b * d.o.b + h * d.o.h + i * d.o.l;
        Drow[bh * Lq + i] = dot(out + off, dout + off, Dv);
        if (d_direct) Arr<T>(dq + b * d.q.b + h * d.q.h + i * d.q.l, D).setZero();
      }
    }
#pragma omp for schedule(static)
    for (int64_t p = 0; p < (chunks - c_buf) * d.B * H; ++p)
      std::fill(dQall.begin() + p * Lq * Wd, dQall.begin() + (p + 1) * Lq * Wd, T(0));

    // Per-thread buffers: Q^T and dO^T panels of every q block of the current head (packed
    // once per head and item, reused by every kv block of the chunk), St (P^T), dPt (dP^T,
    // then dS^T), the dK and dV rows of the chunk, lse and D of the current queries (one
    // lane per query), and padded copies of Q, dO, K where rows do not hold whole packets.
    const int64_t chunk_rows = std::min(Lk, per_chunk * Bk);
    Buffer<T> Qt, dOt, St, dPt, dK, dV, lse_t, D_t, Qpad, Kpad, dOpad, Vpad;
    errors.run([&] {
      Qt.resize(static_cast<size_t>(nqb * D * ldS));
      dOt.resize(static_cast<size_t>(nqb * Dv * ldS));
      St.resize(static_cast<size_t>(Bk * ldS));
      dPt.resize(static_cast<size_t>(Bk * ldS));
      dK.resize(static_cast<size_t>(chunk_rows * Wd));
      dV.resize(static_cast<size_t>(chunk_rows * Wv));
      lse_t.resize(static_cast<size_t>(ldS));
      D_t.resize(static_cast<size_t>(ldS));
      Qpad.resize(d_direct ? 0 : static_cast<size_t>(Lq * Wd));
      Kpad.resize(d_direct ? 0 : static_cast<size_t>(chunk_rows * Wd));
      dOpad.resize(v_direct ? 0 : static_cast<size_t>(Lq * Wv));
      Vpad.resize(v_direct ? 0 : static_cast<size_t>(chunk_rows * Wv));
    });
#pragma omp for schedule(dynamic, 1)
    for (int64_t oi = 0; oi < n_items; ++oi) {
      if (errors.failed()) continue;
      const int64_t it = order[oi];
      const int64_t bhk = it / chunks, c = it % chunks;
      const int64_t b = bhk / Hkv, hk = bhk % Hkv;
      const int64_t kl = key_lengths ? key_lengths[b] : Lk;
      const T* K = k + b * d.k.b + hk * d.k.h;
      const T* V = v + b * d.v.b + hk * d.v.h;
      const int64_t kb0 = c * per_chunk, kb1 = std::min(nkb, (c + 1) * per_chunk);
      if (kb0 >= kb1) continue;
      const int64_t jb = kb0 * Bk, je = std::min(Lk, kb1 * Bk);  // keys of the chunk
      std::fill(dK.begin(), dK.begin() + (je - jb) * Wd, T(0));
      std::fill(dV.begin(), dV.begin() + (je - jb) * Wv, T(0));
      const int64_t kl_c = std::clamp<int64_t>(kl, jb, je);  // keys [jb, kl_c) are used
      if (kl_c > jb) {  // else no key of the chunk is used: zero gradients
        // rows of K as the B operand of dQ += dS K_j
        const T* Kc = K + jb * d.k.l;
        int64_t ldk = d.k.l;
        if (!d_direct) {
          TL::copy_pad(Kc, d.k.l, kl_c - jb, D, Wd, Kpad.data());
          Kc = Kpad.data();
          ldk = Wd;
        }
        const T* Vc = V + jb * d.v.l;  // rows of V as the A operand of dP^T = V_j dO^T
        int64_t ldv = d.v.l;
        if (!v_direct) {
          TL::copy_pad(Vc, d.v.l, kl_c - jb, Dv, Wv, Vpad.data());
          Vc = Vpad.data();
          ldv = Wv;
        }
        for (int64_t g = 0; g < group; ++g) {
          const int64_t h = hk * group + g;
          const MaskView<T> mv = mask_view(d, bool_mask, float_mask, b, h);
          const T* Lse = lse + (b * H + h) * Lq;
          const T* Dr = Drow.data() + (b * H + h) * Lq;
          // chunk 0 writes dq itself when it can (d_direct); the others their own buffer
          // (formed only then: dQall is empty when there is one chunk)
          T* dQh = c < c_buf ? dq + b * d.q.b + h * d.q.h
                             : dQall.data() + (c - c_buf) * dq_size + (b * H + h) * Lq * Wd;
          const int64_t ldQ = c < c_buf ? d.q.l : Wd;
          const T* Qh = q + b * d.q.b + h * d.q.h;
          const T* dOh = dout + b * d.o.b + h * d.o.h;
          // q blocks that some key of the chunk is visible to: i + offset >= jb
          const int64_t qb_first =
              (d.is_causal ? std::clamp<int64_t>(jb - d.causal_offset, 0, Lq) : 0) / Bq;
          for (int64_t qb = qb_first; qb < nqb; ++qb) {
            const int64_t i0 = qb * Bq, bq = std::min(Bq, Lq - i0);
            TL::pack_t(Qh + i0 * d.q.l, d.q.l, bq, D, scale, Qt.data() + qb * D * ldS);
            TL::pack_t(dOh + i0 * d.o.l, d.o.l, bq, Dv, T(1), dOt.data() + qb * Dv * ldS);
          }
          const T* Qb = Qh;  // rows of Q and dO as B operands of dK and dV
          int64_t ldq = d.q.l;
          const T* dOb = dOh;
          int64_t ldo = d.o.l;
          if (!d_direct) {
            TL::copy_pad(Qh + qb_first * Bq * d.q.l, d.q.l, Lq - qb_first * Bq, D, Wd,
                         Qpad.data() + qb_first * Bq * Wd);
            Qb = Qpad.data();
            ldq = Wd;
          }
          if (!v_direct) {
            TL::copy_pad(dOh + qb_first * Bq * d.o.l, d.o.l, Lq - qb_first * Bq, Dv, Wv,
                         dOpad.data() + qb_first * Bq * Wv);
            dOb = dOpad.data();
            ldo = Wv;
          }
          for (int64_t j0 = jb; j0 < kl_c; j0 += Bk) {
            const int64_t bk_used = std::min(Bk, kl_c - j0);  // keys within the key length
            T* dKj = dK.data() + (j0 - jb) * Wd;
            T* dVj = dV.data() + (j0 - jb) * Wv;
            const T* Kj = Kc + (j0 - jb) * ldk;
            const int64_t first = d.is_causal ? std::clamp<int64_t>(j0 - d.causal_offset, 0, Lq) : 0;
            for (int64_t i0 = first / Bq * Bq; i0 < Lq; i0 += Bq) {
              const int64_t bq = std::min(Bq, Lq - i0), Wq = TL::pad_p(bq), qb = i0 / Bq;
              // keys of this block that some row of the q block may see (causal diagonal)
              const int64_t bk = d.is_causal
                                     ? std::clamp<int64_t>(i0 + bq + d.causal_offset - j0, 0, bk_used)
                                     : bk_used;
              if (bk == 0 || !tile_any_allowed(mv, i0, bq, j0, bk)) continue;
              for (int64_t r = 0; r < Wq; ++r) {  // lanes past bq: any finite values
                const T x = r < bq ? Lse[i0 + r] : T(0);
                lse_t[r] = x == kNegInf<T> ? std::numeric_limits<T>::infinity() : x;
                D_t[r] = r < bq ? Dr[i0 + r] : T(0);
              }
              // P^T = exp(St - lse), recomputed (0 where masked or the row is fully masked)
              TL::template tiles<TileOp::kSet>(bk, Wq, D, Kj, ldk, 1,
                                              Qt.data() + qb * D * ldS, D * NR, NR, St.data(), ldS);
              mask_scores_t(St.data(), ldS, bk, bq, i0, j0, d, mv);
              for (int64_t j = 0; j < bk; ++j)
                for (int64_t r = 0; r < Wq; r += P) {
                  T* x = St.data() + j * ldS + r;
                  pstore(x, exp_or_zero(psub(pload<Packet>(x), pload<Packet>(lse_t.data() + r))));
                }
              // dV += P^T dO
              TL::template tiles<TileOp::kAdd>(bk, Wv, bq, St.data(), ldS, 1, dOb + i0 * ldo, NR,
                                              ldo, dVj, Wv);
              // dP^T = V_j dO^T; dS^T = P^T * (dP^T - D) * scale
              TL::template tiles<TileOp::kSet>(bk, Wq, Dv, Vc + (j0 - jb) * ldv, ldv, 1,
                                              dOt.data() + qb * Dv * ldS, Dv * NR, NR, dPt.data(),
                                              ldS);
              const Packet sc = pset1<Packet>(scale);
              for (int64_t j = 0; j < bk; ++j)
                for (int64_t r = 0; r < Wq; r += P) {
                  T* x = dPt.data() + j * ldS + r;
                  const Packet p = pload<Packet>(St.data() + j * ldS + r);
                  pstore(x, pmul(pmul(p, psub(pload<Packet>(x), pload<Packet>(D_t.data() + r))), sc));
                }
              // dK += dS^T Q;  dQ += dS K_j (dS read from dS^T column-wise)
              TL::template tiles<TileOp::kAdd>(bk, Wd, bq, dPt.data(), ldS, 1, Qb + i0 * ldq, NR,
                                              ldq, dKj, Wd);
              TL::template tiles<TileOp::kAdd>(bq, Wd, bk, dPt.data(), 1, ldS, Kj, NR, ldk,
                                              dQh + i0 * ldQ, ldQ);
            }
          }
        }
      }
      for (int64_t r = 0; r < je - jb; ++r) {
        Arr<T>(dk + b * d.k.b + hk * d.k.h + (jb + r) * d.k.l, D) = CArr<T>(dK.data() + r * Wd, D);
        Arr<T>(dv + b * d.v.b + hk * d.v.h + (jb + r) * d.v.l, Dv) =
            CArr<T>(dV.data() + r * Wv, Dv);
      }
    }
    // dq = the chunks' dQ summed in chunk order
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < (chunks > c_buf ? d.B * H : 0); ++bh) {
      const int64_t b = bh / H, h = bh % H;
      for (int64_t i = 0; i < Lq; ++i) {
        Arr<T> dst(dq + b * d.q.b + h * d.q.h + i * d.q.l, D);
        if (!d_direct) dst = CArr<T>(dQall.data() + (bh * Lq + i) * Wd, D);
        for (int64_t c = 1; c < chunks; ++c)
          dst += CArr<T>(dQall.data() + (c - c_buf) * dq_size + (bh * Lq + i) * Wd, D);
      }
    }
  }
  errors.rethrow();
}
// ------------------------------------------------------------- single-query attention

namespace {

// Masked softmax of scores e[0, kl) into w[0, T) (zero past kl) and context = w . values.
template <typename T>
void softmax_context(T* e, int64_t kl, int64_t Tn, const T* values, int64_t Dv, T* w, T* ctx) {
  Arr<T> out(ctx, Dv);
  if (kl == 0) {
    std::fill(w, w + Tn, T(0));
    out.setZero();
    return;
  }
  Arr<T> ea(e, kl);
  ea = (ea - ea.maxCoeff()).exp();
  const T inv = T(1) / sum(e, kl);
  Arr<T>(w, kl) = ea * inv;
  std::fill(w + kl, w + Tn, T(0));
  // context row by row in t order: Eigen's row-vector product peels by alignment, which
  // would make the float64 rounding depend on where numpy put the arrays
  out = w[0] * CArr<T>(values, Dv);
  for (int64_t t = 1; t < kl; ++t) out += w[t] * CArr<T>(values + t * Dv, Dv);
}

// Backward of softmax_context for one row: dvalues [T, Dv] (zero past kl) and
// de[t] = w[t] (g[t] - sum_s w[s] g[s]) with g = values . dctx + dweights.
template <typename T>
void softmax_context_backward(const T* w, int64_t kl, int64_t Tn, const T* values, int64_t Dv,
                              const T* dctx, const T* dw, T* de, T* dvalues) {
  auto dvm = mat(dvalues, Tn, Dv, Dv);
  dvm.setZero();
  if (kl == 0) {
    std::fill(de, de + Tn, T(0));
    return;
  }
  const auto dc = cmat(dctx, 1, Dv, Dv);
  for (int64_t t = 0; t < kl; ++t) de[t] = dot(values + t * Dv, dctx, Dv);
  Arr<T> g(de, kl);
  if (dw) g += CArr<T>(dw, kl);
  const T s = dot(w, de, kl);
  g = CArr<T>(w, kl) * (g - s);
  std::fill(de + kl, de + Tn, T(0));
  dvm.topRows(kl).noalias() = cmat(w, kl, 1, 1) * dc;
}

inline int64_t len_of(const int64_t* key_lengths, int64_t n, int64_t Tn) {
  return key_lengths ? key_lengths[n] : Tn;
}


}  // namespace

template <typename T>
void additive_precompute_keys_cpu(const StepAttnDesc& d, const T* keys, const T* w_k,
                                  T* proj_keys) {
  linear_forward_cpu<T>(d.N * d.T, d.Dk, d.A, keys, w_k, nullptr, proj_keys);
}

template <typename T>
void additive_step_cpu(const StepAttnDesc& d, const T* query_proj, const T* proj_keys,
                       const T* values, const T* v_a, const int64_t* key_lengths, T* context,
                       T* weights) {
  const int64_t A = d.A, Tn = d.T, Dv = d.Dv;
  const int nt = threads_for(double(d.N) * Tn * (4.0 * A + 2.0 * Dv) * 4.0, kStepWorkPerThread);
  RegionErrors errors;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    Buffer<T> pre, e;
    errors.run([&] {
      pre.resize(static_cast<size_t>(A));
      e.resize(static_cast<size_t>(std::max<int64_t>(Tn, 1)));
    });
#pragma omp for schedule(static)
    for (int64_t n = 0; n < d.N; ++n) {
      if (errors.failed()) continue;
      const int64_t kl = len_of(key_lengths, n, Tn);
      const CArr<T> qp(query_proj + n * A, A);
      Arr<T> pa(pre.data(), A);
      for (int64_t t = 0; t < kl; ++t) {  // fused add, tanh and v_a score
        pa = (qp + CArr<T>(proj_keys + (n * Tn + t) * A, A)).tanh();
        e[t] = dot(pre.data(), v_a, A);
      }
      softmax_context(e.data(), kl, Tn, values + n * Tn * Dv, Dv, weights + n * Tn,
                      context + n * Dv);
    }
  }
  errors.rethrow();
}

template <typename T>
void additive_backward_cpu(const StepAttnDesc& d, const T* query, const T* keys,
                           const T* values, const T* w_q, const T* w_k, const T* v_a,
                           const int64_t* key_lengths, const T* query_proj,
                           const T* proj_keys, const T* weights, const T* dcontext,
                           const T* dweights, T* dquery, T* dkeys, T* dvalues, T* dw_q,
                           T* dw_k, T* dv_a) {
  const int64_t N = d.N, A = d.A, Tn = d.T, Dv = d.Dv;
  Buffer<T> dpk(static_cast<size_t>(N * Tn * A)), dqp(static_cast<size_t>(N * A)),
      dva_part(static_cast<size_t>(N * A));
  const int nt = threads_for(double(N) * Tn * (6.0 * A + 4.0 * Dv) * 4.0, kStepWorkPerThread);
  RegionErrors errors;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    Buffer<T> e, hb;
    errors.run([&] {
      e.resize(static_cast<size_t>(std::max<int64_t>(Tn, 1)));
      hb.resize(static_cast<size_t>(A));
    });
    const CArr<T> va(v_a, A);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      if (errors.failed()) continue;
      const int64_t kl = len_of(key_lengths, n, Tn);
      softmax_context_backward(weights + n * Tn, kl, Tn, values + n * Tn * Dv, Dv,
                               dcontext + n * Dv, dweights ? dweights + n * Tn : nullptr,
                               e.data(), dvalues + n * Tn * Dv);
      const CArr<T> qp(query_proj + n * A, A);
      Arr<T> dq_n(dqp.data() + n * A, A), dva_n(dva_part.data() + n * A, A), h(hb.data(), A);
      dq_n.setZero();
      dva_n.setZero();
      for (int64_t t = 0; t < Tn; ++t) {
        Arr<T> g(dpk.data() + (n * Tn + t) * A, A);
        if (t >= kl) {
          g.setZero();
          continue;
        }
        h = (qp + CArr<T>(proj_keys + (n * Tn + t) * A, A)).tanh();  // recomputed
        dva_n += e[t] * h;
        g = e[t] * va * (T(1) - h * h);
        dq_n += g;
      }
    }
#pragma omp for schedule(static)
    for (int64_t a = 0; a < A; ++a) {  // dv_a = sum over n, in order
      if (errors.failed()) continue;
      T s = 0;
      for (int64_t n = 0; n < N; ++n) s += dva_part[n * A + a];
      dv_a[a] = s;
    }
  }
  errors.rethrow();
  linear_backward_cpu<T>(N, d.Dq, A, query, w_q, dqp.data(), dquery, dw_q, nullptr, false);
  linear_backward_cpu<T>(N * Tn, d.Dk, A, keys, w_k, dpk.data(), dkeys, dw_k, nullptr, false);
}

template <typename T>
void dot_forward_cpu(const StepAttnDesc& d, const T* query, const T* keys, const T* values,
                     const int64_t* key_lengths, T* context, T* weights) {
  const int64_t Tn = d.T, Dk = d.Dk, Dv = d.Dv;
  const int nt = threads_for(double(d.N) * Tn * (2.0 * Dk + 2.0 * Dv), kStepWorkPerThread);
  RegionErrors errors;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    Buffer<T> e;
    errors.run([&] { e.resize(static_cast<size_t>(std::max<int64_t>(Tn, 1))); });
#pragma omp for schedule(static)
    for (int64_t n = 0; n < d.N; ++n) {
      if (errors.failed()) continue;
      const int64_t kl = len_of(key_lengths, n, Tn);
      for (int64_t t = 0; t < kl; ++t) e[t] = dot(keys + (n * Tn + t) * Dk, query + n * Dk, Dk);
      softmax_context(e.data(), kl, Tn, values + n * Tn * Dv, Dv, weights + n * Tn,
                      context + n * Dv);
    }
  }
  errors.rethrow();
}

template <typename T>
void dot_backward_cpu(const StepAttnDesc& d, const T* query, const T* keys, const T* values,
                      const int64_t* key_lengths, const T* weights, const T* dcontext,
                      const T* dweights, T* dquery, T* dkeys, T* dvalues) {
  const int64_t Tn = d.T, Dk = d.Dk, Dv = d.Dv;
  const int nt = threads_for(double(d.N) * Tn * (4.0 * Dk + 4.0 * Dv), kStepWorkPerThread);
  RegionErrors errors;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    Buffer<T> e;
    errors.run([&] { e.resize(static_cast<size_t>(std::max<int64_t>(Tn, 1))); });
#pragma omp for schedule(static)
    for (int64_t n = 0; n < d.N; ++n) {
      if (errors.failed()) continue;
      const int64_t kl = len_of(key_lengths, n, Tn);
      softmax_context_backward(weights + n * Tn, kl, Tn, values + n * Tn * Dv, Dv,
                               dcontext + n * Dv, dweights ? dweights + n * Tn : nullptr,
                               e.data(), dvalues + n * Tn * Dv);
      auto dk = mat(dkeys + n * Tn * Dk, Tn, Dk, Dk);
      auto dq = mat(dquery + n * Dk, 1, Dk, Dk);
      dk.setZero();
      dq.setZero();
      if (kl == 0) continue;
      const auto es = cmat(e.data(), kl, 1, 1);
      for (int64_t t = 0; t < kl; ++t) dq += e[t] * cmat(keys + (n * Tn + t) * Dk, 1, Dk, Dk);
      dk.topRows(kl).noalias() = es * cmat(query + n * Dk, 1, Dk, Dk);
    }
  }
  errors.rethrow();
}

// ----------------------------------------------------------------------- dense helpers

// Row count up to which linear_forward takes the dot-product path (no packing of W).
constexpr int64_t kFewRows = 8;


template <typename T>
void linear_forward_cpu(int64_t M, int64_t I, int64_t O, const T* x, const T* w, const T* b,
                        T* y, double min_work_per_thread, Activation act, T* pre) {
  const int nt = threads_for(2.0 * M * I * O, min_work_per_thread);
  if (M <= kFewRows) {
    // A few rows (a decoder step's beam): one dot product per output, each row of W read
    // once from memory. A GEMM would copy (pack) all of W [O, I] on every call, which for an
    // output layer (O = vocabulary) costs more than the product itself. Each output is the
    // same dot product whatever the thread split: results stay thread-count invariant.
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      DenormalsFlushed ftz;
#pragma omp for schedule(static)
      for (int64_t o = 0; o < O; ++o) {
        for (int64_t m = 0; m < M; ++m)
          y[m * O + o] = dot(w + o * I, x + m * I, I) + (b ? b[o] : T(0));
      }
    }
    if (act != Activation::kNone || pre)
      for (int64_t m = 0; m < M; ++m)
        bias_activation(y + m * O, static_cast<const T*>(nullptr), O, act,
                        pre ? pre + m * O : nullptr);
    return;
  }
  blocked_gemm<T>(M, O, I, x, I, 1, w, I, /*b_t=*/true, y, O, false, b, nt, act, pre);
}

template <typename T>
void linear_backward_cpu(int64_t M, int64_t I, int64_t O, const T* x, const T* w,
                         const T* dy, T* dx, T* dw, T* db, bool accumulate) {
  const int nt = threads_for(4.0 * M * I * O);
  // dx = dy W (B = rows of W); dw (+)= dy^T x (A = columns of dy, B = rows of x)
  if (dx) blocked_gemm<T>(M, I, O, dy, O, 1, w, I, false, dx, I, false, nullptr, nt);
  blocked_gemm<T>(O, I, M, dy, 1, O, x, I, false, dw, I, accumulate, nullptr, nt);
  if (db) {  // column sums, row after row (same order for every thread count)
    if (!accumulate) std::fill(db, db + O, T(0));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t c0 = 0; c0 < O; c0 += 64)
      for (int64_t m = 0; m < M; ++m)
        Arr<T>(db + c0, std::min<int64_t>(64, O - c0)) +=
            CArr<T>(dy + m * O + c0, std::min<int64_t>(64, O - c0));
  }
}

#define SEQCORE_INSTANTIATE(T)                                                                \
  template void sdpa_forward_cpu<T>(const SdpaDesc&, const T*, const T*, const T*,           \
                                    const uint8_t*, const T*, const int64_t*, T*, T*);       \
  template void sdpa_backward_cpu<T>(const SdpaDesc&, const T*, const T*, const T*,          \
                                     const uint8_t*, const T*, const int64_t*, const T*,     \
                                     const T*, const T*, T*, T*, T*);                        \
  template void additive_precompute_keys_cpu<T>(const StepAttnDesc&, const T*, const T*, T*); \
  template void additive_step_cpu<T>(const StepAttnDesc&, const T*, const T*, const T*,      \
                                     const T*, const int64_t*, T*, T*);                      \
  template void additive_backward_cpu<T>(const StepAttnDesc&, const T*, const T*, const T*,  \
                                         const T*, const T*, const T*, const int64_t*,       \
                                         const T*, const T*, const T*, const T*, const T*,   \
                                         T*, T*, T*, T*, T*, T*);                            \
  template void dot_forward_cpu<T>(const StepAttnDesc&, const T*, const T*, const T*,        \
                                   const int64_t*, T*, T*);                                  \
  template void dot_backward_cpu<T>(const StepAttnDesc&, const T*, const T*, const T*,       \
                                    const int64_t*, const T*, const T*, const T*, T*, T*,    \
                                    T*);                                                     \
  template void linear_forward_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*,         \
                                      const T*, T*, double, Activation, T*);                  \
  template void linear_backward_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*,        \
                                       const T*, T*, T*, T*, bool);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore::cpu
