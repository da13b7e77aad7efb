// CPU kernels for CTC (Eigen packets + OpenMP across utterances). See ctc.h for the plan.
#include "cpu/ctc_cpu.h"
#include "cpu/vec.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

namespace seqcore::cpu {
namespace {

constexpr int64_t kAlignElems = 16;  // 64 bytes of float32; row starts stay 64-byte aligned
inline int64_t round_up(int64_t n) { return (n + kAlignElems - 1) / kAlignElems * kAlignElems; }

template <typename T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// A row of states: state s lives at row[kLead + s]. Every row is -inf outside the band of
// states being computed, so the recursions can run over whole SIMD packets: the band
// [lo, hi] is widened to [lo rounded down, hi + 1 rounded up) to multiples of kLead, the
// extra lanes read -inf pads (two before state 0, at least 18 after state S-1) and their
// results are overwritten by the next fill. No scalar remainder: every state goes through
// the same packet code, so results do not depend on where a band starts (determinism).
constexpr int64_t kLead = kAlignElems;
inline int64_t row_width(int64_t S) { return round_up(S + 2 * kLead + 2); }
inline int64_t lanes_lo(int64_t lo) { return lo / kLead * kLead; }
inline int64_t lanes_hi(int64_t hi) { return round_up(hi + 1); }

namespace ei = Eigen::internal;

// out[s] = [add[s] +] log(exp(a[s]) + exp(b[s]) + exp(c[s] + cmask[s])) for s in [s0, s1),
// -inf when all three are -inf. Shifted pointers into one row give the alpha (b = a-1,
// c = a-2) and beta (b = a+1, c = a+2) recursions.
template <typename T, bool kAdd>
inline void lse3(int64_t s0, int64_t s1, const T* a, const T* b, const T* c, const T* cmask,
                 const T* add, T* out) {
  using P = typename ei::packet_traits<T>::type;
  constexpr int64_t PS = ei::unpacket_traits<P>::size;
  static_assert(kLead % PS == 0, "packets must tile the lanes");
  const P ninf = ei::pset1<P>(kNegInf<T>);
  const P lowest = ei::pset1<P>(std::numeric_limits<T>::lowest());
  for (int64_t s = s0; s < s1; s += PS) {
    const P pa = ei::ploadu<P>(a + s), pb = ei::ploadu<P>(b + s);
    const P pc = ei::padd(ei::ploadu<P>(c + s), ei::ploadu<P>(cmask + s));
    // m = max of the three, u and v the other two: exp(m - m) = 1 needs no exp.
    const P hi = ei::pmax(pa, pb), v = ei::pmin(pa, pb);
    const P m = ei::pmax(hi, pc), u = ei::pmin(hi, pc);
    const P mf = ei::pmax(m, lowest);  // finite: -inf - mf stays -inf, never NaN
    const P sum = ei::padd(ei::padd(ei::pset1<P>(T(1)), exp_bounded(ei::psub(u, mf))),
                           exp_bounded(ei::psub(v, mf)));
    P r = ei::padd(mf, log_positive(sum));  // sum in [1, 3]
    if constexpr (kAdd) r = ei::padd(r, ei::ploadu<P>(add + s));
    r = ei::pselect(ei::pcmp_eq(m, ninf), ninf, r);
    ei::pstoreu(out + s, r);
  }
}

// out[s] = exp(a[s] + b[s] - shift), s in [s0, s1).
template <typename T>
inline void exp_sum(int64_t s0, int64_t s1, const T* a, const T* b, T shift, T* out) {
  using P = typename ei::packet_traits<T>::type;
  constexpr int64_t PS = ei::unpacket_traits<P>::size;
  const P ps = ei::pset1<P>(shift);
  for (int64_t s = s0; s < s1; s += PS)
    ei::pstoreu(out + s, exp_bounded(ei::psub(ei::padd(ei::ploadu<P>(a + s), ei::ploadu<P>(b + s)), ps)));
}

// x[k] = exp(x[k] - shift) * scale, k in [0, n), n a multiple of kLead.
template <typename T>
inline void exp_scale(int64_t n, T* x, T shift, T scale) {
  using P = typename ei::packet_traits<T>::type;
  constexpr int64_t PS = ei::unpacket_traits<P>::size;
  const P ps = ei::pset1<P>(shift), pm = ei::pset1<P>(scale);
  for (int64_t k = 0; k < n; k += PS)
    ei::pstore(x + k, ei::pmul(exp_bounded(ei::psub(ei::pload<P>(x + k), ps)), pm));
}

// Sets a row (kLead + state indexing, width W) to -inf outside states [lo, hi].
template <typename T>
inline void fill_outside(T* row, int64_t lo, int64_t hi, int64_t W) {
  std::fill(row, row + kLead + lo, kNegInf<T>);
  std::fill(row + kLead + hi + 1, row + W, kNegInf<T>);
}

// Brings frame t's row of scores [C] (or, kWrite, of the gradient) towards the cache ahead
// of its use. An utterance's rows are N*C apart, a page or more, where the hardware
// prefetcher stops, and prefetches that miss the TLB are dropped: one demand read fills the
// TLB, then the prefetches fetch the lines (rows up to 8 KiB). The gradient rows are
// prefetched for writing too (AMD Zen 4, T=500 N=16 C=1000 from logits, 2 threads: 9.2 ->
// 8.0 ms; the max pass of softmax_terms and the gradient's stores had waited on memory).
template <bool kWrite = false, typename T>
inline void prefetch_scores(const T* row, int64_t C) {
  const char* p = reinterpret_cast<const char*>(row);
  (void)*reinterpret_cast<const volatile char*>(p);
  if (C * int64_t(sizeof(T)) <= 8192)
    for (int64_t b = 0; b < C * int64_t(sizeof(T)); b += 64) __builtin_prefetch(p + b, kWrite, 2);
}

// Per-thread workspace layout (elements of T), each part starting on a 64-byte boundary.
struct Layout {
  int64_t alpha = 0, row = 0, labels = 0;  // sizes
  int64_t per_thread() const { return alpha + 5 * row + labels; }
};

template <typename T>
Layout make_layout(int64_t N, const int64_t* input_lengths, const int64_t* target_lengths) {
  int64_t amax = 0, wmax = row_width(1);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t W = row_width(2 * target_lengths[n] + 1);
    amax = std::max(amax, input_lengths[n] * W);
    wmax = std::max(wmax, W);
  }
  Layout l;
  l.alpha = amax;
  l.row = wmax;
  // extended labels l' as int64 in the float buffer: sizeof(int64_t)/sizeof(T) slots each
  l.labels = round_up(wmax * int64_t(sizeof(int64_t) / sizeof(T)));
  return l;
}

// From logits, per frame t < T_n of one utterance (softmax_terms): the log-sum-exp and
// 1 / sum exp(x - max) of the frame's logits, and (tab non-null) the table of label scores
// tab[t, 0] = x[t, n, blank] - T(lse[t]), tab[t, 1 + j] = x[t, n, l_j] - T(lse[t]); the grad
// rows t < T_n then hold exp(x - max).
template <typename T>
struct SoftmaxTerms {
  double* lse = nullptr;
  double* inv_sum = nullptr;
  T* tab = nullptr;
};

// One utterance in log space: writes its loss and grad rows [t, n, :] for every t < T.
// Exact on every input (-inf and NaN scores, no alignment); ctc_utterance_scaled falls back
// to it.
// From logits, `sm` (when given) holds the softmax terms, and each gradient row is finished
// in place. Otherwise a row is made in `crow` ([C] scratch) and streamed to grad: written
// once and not read back here, it skips the read-for-ownership of its lines (AMD Zen 4,
// T=500 N=16 C=1000 S=100 from log-probs, 2 threads: 5.9 -> 4.8 ms). (Recomputing the
// softmax from the logits in the backward pass to stream those rows too was ~8% slower.)
template <typename T>
void ctc_utterance_log(const CtcDesc& d, const T* x, int64_t n, T scale, T* ws, const Layout& lay,
                       const SoftmaxTerms<T>* sm, T* crow, T* losses, T* grad) {
  const int64_t C = d.C, N = d.N, Tn = d.input_lengths[n], L = d.target_lengths[n];
  const int64_t S = 2 * L + 1, W = row_width(S);
  const int64_t* lab = d.targets + d.target_offsets[n];
  T* alpha = ws;                       // [Tn, W] rows of states, frame t at alpha + t*W
  T* lp = alpha + lay.alpha;           // lp[s] = log_probs[t, l'_s] of the current frame
  T* mask = lp + lay.row;              // 0 where state s may skip from s-2, else -inf
  T* beta = mask + lay.row;            // beta_t
  T* e = beta + lay.row;               // lp + beta_t, the input of beta_{t-1}
  T* occ = e + lay.row;                // occupancy exp(alpha + beta - log p) of frame t
  int64_t* ext = reinterpret_cast<int64_t*>(occ + lay.row);  // l'_s
  const double* lse = sm ? sm->lse : nullptr;
  const T* tab = sm ? sm->tab : nullptr;

  auto grow = [&](int64_t t) { return grad ? grad + (t * N + n) * C : nullptr; };
  auto zero_rows = [&](int64_t t0) {
    if (grad)
      for (int64_t t = t0; t < d.T; ++t) std::fill(grow(t), grow(t) + C, T(0));
  };

  int64_t repeats = 0;
  for (int64_t i = 1; i < L; ++i) repeats += lab[i] == lab[i - 1];
  if (Tn < L + repeats || Tn == 0) {  // no alignment (or the empty one when Tn = L = 0)
    losses[n] = (Tn == 0 && L == 0) ? T(0) : std::numeric_limits<T>::infinity();
    zero_rows(0);
    return;
  }
  for (int64_t s = 0; s < S; ++s) ext[s] = (s & 1) ? lab[s >> 1] : d.blank;
  std::fill(mask, mask + W, kNegInf<T>);
  for (int64_t s = 3; s < S; s += 2)
    if (ext[s] != ext[s - 2]) mask[kLead + s] = T(0);
  std::fill(lp, lp + W, T(0));  // lanes outside the band: finite, never NaN

  // Scores of frame t: log_probs rows, logits - lse, or (logits without their softmax terms)
  // log_softmax(logits) written into the grad rows.
  const T* src = x;
  if (d.from_logits && !lse) {
    const int64_t Cr = round_up(C);  // whole packets over the aligned scratch row
    for (int64_t t = 0; t < Tn; ++t) {
      const T* xr = x + (t * N + n) * C;
      Arr<T> c(crow, Cr);
      std::copy(xr, xr + C, crow);
      std::fill(crow + C, crow + Cr, kNegInf<T>);
      const T mx = c.maxCoeff();
      exp_scale(Cr, crow, mx, T(1));
      std::fill(crow + C, crow + Cr, T(0));
      const T lse = mx + std::log(c.sum());
      T* g = grow(t);
      for (int64_t k = 0; k < C; ++k) g[k] = xr[k] - lse;
    }
    src = grad;
  }
  bool nan = false;  // the min/max network of lse3 would drop NaN: track it here
  // the blank's score is one load per frame; labels are gathered (and NaN-checked), from
  // the table of label scores when there is one (the same values: x - T(lse))
  auto gather = [&](int64_t t, int64_t lo, int64_t hi) {
    const T* r = src + (t * N + n) * C;
    const T* row = tab ? tab + t * (L + 1) : nullptr;
    const T off = lse ? T(lse[t]) : T(0);
    const T vb = row ? row[0] : r[d.blank] - off;
    bool bad = std::isnan(vb);
    for (int64_t s = lo + (lo & 1); s <= hi; s += 2) lp[kLead + s] = vb;
    for (int64_t s = lo | 1; s <= hi; s += 2) {
      const T v = row ? row[1 + (s >> 1)] : r[ext[s]] - off;
      lp[kLead + s] = v;
      bad |= std::isnan(v);
    }
    nan |= bad;
  };
  auto prefetch_row = [&](int64_t t) {
    if (t >= 0 && t < Tn) prefetch_scores(src + (t * N + n) * C, C);
  };
  // States that can still reach the end, and that can be reached from the start.
  auto band_lo = [&](int64_t t) { return std::max<int64_t>(0, S - 2 * (Tn - t)); };
  auto band_hi = [&](int64_t t) { return std::min<int64_t>(S - 1, 2 * t + 1); };

  // alpha (includes frame t's emission)
  std::fill(alpha, alpha + W, kNegInf<T>);
  gather(0, 0, std::min<int64_t>(1, S - 1));
  alpha[kLead] = lp[kLead];
  if (S > 1) alpha[kLead + 1] = lp[kLead + 1];
  for (int64_t t = 1; t < Tn; ++t) {
    const int64_t lo = band_lo(t), hi = band_hi(t);
    const T* prev = alpha + (t - 1) * W + kLead;
    T* cur = alpha + t * W;
    if (!tab) prefetch_row(t + 2);
    gather(t, lo, hi);
    lse3<T, true>(lanes_lo(lo), lanes_hi(hi), prev, prev - 1, prev - 2, mask + kLead,
                  lp + kLead, cur + kLead);
    fill_outside(cur, lo, hi, W);
  }
  const T* last = alpha + (Tn - 1) * W + kLead;
  T log_p = last[S - 1];
  if (S > 1) {
    const T a = last[S - 1], b = last[S - 2], m = std::max(a, b);
    log_p = m == kNegInf<T> ? m : m + std::log(std::exp(a - m) + std::exp(b - m));
  }
  if (nan || std::isnan(log_p)) {  // NaN in, NaN out
    losses[n] = std::numeric_limits<T>::quiet_NaN();
    zero_rows(0);
    if (grad)
      for (int64_t t = 0; t < Tn; ++t) std::fill(grow(t), grow(t) + C, losses[n]);
    return;
  }
  if (!(log_p > kNegInf<T>)) {  // only -inf scores reach the end
    losses[n] = std::numeric_limits<T>::infinity();
    zero_rows(0);
    return;
  }
  losses[n] = -log_p;
  if (!grad) return;

  // beta (excludes frame t's emission) in two rows, gradient of frame t on the way down
  T* b = beta + kLead;
  T* en = e + kLead;
  std::fill(beta, beta + W, kNegInf<T>);
  b[S - 1] = T(0);
  if (S > 1) b[S - 2] = T(0);
  for (int64_t t = Tn - 1; t >= 0; --t) {
    const int64_t lo = band_lo(t), hi = band_hi(t);
    if (!tab) prefetch_row(t - 2);
    if (sm && t >= 2) prefetch_scores<true>(grow(t - 2), C);  // finished in place
    gather(t, lo, hi);  // before row t of grad (maybe holding the scores) is overwritten
    exp_sum(lanes_lo(lo), lanes_hi(hi), alpha + t * W + kLead, b, log_p, occ);
    T* g = grow(t);
    T blank_occ = 0;
    for (int64_t s = lo + (lo & 1); s <= hi; s += 2) blank_occ += occ[s];
    T* row = crow;
    if (d.from_logits) {  // dz = softmax * sum(occ) - occ
      T total = blank_occ;
      for (int64_t s = lo | 1; s <= hi; s += 2) total += occ[s];
      if (sm) {  // g holds exp(x - max)
        const T f = total * scale * T(sm->inv_sum[t]);
        for (int64_t k = 0; k < C; ++k) g[k] *= f;
        row = g;
      } else {  // g holds log_softmax(x)
        std::copy(g, g + C, crow);
        exp_scale(round_up(C), crow, T(0), total * scale);  // lanes past C: unused
      }
    } else {
      std::fill(crow, crow + C, T(0));
    }
    row[d.blank] -= blank_occ * scale;
    for (int64_t s = lo | 1; s <= hi; s += 2) row[ext[s]] -= occ[s] * scale;
    if (row != g) stream_copy(row, g, C);
    if (t == 0) break;
    // beta_{t-1}(s) = lse(e(s), e(s+1), e(s+2) + mask) with e = lp_t + beta_t
    for (int64_t s = lanes_lo(lo), s1 = lanes_hi(hi); s < s1; ++s) en[s] = lp[kLead + s] + b[s];
    fill_outside(e, lo, hi, W);
    const int64_t lo1 = band_lo(t - 1), hi1 = band_hi(t - 1);
    lse3<T, false>(lanes_lo(lo1), lanes_hi(hi1), en, en + 1, en + 2, mask + kLead + 2, nullptr,
                   b);
    fill_outside(beta, lo1, hi1, W);
  }
  zero_rows(Tn);
}

// ---- Linear space with per-frame rescaling (the fast path) ---------------------------------
// Rabiner's scaling, the alternative to log space in Graves et al. 2006 (sec. 4.1):
// probabilities in double, frame t's emissions y_t(s) = exp(lp_t(l'_s) - M_t) with M_t the
// frame's largest in-band score, and each row divided by its predecessor's maximum. No exp or
// log per state: one exp per label in the band and one log per frame. Double holds ~708
// nats below a frame's maximum; a value that leaves its normal range (where log space would
// still be exact), a non-finite score, an utterance without an alignment or a band whose
// spread is heading past that range sends the utterance to log space instead.
//
// Tables (rows of W states, kLead indexing, written over whole packets of the band):
//   pre_t(s) = (r_{t-1}(s) + r_{t-1}(s-1) + mask(s) r_{t-1}(s-2)) / A_{t-1}, alpha before
//   frame t's emission; r_t = pre_t * y_t (two rolling rows), A_t = max_s r_t(s);
//   alpha_t = r_t * exp(sum_{u<=t} M_u) * prod_{u<t} A_u.
//   Backward, e_t = beta_t * y_t up to a constant (beta_t excludes frame t's emission):
//   e_{t-1}(s) = (e_t(s) + e_t(s+1) + mask(s+2) e_t(s+2)) * y_{t-1}(s) / max_s e_t(s),
//   and frame t's occupancy is pre_t(s) e_t(s) / sum_s pre_t(s) e_t(s).
struct ScaledLayout {
  int64_t table = 0, row = 0;  // doubles
  int64_t per_thread() const { return 2 * table + 5 * row; }
};

ScaledLayout make_scaled_layout(int64_t N, const int64_t* input_lengths,
                                const int64_t* target_lengths) {
  ScaledLayout l;
  l.row = row_width(1);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t W = row_width(2 * target_lengths[n] + 1);
    l.table = std::max(l.table, input_lengths[n] * W);
    l.row = std::max(l.row, W);
  }
  return l;
}

