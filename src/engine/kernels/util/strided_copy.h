// Data-movement helpers for the tensor family (Slice, Expand, Tile,
// Transpose, ...): typed dispatch that includes strings, and a strided N-D
// copy into a contiguous buffer.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/util/dispatch.h"
#include "pier/engine.h"

namespace pier::kernels {

// Like dispatch_bytes, but strings get std::string (element-wise copies).
template <typename F>
decltype(auto) dispatch_elements(DataType t, F&& fn) {
  if (t == DataType::kString) return fn(std::string{});
  return dispatch_bytes(t, std::forward<F>(fn));
}

// Drops size-1 dims and merges neighbours that are contiguous in the view
// (stride[d] == stride[d+1] * shape[d+1]). Leaves at least one dim.
void simplify_view(Shape& shape, std::vector<int64_t>& strides);

// Copies a strided view of `src` into contiguous `dst` (same dtype):
//   dst[i_0, ..., i_n] = src_elements[offset + sum_d i_d * strides[d]]
// Strides are in elements and may be 0 (broadcast) or negative.
void strided_copy(const Tensor& src, int64_t offset, Shape shape, std::vector<int64_t> strides, Tensor& dst,
                  int threads);

}  // namespace pier::kernels
