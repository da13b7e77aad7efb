// CPU kernels for LSTM / GRU / RNN forward and BPTT (Eigen + OpenMP). See rnn.h for the plan.
#include "cpu/rnn_cpu.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstring>

#include "cpu/gemm.h"
#include "cpu/parallel.h"
#include "cpu/rnn_pointwise.h"
#include "cpu/vec.h"

namespace seqcore::cpu {
namespace {


// Per-step work (flops) per thread below which fewer threads win: every step ends with a
// SpinBarrier and passes h between the cores. On the 2-vCPU Zen 3 VM that costs ~0.1 us
// when the host runs both vCPUs on one core complex and ~1.4 us when it does not (the
// barrier alone 0.05-0.09 vs 0.2-0.24 us); the placement changes every few minutes. N=1
// T=50 inference, one thread vs two: LSTM H=64 (6.6e4 flops a step) 88 vs 63 us or 88 vs
// 119; RNN H=128 (6.6e4) 81 vs 65 or 80 vs 116; LSTM H=128 (2.6e5) 302 vs 221 or 297 vs 260;
// GRU H=128 (2.0e5) 243 vs 149 or 220 vs 208. Two threads from 1.5e5 win either way.
constexpr double kMinStepFlopsPerThread = 7.5e4;
// Except where the recurrent weights do not fit one core's L1 data cache (32 KiB on Zen 3,
// Zen 4 and recent Intel cores): one thread then streams them from L2 at every step (a
// 256 x 64 product, LSTM H=64, at 57 GFLOP/s a core from L2, 94 from L1 on Zen 4), two
// threads hold a half each. AMD Zen 4, N=1 T=50 inference, same-complex placement: LSTM
// H=64 62 -> 48.5 us. From 5e4 flops a step.
constexpr int64_t kL1DataBytes = 32 << 10;
constexpr double kMinStepFlopsL2 = 5e4;

int choose_threads(const RnnDesc& d, const RnnLayout& L, int64_t elem_bytes) {
  const int want = get_num_threads();
  const double step_flops = 2.0 * d.N * rnn_gates(d.cell) * d.H * (d.H + d.I);
  int by_work = static_cast<int>(step_flops / kMinStepFlopsPerThread);
  if (rnn_gates(d.cell) * d.H * d.H * elem_bytes > kL1DataBytes && step_flops >= kMinStepFlopsL2)
    by_work = std::max(by_work, 2);
  return std::max(1, std::min(want, by_work));
}

// Threads for the whole-sequence products (input projection; weight gradients and dx): all
// of them once the product pays for waking a team, also where the time loop runs on fewer
// (a small batch: one thread steps through time, but its T*N-row products split well).
constexpr double kMinGemmFlopsPerThread = 5e5;

int gemm_threads(double flops, int loop_threads) {
  const int by_work = static_cast<int>(flops / kMinGemmFlopsPerThread);
  return std::max(loop_threads, std::min(get_num_threads(), by_work));
}

// Range [b0, b1) of n items for thread tid of nthr, boundaries on multiples of 16.
inline void split_range(int64_t n, int tid, int nthr, int64_t& b0, int64_t& b1) {
  const int64_t chunk = ((n + nthr - 1) / nthr + 15) / 16 * 16;
  b0 = std::min(n, tid * chunk);
  b1 = std::min(n, b0 + chunk);
}

// The pointwise steps run over fixed blocks of hidden units. Eigen evaluates the
// transcendental functions with packets inside a block and with scalars at its edges, and
// the two can round differently; fixed blocks make the split of every row the same
// whatever the number of threads, so results stay bit-identical.
// Blocks of 64 (a multiple of every panel width NR), or 32 below H = 128, so that two
// threads can share the hidden units of a small layer (N=1 H=64: half a step each).
inline int64_t pointwise_block(int64_t H) { return H < 128 ? 32 : 64; }

// Up to this many packed rows in a whole call (a decoder step over a beam, a tiny batch),
// the forward takes its products as dot products straight from the weights: packing W_hh
// into panels and Eigen's packing of W_ih copy O(G*H*(I+H)) values per call, more than the
// products cost at this size. Chosen by shape only, so results stay thread-count invariant.
constexpr int64_t kFewRows = 8;

// out[k * ld_out + q * q_stride + jj] = in[k * ld_in, :H] . w[(q * H + j0 + jj) * H, :H] for
// k < rows, q < blocks, jj < hn: the recurrent product of a hidden slice without panels.
template <typename T>
void recurrent_dots(int64_t rows, int64_t H, const T* in, int64_t ld_in, const T* w,
                    int64_t j0, int64_t hn, int64_t blocks, int64_t q_stride, T* out,
                    int64_t ld_out) {
  for (int64_t q = 0; q < blocks; ++q)  // each weight row read once, for all rows k
    for (int64_t jj = 0; jj < hn; ++jj) {
      const T* wr = w + (q * H + j0 + jj) * H;
      for (int64_t k = 0; k < rows; ++k)
        out[k * ld_out + q * q_stride + jj] = dot(in + k * ld_in, wr, H);
    }
}

// Hidden units [j0, j1) owned by a thread in the time loop: whole pointwise blocks.
inline void split_hidden(int64_t H, int tid, int nthr, int64_t& j0, int64_t& j1) {
  const int64_t pb = pointwise_block(H), blocks = (H + pb - 1) / pb;
  j0 = std::min(H, blocks * tid / nthr * pb);
  j1 = std::min(H, blocks * (tid + 1) / nthr * pb);
}

// A run of gate-buffer columns that multiplies a run of weight rows.
struct Seg {
  int64_t col;  // first column in the gate buffer
  int64_t row;  // first row of w_ih / w_hh
  int64_t n;    // count
};

struct Plan {
  int64_t H, G, Gc, ldg;
  bool lstm, lbr, cho, relu;
  int64_t Gr;                  // gate blocks in the per-step recurrent GEMM (Cho: r, z only)
  std::vector<Seg> x_segs;     // gate-buffer columns holding d(W_ih x) in backward
  std::vector<Seg> h_segs;     // gate-buffer columns holding d(W_hh h) in backward (Hprev)
};

Plan make_plan(const RnnDesc& d) {
  Plan p;
  p.H = d.H;
  p.G = rnn_gates(d.cell);
  p.Gc = rnn_cache_blocks(d);
  p.ldg = p.Gc * d.H;
  p.lstm = d.cell == RnnCell::kLSTM;
  p.lbr = d.cell == RnnCell::kGRU && d.linear_before_reset;
  p.cho = d.cell == RnnCell::kGRU && !d.linear_before_reset;
  p.relu = d.cell == RnnCell::kRNNReLU;
  p.Gr = p.cho ? 2 : p.G;
  const int64_t H = d.H;
  if (p.lbr) {  // cache [r z hn n] -> grads [dr dz dhn dn]
    p.x_segs = {{0, 0, 2 * H}, {3 * H, 2 * H, H}};
    p.h_segs = {{0, 0, 3 * H}};
  } else if (p.cho) {  // cache [r z n rh] -> grads [dr dz dn rh]; W_hn multiplies rh
    p.x_segs = {{0, 0, 3 * H}};
    p.h_segs = {{0, 0, 2 * H}};
  } else {
    p.x_segs = {{0, 0, p.G * H}};
    p.h_segs = {{0, 0, p.G * H}};
  }
  return p;
}

// Gathers packed rows of a [T*N, W] array (W values per row) into dst [rows, W].
template <typename T>
void gather_rows(const RnnLayout& L, const T* src, int64_t W, T* dst, int tid, int nthr) {
  const int64_t T_ = static_cast<int64_t>(L.batch_sizes.size());
  for (int64_t t = tid; t < T_; t += nthr)
    for (int64_t k = 0; k < L.batch_sizes[t]; ++k)
      std::memcpy(dst + (L.offsets[t] + k) * W, src + L.src_row(t, k) * W, W * sizeof(T));
}

// Scatters packed rows src [rows, W] into dst [T*N, W]; rows not covered must be zeroed first.
template <typename T>
void scatter_rows(const RnnLayout& L, const T* src, int64_t W, T* dst, int tid, int nthr) {
  const int64_t T_ = static_cast<int64_t>(L.batch_sizes.size());
  for (int64_t t = tid; t < T_; t += nthr)
    for (int64_t k = 0; k < L.batch_sizes[t]; ++k)
      std::memcpy(dst + L.src_row(t, k) * W, src + (L.offsets[t] + k) * W, W * sizeof(T));
}

// Row of the state buffer [N + rows, H] holding slot k's state before step t.
inline int64_t prev_state_row(const RnnLayout& L, int64_t t, int64_t k) {
  return t == 0 ? k : L.N + L.offsets[t - 1] + k;
}

// The time loop's panels of hidden units [j0, j0 + hn): gate g's columns are the rows
// g*H + j0 .. of w_hh, transposed (B = W_hh^T), padded to hbp (a multiple of NR, so panels
// never straddle gates); GRU-Cho's W_hn (which multiplies r * h) apart in wn.
template <typename T>
void pack_recurrent(const Plan& p, const T* w_hh, int64_t j0, int64_t hn, Buffer<T>& wf,
                    Buffer<T>& wn) {
  using PG = Gemm<T>;
  const int64_t H = p.H, hbp = PG::pad_nr(hn);
  wf.resize(static_cast<size_t>(p.Gr * hbp * H));
  for (int64_t g = 0; g < p.Gr; ++g)
    PG::pack_t(w_hh + (g * H + j0) * H, H, hn, H, T(1), wf.data() + g * hbp * H);
  if (p.cho) {
    wn.resize(static_cast<size_t>(hbp * H));
    PG::pack_t(w_hh + (2 * H + j0) * H, H, hn, H, T(1), wn.data());
  }
}

}  // namespace

template <typename T>
void rnn_forward_cpu(const RnnDesc& d, const RnnLayout& L, const T* x, const T* w_ih,
                     const T* w_hh, const T* b_ih, const T* b_hh, const T* h0, const T* c0,
                     T* y, T* h_n, T* c_n, RnnSaved<T>* saved, const RnnPacked<T>* packed) {
  using PG = Gemm<T>;
  const Plan p = make_plan(d);
  const int64_t N = d.N, H = d.H, I = d.I, G = p.G, ldg = p.ldg, R = L.rows();
  const int64_t T_ = d.T;

  Buffer<T> gates_ws, h_ws, c_ws;
  Buffer<T>& gates_v = saved ? saved->gates : gates_ws;
  Buffer<T>& hs_v = saved ? saved->h : h_ws;
  Buffer<T>& cs_v = saved ? saved->c : c_ws;
  gates_v.resize(static_cast<size_t>(R * ldg));
  hs_v.resize(static_cast<size_t>((N + R) * H));
  if (p.lstm) cs_v.resize(static_cast<size_t>((N + R) * H));
  T* gates = gates_v.data();
  T* hs = hs_v.data();
  T* cs = p.lstm ? cs_v.data() : nullptr;

  Buffer<T> x_packed;
  if (!L.dense) x_packed.resize(static_cast<size_t>(R * I));
  const T* X = L.dense ? x : x_packed.data();

  // b_hh folds into the input projection except the n gate of the PyTorch GRU, where it
  // sits inside r * (W_hn h + b_hn).
  Eigen::Array<T, Eigen::Dynamic, 1> bias = Eigen::Array<T, Eigen::Dynamic, 1>::Zero(G * H);
  if (b_ih) bias += CArr<T>(b_ih, G * H);
  if (b_hh) bias.head(p.lbr ? 2 * H : G * H) += CArr<T>(b_hh, G * H).head(p.lbr ? 2 * H : G * H);
  const T* b_hn = (p.lbr && b_hh) ? b_hh + 2 * H : nullptr;

  const bool few = R <= kFewRows;
  const int nt = choose_threads(d, L, sizeof(T));
  const int ng = few ? nt : gemm_threads(2.0 * R * G * H * I, nt);
  RegionErrors errors;
#pragma omp parallel num_threads(ng) if (ng > 1)
  {
    DenormalsFlushed ftz;
    const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();
    if (!L.dense) {
      gather_rows(L, x, I, x_packed.data(), tid, nthr);
#pragma omp barrier
    }
    // Input projection of every packed row: gates[:, 0:G*H] = X w_ih^T + bias.
    if (few) {
      int64_t c0, c1;
      split_range(G * H, tid, nthr, c0, c1);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = 0; r < R; ++r)
          gates[r * ldg + c] = dot(X + r * I, w_ih + c * I, I) + bias[c];
    } else if (packed) {
      errors.run([&] {
        packed_gemm_part<T>(R, G * H, I, X, I, 1, packed->w_ih.data(), gates, ldg, false,
                            bias.data(), tid, nthr);
      });
    } else {
      errors.run([&] {  // it packs w_ih into a buffer of its own
        blocked_gemm_part<T>(R, G * H, I, X, I, 1, w_ih, I, /*b_t=*/true, gates, ldg, false,
                             bias.data(), tid, nthr);
      });
    }
  }
  errors.rethrow();