// A thread's workspace, in doubles: from logits, the softmax terms of one utterance (lse and
// 1 / sum per frame, the table of label scores [T_n, L + 1] in T); a gradient row [C] in T;
// then the linear-space layout or the log-space one, whichever is larger (an
// utterance runs in one or the other, so they share the memory).
struct Workspace {
  Layout log;
  ScaledLayout scaled;
  int64_t frames = 0, scores = 0, crow = 0, body = 0;
  int64_t prefix() const { return 2 * frames + scores + crow; }
  int64_t per_thread() const { return prefix() + body; }
};

template <typename T>
Workspace make_workspace(int64_t N, int64_t C, const int64_t* input_lengths,
                         const int64_t* target_lengths, bool from_logits) {
  Workspace w;
  w.log = make_layout<T>(N, input_lengths, target_lengths);
  w.crow = round_up((round_up(C) * int64_t(sizeof(T)) + 7) / 8);
  w.scaled = make_scaled_layout(N, input_lengths, target_lengths);
  if (from_logits) {
    int64_t tmax = 0, tab = 0;
    for (int64_t n = 0; n < N; ++n) {
      tmax = std::max(tmax, input_lengths[n]);
      tab = std::max(tab, input_lengths[n] * (target_lengths[n] + 1));
    }
    w.frames = round_up(tmax);
    w.scores = round_up((tab * int64_t(sizeof(T)) + 7) / 8);
  }
  w.body = round_up(std::max(w.scaled.per_thread(),
                             (w.log.per_thread() * int64_t(sizeof(T)) + 7) / 8));
  return w;
}

