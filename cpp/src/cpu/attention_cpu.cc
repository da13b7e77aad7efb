// CPU kernels for attention.h (Eigen + OpenMP). See attention.h for the plan.
#include "cpu/attention_cpu.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "cpu/panel_gemm.h"
#include "cpu/vec.h"

namespace seqcore::cpu {
namespace {


template <typename T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

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

// Scores tile S [bq, bk] (ld ldS) holding Q K^T -> scale * Q K^T + float mask, -inf where
// the causal limit or the bool mask forbids (rows may end up all -inf). Without a float
// mask and with scale > 0 the scaling is left to the caller's exp pass (one pass less
// over the tile): returns the factor still to apply, 1 when applied here.
template <typename T>
T prepare_scores(T* S, int64_t ldS, int64_t bq, int64_t bk, int64_t i0, int64_t j0,
                 T scale, const SdpaDesc& d, const MaskView<T>& mv) {
  const bool defer = !mv.fm && scale > T(0);
  for (int64_t r = 0; r < bq; ++r) {
    T* row = S + r * ldS;
    const int64_t i = i0 + r;
    int64_t cmax = bk;  // columns [0, cmax) pass the causal test
    if (d.is_causal) cmax = std::clamp<int64_t>(i + d.causal_offset - j0 + 1, 0, bk);
    if (!defer) Arr<T>(row, cmax) *= scale;
    if (mv.fm) {
      const T* f = mv.fm + i * mv.sl + j0 * mv.sd;
      if (mv.sd == 1)
        Arr<T>(row, cmax) += CArr<T>(f, cmax);
      else
        for (int64_t c = 0; c < cmax; ++c) row[c] += f[c * mv.sd];
    }
    if (mv.bm) {
      const uint8_t* m = mv.bm + i * mv.sl + j0 * mv.sd;
      for (int64_t c = 0; c < cmax; ++c)
        if (!m[c * mv.sd]) row[c] = kNegInf<T>;
    }
    for (int64_t c = cmax; c < bk; ++c) row[c] = kNegInf<T>;
  }
  return defer ? scale : T(1);
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
  using PG = PanelGemm<T>;
  constexpr int64_t NR = PG::NR;
  // Key tiles start on panel boundaries: block_k rounded up to the panel width.
  const int64_t Bq = d.block_q, Bk = PG::padded(d.block_k), D = d.D, Dv = d.Dv;
  const int64_t Lk = d.Lk, nqb = (d.Lq + Bq - 1) / Bq;
  const int64_t group = d.H / d.Hkv;
  const int64_t n_items = d.B * d.H * nqb;
  if (n_items == 0) return;
  const T scale = static_cast<T>(d.scale);
  // K^T and V of every (b, hkv) packed once into SIMD panels (PanelGemm): every q block of
  // every head of the group then multiplies them without repacking (Eigen would repack
  // both operands at each tile).
  const int64_t BHk = d.B * d.Hkv;
  const int64_t nvp = PG::padded(Dv) / NR, ldpv = PG::padded(Dv);
  std::vector<AlignedVector<T>> Kp(static_cast<size_t>(BHk)), Vp(static_cast<size_t>(BHk));

  std::vector<double> cost(static_cast<size_t>(n_items));
  double total = 0;
  for (int64_t it = 0; it < n_items; ++it) {
    const int64_t b = it / (d.H * nqb), qb = it % nqb;
    const int64_t i1 = std::min(d.Lq, (qb + 1) * Bq);
    cost[it] = double(i1 - qb * Bq) * double(kv_end_for(d, key_lengths, b, i1) + 1);
    total += cost[it];
  }
  const std::vector<int64_t> order = longest_first(cost);
  const int nt = threads_for(total * double(D + Dv) * 2.0);

#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
#pragma omp for schedule(static)
    for (int64_t bhk = 0; bhk < BHk; ++bhk) {
      const int64_t b = bhk / d.Hkv, hk = bhk % d.Hkv;
      const T* K = k + b * d.k.b + hk * d.k.h;
      const T* V = v + b * d.v.b + hk * d.v.h;
      const int64_t kl = key_lengths ? key_lengths[b] : Lk;  // keys past it are never read
      PG::pack(D, kl, 1, [&](int64_t c) { return K + c * d.k.l; }, Kp[bhk]);
      PG::pack(kl, Dv, d.v.l, [&](int64_t c) { return V + c; }, Vp[bhk]);
    }
    Buffer<T> S(static_cast<size_t>(Bq * Bk)), O(static_cast<size_t>(Bq * Dv)),
        PV(static_cast<size_t>(Bq * ldpv)), m(static_cast<size_t>(Bq)),
        l(static_cast<size_t>(Bq)), alpha(static_cast<size_t>(Bq));
#pragma omp for schedule(dynamic, 1)
    for (int64_t oi = 0; oi < n_items; ++oi) {
      const int64_t it = order[oi];
      const int64_t bh = it / nqb, qb = it % nqb;
      const int64_t b = bh / d.H, h = bh % d.H, bhk = b * d.Hkv + h / group;
      const int64_t i0 = qb * Bq, i1 = std::min(d.Lq, i0 + Bq), bq = i1 - i0;
      const T* Q = q + b * d.q.b + h * d.q.h + i0 * d.q.l;
      const int64_t kl = key_lengths ? key_lengths[b] : Lk;
      const MaskView<T> mv = mask_view(d, bool_mask, float_mask, b, h);
      auto Om = mat(O.data(), bq, Dv, Dv);
      Om.setZero();
      std::fill(m.begin(), m.end(), kNegInf<T>);
      std::fill(l.begin(), l.end(), T(0));
      const int64_t kv_end = kv_end_for(d, key_lengths, b, i1);
      for (int64_t j0 = 0; j0 < kv_end; j0 += Bk) {
        const int64_t bk = std::min(Bk, kv_end - j0);
        if (!tile_any_allowed(mv, i0, bq, j0, bk)) continue;  // fully masked tile
        PG::run(bq, D, Q, d.q.l, Kp[bhk].data() + j0 * D, (bk + NR - 1) / NR, S.data(), Bk);
        const T post = prepare_scores(S.data(), Bk, bq, bk, i0, j0, scale, d, mv);
        // Online softmax (Milakov & Gimelshein 2018): rescale what was summed so far.
        for (int64_t r = 0; r < bq; ++r) {
          Arr<T> row(S.data() + r * Bk, bk);
          const T m_new = std::max(m[r], post * row.maxCoeff());  // post > 0
          if (m_new == kNegInf<T>) {  // nothing allowed yet in this row
            row.setZero();
            alpha[r] = T(1);
            continue;
          }
          row = (row * post - m_new).exp();
          alpha[r] = m[r] == kNegInf<T> ? T(0) : std::exp(m[r] - m_new);
          l[r] = l[r] * alpha[r] + row.sum();
          m[r] = m_new;
        }
        for (int64_t p = 0; p < nvp; ++p)  // PV = P V (one V panel at a time)
          PG::run(bq, bk, S.data(), Bk, Vp[bhk].data() + p * kl * NR + j0 * NR, 1,
                  PV.data() + p * NR, ldpv);
        for (int64_t r = 0; r < bq; ++r)
          Arr<T>(O.data() + r * Dv, Dv) =
              Arr<T>(O.data() + r * Dv, Dv) * alpha[r] + CArr<T>(PV.data() + r * ldpv, Dv);
      }
      T* Out = out + b * d.o.b + h * d.o.h + i0 * d.o.l;
      T* Lse = lse + (b * d.H + h) * d.Lq + i0;
      for (int64_t r = 0; r < bq; ++r) {
        auto dst = mat(Out + r * d.o.l, 1, Dv, Dv);
        if (l[r] > T(0)) {
          dst = Om.row(r) * (T(1) / l[r]);
          Lse[r] = m[r] + std::log(l[r]);
        } else {  // fully masked row: zeros, never NaN
          dst.setZero();
          Lse[r] = kNegInf<T>;
        }
      }
    }
  }
}

template <typename T>
void sdpa_backward_cpu(const SdpaDesc& d, const T* q, const T* k, const T* v,
                       const uint8_t* bool_mask, const T* float_mask,
                       const int64_t* key_lengths, const T* out, const T* lse, const T* dout,
                       T* dq, T* dk, T* dv) {
  using PG = PanelGemm<T>;
  const int64_t Bq = d.block_q, Bk = PG::padded(d.block_k), D = d.D, Dv = d.Dv;
  const int64_t Lq = d.Lq, Lk = d.Lk, H = d.H, Hkv = d.Hkv;
  const int64_t group = H / Hkv;
  const int64_t nqb = (Lq + Bq - 1) / Bq, nkb = (Lk + Bk - 1) / Bk;
  const T scale = static_cast<T>(d.scale);
  // Chunks of kv blocks per (b, hkv): enough items to keep a team busy when B*Hkv is
  // small. Depends on the shape only (never on the thread count) so that the dQ sum
  // order, hence the result, is the same for every thread count. Chunk c > 0 adds into a
  // partial dQ buffer [group, Lq, D]; capped at 8 chunks to bound that memory.
  const int64_t BHk = d.B * Hkv;
  const int64_t chunks =
      nkb == 0 ? 1 : std::clamp<int64_t>((64 + BHk - 1) / std::max<int64_t>(BHk, 1), 1,
                                         std::min<int64_t>(8, nkb));
  const int64_t per_chunk = nkb == 0 ? 0 : (nkb + chunks - 1) / chunks;
  const int64_t n_items = BHk * chunks;
  const size_t part_size = static_cast<size_t>(group * Lq * D);
  Buffer<T> partial(chunks > 1 ? static_cast<size_t>(BHk * (chunks - 1)) * part_size : 0);
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

#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    // D = rowsum(dO * O); dQ starts at zero (it is accumulated), so do the partials.
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < d.B * H; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      for (int64_t i = 0; i < Lq; ++i) {
        const T* o = out + b * d.o.b + h * d.o.h + i * d.o.l;
        const T* g = dout + b * d.o.b + h * d.o.h + i * d.o.l;
        Drow[bh * Lq + i] = (CArr<T>(o, Dv) * CArr<T>(g, Dv)).sum();
        Arr<T>(dq + b * d.q.b + h * d.q.h + i * d.q.l, D).setZero();
      }
    }
#pragma omp for schedule(static)
    for (int64_t p = 0; p < BHk * (chunks - 1); ++p)
      std::fill(partial.begin() + p * part_size, partial.begin() + (p + 1) * part_size, T(0));

