#include "passes/strided_view.h"

#include <algorithm>

namespace pier::passes {

std::vector<int64_t> dense_strides(const Shape& shape) {
  std::vector<int64_t> st(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) st[i - 1] = st[i] * std::max<int64_t>(shape[i], 1);
  return st;
}

// Groups of adjacent source dims that are contiguous with each other map to
// groups of target dims with the same element count (the rule torch's
// view() uses).
std::optional<std::vector<int64_t>> reshape_strides(const Shape& from, const std::vector<int64_t>& strides,
                                                    const Shape& to) {
  if (shape_numel(from) != shape_numel(to)) return std::nullopt;
  if (shape_numel(from) == 0 || from.empty()) return dense_strides(to);
  std::vector<int64_t> out(to.size(), 1);
  int64_t view_d = static_cast<int64_t>(to.size()) - 1;
  int64_t chunk_base = strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(from.size()) - 1; d >= 0; --d) {
    tensor_numel *= from[d];
    if (d == 0 || (from[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || to[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base;
        view_numel *= to[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

bool is_reshape_like(const ir::Node& n) {
  return is_op(n, "Reshape") || is_op(n, "Flatten") || is_op(n, "Squeeze") || is_op(n, "Unsqueeze") ||
         is_op(n, "Identity");
}

// Reshape's target for input shape `in` (0 copies a dim unless allowzero,
// -1 is inferred), from a constant shape input.
std::optional<Shape> reshape_target(const ir::Graph& g, const ir::Node& n, const Shape& in) {
  if (!is_op(n, "Reshape") || n.inputs.size() < 2) return std::nullopt;
  auto spec = int_constant(g, n.inputs[1]);
  if (!spec) return std::nullopt;
  const bool allowzero = n.attr_int("allowzero", 0) != 0;
  Shape out = *spec;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0 && !allowzero) {
      if (i >= in.size()) return std::nullopt;
      out[i] = in[i];
    }
    if (out[i] == -1) {
      if (infer >= 0) return std::nullopt;
      infer = static_cast<int64_t>(i);
    } else if (out[i] < 0) {
      return std::nullopt;
    } else {
      known *= out[i];
    }
  }
  if (infer >= 0) {
    if (known == 0) return std::nullopt;
    out[infer] = shape_numel(in) / known;
  }
  if (shape_numel(out) != shape_numel(in)) return std::nullopt;
  return out;
}

namespace {

// Applies node `n` (whose input 0 is the view `vw`) to the view; false when
// it is not a view op with constant arguments. The output shape comes from
// shape inference where known (it may not be after constant folding made
// Slice/Reshape arguments constant), else from the op itself.
bool apply(const ir::Graph& g, const ir::Node& n, StridedView& vw) {
  auto out = static_shape(g, n.outputs[0]);
  if (is_reshape_like(n)) {
    if (!out) out = reshape_target(g, n, vw.shape);
    if (!out) return false;
    auto st = reshape_strides(vw.shape, vw.strides, *out);
    if (!st) return false;
    vw.shape = *out;
    vw.strides = *st;
    return true;
  }
  const int rank = static_cast<int>(vw.shape.size());
  if (is_op(n, "Transpose")) {
    std::vector<int64_t> perm = n.attr_ints("perm");
    if (perm.empty())
      for (int i = rank - 1; i >= 0; --i) perm.push_back(i);
    if (static_cast<int>(perm.size()) != rank) return false;
    Shape s(rank);
    std::vector<int64_t> st(rank);
    for (int i = 0; i < rank; ++i) {
      if (perm[i] < 0 || perm[i] >= rank) return false;
      s[i] = vw.shape[perm[i]];
      st[i] = vw.strides[perm[i]];
    }
    if (out && s != *out) return false;
    vw.shape = s;
    vw.strides = st;
    return true;
  }
  if (is_op(n, "Gather")) {
    if (n.inputs.size() != 2) return false;
    const Tensor* idx = constant(g, n.inputs[1]);
    auto iv = int_constant(g, n.inputs[1]);
    if (!idx || !iv || iv->size() != 1 || idx->rank() > 1) return false;
    int64_t axis = n.attr_int("axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return false;
    int64_t i = (*iv)[0];
    if (i < 0) i += vw.shape[axis];
    if (i < 0 || i >= vw.shape[axis]) return false;
    vw.offset += i * vw.strides[axis];
    if (idx->rank() == 0) {
      vw.shape.erase(vw.shape.begin() + axis);
      vw.strides.erase(vw.strides.begin() + axis);
    } else {
      vw.shape[axis] = 1;
    }
    return !out || vw.shape == *out;
  }
  if (is_op(n, "Slice")) {
    std::vector<int64_t> starts, ends, axes, steps;
    if (n.since_version < 10) {
      starts = n.attr_ints("starts");
      ends = n.attr_ints("ends");
      axes = n.attr_ints("axes");
    } else {
      auto s = int_constant(g, n.inputs.size() > 1 ? n.inputs[1] : "");
      auto e = int_constant(g, n.inputs.size() > 2 ? n.inputs[2] : "");
      if (!s || !e) return false;
      starts = *s;
      ends = *e;
      if (n.has_input(3)) {
        auto a = int_constant(g, n.inputs[3]);
        if (!a) return false;
        axes = *a;
      }
      if (n.has_input(4)) {
        auto st = int_constant(g, n.inputs[4]);
        if (!st) return false;
        steps = *st;
      }
    }
    if (axes.empty())
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (starts.size() != ends.size() || axes.size() != starts.size() || steps.size() != starts.size()) return false;
    for (size_t k = 0; k < axes.size(); ++k) {
      int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
      if (a < 0 || a >= rank || steps[k] <= 0) return false;
      const int64_t dim = vw.shape[a];
      auto clamp = [dim](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + dim : v, 0, dim); };
      const int64_t b = clamp(starts[k]), e = clamp(ends[k]);
      const int64_t len = e > b ? (e - b + steps[k] - 1) / steps[k] : 0;
      vw.offset += b * vw.strides[a];
      vw.shape[a] = len;
      vw.strides[a] *= steps[k];
    }
    return !out || vw.shape == *out;
  }
  return false;
}

}  // namespace

std::optional<StridedView> trace_view(const ir::Graph& g, const GraphIndex& ix, const std::string& v) {
  // The chain of view ops from the source down to v.
  std::vector<const ir::Node*> chain;
  std::string cur = v;
  for (int depth = 0; depth < 64; ++depth) {
    const int p = ix.producer(cur);
    if (p < 0) break;
    const ir::Node& n = g.nodes[p];
    const bool view_op = is_reshape_like(n) || is_op(n, "Transpose") || is_op(n, "Gather") || is_op(n, "Slice");
    if (!view_op || n.inputs.empty() || n.inputs[0].empty() || !n.has_output(0) || n.outputs.size() != 1) break;
    chain.push_back(&n);
    cur = n.inputs[0];
  }
  // Apply from the source down; stop at the first op that is not a view,
  // making its output the source instead.
  while (true) {
    const auto src_shape = static_shape(g, cur);
    StridedView vw;
    bool ok = src_shape.has_value();
    if (ok) {
      vw.source = cur;
      vw.source_shape = *src_shape;
      vw.shape = *src_shape;
      vw.strides = dense_strides(*src_shape);
    }
    size_t k = chain.size();
    while (ok && k > 0 && apply(g, *chain[k - 1], vw)) --k;
    if (ok && k == 0) return vw;
    if (k == 0) return std::nullopt;
    // Restart from the output of the op that failed.
    cur = chain[k - 1]->outputs[0];
    chain.resize(k - 1);
    if (!static_shape(g, cur)) return std::nullopt;
  }
}

}  // namespace pier::passes
