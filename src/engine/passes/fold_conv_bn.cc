// Folds an inference BatchNormalization into the Conv that feeds it:
//   Conv(X, W, B) -> BatchNormalization(scale, bias, mean, var, epsilon)
// becomes Conv(X, W', B') with, per output channel o,
//   a[o] = scale[o] / sqrt(var[o] + epsilon)
//   W'[o, ...] = W[o, ...] * a[o]
//   B'[o] = (B[o] - mean[o]) * a[o] + bias[o]        (B = 0 when absent)
// computed in double and stored in W's type (float or double).
//
// Only when: W, B and the four BN parameters are initializers that feeds
// cannot override; the parameters are per channel ([C_out]); BN runs in
// inference mode with one output; and the Conv's output is read by the BN
// alone (not by another node, a subgraph or as a graph output). New
// initializers are created (W may be shared with other nodes); the old ones
// are dropped by dead-code elimination when nothing else reads them.
#include <cmath>

#include "passes/cnn_pass_util.h"
#include "passes/passes.h"

namespace pier::passes {

namespace {

bool inference_bn(const ir::Node& bn) {
  if (!is_onnx(bn, "BatchNormalization") || bn.num_inputs() != 5) return false;
  for (int i = 1; i < bn.num_outputs(); ++i)
    if (bn.has_output(i)) return false;
  if (bn.since_version >= 14 && bn.attr_int("training_mode", 0) != 0) return false;
  if (bn.since_version < 9 && bn.attr_int("spatial", 1) != 1) return false;
  if (bn.since_version < 7 && bn.has_attr("is_test") && bn.attr_int("is_test", 0) == 0) return false;
  return true;
}

bool float_or_double(const Tensor* t) {
  return t && (t->dtype() == DataType::kFloat || t->dtype() == DataType::kDouble);
}

}  // namespace

bool fold_conv_bn(ir::Graph& g) {
  bool changed = false;
  NameGen names(g);
  FlowIndex flow(g);
  std::vector<bool> erase(g.nodes.size(), false);
  for (size_t bi = 0; bi < g.nodes.size(); ++bi) {
    const ir::Node& bn = g.nodes[bi];
    if (!inference_bn(bn) || !bn.has_input(0) || !bn.has_output(0)) continue;
    const std::string& y = bn.inputs[0];
    const int ci = flow.producer(y);
    if (ci < 0 || erase[ci]) continue;
    ir::Node& conv = g.nodes[ci];
    if (!is_onnx(conv, "Conv") || conv.outputs[0] != y || flow.uses(y) != 1) continue;
    const Tensor* w = constant(g, conv.has_input(1) ? conv.inputs[1] : "");
    const Tensor* b = conv.has_input(2) ? constant(g, conv.inputs[2]) : nullptr;
    if (!float_or_double(w) || w->rank() < 3 || (conv.has_input(2) && !float_or_double(b))) continue;
    const int64_t C = w->dim(0);
    if (b && (b->rank() != 1 || b->dim(0) != C || b->dtype() != w->dtype())) continue;
    const Tensor* p[4];
    bool ok = true;
    for (int k = 0; k < 4; ++k) {
      p[k] = constant(g, bn.has_input(k + 1) ? bn.inputs[k + 1] : "");
      ok = ok && float_or_double(p[k]) && p[k]->numel() == C && p[k]->rank() == 1;
    }
    if (!ok) continue;
    const double eps = bn.attr_float("epsilon", 1e-5f);
    const auto scale = to_doubles(*p[0]), shift = to_doubles(*p[1]), mean = to_doubles(*p[2]), var = to_doubles(*p[3]);
    std::vector<double> wv = to_doubles(*w), bv = b ? to_doubles(*b) : std::vector<double>(C, 0.0);
    const int64_t per = C ? w->numel() / C : 0;
    for (int64_t o = 0; o < C; ++o) {
      const double a = scale[o] / std::sqrt(var[o] + eps);
      for (int64_t k = 0; k < per; ++k) wv[o * per + k] *= a;
      bv[o] = (bv[o] - mean[o]) * a + shift[o];
    }
    const std::string wn = names(conv.inputs[1] + "_bnfold"), bnm = names(conv.name + "_bias_bnfold");
    g.initializers[wn] = from_doubles(wv, w->dtype(), w->shape());
    g.initializers[bnm] = from_doubles(bv, w->dtype(), {C});
    conv.inputs.resize(3);
    conv.inputs[1] = wn;
    conv.inputs[2] = bnm;
    conv.outputs[0] = bn.outputs[0];
    erase[bi] = true;
    changed = true;
  }
  if (!changed) return false;
  std::vector<ir::Node> kept;
  kept.reserve(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!erase[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  eliminate_dead_code(g);  // the unfolded weights, unless read elsewhere
  return true;
}

}  // namespace pier::passes