    Buffer<T> S(static_cast<size_t>(Bq * Bk)), dP(static_cast<size_t>(Bq * Bk)),
        dK(static_cast<size_t>(Bk * D)), dV(static_cast<size_t>(Bk * Dv));
    AlignedVector<T> KTp, VTp;  // K_j^T and V_j^T of the current kv block, SIMD panels
#pragma omp for schedule(dynamic, 1)
    for (int64_t oi = 0; oi < n_items; ++oi) {
      const int64_t it = order[oi];
      const int64_t bhk = it / chunks, c = it % chunks;
      const int64_t b = bhk / Hkv, hk = bhk % Hkv;
      const int64_t kl = key_lengths ? key_lengths[b] : Lk;
      const T* K = k + b * d.k.b + hk * d.k.h;
      const T* V = v + b * d.v.b + hk * d.v.h;
      for (int64_t kb = c * per_chunk; kb < std::min(nkb, (c + 1) * per_chunk); ++kb) {
        const int64_t j0 = kb * Bk, bk_full = std::min(Bk, Lk - j0);
        const int64_t bk_used = std::clamp<int64_t>(kl - j0, 0, bk_full);  // within key length
        auto dKm = mat(dK.data(), bk_full, D, D);
        auto dVm = mat(dV.data(), bk_full, Dv, Dv);
        dKm.setZero();
        dVm.setZero();
        if (bk_used > 0) {  // packed once, used by every q block of every head of the group
          PG::pack(D, bk_used, 1, [&](int64_t c) { return K + (j0 + c) * d.k.l; }, KTp);
          PG::pack(Dv, bk_used, 1, [&](int64_t c) { return V + (j0 + c) * d.v.l; }, VTp);
        }
        for (int64_t g = 0; bk_used > 0 && g < group; ++g) {
          const int64_t h = hk * group + g;
          const MaskView<T> mv = mask_view(d, bool_mask, float_mask, b, h);
          const T* Lse = lse + (b * H + h) * Lq;
          const T* Dr = Drow.data() + (b * H + h) * Lq;
          T* dQh;
          int64_t ldq;
          if (c == 0) {
            dQh = dq + b * d.q.b + h * d.q.h;
            ldq = d.q.l;
          } else {
            dQh = partial.data() + (bhk * (chunks - 1) + c - 1) * part_size + g * Lq * D;
            ldq = D;
          }
          const int64_t first = d.is_causal ? std::clamp<int64_t>(j0 - d.causal_offset, 0, Lq) : 0;
          for (int64_t i0 = first / Bq * Bq; i0 < Lq; i0 += Bq) {
            const int64_t bq = std::min(Bq, Lq - i0);
            // keys of this block that some row of the q block may see (causal diagonal)
            const int64_t bk = d.is_causal
                                   ? std::clamp<int64_t>(i0 + bq + d.causal_offset - j0, 0, bk_used)
                                   : bk_used;
            if (bk == 0 || !tile_any_allowed(mv, i0, bq, j0, bk)) continue;
            const auto Kj = cmat(K + j0 * d.k.l, bk, D, d.k.l);
            const auto Qi = cmat(q + b * d.q.b + h * d.q.h + i0 * d.q.l, bq, D, d.q.l);
            const auto dOi = cmat(dout + b * d.o.b + h * d.o.h + i0 * d.o.l, bq, Dv, d.o.l);
            auto Sm = mat(S.data(), bq, bk, Bk);
            auto dPm = mat(dP.data(), bq, bk, Bk);
            const int64_t np = (bk + PG::NR - 1) / PG::NR;
            PG::run(bq, D, Qi.data(), d.q.l, KTp.data(), np, S.data(), Bk);
            const T post = prepare_scores(S.data(), Bk, bq, bk, i0, j0, scale, d, mv);
            for (int64_t r = 0; r < bq; ++r) {  // P = exp(S - lse), recomputed
              Arr<T> row(S.data() + r * Bk, bk);
              if (Lse[i0 + r] == kNegInf<T>)
                row.setZero();
              else
                row = (row * post - Lse[i0 + r]).exp();
            }
            dVm.topRows(bk).noalias() += Sm.transpose() * dOi;
            PG::run(bq, Dv, dOi.data(), d.o.l, VTp.data(), np, dP.data(), Bk);
            for (int64_t r = 0; r < bq; ++r) {  // dS = P * (dP - D) * scale, in dP
              Arr<T> dprow(dP.data() + r * Bk, bk);
              dprow = CArr<T>(S.data() + r * Bk, bk) * (dprow - Dr[i0 + r]) * scale;
            }
            dKm.topRows(bk).noalias() += dPm.transpose() * Qi;
            mat(dQh + i0 * ldq, bq, D, ldq).noalias() += dPm * Kj;
          }
        }
        for (int64_t r = 0; r < bk_full; ++r) {
          Arr<T>(dk + b * d.k.b + hk * d.k.h + (j0 + r) * d.k.l, D) = CArr<T>(dK.data() + r * D, D);
          Arr<T>(dv + b * d.v.b + hk * d.v.h + (j0 + r) * d.v.l, Dv) =
              CArr<T>(dV.data() + r * Dv, Dv);
        }
      }
    }
    if (chunks > 1) {  // dQ += partials, in chunk order
#pragma omp for schedule(static)
      for (int64_t bh = 0; bh < d.B * H; ++bh) {
        const int64_t b = bh / H, h = bh % H, hk = h / group, g = h % group;
        for (int64_t c = 1; c < chunks; ++c) {
          const T* p = partial.data() + ((b * Hkv + hk) * (chunks - 1) + c - 1) * part_size +
                       g * Lq * D;
          for (int64_t i = 0; i < Lq; ++i)
            Arr<T>(dq + b * d.q.b + h * d.q.h + i * d.q.l, D) += CArr<T>(p + i * D, D);
        }
      }
    }
  }
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
  const T inv = T(1) / ea.sum();
  Arr<T>(w, kl) = ea * inv;
  std::fill(w + kl, w + Tn, T(0));
  mat(ctx, 1, Dv, Dv).noalias() = cmat(w, 1, kl, kl) * cmat(values, kl, Dv, Dv);
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
  mat(de, kl, 1, 1).noalias() = cmat(values, kl, Dv, Dv) * dc.transpose();
  Arr<T> g(de, kl);
  if (dw) g += CArr<T>(dw, kl);
  const T s = (CArr<T>(w, kl) * g).sum();
  g = CArr<T>(w, kl) * (g - s);
  std::fill(de + kl, de + Tn, T(0));
  dvm.topRows(kl).noalias() = cmat(w, kl, 1, 1) * dc;
}

