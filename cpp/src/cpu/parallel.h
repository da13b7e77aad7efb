// Exceptions and OpenMP regions: a C++ exception that leaves a parallel region calls
// std::terminate, so every region whose threads allocate scratch runs that allocation in
// RegionErrors::run(). The first exception is kept; the region goes on with every barrier and
// worksharing loop still reached by every thread, doing no more work (loops test failed()),
// and rethrow() raises the exception after the region, where pybind11 turns std::bad_alloc
// into MemoryError. Sizes are validated before any region (cpp/src/<family>.cc), so what is
// left to fail in here is memory itself. Per-item allocations inside loops are bounded by the
// fixed blocking sizes (GEMM packing) or reserved before the region.
#pragma once

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace seqcore::cpu {

class RegionErrors {
 public:
  template <typename F>
  void run(F&& f) noexcept {
    if (failed()) return;
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  // Once true in one thread it is true in all of them after the next barrier.
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::exception_ptr error_;
};

// A barrier for the threads of one OpenMP region, for loops of steps of a few microseconds
// (the recurrent time loops): they wait spinning on a generation counter, 0.05-0.24 us for
// two threads where libgomp's barrier takes 0.28-0.45 us (AMD EPYC Zen 3 VM), and after
// 2048 pauses (~50 us there, far more than a step's imbalance) yield the core at every
// check, so that a descheduled or oversubscribed teammate gets to run. Every
// thread of the team calls wait(nthr) with the team's size, the same number of times.
// Release/acquire ordering makes every write before wait() in one thread visible after it in
// all (RegionErrors::failed() relies on it as on an OpenMP barrier).
class SpinBarrier {
 public:
  void wait(int nthr) {
    if (nthr <= 1) return;
    const unsigned g = gen_.load(std::memory_order_relaxed);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == nthr - 1) {
      count_.store(0, std::memory_order_relaxed);  // before the release below: reused next
      gen_.store(g + 1, std::memory_order_release);
      return;
    }
    for (int spins = 0; gen_.load(std::memory_order_acquire) == g; ++spins) {
      if (spins < 2048) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  alignas(64) std::atomic<int> count_{0};
  alignas(64) std::atomic<unsigned> gen_{0};
};

}  // namespace seqcore::cpu
