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
    const P sum = ei::padd(ei::padd(ei::pset1<P>(T(1)), ei::pexp(ei::psub(u, mf))),
                           ei::pexp(ei::psub(v, mf)));
    P r = ei::padd(mf, ei::plog(sum));
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
    ei::pstoreu(out + s, ei::pexp(ei::psub(ei::padd(ei::ploadu<P>(a + s), ei::ploadu<P>(b + s)), ps)));
}

// x[k] = exp(x[k] - shift) * scale, k in [0, n), n a multiple of kLead.
template <typename T>
inline void exp_scale(int64_t n, T* x, T shift, T scale) {
  using P = typename ei::packet_traits<T>::type;
  constexpr int64_t PS = ei::unpacket_traits<P>::size;
  const P ps = ei::pset1<P>(shift), pm = ei::pset1<P>(scale);
  for (int64_t k = 0; k < n; k += PS)
    ei::pstore(x + k, ei::pmul(ei::pexp(ei::psub(ei::pload<P>(x + k), ps)), pm));
}

// Sets a row (kLead + state indexing, width W) to -inf outside states [lo, hi].
template <typename T>
inline void fill_outside(T* row, int64_t lo, int64_t hi, int64_t W) {
  std::fill(row, row + kLead + lo, kNegInf<T>);
  std::fill(row + kLead + hi + 1, row + W, kNegInf<T>);
}

// Per-thread workspace layout (elements of T), each part starting on a 64-byte boundary.
struct Layout {
  int64_t alpha = 0, row = 0, crow = 0, labels = 0;  // sizes
  int64_t per_thread() const { return alpha + 5 * row + crow + labels; }
};

template <typename T>
Layout make_layout(int64_t N, int64_t C, const int64_t* input_lengths,
                   const int64_t* target_lengths, bool from_logits) {
  int64_t amax = 0, wmax = row_width(1);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t W = row_width(2 * target_lengths[n] + 1);
    amax = std::max(amax, input_lengths[n] * W);
    wmax = std::max(wmax, W);
  }
  Layout l;
  l.alpha = amax;
  l.row = wmax;
  l.crow = from_logits ? round_up(C) : 0;
  // extended labels l' as int64 in the float buffer: sizeof(int64_t)/sizeof(T) slots each
  l.labels = round_up(wmax * int64_t(sizeof(int64_t) / sizeof(T)));
  return l;
}

// One utterance: writes its loss and grad rows [t, n, :] for every t < T.
template <typename T>
void ctc_utterance(const CtcDesc& d, const T* x, int64_t n, T scale, T* ws, const Layout& lay,
                   T* losses, T* grad) {
  const int64_t C = d.C, N = d.N, Tn = d.input_lengths[n], L = d.target_lengths[n];
  const int64_t S = 2 * L + 1, W = row_width(S);
  const int64_t* lab = d.targets + d.target_offsets[n];
  T* alpha = ws;                       // [Tn, W] rows of states, frame t at alpha + t*W
  T* lp = alpha + lay.alpha;           // lp[s] = log_probs[t, l'_s] of the current frame
  T* mask = lp + lay.row;              // 0 where state s may skip from s-2, else -inf
  T* beta = mask + lay.row;            // beta_t
  T* e = beta + lay.row;               // lp + beta_t, the input of beta_{t-1}
  T* occ = e + lay.row;                // occupancy exp(alpha + beta - log p) of frame t
  T* crow = occ + lay.row;             // [C] scratch for log_softmax (logits only)
  int64_t* ext = reinterpret_cast<int64_t*>(crow + lay.crow);  // l'_s

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

  // Scores of frame t: log_probs rows, or log_softmax(logits) written into the grad rows.
  const T* src = x;
  if (d.from_logits) {
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
  // the blank's score is one load per frame; labels are gathered (and NaN-checked)
  auto gather = [&](int64_t t, int64_t lo, int64_t hi) {
    const T* r = src + (t * N + n) * C;
    const T vb = r[d.blank];
    bool bad = std::isnan(vb);
    for (int64_t s = lo + (lo & 1); s <= hi; s += 2) lp[kLead + s] = vb;
    for (int64_t s = lo | 1; s <= hi; s += 2) {
      const T v = r[ext[s]];
      lp[kLead + s] = v;
      bad |= std::isnan(v);
    }
    nan |= bad;
  };
  auto prefetch_row = [&](int64_t t) {  // rows are N*C apart: help the next frame's gather
    if (t >= 0 && t < Tn) {
      const char* p = reinterpret_cast<const char*>(src + (t * N + n) * C);
      for (int64_t b = 0; b < int64_t(C * sizeof(T)); b += 64) __builtin_prefetch(p + b);
    }
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
    if (C <= 64) prefetch_row(t + 1);
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
    if (C <= 64) prefetch_row(t - 1);
    gather(t, lo, hi);  // before row t of grad (maybe holding the scores) is overwritten
    exp_sum(lanes_lo(lo), lanes_hi(hi), alpha + t * W + kLead, b, log_p, occ);
    T* g = grow(t);
    T blank_occ = 0;
    for (int64_t s = lo + (lo & 1); s <= hi; s += 2) blank_occ += occ[s];
    if (d.from_logits) {  // dz = softmax * sum(occ) - occ
      T total = blank_occ;
      for (int64_t s = lo | 1; s <= hi; s += 2) total += occ[s];
      std::copy(g, g + C, crow);
      exp_scale(round_up(C), crow, T(0), total * scale);  // lanes past C: unused
      std::copy(crow, crow + C, g);
    } else {
      std::fill(g, g + C, T(0));
    }
    g[d.blank] -= blank_occ * scale;
    for (int64_t s = lo | 1; s <= hi; s += 2) g[ext[s]] -= occ[s] * scale;
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

int64_t ctc_workspace_bytes_cpu(int64_t T, int64_t N, int64_t C, const int64_t* input_lengths,
                                const int64_t* target_lengths, bool from_logits,
                                int64_t elem_size, int threads) {
  const int nthr = loss_threads(T, N, C, input_lengths, target_lengths, threads);
  const Layout l = elem_size == 4
                       ? make_layout<float>(N, C, input_lengths, target_lengths, from_logits)
                       : make_layout<double>(N, C, input_lengths, target_lengths, from_logits);
  return N == 0 ? 0 : l.per_thread() * nthr * elem_size;
}

template <typename T>
void ctc_loss_cpu(const CtcDesc& d, const T* x, const T* scale, T* losses, T* grad) {
  const int64_t N = d.N;
  if (N == 0) return;
  const Layout lay = make_layout<T>(N, d.C, d.input_lengths, d.target_lengths, d.from_logits);
  const int nthr =
      loss_threads(d.T, N, d.C, d.input_lengths, d.target_lengths, get_num_threads());
  Buffer<T> ws(static_cast<size_t>(lay.per_thread() * nthr));
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
    T* mine = ws.data() + lay.per_thread() * omp_get_thread_num();
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