inline int64_t len_of(const int64_t* key_lengths, int64_t n, int64_t Tn) {
  return key_lengths ? key_lengths[n] : Tn;
}

// Row split for deterministic parallel GEMMs with a row-major result [M, cols]: rows in
// multiples of 8 (Eigen evaluates such a product transposed, so a result row is a column
// of its kernel and its sum order does not depend on how rows are split).
inline void split_rows(int64_t M, int tid, int nthr, int64_t& r0, int64_t& r1) {
  const int64_t chunk = ((M + nthr - 1) / nthr + 7) / 8 * 8;
  r0 = std::min(M, tid * chunk);
  r1 = std::min(M, r0 + chunk);
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
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    Buffer<T> pre(static_cast<size_t>(A)), e(static_cast<size_t>(std::max<int64_t>(Tn, 1)));
    const CArr<T> va(v_a, A);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < d.N; ++n) {
      const int64_t kl = len_of(key_lengths, n, Tn);
      const CArr<T> qp(query_proj + n * A, A);
      Arr<T> pa(pre.data(), A);
      for (int64_t t = 0; t < kl; ++t) {  // fused add, tanh and v_a score
        pa = (qp + CArr<T>(proj_keys + (n * Tn + t) * A, A)).tanh();
        e[t] = (pa * va).sum();
      }
      softmax_context(e.data(), kl, Tn, values + n * Tn * Dv, Dv, weights + n * Tn,
                      context + n * Dv);
    }
  }
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
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    Buffer<T> e(static_cast<size_t>(std::max<int64_t>(Tn, 1))), hb(static_cast<size_t>(A));
    const CArr<T> va(v_a, A);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
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
      T s = 0;
      for (int64_t n = 0; n < N; ++n) s += dva_part[n * A + a];
      dv_a[a] = s;
    }
  }
  linear_backward_cpu<T>(N, d.Dq, A, query, w_q, dqp.data(), dquery, dw_q, nullptr, false);
  linear_backward_cpu<T>(N * Tn, d.Dk, A, keys, w_k, dpk.data(), dkeys, dw_k, nullptr, false);
}

