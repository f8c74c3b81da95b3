#include "kernels/util/gemm_stream.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <utility>

namespace pier::kernels {

namespace {

constexpr int64_t kRows = 7;      // register tile: 7 rows x 64 columns (28 accumulators)
constexpr int64_t kDepth = 256;   // k per pass over a panel, so that its slice stays in L1/L2

#pragma GCC push_options
#pragma GCC target("avx512f")

// c (R x NV*16) (+)= a (R x k) x b (k x NV*16, contiguous rows), and
// prefetches `lines` cache lines from `pf` into L2, spread over the k steps.
template <int R, int NV>
void tile(const float* a, int64_t lda, const float* b, int64_t k, float* c, int64_t ldc, bool accumulate,
          const char* pf, int64_t lines) {
  const int64_t per_step = k > 0 ? (lines + k - 1) / k : 0;
  __m512 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[r][j] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16 * j) : _mm512_setzero_ps();
  for (int64_t i = 0; i < k; ++i) {
    const float* bi = b + i * NV * 16;
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = _mm512_loadu_ps(bi + 16 * j);
    for (int64_t q = i * per_step; q < std::min(lines, (i + 1) * per_step); ++q) _mm_prefetch(pf + q * 64, _MM_HINT_T1);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + i]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[r][j] = _mm512_fmadd_ps(av, bv[j], acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) _mm512_storeu_ps(c + r * ldc + 16 * j, acc[r][j]);
}

#pragma GCC pop_options

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, bool, const char*, int64_t);

template <int NV, int... Rs>
constexpr std::array<TileFn, kRows> tiles_for(std::integer_sequence<int, Rs...>) {
  return {&tile<Rs + 1, NV>...};
}

// kTiles[nv - 1][rows - 1]
const std::array<std::array<TileFn, kRows>, 4> kTiles = {
    tiles_for<1>(std::make_integer_sequence<int, kRows>{}), tiles_for<2>(std::make_integer_sequence<int, kRows>{}),
    tiles_for<3>(std::make_integer_sequence<int, kRows>{}), tiles_for<4>(std::make_integer_sequence<int, kRows>{})};

}  // namespace

AlignedFloats aligned_floats(int64_t n) {
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float) + 63) / 64 * 64;
  AlignedFloats p(static_cast<float*>(std::aligned_alloc(64, bytes)));
  if (!p) throw std::bad_alloc();
  return p;
}

void pack_panels(const float* b, int64_t ldb, int64_t k, int64_t n, float* out) {
  for (int64_t p0 = 0; p0 < n; p0 += 64) {
    const int64_t width = std::min<int64_t>(64, n - p0);
    for (int64_t i = 0; i < k; ++i) std::memcpy(out + p0 * k + i * width, b + i * ldb + p0, width * sizeof(float));
  }
}

void gemm_packed(const float* a, int64_t lda, int64_t rows, int64_t k, const float* packed_b, int64_t n, float* c,
                 int64_t ldc, const float* prefetch_end) {
  if (rows <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int64_t r = 0; r < rows; ++r) std::fill(c + r * ldc, c + r * ldc + n, 0.f);
    return;
  }
  const int64_t row_tiles = (rows + kRows - 1) / kRows, depth_passes = (k + kDepth - 1) / kDepth;
  for (int64_t p0 = 0; p0 < n; p0 += 64) {
    const int nv = static_cast<int>(std::min<int64_t>(4, (n - p0) / 16));
    const float* panel = packed_b + p0 * k;
    // Prefetch the next panel-sized stretch, spread over this panel's tiles.
    const float* next = panel + k * nv * 16;
    const char* pf = reinterpret_cast<const char*>(next);
    int64_t left = std::max<int64_t>(0, std::min<int64_t>(k * nv * 16, prefetch_end - next)) * 4 / 64;
    const int64_t per_tile = (left + row_tiles * depth_passes - 1) / (row_tiles * depth_passes);
    for (int64_t d0 = 0; d0 < k; d0 += kDepth) {
      const int64_t depth = std::min(kDepth, k - d0);
      for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
        const int r = static_cast<int>(std::min(kRows, rows - r0));
        const int64_t lines = std::min(per_tile, left);
        kTiles[nv - 1][r - 1](a + r0 * lda + d0, lda, panel + d0 * nv * 16, depth, c + r0 * ldc + p0, ldc, d0 > 0,
                              pf, lines);
        pf += lines * 64;
        left -= lines;
      }
    }
  }
}

}  // namespace pier::kernels