  SpinBarrier step_barrier;  // the per-step barriers of the time loop
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();

    for (int64_t k = tid; k < N; k += nthr) {
      T* hk = hs + k * H;
      if (h0) std::memcpy(hk, h0 + L.perm[k] * H, H * sizeof(T));
      else std::fill(hk, hk + H, T(0));
      if (cs) {
        T* ck = cs + k * H;
        if (c0) std::memcpy(ck, c0 + L.perm[k] * H, H * sizeof(T));
        else std::fill(ck, ck + H, T(0));
      }
    }

    // This thread's hidden slice and its recurrent weights packed into panels.
    int64_t j0, j1;
    split_hidden(H, tid, nthr, j0, j1);
    const int64_t pb = pointwise_block(H);
    const int64_t hn = j1 - j0, hbp = PG::pad_nr(hn), ldc = p.Gr * hbp;
    Buffer<T> Wf_own, Wn_own;  // this call's packed weights (unless packed serves the loop)
    const bool prepacked = packed && nthr == 1;
    const T* Wf = prepacked ? packed->w_hh.data() : nullptr;
    const T* Wn = prepacked ? packed->w_hn.data() : nullptr;
    Buffer<T> Cs, Cn, scratch;
    errors.run([&] {
      Cs.resize(static_cast<size_t>(N * ldc));
      scratch.resize(static_cast<size_t>(hn));
      if (p.cho) Cn.resize(static_cast<size_t>(N * hbp));
      if (hn > 0 && !few && !prepacked) {
        pack_recurrent(p, w_hh, j0, hn, Wf_own, Wn_own);
        Wf = Wf_own.data(), Wn = Wn_own.data();
      }
    });
#pragma omp barrier

