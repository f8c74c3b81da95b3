// Shape helpers shared by kernels: axes, broadcasting, strides, and reading
// small int tensors (shape/axes inputs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pier/engine.h"

namespace pier::kernels {

// Maps a possibly negative axis into [0, rank); raises kInvalidArgument
// (or kInvalidModel when `from_attr`) naming `what` when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* what = "axis");

// Numpy-style broadcast of two or more shapes; raises on mismatch.
Shape broadcast_shapes(const Shape& a, const Shape& b);

// Row-major strides (in elements) of `shape`.
std::vector<int64_t> strides_of(const Shape& shape);

// Strides to read `in` as if broadcast to `out` (0 on broadcast dims).
// `in` must be broadcastable to `out`.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

// Values of an int32/int64 tensor as int64 (for shape/axes/pads inputs).
std::vector<int64_t> to_int64_vector(const Tensor& t);
// Value of a scalar (or 1-element) tensor of any numeric type as double.
double scalar_as_double(const Tensor& t);

// Element-wise cast between any two non-string types (float16/bfloat16
// through float; to bool is != 0). Counts `n` elements.
void cast_buffer(const void* src, DataType from, void* dst, DataType to, int64_t n);
// A converted copy of `t`; returns `t` itself when the type already matches.
Tensor cast_tensor(const Tensor& t, DataType to);

}  // namespace pier::kernels
