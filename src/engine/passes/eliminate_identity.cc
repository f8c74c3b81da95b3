// Removes Identity nodes, and Dropout nodes in inference mode whose mask is
// unused (absent, or named but read by nobody), by renaming their output to their input in every consumer.
// A node whose output is a graph output stays (the output name must exist).
#include "passes/passes.h"

namespace pier::passes {

namespace {

void rename_uses(ir::Graph& g, const std::string& from, const std::string& to, bool subgraph = false) {
  for (auto& n : g.nodes) {
    for (auto& in : n.inputs)
      if (in == from) in = to;
    for (auto& a : n.attrs) {
      if (a.g) rename_uses(*a.g, from, to, true);
      for (auto& sg : a.graphs) rename_uses(*sg, from, to, true);
    }
  }
  // A subgraph (If branch, Loop body) may return an outer value directly;
  // its outputs are matched by position, so the name can follow the value.
  if (subgraph)
    for (auto& o : g.outputs)
      if (o.name == from) o.name = to;
}

bool is_zero(const Tensor* t) {
  if (!t || t->numel() != 1) return false;
  switch (t->dtype()) {
    case DataType::kFloat: return t->data<float>()[0] == 0.f;
    case DataType::kDouble: return t->data<double>()[0] == 0.0;
    case DataType::kFloat16: return static_cast<float>(t->data<Float16>()[0]) == 0.f;
    case DataType::kBFloat16: return static_cast<float>(t->data<BFloat16>()[0]) == 0.f;
    default: return false;
  }
}

bool is_passthrough(const ir::Graph& g, const ir::Node& n, const std::unordered_map<std::string, int>& uses) {
  if (!n.domain.empty()) return false;
  if (n.op_type == "Identity") return n.has_input(0) && n.num_outputs() == 1;
  if (n.op_type != "Dropout" || !n.has_input(0) || !n.has_output(0)) return false;
  if (n.has_output(1) && uses.count(n.outputs[1])) return false;
  if (n.has_input(2)) {  // training_mode must be a constant false ...
    const Tensor* t = g.initializer(n.inputs[2]);
    if (!t || t->dtype() != DataType::kBool || t->numel() != 1) return false;
    // ... or the ratio a constant 0: training mode then keeps every element
    // and scales by 1 / (1 - 0) (torch exports F.dropout(x, p=0.0) so).
    if (t->data<bool>()[0]) return n.has_input(1) && is_zero(g.initializer(n.inputs[1]));
  }
  return true;
}

}  // namespace

bool eliminate_identity(ir::Graph& g) {
  bool changed = false;
  std::unordered_map<std::string, bool> is_output;
  for (const auto& o : g.outputs) is_output[o.name] = true;
  const auto uses = use_counts(g);
  for (size_t i = 0; i < g.nodes.size();) {
    const ir::Node& n = g.nodes[i];
    if (!is_passthrough(g, n, uses) || is_output.count(n.outputs[0])) {
      ++i;
      continue;
    }
    const std::string from = n.outputs[0], to = n.inputs[0];
    g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
    rename_uses(g, from, to);
    changed = true;
  }
  return changed;
}

}  // namespace pier::passes
