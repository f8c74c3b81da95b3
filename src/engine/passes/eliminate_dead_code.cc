// Removes nodes none of whose outputs is read (by a node, a subgraph or the
// graph's outputs), and initializers nobody reads. Nodes with side effects
// do not exist in inference ONNX, so every node is removable.
#include <algorithm>

#include "passes/passes.h"

namespace pier::passes {

bool eliminate_dead_code(ir::Graph& g) {
  bool changed = false;
  for (bool again = true; again;) {
    again = false;
    auto uses = use_counts(g);
    for (size_t i = g.nodes.size(); i-- > 0;) {
      const auto& n = g.nodes[i];
      bool live = std::any_of(n.outputs.begin(), n.outputs.end(),
                              [&](const std::string& o) { return !o.empty() && uses.count(o); });
      if (!live) {
        g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
        again = changed = true;
      }
    }
  }
  auto uses = use_counts(g);
  std::unordered_map<std::string, bool> is_input;
  for (const auto& in : g.inputs) is_input[in.name] = true;
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    if (!uses.count(it->first) && !is_input.count(it->first)) {
      it = g.initializers.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  return changed;
}

}  // namespace pier::passes
