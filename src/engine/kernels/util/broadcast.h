// Broadcasting iteration for element-wise kernels. The output is walked as
// rows of its (collapsed) innermost dimension; within a row each input is
// either contiguous (step 1) or constant (step 0), so the inner loop
// vectorizes.
#pragma once

#include <vector>

#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

struct BroadcastPlan {
  Shape out;                                 // collapsed output shape
  std::vector<std::vector<int64_t>> strides;  // per input, over `out`
  int64_t inner = 1;                         // row length
  std::vector<int64_t> inner_step;           // per input: 0 or 1
  int64_t rows = 1;
};

// Plans iteration of `out_shape` reading each of `inputs` broadcast to it.
BroadcastPlan plan_broadcast(const std::vector<Shape>& inputs, const Shape& out_shape);

// Calls row(out_offset, in_offsets, len) for each row, in parallel.
// `in_offsets` points at one offset per input.
template <typename Row>
void for_each_row(const BroadcastPlan& p, int threads, Row&& row) {
  const size_t n_in = p.strides.size();
  const int64_t rank = static_cast<int64_t>(p.out.size());
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(p.inner, 1));
  parallel_for(threads, p.rows, grain, [&](int64_t begin, int64_t end) {
    // Decompose `begin` into an index over the outer dims.
    std::vector<int64_t> idx(rank > 0 ? rank - 1 : 0, 0);
    std::vector<int64_t> off(n_in, 0);
    int64_t r = begin;
    for (int64_t d = rank - 2; d >= 0; --d) {
      idx[d] = r % p.out[d];
      r /= p.out[d];
    }
    for (size_t k = 0; k < n_in; ++k)
      for (int64_t d = 0; d + 1 < rank; ++d) off[k] += idx[d] * p.strides[k][d];
    for (int64_t row_i = begin; row_i < end; ++row_i) {
      row(row_i * p.inner, off.data(), p.inner);
      for (int64_t d = rank - 2; d >= 0; --d) {
        for (size_t k = 0; k < n_in; ++k) off[k] += p.strides[k][d];
        if (++idx[d] < p.out[d]) break;
        for (size_t k = 0; k < n_in; ++k) off[k] -= p.strides[k][d] * p.out[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace pier::kernels
