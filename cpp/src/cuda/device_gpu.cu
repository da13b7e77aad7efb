// CUDA target (SEQCORE_CUDA=ON): device discovery for build_info(). Kernels for the op
// families land here as <family>_gpu.cu, each checked against the CPU result.
#include <cuda_runtime.h>

#include "seqcore/common.h"

namespace seqcore {

bool cuda_enabled() { return true; }

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

}  // namespace seqcore
