// Row statistics for the normalization kernels (LayerNormalization,
// InstanceNormalization): mean and inverse standard deviation of a
// contiguous row, in two passes (mean, then squared deviations) for
// stability. Float rows are summed in blocks with vectorized 16-lane partial
// sums and the block sums are added in double, so long rows (instance norm
// over large images) keep full float accuracy.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/util/math_map.h"

namespace pier::kernels::math_util {

template <typename C, typename F>
inline double row_sum_blocked(const C* x, int64_t n, F pre) {
  constexpr int64_t kBlock = 4096;
  double s = 0;
  for (int64_t i = 0; i < n; i += kBlock) s += static_cast<double>(row_sum(x + i, std::min(kBlock, n - i), pre));
  return s;
}

template <typename C>
struct RowMoments {
  C mean;
  C inv_std;  // 1 / sqrt(variance + epsilon)
};

template <typename C>
inline RowMoments<C> row_moments(const C* x, int64_t n, double epsilon) {
  const double mean = row_sum_blocked(x, n, [](C v) { return v; }) / static_cast<double>(n);
  const C m = static_cast<C>(mean);
  const double var = row_sum_blocked(x, n, [m](C v) { return (v - m) * (v - m); }) / static_cast<double>(n);
  return {m, static_cast<C>(1.0 / std::sqrt(var + epsilon))};
}

}  // namespace pier::kernels::math_util