// From logits: the softmax terms of utterance n (SoftmaxTerms) and exp(x - max) in its grad
// rows (when given), in one read of the logits; the backward pass only scales those rows,
// and the log-space recursions read the table of label scores (L2-resident) instead of the
// rows, a page apart. False for a row with NaN or +-inf logits (the log-space path's own
// log_softmax then gives its semantics).
template <typename T>
bool softmax_terms(const CtcDesc& d, const T* x, int64_t n, const SoftmaxTerms<T>& sm,
                   T* grad) {
  using P = typename ei::packet_traits<T>::type;
  constexpr int64_t PS = ei::unpacket_traits<P>::size;
  const int64_t C = d.C, N = d.N, Cp = C / PS * PS, Tn = d.input_lengths[n];
  const int64_t L = d.target_lengths[n];
  const int64_t* lab = d.targets + d.target_offsets[n];
  for (int64_t t = 0; t < Tn; ++t) {
    const T* xr = x + (t * N + n) * C;
    T* g = grad ? grad + (t * N + n) * C : nullptr;
    if (t + 2 < Tn) {  // the rows are read (and written) from memory here, a page apart
      prefetch_scores(xr + 2 * N * C, C);
      if (g) prefetch_scores<true>(g + 2 * N * C, C);
    }
    P pm = ei::pset1<P>(kNegInf<T>);
    for (int64_t k = 0; k < Cp; k += PS) pm = ei::pmax(pm, ei::ploadu<P>(xr + k));
    T mx = ei::predux_max(pm);
    for (int64_t k = Cp; k < C; ++k) mx = std::max(mx, xr[k]);
    if (!std::isfinite(mx)) return false;
    // one pass: exp(x - max) into the gradient row and its sum (fixed order)
    const P shift = ei::pset1<P>(mx);
    P acc = ei::pzero(P());
    for (int64_t k = 0; k < Cp; k += PS) {
      const P e = exp_bounded(ei::psub(ei::ploadu<P>(xr + k), shift));
      if (g) ei::pstoreu(g + k, e);
      acc = ei::padd(acc, e);
    }
    if (Cp < C) {  // the tail as one packet padded with -inf (exp: 0)
      alignas(64) T tail[PS];
      std::fill(std::copy(xr + Cp, xr + C, tail), tail + PS, kNegInf<T>);
      const P e = exp_bounded(ei::psub(ei::pload<P>(tail), shift));
      ei::pstore(tail, e);
      if (g) std::copy(tail, tail + (C - Cp), g + Cp);
      acc = ei::padd(acc, e);
    }
    const double total = double(ei::predux(acc));
    if (!std::isfinite(total)) return false;  // NaN logits
    sm.lse[t] = double(mx) + std::log(total);
    sm.inv_sum[t] = 1.0 / total;
    if (!sm.tab) continue;
    const T off = T(sm.lse[t]);
    T* row = sm.tab + t * (L + 1);
    row[0] = xr[d.blank] - off;
    for (int64_t j = 0; j < L; ++j) row[1 + j] = xr[lab[j]] - off;
  }
  return true;
}

