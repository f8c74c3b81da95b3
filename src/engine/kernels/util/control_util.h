// Helpers shared by the control-flow, sequence and optional kernels
// (If, Loop, Scan, Sequence*, SplitToSequence, ConcatFromSequence,
// SequenceMap): slicing and joining tensors along an axis, reading scalar
// control inputs, and checking what a subgraph returned.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "pier/engine.h"

namespace pier::kernels::control {

// Copies `count` elements of src starting at `src_off` into dst at
// `dst_off` (element offsets; any dtype, strings included).
void copy_elements(const Tensor& src, int64_t src_off, Tensor& dst, int64_t dst_off, int64_t count);

// The part [start, start + len) of `t` along `axis` (a copy).
Tensor narrow(const Tensor& t, int64_t axis, int64_t start, int64_t len);

// t[index] along `axis`, with that axis removed (a copy).
Tensor select(const Tensor& t, int64_t axis, int64_t index);

// Concatenates tensors of one dtype whose dims agree except on `axis`
// (already normalized). Raises kInvalidArgument naming `what` otherwise.
Tensor concat(const std::vector<Tensor>& items, int64_t axis, int threads, const char* what);

// Stacks tensors of one dtype and shape along a new axis `axis` (in
// [0, rank]). Raises kInvalidArgument naming `what` on mismatch.
Tensor stack(const std::vector<Tensor>& items, int64_t axis, int threads, const char* what);

// An empty stack (0 items) of elements described by `info` (unknown dims
// count as 0, unknown type as float), with the new axis at `axis`.
Tensor empty_stack(const ValueInfo* info, int64_t axis);

// A zero-filled tensor (empty strings for string tensors).
Tensor zeros_like(const Tensor& t);

// Value of a one-element int32/int64 tensor (scalar or shape [1]).
int64_t scalar_int(const Tensor& t, const char* what);
// Value of a one-element bool tensor (numeric types: != 0).
bool scalar_bool(const Tensor& t, const char* what);

// Checks a subgraph returned `n` values; `what` names the body for errors.
void check_output_count(const std::vector<Value>& outs, size_t n, const std::string& what);
// Output `i` of a subgraph as a tensor, or a clear error.
const Tensor& output_tensor(const std::vector<Value>& outs, size_t i, const std::string& what);

// "body" style short description of a value for messages.
std::string value_kind(const Value& v);

}  // namespace pier::kernels::control