    // failed() is the same in every thread after the barrier: all skip the steps together
    for (int64_t t = 0; t < T_ && !errors.failed(); ++t) {
      const int64_t Nt = L.batch_sizes[t];
      if (Nt == 0) break;  // slots are sorted by length: nothing later is active
      const T* hprev = hs + prev_state_row(L, t, 0) * H;
      T* hcur = hs + (N + L.offsets[t]) * H;
      const T* cprev = cs ? cs + prev_state_row(L, t, 0) * H : nullptr;
      T* ccur = cs ? cs + (N + L.offsets[t]) * H : nullptr;
      T* grow = gates + L.offsets[t] * ldg;
      if (hn > 0) {
        if (few)
          recurrent_dots(Nt, H, hprev, H, w_hh, j0, hn, p.Gr, hbp, Cs.data(), ldc);
        else
          PG::run(Nt, ldc, H, hprev, H, 1, Wf, H * PG::NR, Cs.data(), ldc);
        for (int64_t k = 0; k < Nt; ++k)
          for (int64_t jb = j0; jb < j1; jb += pb) {
            const int64_t len = std::min(pb, j1 - jb), off = jb - j0;
            T* g = grow + k * ldg;
            const T* hr = Cs.data() + k * ldc;
            auto pre = [&](int64_t q) { return CArr<T>(g + q * H + jb, len) + CArr<T>(hr + q * hbp + off, len); };
            Arr<T> h(hcur + k * H + jb, len);
            if (p.lstm) {
              lstm_pointwise<T>(pre, g + jb, g + H + jb, g + 2 * H + jb, g + 3 * H + jb,
                                cprev + k * H + jb, ccur + k * H + jb, hcur + k * H + jb, len);
            } else if (p.lbr) {
              // hn = W_hn h + b_hn; the n block of the projection (x part) sits where hn goes.
              Arr<T> hnl(g + 2 * H + jb, len);
              Arr<T>(scratch.data(), len) = hnl;
              hnl = CArr<T>(hr + 2 * hbp + off, len);
              if (b_hn) hnl += CArr<T>(b_hn + jb, len);
              gru_pointwise<T>(pre, scratch.data(), g + 2 * H + jb, hprev + k * H + jb, g + jb,
                               g + H + jb, g + 3 * H + jb, hcur + k * H + jb, len);
            } else if (p.cho) {
              Arr<T> r(g + jb, len), z(g + H + jb, len), rh(g + 3 * H + jb, len);
              r = pre(0).logistic();
              z = pre(1).logistic();
              rh = r * CArr<T>(hprev + k * H + jb, len);
            } else {
              Arr<T> a(g + jb, len);
              if (p.relu) a = pre(0).max(T(0));
              else a = pre(0).tanh();
              h = a;
            }
          }
      }
      if (p.cho) {
        step_barrier.wait(nthr);
        if (hn > 0) {  // n = tanh(W_in x + b_in + W_hn (r*h) + b_hn): needs all of r*h
          if (few)
            recurrent_dots(Nt, H, grow + 3 * H, ldg, w_hh + 2 * H * H, j0, hn, 1, 0, Cn.data(), hbp);
          else
            PG::run(Nt, hbp, H, grow + 3 * H, ldg, 1, Wn, H * PG::NR, Cn.data(), hbp);
          for (int64_t k = 0; k < Nt; ++k)
            for (int64_t jb = j0; jb < j1; jb += pb) {
              const int64_t len = std::min(pb, j1 - jb), off = jb - j0;
              T* g = grow + k * ldg;
              Arr<T> z(g + H + jb, len), n(g + 2 * H + jb, len), h(hcur + k * H + jb, len);
              n = (n + CArr<T>(Cn.data() + k * hbp + off, len)).tanh();
              h = (T(1) - z) * n + z * CArr<T>(hprev + k * H + jb, len);
            }
        }
      }
      step_barrier.wait(nthr);
    }