// out[s] = (a[s] + b[s] + c[s] * cmask[s]) * scale * y[s] over the packets of [s0, s1), the
// factor before y also stored in pre[s] (when given). Returns max(out), and the smallest
// positive out in *min_pos (when given); sets *bad when a positive sum met a positive y and
// the product fell below double's normal range.
inline double step_scaled(int64_t s0, int64_t s1, const double* a, const double* b,
                          const double* c, const double* cmask, const double* y, double scale,
                          double* pre, double* out, bool* bad, double* min_pos = nullptr) {
  using P = ei::packet_traits<double>::type;
  constexpr int64_t PS = ei::unpacket_traits<P>::size;
  static_assert(kLead % PS == 0, "packets must tile the lanes");
  const P zero = ei::pzero(P()), sc = ei::pset1<P>(scale);
  const P tiny = ei::pset1<P>(std::numeric_limits<double>::min());
  const P big = ei::pset1<P>(std::numeric_limits<double>::max());
  P mx = zero, mn = big, flag = zero;
  for (int64_t s = s0; s < s1; s += PS) {
    const P sum = ei::pmul(ei::padd(ei::padd(ei::ploadu<P>(a + s), ei::ploadu<P>(b + s)),
                                    ei::pmul(ei::ploadu<P>(c + s), ei::ploadu<P>(cmask + s))),
                           sc);
    const P py = ei::ploadu<P>(y + s);
    const P r = ei::pmul(sum, py);
    if (pre) ei::pstoreu(pre + s, sum);
    ei::pstoreu(out + s, r);
    mx = ei::pmax(mx, r);
    if (min_pos) mn = ei::pmin(mn, ei::pselect(ei::pcmp_lt(zero, r), r, big));
    flag = ei::por(flag, ei::pand(ei::pand(ei::pcmp_lt(zero, sum), ei::pcmp_lt(zero, py)),
                                  ei::pcmp_lt(r, tiny)));
  }
  if (ei::predux_any(flag)) *bad = true;
  if (min_pos) *min_pos = ei::predux_min(mn);
  return ei::predux_max(mx);
}

// sum_s a[s] * b[s] over the packets of [s0, s1), in a fixed order.
inline double dot_lanes(int64_t s0, int64_t s1, const double* a, const double* b) {
  using P = ei::packet_traits<double>::type;
  constexpr int64_t PS = ei::unpacket_traits<P>::size;
  P acc = ei::pzero(P());
  for (int64_t s = s0; s < s1; s += PS)
    acc = ei::pmadd(ei::ploadu<P>(a + s), ei::ploadu<P>(b + s), acc);
  return ei::predux(acc);
}

inline void zero_outside(double* row, int64_t lo, int64_t hi, int64_t W) {
  std::fill(row, row + kLead + lo, 0.0);
  std::fill(row + kLead + hi + 1, row + W, 0.0);
}

