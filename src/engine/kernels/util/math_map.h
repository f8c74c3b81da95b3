// Element-wise maps for the math kernels (unary ops, activations). The
// functor takes and returns the compute type (float for half types) and is
// inlined into a plain loop that GCC vectorizes; half types are converted
// through a small float buffer so the functor loop still vectorizes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"

namespace pier::kernels::math_util {

// Helpers live in math_util so their short names cannot clash with other
// families' helpers (inline functions with equal signatures would silently
// violate the one-definition rule).

template <typename T>
inline constexpr bool is_half_v = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

// Elements per parallel chunk for cheap (copy-like) and costly (exp-like) maps.
inline constexpr int64_t kGrainCheap = 32768;
inline constexpr int64_t kGrainCostly = 8192;

// y[i] = store<O>(f(load(x[i]))) for i in [0, n). O is the output storage
// type (T itself, or bool for predicates).
template <typename T, typename O = T, typename F>
void map_unary(int threads, const T* x, O* y, int64_t n, F f, int64_t grain = kGrainCheap) {
  parallel_for(threads, n, grain, [&](int64_t begin, int64_t end) {
    if constexpr (is_half_v<T>) {
      constexpr int64_t kBuf = 256;
      float in[kBuf];
      for (int64_t i = begin; i < end; i += kBuf) {
        const int64_t m = std::min(kBuf, end - i);
        for (int64_t k = 0; k < m; ++k) in[k] = static_cast<float>(x[i + k]);
        if constexpr (is_half_v<O>) {
          float out[kBuf];
          for (int64_t k = 0; k < m; ++k) out[k] = f(in[k]);
          for (int64_t k = 0; k < m; ++k) y[i + k] = O(out[k]);
        } else {
          for (int64_t k = 0; k < m; ++k) y[i + k] = f(in[k]);
        }
      }
    } else {
      for (int64_t i = begin; i < end; ++i) y[i] = f(x[i]);
    }
  });
}

// Contiguous row helpers shared by softmax, normalization and reductions.
// Sums of float rows use 16 independent partial sums so the loop vectorizes
// without -ffast-math (the summation order is fixed, so results are
// deterministic for a given length).
template <typename C, typename F>
inline C row_sum(const C* x, int64_t n, F pre) {
  constexpr int kLanes = 16;
  C acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    // Keeps GCC from fully unrolling the lane loop before the loop
    // vectorizer sees it (SLP on the unrolled body is less reliable).
#pragma GCC unroll 1
    for (int k = 0; k < kLanes; ++k) acc[k] += pre(x[i + k]);
  }
  C s = 0;
  for (; i < n; ++i) s += pre(x[i]);
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

template <typename C>
inline C row_sum(const C* x, int64_t n) {
  return row_sum(x, n, [](C v) { return v; });
}

// Max of a row (n > 0); NaN if any element is NaN.
template <typename C>
inline C row_max(const C* x, int64_t n) {
  constexpr int kLanes = 16;
  if (n < kLanes) {
    C m = x[0];
    bool nan = false;
    for (int64_t i = 0; i < n; ++i) {
      m = x[i] > m ? x[i] : m;
      nan |= x[i] != x[i];
    }
    return nan ? static_cast<C>(NAN) : m;
  }
  C acc[kLanes];
  bool nan[kLanes] = {};
  for (int k = 0; k < kLanes; ++k) acc[k] = x[k];
  int64_t i = kLanes;
  for (; i + kLanes <= n; i += kLanes) {
#pragma GCC unroll 1
    for (int k = 0; k < kLanes; ++k) {
      acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
      nan[k] |= x[i + k] != x[i + k];
    }
  }
  C m = acc[0];
  bool any_nan = false;
  for (; i < n; ++i) {
    m = x[i] > m ? x[i] : m;
    any_nan |= x[i] != x[i];
  }
  for (int k = 0; k < kLanes; ++k) {
    m = acc[k] > m ? acc[k] : m;
    any_nan |= nan[k] || acc[k] != acc[k];
  }
  return any_nan ? static_cast<C>(NAN) : m;
}

}  // namespace pier::kernels::math_util