template <typename T>
void dot_forward_cpu(const StepAttnDesc& d, const T* query, const T* keys, const T* values,
                     const int64_t* key_lengths, T* context, T* weights) {
  const int64_t Tn = d.T, Dk = d.Dk, Dv = d.Dv;
  const int nt = threads_for(double(d.N) * Tn * (2.0 * Dk + 2.0 * Dv), kStepWorkPerThread);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    Buffer<T> e(static_cast<size_t>(std::max<int64_t>(Tn, 1)));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < d.N; ++n) {
      const int64_t kl = len_of(key_lengths, n, Tn);
      if (kl > 0)
        mat(e.data(), kl, 1, 1).noalias() =
            cmat(keys + n * Tn * Dk, kl, Dk, Dk) * cmat(query + n * Dk, 1, Dk, Dk).transpose();
      softmax_context(e.data(), kl, Tn, values + n * Tn * Dv, Dv, weights + n * Tn,
                      context + n * Dv);
    }
  }
}

template <typename T>
void dot_backward_cpu(const StepAttnDesc& d, const T* query, const T* keys, const T* values,
                      const int64_t* key_lengths, const T* weights, const T* dcontext,
                      const T* dweights, T* dquery, T* dkeys, T* dvalues) {
  const int64_t Tn = d.T, Dk = d.Dk, Dv = d.Dv;
  const int nt = threads_for(double(d.N) * Tn * (4.0 * Dk + 4.0 * Dv), kStepWorkPerThread);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    Buffer<T> e(static_cast<size_t>(std::max<int64_t>(Tn, 1)));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < d.N; ++n) {
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
      dq.noalias() = es.transpose() * cmat(keys + n * Tn * Dk, kl, Dk, Dk);
      dk.topRows(kl).noalias() = es * cmat(query + n * Dk, 1, Dk, Dk);
    }
  }
}