enum class Scaled { kDone, kLogSpace, kLogSpaceRowsUsed };

// One utterance in linear space (from logits with the softmax terms `sm`; gradient rows as
// ctc_utterance_log makes them). kLogSpace: it must be computed in log space, and no grad
// row was written; kLogSpaceRowsUsed: the same, but some grad rows were.
template <typename T>
Scaled ctc_utterance_scaled(const CtcDesc& d, const T* x, int64_t n, T scale, double* ws,
                            const ScaledLayout& lay, const SoftmaxTerms<T>* sm, T* crow,
                            T* losses, T* grad) {
  constexpr double kTiny = std::numeric_limits<double>::min();
  const int64_t C = d.C, N = d.N, Tn = d.input_lengths[n], L = d.target_lengths[n];
  const int64_t S = 2 * L + 1, W = row_width(S);
  const int64_t* lab = d.targets + d.target_offsets[n];
  int64_t repeats = 0;
  for (int64_t i = 1; i < L; ++i) repeats += lab[i] == lab[i - 1];
  if (Tn == 0 || Tn < L + repeats) return Scaled::kLogSpace;

  double* pre = ws;                  // [Tn, W] alpha before frame t's emission
  double* y = pre + lay.table;       // [Tn, W] emissions exp(lp - M_t), 0 outside the band
  double* mask = y + lay.table;      // 1 where state s may skip from s-2, else 0
  double* ping = mask + lay.row;     // rolling rows: r_t (forward), e_t (backward)
  double* pong = ping + lay.row;
  double* lv = pong + lay.row;       // the band's label scores, then their emissions
  int64_t* ext = reinterpret_cast<int64_t*>(lv + lay.row);  // l'_s
  auto grow = [&](int64_t t) { return grad + (t * N + n) * C; };

  for (int64_t s = 0; s < S; ++s) ext[s] = (s & 1) ? lab[s >> 1] : d.blank;
  std::fill(mask, mask + W, 0.0);
  for (int64_t s = 3; s < S; s += 2)
    if (ext[s] != ext[s - 2]) mask[kLead + s] = 1.0;

  // y_t over the band [lo, hi] (whole packets, zero outside); returns M_t or NaN when
  // frame t cannot be scaled (NaN or +-inf scores, or an emission below the normal range).
  using P = ei::packet_traits<double>::type;
  constexpr int64_t PS = ei::unpacket_traits<P>::size;
  auto emissions = [&](int64_t t, int64_t lo, int64_t hi) {
    const T* r = x + (t * N + n) * C;
    const double off = d.from_logits ? sm->lse[t] : 0.0;
    const int64_t j0 = lo >> 1, nj = hi >= 1 ? ((hi - 1) >> 1) - j0 + 1 : 0;
    const bool has_blank = hi > lo || !(lo & 1);
    const double vb = double(r[d.blank]) - off;
    double m = has_blank ? vb : kNegInf<double>;
    bool nan = has_blank && std::isnan(vb);
    for (int64_t k = 0; k < nj; ++k) {
      const double v = double(r[lab[j0 + k]]) - off;
      lv[k] = v;
      nan |= std::isnan(v);
      m = std::max(m, v);
    }
    if (nan || !std::isfinite(m)) return std::numeric_limits<double>::quiet_NaN();
    const int64_t nr = (nj + PS - 1) / PS * PS;
    std::fill(lv + nj, lv + nr, kNegInf<double>);
    const P pm = ei::pset1<P>(m), ninf = ei::pset1<P>(kNegInf<double>);
    const P tiny = ei::pset1<P>(kTiny);
    P flag = ei::pzero(P());
    for (int64_t k = 0; k < nr; k += PS) {
      const P v = ei::pload<P>(lv + k), e = ei::pexp(ei::psub(v, pm));
      flag = ei::por(flag, ei::pand(ei::pcmp_lt(ninf, v), ei::pcmp_lt(e, tiny)));
      ei::pstore(lv + k, e);
    }
    const double yb = std::exp(vb - m);
    if (ei::predux_any(flag) || (has_blank && vb > kNegInf<double> && yb < kTiny))
      return std::numeric_limits<double>::quiet_NaN();
    double* yr = y + t * W + kLead;
    std::fill(yr + lanes_lo(lo), yr + lanes_hi(hi), 0.0);
    for (int64_t s = lo + (lo & 1); s <= hi; s += 2) yr[s] = yb;
    for (int64_t s = lo | 1; s <= hi; s += 2) yr[s] = lv[((s - 1) >> 1) - j0];
    return m;
  };
  auto band_lo = [&](int64_t t) { return std::max<int64_t>(0, S - 2 * (Tn - t)); };
  auto band_hi = [&](int64_t t) { return std::min<int64_t>(S - 1, 2 * t + 1); };

  // forward
  bool bad = false;
  double log_scale = 0;  // sum_t M_t + sum_{t < Tn-1} log A_t
  double* cur = ping;
  double* prev = pong;
  std::fill(ping, ping + W, 0.0);
  std::fill(pong, pong + W, 0.0);
  {
    const int64_t hi = std::min<int64_t>(1, S - 1);
    const double m = emissions(0, 0, hi);
    if (std::isnan(m)) return Scaled::kLogSpace;
    log_scale += m;
    double* p0 = pre + kLead;
    std::fill(p0, p0 + lanes_hi(hi), 0.0);
    for (int64_t s = 0; s <= hi; ++s) {
      p0[s] = 1.0;
      cur[kLead + s] = y[kLead + s];
      bad |= !(cur[kLead + s] >= kTiny);
    }
  }
  double A = std::max(cur[kLead], S > 1 ? cur[kLead + 1] : 0.0);
  for (int64_t t = 1; t < Tn && !bad; ++t) {
    const int64_t lo = band_lo(t), hi = band_hi(t);
    if (t + 2 < Tn) prefetch_scores(x + ((t + 2) * N + n) * C, C);
    const double m = emissions(t, lo, hi);
    if (std::isnan(m)) return Scaled::kLogSpace;
    log_scale += m + std::log(A);
    std::swap(cur, prev);
    const double* pv = prev + kLead;
    // The band's spread (log of max / smallest positive state) grows about linearly with t
    // on long utterances; one heading past double's ~708 nats before T_n goes to log space
    // now rather than after most of the forward pass (a speed guess only: exactness is
    // kept by the underflow checks either way).
    const bool probe = (t & 15) == 0;
    double min_pos = 0;
    A = step_scaled(lanes_lo(lo), lanes_hi(hi), pv, pv - 1, pv - 2, mask + kLead,
                    y + t * W + kLead, 1.0 / A, pre + t * W + kLead, cur + kLead, &bad,
                    probe ? &min_pos : nullptr);
    zero_outside(cur, lo, hi, W);
    if (!(A >= kTiny)) return Scaled::kLogSpace;
    if (probe && std::log(A / min_pos) * double(Tn) > 640.0 * double(t))
      return Scaled::kLogSpace;
  }
  if (bad) return Scaled::kLogSpace;
  const double end = cur[kLead + S - 1] + (S > 1 ? cur[kLead + S - 2] : 0.0);
  if (!(end >= kTiny)) return Scaled::kLogSpace;
  losses[n] = T(-(std::log(end) + log_scale));
  if (!grad) return Scaled::kDone;

  // backward: e_t in the rolling rows, the gradient of frame t on the way down
  double* e = prev;
  double* en = cur;
  std::fill(e, e + W, 0.0);
  for (int64_t s = std::max<int64_t>(0, S - 2); s < S; ++s) e[kLead + s] = y[(Tn - 1) * W + kLead + s];
  double E = std::max(e[kLead + S - 1], S > 1 ? e[kLead + S - 2] : 0.0);
  for (int64_t t = Tn - 1; t >= 0; --t) {
    const int64_t lo = band_lo(t), hi = band_hi(t);
    if (d.from_logits && t >= 2) prefetch_scores<true>(grow(t - 2), C);  // finished in place
    const double* pt = pre + t * W + kLead;
    const double* et = e + kLead;
    const double z = dot_lanes(lanes_lo(lo), lanes_hi(hi), pt, et);
    if (!(z >= 1e-280)) return Scaled::kLogSpaceRowsUsed;  // occupancies would lose precision
    const double sc = double(scale) / z;
    T* g = grow(t);
    T* row = crow;
    if (d.from_logits) {  // dz = softmax - occupancy (the occupancies sum to 1); g: exp(x - max)
      const double f = double(scale) * sm->inv_sum[t];
      for (int64_t k = 0; k < C; ++k) g[k] = T(double(g[k]) * f);
      row = g;
    } else {
      std::fill(crow, crow + C, T(0));
    }
    double blank_occ = 0;
    for (int64_t s = lo + (lo & 1); s <= hi; s += 2) blank_occ += pt[s] * et[s];
    row[d.blank] -= T(blank_occ * sc);
    for (int64_t s = lo | 1; s <= hi; s += 2) row[ext[s]] -= T(pt[s] * et[s] * sc);
    if (row != g) stream_copy(row, g, C);
    if (t == 0) break;
    const int64_t lo1 = band_lo(t - 1), hi1 = band_hi(t - 1);
    E = step_scaled(lanes_lo(lo1), lanes_hi(hi1), et, et + 1, et + 2, mask + kLead + 2,
                    y + (t - 1) * W + kLead, 1.0 / E, nullptr, en + kLead, &bad);
    zero_outside(en, lo1, hi1, W);
    if (bad || !(E >= kTiny)) return Scaled::kLogSpaceRowsUsed;
    std::swap(e, en);
  }
  for (int64_t t = Tn; t < d.T; ++t) std::fill(grow(t), grow(t) + C, T(0));
  return Scaled::kDone;
}

