// Turns Constant nodes into initializers, so that kernels see their values
// at session creation (for weight packing and static attributes).
#include "passes/passes.h"

namespace pier::passes {

bool constant_to_initializer(ir::Graph& g) {
  bool changed = false;
  std::vector<ir::Node> kept;
  kept.reserve(g.nodes.size());
  for (auto& n : g.nodes) {
    if (n.op_type == "Constant" && n.domain.empty() && n.has_output(0)) {
      g.initializers[n.outputs[0]] = ir::constant_node_value(n);
      changed = true;
      continue;
    }
    kept.push_back(std::move(n));
  }
  g.nodes = std::move(kept);
  return changed;
}

}  // namespace pier::passes
