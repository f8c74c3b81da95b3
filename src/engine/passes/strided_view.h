// Strided views: which elements of a dense tensor a value is, when it only
// comes out of data-movement ops (Identity, Transpose, Reshape, Flatten,
// Squeeze, Unsqueeze, Slice with positive steps, Gather of one constant
// index). A fused kernel can then read the source in place through strides
// instead of running the copies. Needs static shapes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "passes/pass_util.h"

namespace pier::passes {

struct StridedView {
  std::string source;  // a value that is not such a view (a dense tensor)
  Shape source_shape;
  int64_t offset = 0;  // elements
  Shape shape;
  std::vector<int64_t> strides;  // elements
};

// Row-major strides of `shape`.
std::vector<int64_t> dense_strides(const Shape& shape);

// The strides that a view (shape, strides) has once reshaped to `to`
// without copying, or nullopt when the reshape needs a copy.
std::optional<std::vector<int64_t>> reshape_strides(const Shape& from, const std::vector<int64_t>& strides,
                                                    const Shape& to);

// `v` as a view of its nearest ancestor that is not produced by a view op.
// Always succeeds for a statically shaped float value (possibly as a view
// of itself); nullopt when shapes are unknown.
std::optional<StridedView> trace_view(const ir::Graph& g, const GraphIndex& ix, const std::string& v);

// Reshape's output shape for input shape `in` from its constant shape
// input (0 copies a dim unless allowzero, -1 is inferred); nullopt when the
// node is not such a Reshape.
std::optional<Shape> reshape_target(const ir::Graph& g, const ir::Node& n, const Shape& in);

// True for the reshape-like ops (their output is their input's elements
// in order, with the output's static shape).
bool is_reshape_like(const ir::Node& n);

}  // namespace pier::passes