// Threads for `items` utterances of `work` units in all: at most one per `min_work` units
// (waking a thread costs microseconds, far more on a loaded machine).
int threads_for(int64_t items, double work, double min_work, int want = get_num_threads()) {
  const double by_work = std::max(1.0, work / min_work);
  return static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>({int64_t(want), items, int64_t(by_work)})));
}

// Threads of a ctc_loss call: by its state-frames (plus the gradient rows it writes).
int loss_threads(int64_t T, int64_t N, int64_t C, const int64_t* input_lengths,
                 const int64_t* target_lengths, int want) {
  double work = double(T) * N * C / 8;
  for (int64_t n = 0; n < N; ++n) work += double(input_lengths[n]) * (2 * target_lengths[n] + 1);
  return threads_for(N, work, 2e4, want);  // 2e4 state-frames: ~20 us
}

}  // namespace

// One utterance: linear space where it keeps log space's accuracy, else log space.
template <typename T>
void ctc_utterance(const CtcDesc& d, const T* x, int64_t n, T scale, double* ws,
                   const Workspace& lay, T* losses, T* grad) {
  SoftmaxTerms<T> terms;
  terms.lse = ws;
  terms.inv_sum = ws + lay.frames;
  // the table pays where a row spans many more cache lines than its labels' scores (C=1000,
  // L=100: 2-3% of the call); for narrow rows building it was a third of softmax_terms
  // (C=30, L=50), and gathering from them costs little
  const bool table = d.C > 4 * (d.target_lengths[n] + 1);
  terms.tab = table ? reinterpret_cast<T*>(ws + 2 * lay.frames) : nullptr;
  const SoftmaxTerms<T>* sm = nullptr;
  auto softmax = [&] { sm = softmax_terms(d, x, n, terms, grad) ? &terms : nullptr; };
  if (d.from_logits) softmax();
  T* crow = reinterpret_cast<T*>(ws + 2 * lay.frames + lay.scores);
  double* body = ws + lay.prefix();
  Scaled r = Scaled::kLogSpace;
  if (!d.from_logits || sm)
    r = ctc_utterance_scaled(d, x, n, scale, body, lay.scaled, sm, crow, losses, grad);
  if (r != Scaled::kDone) {
    if (r == Scaled::kLogSpaceRowsUsed && d.from_logits) softmax();  // the rows of exp(x - max)
    ctc_utterance_log(d, x, n, scale, reinterpret_cast<T*>(body), lay.log, sm, crow, losses,
                      grad);
  }
  stream_fence();  // the rows streamed to grad, before the region's end publishes them
}

int64_t ctc_workspace_bytes_cpu(int64_t T, int64_t N, int64_t C, const int64_t* input_lengths,
                                const int64_t* target_lengths, bool from_logits,
                                int64_t elem_size, int threads) {
  if (N == 0) return 0;
  const int nthr = loss_threads(T, N, C, input_lengths, target_lengths, threads);
  const int64_t per =
      elem_size == 4
          ? make_workspace<float>(N, C, input_lengths, target_lengths, from_logits).per_thread()
          : make_workspace<double>(N, C, input_lengths, target_lengths, from_logits).per_thread();
  return per * nthr * int64_t(sizeof(double));
}

