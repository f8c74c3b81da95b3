// Transpose elimination:
//  - Transpose(Transpose(x, p1), p2) reads x directly with the composed
//    permutation p[i] = p1[p2[i]] (the inner one stays while others read it);
//  - a Transpose whose permutation is the identity becomes Identity (which
//    eliminate_identity then removes);
//  - a Transpose that only moves dims of size 1 (the relative order of the
//    other dims is kept) does not move any data: with a static input shape
//    it becomes a Reshape, which is a zero-copy view.
// Transposes feeding matmuls are folded into the attention kernel's
// strides by fuse_attention.
#include <algorithm>
#include <numeric>

#include "passes/pass_util.h"
#include "passes/passes.h"

namespace pier::passes {

namespace {

// The permutation of a Transpose with input rank `rank` (default: reverse).
std::vector<int64_t> perm_of(const ir::Node& t, int rank) {
  std::vector<int64_t> p = t.attr_ints("perm");
  if (p.empty() && rank >= 0) {
    p.resize(static_cast<size_t>(rank));
    std::iota(p.rbegin(), p.rend(), 0);
  }
  return p;
}

bool valid_perm(const std::vector<int64_t>& p) {
  std::vector<bool> seen(p.size(), false);
  for (int64_t v : p) {
    if (v < 0 || v >= static_cast<int64_t>(p.size()) || seen[v]) return false;
    seen[v] = true;
  }
  return true;
}

}  // namespace

bool eliminate_transpose(ir::Graph& g) {
  bool changed = false;
  GraphIndex ix(g);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& t = g.nodes[i];
    if (!is_op(t, "Transpose") || !t.has_input(0) || !t.has_output(0)) continue;
    std::vector<int64_t> p = perm_of(t, value_rank(g, t.inputs[0]));
    if (p.empty() || !valid_perm(p)) continue;
    // Compose with a Transpose producing the input.
    const int pi = ix.producer(t.inputs[0]);
    if (pi >= 0 && is_op(g.nodes[pi], "Transpose") && g.nodes[pi].has_input(0)) {
      const ir::Node& inner = g.nodes[pi];
      const std::vector<int64_t> p1 = perm_of(inner, value_rank(g, inner.inputs[0]));
      if (p1.size() == p.size() && valid_perm(p1)) {
        std::vector<int64_t> composed(p.size());
        for (size_t k = 0; k < p.size(); ++k) composed[k] = p1[static_cast<size_t>(p[k])];
        p = composed;
        t.inputs[0] = inner.inputs[0];
        set_attr(t, ints_attr("perm", p));
        changed = true;
      }
    }
    bool identity = true;
    for (size_t k = 0; k < p.size(); ++k) identity = identity && p[k] == static_cast<int64_t>(k);
    if (identity) {
      t.op_type = "Identity";
      t.since_version = t.since_version >= 16 ? 16 : (t.since_version >= 14 ? 14 : 13);
      t.attrs.clear();
      changed = true;
      continue;
    }
    const auto in_shape = static_shape(g, t.inputs[0]);
    if (!in_shape || in_shape->size() != p.size()) continue;
    int64_t last = -1;
    bool moves_data = false;
    for (int64_t src : p) {
      if ((*in_shape)[static_cast<size_t>(src)] == 1) continue;
      moves_data = moves_data || src < last;
      last = src;
    }
    if (moves_data) continue;
    Shape out(p.size());
    for (size_t k = 0; k < p.size(); ++k) out[k] = (*in_shape)[static_cast<size_t>(p[k])];
    const std::string shape_name =
        add_constant(g, t.outputs[0] + "_shape", Tensor::from_vector<int64_t>(out, {static_cast<int64_t>(out.size())}));
    ir::Node& r = g.nodes[i];
    r.op_type = "Reshape";
    r.since_version = 14;
    r.opset = std::max(r.opset, 14);
    r.attrs.clear();
    r.attrs.push_back(int_attr("allowzero", 1));
    r.inputs = {r.inputs[0], shape_name};
    changed = true;
  }
  return changed;
}

}  // namespace pier::passes