    // Outputs: y (zero past lengths), final states at each sequence's own last step.
    if (L.dense) {
      int64_t r0, r1;
      split_range(R, tid, nthr, r0, r1);
      if (r1 > r0) std::memcpy(y + r0 * H, hs + (N + r0) * H, (r1 - r0) * H * sizeof(T));
    } else {
#pragma omp for schedule(static)
      for (int64_t t = 0; t < T_; ++t) std::fill(y + t * N * H, y + (t + 1) * N * H, T(0));
      scatter_rows(L, hs + N * H, H, y, tid, nthr);
    }
    for (int64_t k = tid; k < N; k += nthr) {
      const int64_t len = L.length[k];
      const int64_t row = len > 0 ? N + L.offsets[len - 1] + k : k;
      std::memcpy(h_n + L.perm[k] * H, hs + row * H, H * sizeof(T));
      if (cs) std::memcpy(c_n + L.perm[k] * H, cs + row * H, H * sizeof(T));
    }
  }
  errors.rethrow();
}

template <typename T>
void rnn_pack_cpu(const RnnDesc& d, const T* w_ih, const T* w_hh, RnnPacked<T>& packed) {
  using PG = Gemm<T>;
  const Plan p = make_plan(d);
  const int64_t GH = p.G * d.H;
  packed.desc = d;
  packed.w_ih.resize(static_cast<size_t>(PG::pad_nr(GH) * d.I));
  PG::pack_t(w_ih, d.I, GH, d.I, T(1), packed.w_ih.data());
  pack_recurrent(p, w_hh, 0, d.H, packed.w_hh, packed.w_hn);  // one thread's slice: all
}