template <typename T>
void ctc_loss_cpu(const CtcDesc& d, const T* x, const T* scale, T* losses, T* grad) {
  const int64_t N = d.N;
  if (N == 0) return;
  const Workspace lay =
      make_workspace<T>(N, d.C, d.input_lengths, d.target_lengths, d.from_logits);
  const int64_t per = lay.per_thread();
  const int nthr =
      loss_threads(d.T, N, d.C, d.input_lengths, d.target_lengths, get_num_threads());
  Buffer<double> ws(static_cast<size_t>(per * nthr));
  // Threads take blocks of consecutive utterances, largest total T_n * S_n first (dynamic
  // balancing of ragged batches). Blocks, not single utterances: the gradient rows [t, n, :]
  // of neighbouring utterances share cache lines, and two threads writing them false-share.
  auto cost = [&](int64_t n) { return d.input_lengths[n] * (2 * d.target_lengths[n] + 1); };
  const int64_t block = nthr > 1 ? std::max<int64_t>(1, N / (4 * nthr)) : N;
  const int64_t nblocks = (N + block - 1) / block;
  std::vector<int64_t> order(static_cast<size_t>(nblocks)), bcost(order.size(), 0);
  for (int64_t n = 0; n < N; ++n) bcost[n / block] += cost(n);
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return bcost[a] > bcost[b]; });
#pragma omp parallel num_threads(nthr) if (nthr > 1 && !omp_in_parallel())
  {
    DenormalsFlushed ftz;
    double* mine = ws.data() + per * omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
    for (int64_t k = 0; k < nblocks; ++k)
      for (int64_t n = order[k] * block, end = std::min(N, n + block); n < end; ++n)
        ctc_utterance(d, x, n, scale[n], mine, lay, losses, grad);
  }
}

template <typename T>
void ctc_greedy_cpu(const T* log_probs, int64_t T_, int64_t N, int64_t C, int64_t blank,
                    const int64_t* input_lengths, std::vector<std::vector<int64_t>>& tokens,
                    std::vector<std::vector<int64_t>>& frames) {
  tokens.assign(static_cast<size_t>(N), {});
  frames.assign(static_cast<size_t>(N), {});
  for (int64_t n = 0; n < N; ++n) {  // no allocation inside the parallel loop
    tokens[n].reserve(static_cast<size_t>(input_lengths[n]));
    frames[n].reserve(static_cast<size_t>(input_lengths[n]));
  }
  double work = 0;
  for (int64_t n = 0; n < N; ++n) work += double(input_lengths[n]) * C;
  const int nthr = threads_for(N, work, 2e5);
#pragma omp parallel for num_threads(nthr) schedule(dynamic, 1) if (nthr > 1 && !omp_in_parallel())
  for (int64_t n = 0; n < N; ++n) {
    int64_t prev = blank;
    for (int64_t t = 0; t < input_lengths[n]; ++t) {
      const T* r = log_probs + (t * N + n) * C;
      const int64_t best = std::max_element(r, r + C) - r;  // first maximum on ties
      if (best != blank && best != prev) {
        tokens[n].push_back(best);
        frames[n].push_back(t);
      }
      prev = best;
    }
  }
}

