// Replaces Shape(x) and Size(x) by constants when shape inference knows
// every dim of x. Graph inputs with fixed dims are checked against feeds
// (Session rejects other shapes), so the inferred dims hold at run time.
// Constant folding then evaluates what was computed from those shapes
// (Gather, Concat, Unsqueeze, Slice, Cast, arithmetic) and the Reshape,
// Expand or Slice arguments they feed become constants.
#include <algorithm>

#include "passes/pass_util.h"
#include "passes/passes.h"

namespace pier::passes {

namespace {

// Shape's start/end (opset 15): negative counts from the back, clamped.
int64_t clamp_index(int64_t v, int64_t rank) {
  if (v < 0) v += rank;
  return std::clamp<int64_t>(v, 0, rank);
}

}  // namespace

bool fold_shape(ir::Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    const bool shape = is_op(n, "Shape"), size = is_op(n, "Size");
    if ((!shape && !size) || !n.has_input(0) || !n.has_output(0)) continue;
    const auto dims = static_shape(g, n.inputs[0]);
    if (!dims) continue;
    Tensor value;
    if (shape) {
      const int64_t rank = static_cast<int64_t>(dims->size());
      const int64_t start = clamp_index(n.attr_int("start", 0), rank);
      const int64_t end = n.has_attr("end") ? clamp_index(n.attr_int("end", rank), rank) : rank;
      std::vector<int64_t> v;
      for (int64_t d = start; d < end; ++d) v.push_back((*dims)[d]);
      value = Tensor::from_vector<int64_t>(v, {static_cast<int64_t>(v.size())});
    } else {
      value = Tensor::from_vector<int64_t>({shape_numel(*dims)}, {});
    }
    const std::string& out = n.outputs[0];
    ValueInfo vi;
    vi.name = out;
    vi.dtype = DataType::kInt64;
    vi.has_shape = true;
    vi.dims = value.shape();
    g.value_info[out] = vi;
    g.initializers[out] = std::move(value);
    dead[i] = true;
    changed = true;
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

}  // namespace pier::passes
