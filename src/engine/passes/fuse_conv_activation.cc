// Fuses what follows a float Conv into oneDNN post-ops of one internal node
// pier.internal::FusedConv (the Conv's attributes plus):
//   post_ops:   strings, applied in order to the convolution's result:
//               relu (alpha = negative slope: Relu, LeakyRelu), clip (alpha,
//               beta = min, max: Clip/Relu6), hardsigmoid (alpha, beta),
//               hardswish, sigmoid, tanh, elu (alpha), swish (x*Sigmoid(x),
//               SiLU), sum (adds input 3, the residual of an Add)
//   post_alpha, post_beta: floats, one per post-op
//   sum_inplace: 1 when input 3 is read by nothing after this node, so the
//               kernel may accumulate into its buffer (set by
//               mark_conv_sum_inplace, which runs after all rewrites)
//
// A step fuses only when the intermediate value has exactly the reads it
// replaces (no other node, subgraph or graph output reads it); an Add fuses
// only when both operands have the same fully known shape (no
// broadcasting), and at most one Add per Conv. The fused node takes the
// position of the last node it absorbs, so every input (including the Add's
// other operand) is computed before it.
#include <algorithm>
#include <limits>

#include "passes/cnn_pass_util.h"
#include "passes/passes.h"

namespace pier::passes {

namespace {

struct PostOp {
  std::string kind;
  float alpha = 0, beta = 0;
};

bool is_conv(const ir::Node& n) { return is_onnx(n, "Conv") || is_internal(n, "FusedConv"); }

std::vector<std::string> post_ops_of(const ir::Node& n) {
  return is_internal(n, "FusedConv") ? n.attr_strings("post_ops") : std::vector<std::string>{};
}

// Scalar float constant of input i, or `def` when the input is absent;
// false when present but not a constant float scalar.
bool clip_bound(const ir::Graph& g, const ir::Node& n, int i, float def, float& out) {
  if (!n.has_input(i)) {
    out = def;
    return true;
  }
  const Tensor* t = constant(g, n.inputs[i]);
  if (!t || t->dtype() != DataType::kFloat || t->numel() != 1) return false;
  out = t->data<float>()[0];
  return true;
}

// The post-op equivalent to unary node `a` applied to its input 0.
bool activation(const ir::Graph& g, const ir::Node& a, PostOp& op) {
  if (!a.domain.empty() || a.num_outputs() != 1) return false;
  const std::string& t = a.op_type;
  constexpr float lo = std::numeric_limits<float>::lowest(), hi = std::numeric_limits<float>::max();
  if (t == "Relu") op = {"relu", 0.f, 0.f};
  else if (t == "LeakyRelu") op = {"relu", a.attr_float("alpha", 0.01f), 0.f};
  else if (t == "Sigmoid") op = {"sigmoid", 0.f, 0.f};
  else if (t == "Tanh") op = {"tanh", 0.f, 0.f};
  else if (t == "Elu") op = {"elu", a.attr_float("alpha", 1.f), 0.f};
  else if (t == "HardSigmoid") op = {"hardsigmoid", a.attr_float("alpha", 0.2f), a.attr_float("beta", 0.5f)};
  else if (t == "HardSwish") op = {"hardswish", 0.f, 0.f};
  else if (t == "Clip") {
    op.kind = "clip";
    if (a.since_version < 11) {
      op.alpha = a.attr_float("min", lo);
      op.beta = a.attr_float("max", hi);
    } else if (!clip_bound(g, a, 1, lo, op.alpha) || !clip_bound(g, a, 2, hi, op.beta)) {
      return false;
    }
    if (!(op.alpha <= op.beta)) return false;
  } else {
    return false;
  }
  return a.has_input(0);
}

bool same_static_shape(const ir::Graph& g, const std::string& a, const std::string& b) {
  const ValueInfo* x = float_info(g, a);
  const ValueInfo* y = float_info(g, b);
  if (!x || !y || !x->has_shape || !y->has_shape || x->dims != y->dims) return false;
  for (int64_t d : x->dims)
    if (d < 0) return false;
  return true;
}

ir::Node to_fused(const ir::Node& conv) {
  if (is_internal(conv, "FusedConv")) return conv;
  ir::Node f = internal_node("FusedConv", conv.name, conv.inputs, conv.outputs);
  f.attrs = conv.attrs;
  return f;
}

void append(ir::Node& f, const PostOp& op) {
  auto kinds = f.attr_strings("post_ops");
  auto alphas = f.attr_floats("post_alpha");
  auto betas = f.attr_floats("post_beta");
  kinds.push_back(op.kind);
  alphas.push_back(op.alpha);
  betas.push_back(op.beta);
  set_attr(f, strings_attr("post_ops", kinds));
  set_attr(f, floats_attr("post_alpha", alphas));
  set_attr(f, floats_attr("post_beta", betas));
}

// One round: extends every Conv/FusedConv by one step where possible.
bool fuse_round(ir::Graph& g) {
  FlowIndex flow(g);
  const size_t n = g.nodes.size();
  std::vector<bool> erase(n, false), touched(n, false);
  bool changed = false;
  for (size_t ci = 0; ci < n; ++ci) {
    if (touched[ci] || !is_conv(g.nodes[ci]) || g.nodes[ci].num_outputs() != 1) continue;
    const ir::Node& conv = g.nodes[ci];
    const std::string y = conv.outputs[0];
    if (y.empty() || !float_info(g, y) || flow.escapes(y)) continue;
    const auto& cons = flow.consumers(y);
    const auto ops = post_ops_of(conv);
    const bool has_sum = std::find(ops.begin(), ops.end(), "sum") != ops.end();
    PostOp op;
    int pos = -1, extra = -1;
    std::string out, sum_in;
    if (flow.uses(y) == 2 && cons.size() == 2) {
      // SiLU: Mul(y, Sigmoid(y)) in either operand order.
      const int a = cons[0], b = cons[1];
      const ir::Node& s = g.nodes[a];
      const ir::Node& m = g.nodes[b];
      if (is_onnx(s, "Sigmoid") && s.num_outputs() == 1 && is_onnx(m, "Mul") && m.num_inputs() == 2 &&
          !touched[a] && !touched[b] && flow.uses(s.outputs[0]) == 1 &&
          ((m.inputs[0] == y && m.inputs[1] == s.outputs[0]) || (m.inputs[1] == y && m.inputs[0] == s.outputs[0]))) {
        op = {"swish", 1.f, 0.f};
        pos = b;
        extra = a;
        out = m.outputs[0];
      }
    } else if (flow.uses(y) == 1 && cons.size() == 1 && !touched[cons[0]]) {
      const ir::Node& a = g.nodes[cons[0]];
      if (activation(g, a, op) && a.inputs[0] == y) {
        pos = cons[0];
        out = a.outputs[0];
      } else if (is_onnx(a, "Add") && a.num_inputs() == 2 && a.num_outputs() == 1 && !has_sum) {
        const std::string& z = a.inputs[0] == y ? a.inputs[1] : a.inputs[0];
        if (z != y && same_static_shape(g, y, z) && same_static_shape(g, y, a.outputs[0])) {
          op = {"sum", 1.f, 0.f};
          pos = cons[0];
          out = a.outputs[0];
          sum_in = z;
        }
      }
    }
    if (pos < 0 || out.empty()) continue;
    ir::Node f = to_fused(conv);
    append(f, op);
    if (!sum_in.empty()) {
      f.inputs.resize(4);
      f.inputs[3] = sum_in;
    }
    f.outputs[0] = out;
    g.nodes[pos] = std::move(f);
    erase[ci] = touched[ci] = touched[pos] = true;
    if (extra >= 0) erase[extra] = touched[extra] = true;
    changed = true;
  }
  if (!changed) return false;
  std::vector<ir::Node> kept;
  kept.reserve(n);
  for (size_t i = 0; i < n; ++i)
    if (!erase[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  return true;
}

}  // namespace

bool fuse_conv_activation(ir::Graph& g) {
  bool changed = false;
  for (int round = 0; round < 16 && fuse_round(g); ++round) changed = true;
  return changed;
}

bool mark_conv_sum_inplace(ir::Graph& g) {
  FlowIndex flow(g);
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& n = g.nodes[i];
    if (!is_internal(n, "FusedConv") || !n.has_input(3)) continue;
    const std::string& z = n.inputs[3];
    const auto& cons = flow.consumers(z);
    int64_t ok = !flow.escapes(z) && constant(g, z) == nullptr && !g.initializer(z) && !cons.empty() &&
                 cons.back() == static_cast<int>(i) && z != n.inputs[0];
    for (const auto& in : g.inputs) ok = ok && in.name != z;
    if (n.attr_int("sum_inplace", -1) != ok) {
      set_attr(n, int_attr("sum_inplace", ok));
      changed = true;
    }
  }
  return changed;
}

}  // namespace pier::passes
