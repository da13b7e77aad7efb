// seqcore: shared conventions for every op family.
//
// Shape legend (used in every header comment):
//   T time steps, N batch, I input size, H hidden size, G gates (4 LSTM, 3 GRU, 1 RNN),
//   C classes/alphabet, S target length, V vocabulary, D embedding or head dim,
//   B batch of attention, Lq/Lk query/key lengths, K beam width or number of negatives.
// Arguments are written `x: [T, N, I]`; the rightmost dimension is contiguous.
#pragma once

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace seqcore {

// Allocator of kernel buffers: 64-byte aligned (a cache line, an AVX-512 register) and
// resize() leaves new elements uninitialised. Kernel buffers are always written before
// they are read, and zero-filling tens of MB per call is measurable. The fixed alignment
// also makes Eigen split a row into the same packet/scalar pieces on every call, which
// keeps float64 results bit-identical from run to run.
template <typename T>
struct BufferAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  BufferAllocator() = default;
  template <typename U>
  BufferAllocator(const BufferAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p, kAlign); }
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const BufferAllocator<U>&) const noexcept { return true; }
  template <typename U>
  bool operator!=(const BufferAllocator<U>&) const noexcept { return false; }
};
template <typename T>
using Buffer = std::vector<T, BufferAllocator<T>>;

// The activation fused into a linear layer's GEMM (bias + activation epilogue): none, ReLU,
// GELU with the exact erf, GELU's tanh approximation (torch's approximate="tanh").
enum class Activation { kNone, kReLU, kGELU, kGELUTanh };

// Throws std::invalid_argument (mapped to Python ValueError by the bindings).
inline void check(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}
// A literal message is turned into a std::string only on failure (checks run per element in
// validation loops).
inline void check(bool ok, const char* message) {
  if (!ok) throw std::invalid_argument(message);
}

// "[2, 3, 4]" for error messages.
std::string shape_str(const std::vector<int64_t>& shape);

// Thread count used by every kernel (OpenMP); n >= 1.
void set_num_threads(int n);
int get_num_threads();
// Threads for the kernels called from the calling OS thread only (0: back to
// set_num_threads's count): a caller running independent kernels side by side (the two
// directions of a bidirectional layer, each from its own thread) gives each its share.
void set_thread_share(int n);

// Cooperative interruption of long kernels (a training epoch; Ctrl-C). The caller supplies
// `poll` (the bindings re-take the GIL and run Python's signal handlers); the kernel asks
// stop_requested() between work items (sentences, cooccurrence entries) and returns early once
// it is true. Only OpenMP thread 0 polls - the calling thread, the one that may take the GIL -
// and at most once per `period_s`; every thread sees the answer at its next work item.
class StopToken {
 public:
  using Poll = bool (*)(void* context);
  StopToken(Poll poll, void* context, double period_s = 0.05);
  StopToken(const StopToken&) = delete;
  StopToken& operator=(const StopToken&) = delete;
  bool stop_requested();
  bool stopped() const { return stopped_.load(std::memory_order_relaxed); }

 private:
  Poll poll_;
  void* context_;
  int64_t period_ns_, next_poll_ns_;
  std::atomic<bool> stopped_{false};
};
// For kernels whose stop argument is optional.
inline bool stop_requested(StopToken* stop) { return stop != nullptr && stop->stop_requested(); }

// Sets flush-to-zero / denormals-are-zero for the calling thread and restores the previous
// mode on destruction. Kernels create one inside each parallel region: denormal operands
// cost 10-100x on x86 (oneDNN#561).
class DenormalsFlushed {
 public:
  DenormalsFlushed();
  ~DenormalsFlushed();
  DenormalsFlushed(const DenormalsFlushed&) = delete;
  DenormalsFlushed& operator=(const DenormalsFlushed&) = delete;

 private:
  unsigned saved_ = 0;
};

// Compile-time facts for build_info().
const char* simd_level();
bool cuda_enabled();
int cuda_device_count();  // 0 without CUDA or without a device

}  // namespace seqcore
