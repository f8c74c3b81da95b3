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

// Calls row(out_offset, in_offsets, len) over the whole output, in
// parallel. `in_offsets` points at one offset per input. Long rows are cut
// into pieces so that few-row (e.g. 1-D) outputs still use every thread.
template <typename Row>
void for_each_row(const BroadcastPlan& p, int threads, Row&& row) {
  constexpr int64_t kPiece = 16384;  // elements per work unit, at least
  const size_t n_in = p.strides.size();
  const int64_t rank = static_cast<int64_t>(p.out.size());
  const int64_t pieces = std::max<int64_t>(1, std::min<int64_t>(p.inner / kPiece, threads > 1 ? threads : 1));
  const int64_t piece_len = (p.inner + pieces - 1) / pieces;
  const int64_t units = p.rows * pieces;
  const int64_t grain = std::max<int64_t>(1, kPiece / std::max<int64_t>(piece_len, 1));
  parallel_for(threads, units, grain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx(rank > 0 ? rank - 1 : 0, 0);
    std::vector<int64_t> off(n_in, 0), piece_off(n_in, 0);
    int64_t r = begin / pieces;
    int64_t row_i = r;
    for (int64_t d = rank - 2; d >= 0; --d) {
      idx[d] = r % p.out[d];
      r /= p.out[d];
    }
    for (size_t k = 0; k < n_in; ++k)
      for (int64_t d = 0; d + 1 < rank; ++d) off[k] += idx[d] * p.strides[k][d];
    for (int64_t u = begin; u < end;) {
      const int64_t piece = u % pieces;
      const int64_t start = piece * piece_len;
      const int64_t len = std::min(piece_len, p.inner - start);
      for (size_t k = 0; k < n_in; ++k) piece_off[k] = off[k] + start * p.inner_step[k];
      if (len > 0) row(row_i * p.inner + start, piece_off.data(), len);
      ++u;
      if (u % pieces != 0) continue;
      ++row_i;
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