namespace {

inline double log_add(double a, double b) {
  if (a < b) std::swap(a, b);
  return b == -std::numeric_limits<double>::infinity() ? a : a + std::log1p(std::exp(b - a));
}

// Prefix beam search of one utterance (Hannun et al. 2014, algorithm 1, in log space).
//
// Per frame the candidates are the beam's prefixes themselves (blank, or a repeat of their
// last label) and their one-label extensions. A prefix is a trie node (parent, label);
// an extension (i, c) of beam entry i is the same prefix as beam entry j exactly when j's
// node is (node_i, c): those merge by log-add, all other extensions are distinct prefixes
// with a single term, so candidates are scored in flat arrays and nodes are looked up or
// created only for the extensions that survive (one node per prefix string, so the merge
// test by node is exact). LM scores are cached per (node, label).
template <typename T>
std::vector<CtcHypothesis> beam_utterance(const T* lp, int64_t Tn, int64_t N, int64_t n,
                                          int64_t C, const CtcBeamOptions& o,
                                          CtcLanguageModel* lm) {
  constexpr double kNeg = -std::numeric_limits<double>::infinity();
  struct Node {
    int64_t parent, last;  // last label (-1 at the root)
    int64_t lm_state;
    double bonus;          // lm_weight * log p_lm + word_score * words of the prefix
  };
  struct Entry {
    int64_t node;
    double pb, pnb;  // log p(prefix, ending in blank / in its last label)
  };
  struct Ext {
    int64_t from, label;  // beam index, label
    double pnb, bonus;
    int64_t lm_state;
  };
  std::vector<Node> nodes;
  nodes.push_back({-1, -1, lm ? lm->start() : 0, 0.0});
  std::unordered_map<int64_t, std::pair<int64_t, double>> lm_cache;  // node*C+c -> state, bonus
  std::unordered_map<int64_t, int64_t> children;                     // node*C+c -> node
  auto ext_bonus = [&](int64_t parent, int64_t c, int64_t* state) {
    const Node& p = nodes[parent];
    double b = p.bonus;
    const bool word = o.word_delimiter < 0 ||
                      (c != o.word_delimiter && (p.last < 0 || p.last == o.word_delimiter));
    if (word) b += o.word_score;
    *state = 0;
    if (lm) {
      auto it = lm_cache.find(parent * C + c);
      if (it == lm_cache.end()) {
        int64_t st = 0;
        const double l = o.lm_weight * lm->score(p.lm_state, c, &st);
        it = lm_cache.emplace(parent * C + c, std::make_pair(st, l)).first;
      }
      *state = it->second.first;
      b += it->second.second;
    }
    return b;
  };

  std::vector<Entry> beam{{0, 0.0, kNeg}}, stay;
  std::vector<Ext> ext;
  std::vector<int64_t> cands(static_cast<size_t>(C));
  std::unordered_map<int64_t, int64_t> pos;  // node -> beam index
  std::vector<int64_t> merge_first, merge_next;
  std::vector<double> score;
  std::vector<int64_t> rank;
  for (int64_t t = 0; t < Tn; ++t) {
    const T* row = lp + (t * N + n) * C;
    int64_t nc = 0;  // labels that may extend a prefix at this frame
    for (int64_t c = 0; c < C; ++c)
      if (c != o.blank && double(row[c]) >= o.token_min_logp) cands[nc++] = c;
    if (o.token_top_k > 0 && nc > o.token_top_k) {
      std::partial_sort(cands.begin(), cands.begin() + o.token_top_k, cands.begin() + nc,
                        [&](int64_t a, int64_t b) {
                          return row[a] > row[b] || (row[a] == row[b] && a < b);
                        });
      nc = o.token_top_k;
    }
    const int64_t K = int64_t(beam.size());
    pos.clear();
    for (int64_t j = 0; j < K; ++j) pos[beam[j].node] = j;
    merge_first.assign(K, -1);  // per beam entry i, a list of (label, j) with node_j = (i, label)
    merge_next.assign(K, -1);
    for (int64_t j = 0; j < K; ++j) {
      const Node& v = nodes[beam[j].node];
      if (v.parent >= 0) {
        auto it = pos.find(v.parent);
        if (it != pos.end()) {
          merge_next[j] = merge_first[it->second];
          merge_first[it->second] = j;
        }
      }
    }
    const double lb = row[o.blank];
    stay.resize(K);
    for (int64_t j = 0; j < K; ++j) {
      const Entry& e = beam[j];
      const int64_t last = nodes[e.node].last;
      stay[j] = {e.node, log_add(e.pb, e.pnb) + lb,
                 last >= 0 ? e.pnb + double(row[last]) : kNeg};  // repeat collapses
    }
    ext.clear();
    for (int64_t i = 0; i < K; ++i) {
      const Entry& e = beam[i];
      const double total = log_add(e.pb, e.pnb);
      const int64_t last = nodes[e.node].last;
      for (int64_t k = 0; k < nc; ++k) {
        const int64_t c = cands[k];
        // after the same label, only a path ending in blank starts a new label
        const double p = (c == last ? e.pb : total) + double(row[c]);
        int64_t j = merge_first[i];
        while (j >= 0 && nodes[beam[j].node].last != c) j = merge_next[j];
        if (j >= 0) {
          stay[j].pnb = log_add(stay[j].pnb, p);
          continue;
        }
        if (p == kNeg) continue;
        Ext x{i, c, p, 0.0, 0};
        x.bonus = ext_bonus(e.node, c, &x.lm_state);
        ext.push_back(x);
      }
    }
    // keep the beam_width best (ties: stays first, then extensions in order)
    const int64_t m = K + int64_t(ext.size());
    score.resize(m);
    rank.resize(m);
    for (int64_t j = 0; j < K; ++j)
      score[j] = log_add(stay[j].pb, stay[j].pnb) + nodes[stay[j].node].bonus;
    for (int64_t x = 0; x < int64_t(ext.size()); ++x) score[K + x] = ext[x].pnb + ext[x].bonus;
    for (int64_t i = 0; i < m; ++i) rank[i] = i;
    auto better = [&](int64_t a, int64_t b) {
      return score[a] > score[b] || (score[a] == score[b] && a < b);
    };
    const int64_t keep = std::min<int64_t>(m, o.beam_width);
    if (keep < m) std::nth_element(rank.begin(), rank.begin() + keep, rank.end(), better);
    std::sort(rank.begin(), rank.begin() + keep, better);
    std::vector<Entry> next;
    next.reserve(keep);
    for (int64_t r = 0; r < keep; ++r) {
      const int64_t i = rank[r];
      if (o.beam_threshold > 0 && score[i] < score[rank[0]] - o.beam_threshold) break;
      if (score[i] == kNeg && r > 0) break;
      if (i < K) {
        next.push_back(stay[i]);
      } else {
        // one node per prefix string (a prefix may leave the beam and come back)
        const Ext& x = ext[i - K];
        auto it = children.emplace(beam[x.from].node * C + x.label, int64_t(nodes.size()));
        if (it.second) nodes.push_back({beam[x.from].node, x.label, x.lm_state, x.bonus});
        next.push_back({it.first->second, kNeg, x.pnb});
      }
    }
    beam.swap(next);
  }
  // final scores: end-of-sequence LM term
  std::vector<CtcHypothesis> hyps;
  std::vector<std::pair<double, int64_t>> fin;
  for (const Entry& e : beam) {
    const Node& nd = nodes[e.node];
    double sc = log_add(e.pb, e.pnb) + nd.bonus;
    if (lm) sc += o.lm_weight * lm->finish(nd.lm_state);
    fin.push_back({sc, e.node});
  }
  std::stable_sort(fin.begin(), fin.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < fin.size() && int64_t(i) < o.n_best; ++i) {
    CtcHypothesis h;
    h.score = fin[i].first;
    for (int64_t v = fin[i].second; v > 0; v = nodes[v].parent) h.tokens.push_back(nodes[v].last);
    std::reverse(h.tokens.begin(), h.tokens.end());
    hyps.push_back(std::move(h));
  }
  return hyps;
}

}  // namespace

template <typename T>
void ctc_beam_search_cpu(const T* log_probs, int64_t T_, int64_t N, int64_t C,
                         const int64_t* input_lengths, const CtcBeamOptions& o,
                         CtcLanguageModel* lm, bool lm_thread_safe,
                         std::vector<std::vector<CtcHypothesis>>& out) {
  out.assign(static_cast<size_t>(N), {});
  if (lm && !lm_thread_safe) {  // outside any OpenMP region: the model's errors propagate
    for (int64_t n = 0; n < N; ++n)
      out[n] = beam_utterance(log_probs, input_lengths[n], N, n, C, o, lm);
    return;
  }
  double frames = 0;
  for (int64_t n = 0; n < N; ++n) frames += double(input_lengths[n]);
  const int nthr = threads_for(N, frames * o.beam_width, 2e3);
#pragma omp parallel for num_threads(nthr) schedule(dynamic, 1) if (nthr > 1 && !omp_in_parallel())
  for (int64_t n = 0; n < N; ++n)
    out[n] = beam_utterance(log_probs, input_lengths[n], N, n, C, o, lm);
}

#define SEQCORE_INSTANTIATE(T)                                                            \
  template void ctc_loss_cpu<T>(const CtcDesc&, const T*, const T*, T*, T*);             \
  template void ctc_greedy_cpu<T>(const T*, int64_t, int64_t, int64_t, int64_t,         \
                                  const int64_t*, std::vector<std::vector<int64_t>>&,    \
                                  std::vector<std::vector<int64_t>>&);    \
  template void ctc_beam_search_cpu<T>(const T*, int64_t, int64_t, int64_t, const int64_t*, \
                                       const CtcBeamOptions&, CtcLanguageModel*, bool,      \
                                       std::vector<std::vector<CtcHypothesis>>&);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore::cpu
