// A float GEMM for products whose right-hand matrix is constant and large
// against the left one, as in Winograd's per-position products (winograd.h).
// Such weights are rarely cached, and oneDNN 2.6's matmul leaves their
// memory latency exposed. This one streams them in 64-column panels and,
// while it computes on one panel, prefetches the next into L2, spread over
// the panel's work.
//
// Measured against oneDNN's direct 1x1 convolutions on 7x7 images (ResNet-50
// layer 4) it was 20% faster alone with cold weights and 5% slower with hot
// ones, but 10-40% slower inside the model; those stay on oneDNN.
//
// Needs AVX-512 (winograd_available() in winograd.h tells).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace pier::kernels {

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], AlignedFree>;

// 64-byte aligned, uninitialized floats.
AlignedFloats aligned_floats(int64_t n);

// Packs b (k x n, row stride ldb; n a multiple of 16) into `out` (k x n
// floats): 64-column panels, each k x width contiguous, the last panel
// possibly narrower (n % 64).
void pack_panels(const float* b, int64_t ldb, int64_t k, int64_t n, float* out);

// c (rows x n, row stride ldc) = a (rows x k, row stride lda) x packed b.
// Prefetches panel by panel up to `prefetch_end` (exclusive; the packed
// data after b's own panels may be the caller's next matrix), so pass b's
// end to prefetch nothing beyond it.
void gemm_packed(const float* a, int64_t lda, int64_t rows, int64_t k, const float* packed_b, int64_t n, float* c,
                 int64_t ldc, const float* prefetch_end);

}  // namespace pier::kernels