template <typename T>
void rnn_backward_cpu(const RnnDesc& d, const RnnLayout& L, const T* x, const T* w_ih,
                      const T* w_hh, RnnSaved<T>& saved, const T* dy, const T* dh_n,
                      const T* dc_n, T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih,
                      T* db_hh) {
  using PG = Gemm<T>;
  const Plan p = make_plan(d);
  const int64_t N = d.N, H = d.H, I = d.I, G = p.G, ldg = p.ldg, R = L.rows();
  const int64_t T_ = d.T;
  T* gates = saved.gates.data();
  const T* hs = saved.h.data();
  const T* cs = p.lstm ? saved.c.data() : nullptr;

  Buffer<T> dh_rec(static_cast<size_t>(N * H)), dc_rec(p.lstm ? N * H : 0);
  // Packed rows of x (read by dW_ih, then reused for dx) and of h_prev (read by dW_hh).
  Buffer<T> xbuf, hprev_buf;
  if (!L.dense) {
    xbuf.resize(static_cast<size_t>(R * I));
    hprev_buf.resize(static_cast<size_t>(R * H));
  }
  const T* X = L.dense ? x : xbuf.data();
  const T* Hprev = L.dense ? hs : hprev_buf.data();
  Buffer<T> colsum(static_cast<size_t>(ldg));

  const int nt = choose_threads(d, L, sizeof(T));
  RegionErrors errors;
  SpinBarrier step_barrier;  // the per-step barriers of the time loop
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();

    for (int64_t k = tid; k < N; k += nthr) {
      const int64_t b = L.perm[k];
      if (dh_n) std::memcpy(&dh_rec[k * H], dh_n + b * H, H * sizeof(T));
      else std::fill(&dh_rec[k * H], &dh_rec[k * H] + H, T(0));
      if (p.lstm) {
        if (dc_n) std::memcpy(&dc_rec[k * H], dc_n + b * H, H * sizeof(T));
        else std::fill(&dc_rec[k * H], &dc_rec[k * H] + H, T(0));
      }
    }

    // This thread's hidden slice of dh_prev = dgates * w_hh, with w_hh[:, slice] packed.
    int64_t j0, j1;
    split_hidden(H, tid, nthr, j0, j1);
    const int64_t pb = pointwise_block(H);
    const int64_t hn = j1 - j0, hbp = PG::pad_nr(hn);
    Buffer<T> Wb, Wbn, Cb, scratch;
    errors.run([&] {
      Cb.resize(static_cast<size_t>(N * hbp));
      scratch.resize(static_cast<size_t>(3 * hn));
      if (hn > 0) {
        // B = w_hh[:, j0:j1] as stored: rows of w_hh copied into panels.
        Wb.resize(static_cast<size_t>(hbp * p.Gr * H));
        PG::pack_n_panels(w_hh + j0, H, p.Gr * H, hn, Wb.data());
        if (p.cho) {
          Wbn.resize(static_cast<size_t>(hbp * H));
          PG::pack_n_panels(w_hh + 2 * H * H + j0, H, H, hn, Wbn.data());
        }
      }
    });
#pragma omp barrier

    // failed() is the same in every thread after the barrier: all skip the steps together
    for (int64_t t = T_ - 1; t >= 0 && !errors.failed(); --t) {
      const int64_t Nt = L.batch_sizes[t];
      if (Nt == 0) continue;
      T* grow = gates + L.offsets[t] * ldg;
      const T* hprev = hs + prev_state_row(L, t, 0) * H;
      if (hn > 0) {
        // Pointwise: gate gradients overwrite the saved gates of this step.
        for (int64_t k = 0; k < Nt; ++k)
          for (int64_t jb = j0; jb < j1; jb += pb) {
            const int64_t len = std::min(pb, j1 - jb), off = jb - j0;
            T* g = grow + k * ldg;
            Arr<T> dhr(&dh_rec[k * H + jb], len);
            Arr<T> dh(scratch.data(), len), s1(scratch.data() + len, len), s2(scratch.data() + 2 * len, len);
            dh = dhr;
            if (dy) dh += CArr<T>(dy + L.src_row(t, k) * H + jb, len);
            const CArr<T> hp(hprev + k * H + jb, len);
            if (p.lstm) {
              Arr<T> gi(g + jb, len), gf(g + H + jb, len), gg(g + 2 * H + jb, len), go(g + 3 * H + jb, len);
              Arr<T> dcr(&dc_rec[k * H + jb], len);
              const CArr<T> cprev(cs + prev_state_row(L, t, k) * H + jb, len);
              Arr<T>& tc = s1;
              Arr<T>& dc = s2;
              tc = CArr<T>(cs + (N + L.offsets[t] + k) * H + jb, len).tanh();
              dc = dcr + dh * go * (T(1) - tc * tc);
              dcr = dc * gf;
              go = dh * tc * go * (T(1) - go);
              gf = dc * cprev * gf * (T(1) - gf);
              tc = gi;  // keep i: both di and dg need it
              gi = dc * gg * tc * (T(1) - tc);
              gg = dc * tc * (T(1) - gg * gg);
              dhr.setZero();
            } else if (p.lbr) {
              Arr<T> r(g + jb, len), z(g + H + jb, len), hnl(g + 2 * H + jb, len), n(g + 3 * H + jb, len);
              Arr<T>& dnp = s1;
              Arr<T>& r0 = s2;
              dnp = dh * (T(1) - z) * (T(1) - n * n);
              dhr = dh * z;
              z = dh * (hp - n) * z * (T(1) - z);
              n = dnp;
              r0 = r;
              r = dnp * hnl * r0 * (T(1) - r0);
              hnl = dnp * r0;
            } else if (p.cho) {
              Arr<T> z(g + H + jb, len), n(g + 2 * H + jb, len);
              Arr<T>& z0 = s1;
              z0 = z;
              z = dh * (hp - n) * z0 * (T(1) - z0);
              n = dh * (T(1) - z0) * (T(1) - n * n);
              dhr = dh * z0;
            } else {
              Arr<T> a(g + jb, len);
              if (p.relu) a = (a > T(0)).select(dh, T(0));
              else a = dh * (T(1) - a * a);
              dhr.setZero();
            }
          }
      }
      step_barrier.wait(nthr);
      if (p.cho) {  // d(r*h) = dn * W_hn needs every dn; then dr and its share of dh_prev
        if (hn > 0) {
          PG::run(Nt, hbp, H, grow + 2 * H, ldg, 1, Wbn.data(), H * PG::NR, Cb.data(), hbp);
          for (int64_t k = 0; k < Nt; ++k)
            for (int64_t jb = j0; jb < j1; jb += pb) {
              const int64_t len = std::min(pb, j1 - jb), off = jb - j0;
              T* g = grow + k * ldg;
              Arr<T> r(g + jb, len), dhr(&dh_rec[k * H + jb], len);
              const CArr<T> drh(Cb.data() + k * hbp + off, len), hp(hprev + k * H + jb, len);
              dhr += drh * r;
              r = drh * hp * r * (T(1) - r);
            }
        }
        step_barrier.wait(nthr);
      }
      if (hn > 0) {
        PG::run(Nt, hbp, p.Gr * H, grow, ldg, 1, Wb.data(), p.Gr * H * PG::NR, Cb.data(), hbp);
        for (int64_t k = 0; k < Nt; ++k)
          Arr<T>(&dh_rec[k * H + j0], hn) += CArr<T>(Cb.data() + k * hbp, hn);  // exact: any split
      }
    }
#pragma omp barrier

    for (int64_t k = tid; k < N; k += nthr) {
      std::memcpy(dh0 + L.perm[k] * H, &dh_rec[k * H], H * sizeof(T));
      if (p.lstm) std::memcpy(dc0 + L.perm[k] * H, &dc_rec[k * H], H * sizeof(T));
    }
  }
  errors.rethrow();

  // The whole-sequence products, on their own team (gemm_threads).
  const int ng = gemm_threads(2.0 * R * G * H * (2.0 * I + H), nt);
