// Pads around CNN pooling, as torch exports them:
//  - a Pad whose pads are all zero (before AveragePool) is dropped;
//  - a constant Pad with a zero fill value on the spatial axes, read only by
//    an AveragePool (ceil_mode 0, no pads of its own), is folded into it:
//    avg_pool(padding=p, count_include_pad=True) exports that way, and an
//    AveragePool with pads p and count_include_pad=1 averages the same
//    zeros. The pool then stays in the channels-last layout.
// A Pad whose output is a graph output or read by a subgraph stays.
#include "passes/cnn_pass_util.h"
#include "passes/passes.h"

namespace pier::passes {

namespace {

// The pads of a constant-mode Pad with constant pads and a zero (or absent)
// fill value, begins then ends per axis; empty when not such a Pad.
std::vector<int64_t> zero_fill_pads(const ir::Graph& g, const ir::Node& n) {
  if (!is_onnx(n, "Pad") || n.attr_string("mode", "constant") != "constant") return {};
  if (n.since_version < 11) return n.attr_float("value", 0.f) == 0.f ? n.attr_ints("pads") : std::vector<int64_t>{};
  if (n.has_input(3)) return {};  // axes
  const Tensor* p = n.has_input(1) ? constant(g, n.inputs[1]) : nullptr;
  if (!p || p->dtype() != DataType::kInt64) return {};
  if (n.has_input(2)) {
    const Tensor* v = constant(g, n.inputs[2]);
    if (!v || v->dtype() != DataType::kFloat || v->numel() != 1 || v->data<float>()[0] != 0.f) return {};
  }
  return std::vector<int64_t>(p->data<int64_t>(), p->data<int64_t>() + p->numel());
}

}  // namespace

bool fuse_conv_pad(ir::Graph& g) {
  FlowIndex flow(g);
  std::unordered_map<std::string, std::string> rename;
  std::vector<bool> erase(g.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& n = g.nodes[i];
    if (!is_onnx(n, "Pad") || n.num_outputs() != 1 || flow.escapes(n.outputs[0])) continue;
    if (zero_pad(g, n)) {
      rename[n.outputs[0]] = n.inputs[0];
      erase[i] = changed = true;
      continue;
    }
    const auto pads = zero_fill_pads(g, n);
    const auto& cons = flow.consumers(n.outputs[0]);
    const int r = known_rank(g, n.inputs[0]);
    if (pads.empty() || r < 3 || static_cast<int>(pads.size()) != 2 * r || cons.size() != 1 ||
        flow.uses(n.outputs[0]) != 1)
      continue;
    ir::Node& pool = g.nodes[cons[0]];
    if (!is_onnx(pool, "AveragePool") || pool.attr_int("ceil_mode", 0) != 0 ||
        pool.attr_string("auto_pad", "NOTSET") != "NOTSET")
      continue;
    auto old = pool.attr_ints("pads");
    bool ok = pads[0] == 0 && pads[1] == 0 && pads[r] == 0 && pads[r + 1] == 0;
    for (int64_t v : pads) ok = ok && v >= 0;
    for (int64_t v : old) ok = ok && v == 0;
    if (!ok) continue;
    std::vector<int64_t> merged;
    for (int k = 0; k < 2; ++k)
      for (int d = 2; d < r; ++d) merged.push_back(pads[k * r + d]);
    set_attr(pool, ints_attr("pads", merged));
    set_attr(pool, int_attr("count_include_pad", 1));
    rename[n.outputs[0]] = n.inputs[0];
    erase[i] = changed = true;
  }
  if (!changed) return false;
  std::vector<ir::Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (erase[i]) continue;
    for (auto& in : g.nodes[i].inputs)
      for (auto it = rename.find(in); it != rename.end(); it = rename.find(in)) in = it->second;
    kept.push_back(std::move(g.nodes[i]));
  }
  g.nodes = std::move(kept);
  return true;
}

}  // namespace pier::passes
