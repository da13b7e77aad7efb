#include "seqcore/common.h"

#include <omp.h>

#include <atomic>
#include <chrono>
#include <sstream>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define SEQCORE_HAVE_MXCSR 1
#endif

namespace seqcore {

namespace {
std::atomic<int> g_num_threads{0};  // 0: not set, use OpenMP's default
thread_local int t_thread_share = 0;  // 0: none, use g_num_threads
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

void set_num_threads(int n) {
  check(n >= 1, "set_num_threads: n must be >= 1, got " + std::to_string(n));
  g_num_threads = n;
}

void set_thread_share(int n) {
  check(n >= 0, "set_thread_share: n must be >= 0, got " + std::to_string(n));
  t_thread_share = n;
}

int get_num_threads() {
  if (t_thread_share > 0) return t_thread_share;
  int n = g_num_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

DenormalsFlushed::DenormalsFlushed() {
#ifdef SEQCORE_HAVE_MXCSR
  saved_ = _mm_getcsr();
  _mm_setcsr(saved_ | 0x8040);  // FTZ (bit 15) | DAZ (bit 6)
#endif
}

DenormalsFlushed::~DenormalsFlushed() {
#ifdef SEQCORE_HAVE_MXCSR
  _mm_setcsr(saved_);
#endif
}

const char* simd_level() {
#if defined(__AVX512F__)
  return "AVX-512";
#elif defined(__AVX2__) && defined(__FMA__)
  return "AVX2+FMA";
#elif defined(__AVX__)
  return "AVX";
#elif defined(__SSE4_2__)
  return "SSE4.2";
#elif defined(__ARM_NEON)
  return "NEON";
#else
  return "scalar";
#endif
}

#ifndef SEQCORE_WITH_CUDA
bool cuda_enabled() { return false; }
int cuda_device_count() { return 0; }
#endif

namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

StopToken::StopToken(Poll poll, void* context, double period_s)
    : poll_(poll),
      context_(context),
      period_ns_(static_cast<int64_t>(period_s * 1e9)),
      next_poll_ns_(now_ns() + static_cast<int64_t>(period_s * 1e9)) {}

bool StopToken::stop_requested() {
  if (stopped()) return true;
  if (omp_get_thread_num() != 0) return false;
  const int64_t t = now_ns();
  if (t < next_poll_ns_) return false;
  next_poll_ns_ = t + period_ns_;
  if (poll_(context_)) stopped_.store(true, std::memory_order_relaxed);
  return stopped();
}

}  // namespace seqcore