#pragma omp parallel num_threads(ng) if (ng > 1)
  {
    DenormalsFlushed ftz;
    const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();
    if (!L.dense) {
      gather_rows(L, x, I, xbuf.data(), tid, nthr);
      const int64_t T2 = static_cast<int64_t>(L.batch_sizes.size());
      for (int64_t t = tid; t < T2; t += nthr)
        for (int64_t k = 0; k < L.batch_sizes[t]; ++k)
          std::memcpy(&hprev_buf[(L.offsets[t] + k) * H], hs + prev_state_row(L, t, k) * H,
                      H * sizeof(T));
    }
    {  // column sums of the gate gradients (bias gradients), fixed row order
      int64_t c0, c1;
      split_range(ldg, tid, nthr, c0, c1);
      if (c1 > c0) {
        Arr<T> acc(colsum.data() + c0, c1 - c0);
        acc.setZero();
        for (int64_t r = 0; r < R; ++r) acc += CArr<T>(gates + r * ldg + c0, c1 - c0);
      }
    }
#pragma omp barrier

    // Weight gradients: dW = dgates^T * inputs (dgates read column-wise in place).
    auto weight_grad = [&](const std::vector<Seg>& segs, const T* A, int64_t lda, int64_t K,
                           T* dw) {
      for (const Seg& s : segs)
        errors.run([&] {
          blocked_gemm_part<T>(s.n, K, R, gates + s.col, 1, ldg, A, lda, false,
                               dw + s.row * K, K, false, nullptr, tid, nthr);
        });
    };
    weight_grad(p.h_segs, Hprev, H, H, dw_hh);
    if (p.cho) weight_grad({{2 * H, 2 * H, H}}, gates + 3 * H, ldg, H, dw_hh);  // dW_hn = dn^T (r*h)
    weight_grad(p.x_segs, X, I, I, dw_ih);
#pragma omp barrier  // dx below may overwrite xbuf, which dW_ih reads

    {  // dx = dgates * w_ih over packed rows; a thread owns the same part across segments
      T* dxp = L.dense ? dx : xbuf.data();
      for (size_t i = 0; i < p.x_segs.size(); ++i) {
        const Seg& s = p.x_segs[i];
        errors.run([&] {
          blocked_gemm_part<T>(R, I, s.n, gates + s.col, ldg, 1, w_ih + s.row * I, I, false,
                               dxp, I, i > 0, nullptr, tid, nthr);
        });
      }
    }
    if (!L.dense) {
#pragma omp for schedule(static)
      for (int64_t t = 0; t < T_; ++t) std::fill(dx + t * N * I, dx + (t + 1) * N * I, T(0));
      scatter_rows(L, xbuf.data(), I, dx, tid, nthr);
    }
  }
  errors.rethrow();

  // Bias gradients from the column sums (biases enter the pre-activations additively).
  const CArr<T> cols(colsum.data(), ldg);
  if (p.lbr) {
    if (db_ih) {
      Arr<T>(db_ih, 2 * H) = cols.head(2 * H);
      Arr<T>(db_ih + 2 * H, H) = cols.segment(3 * H, H);
    }
    if (db_hh) Arr<T>(db_hh, 3 * H) = cols.head(3 * H);
  } else {
    if (db_ih) Arr<T>(db_ih, G * H) = cols.head(G * H);
    if (db_hh) Arr<T>(db_hh, G * H) = cols.head(G * H);
  }
}