// ----------------------------------------------------------------------- dense helpers

// Row count up to which linear_forward takes the dot-product path (no packing of W).
constexpr int64_t kFewRows = 8;

template <typename T>
void linear_forward_cpu(int64_t M, int64_t I, int64_t O, const T* x, const T* w, const T* b,
                        T* y, double min_work_per_thread) {
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
    return;
  }
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    int64_t r0, r1;
    split_rows(M, omp_get_thread_num(), omp_get_num_threads(), r0, r1);
    if (r1 > r0) {
      auto ym = mat(y + r0 * O, r1 - r0, O, O);
      ym.noalias() = cmat(x + r0 * I, r1 - r0, I, I) * cmat(w, O, I, I).transpose();
      if (b) ym.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(b, O);
    }
  }
}

template <typename T>
void linear_backward_cpu(int64_t M, int64_t I, int64_t O, const T* x, const T* w,
                         const T* dy, T* dx, T* dw, T* db, bool accumulate) {
  const int nt = threads_for(4.0 * M * I * O);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();
    int64_t r0, r1;
    if (dx) {  // dx = dy W, rows of M
      split_rows(M, tid, nthr, r0, r1);
      if (r1 > r0)
        mat(dx + r0 * I, r1 - r0, I, I).noalias() =
            cmat(dy + r0 * O, r1 - r0, O, O) * cmat(w, O, I, I);
    }
    split_rows(O, tid, nthr, r0, r1);  // dw = dy^T x and db, rows of O
    if (r1 > r0) {
      auto dwm = mat(dw + r0 * I, r1 - r0, I, I);
      const auto dys = cmat(dy + r0, M, r1 - r0, O);
      if (accumulate)
        dwm.noalias() += dys.transpose() * cmat(x, M, I, I);
      else
        dwm.noalias() = dys.transpose() * cmat(x, M, I, I);
      if (db) {  // column sums, row after row (contiguous, same order for every split)
        Arr<T> dbs(db + r0, r1 - r0);
        if (!accumulate) dbs.setZero();
        for (int64_t m = 0; m < M; ++m) dbs += CArr<T>(dy + m * O + r0, r1 - r0);
      }
    }
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
                                      const T*, T*, double);                                       \
  template void linear_backward_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*,        \
                                       const T*, T*, T*, T*, bool);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore::cpu
