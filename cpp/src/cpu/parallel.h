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

}  // namespace seqcore::cpu