template void rnn_forward_cpu<float>(const RnnDesc&, const RnnLayout&, const float*, const float*,
                                     const float*, const float*, const float*, const float*,
                                     const float*, float*, float*, float*, RnnSaved<float>*,
                                     const RnnPacked<float>*);
template void rnn_pack_cpu<float>(const RnnDesc&, const float*, const float*,
                                  RnnPacked<float>&);
template void rnn_pack_cpu<double>(const RnnDesc&, const double*, const double*,
                                   RnnPacked<double>&);
template void rnn_forward_cpu<double>(const RnnDesc&, const RnnLayout&, const double*,
                                      const double*, const double*, const double*,
                                      const double*, const double*, const double*, double*,
                                      double*, double*, RnnSaved<double>*,
                                      const RnnPacked<double>*);
template void rnn_backward_cpu<float>(const RnnDesc&, const RnnLayout&, const float*,
                                      const float*, const float*, RnnSaved<float>&,
                                      const float*, const float*, const float*, float*, float*,
                                      float*, float*, float*, float*, float*);
template void rnn_backward_cpu<double>(const RnnDesc&, const RnnLayout&, const double*,
                                       const double*, const double*, RnnSaved<double>&,
                                       const double*, const double*, const double*, double*,
                                       double*, double*, double*, double*, double*, double*);

}  // namespace seqcore::cpu
