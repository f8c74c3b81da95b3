// MatMul epilogue fusion (float only):
//
//  fuse_matmul_add:  Add(MatMul(A, B), bias) -> FusedMatMul(A, B, bias)
//    when bias is a constant with one value per output column (shape
//    [N], [1, N], [1, .., 1, N] or a single value, no more dims than the
//    product) and the product is read only by the Add. oneDNN adds the bias
//    inside the matmul instead of a second pass over the output.
//
//  fuse_matmul_activation:  Act(FusedMatMul | MatMul | Gemm) -> fused op
//    with attribute activation (Relu, Gelu, GeluTanh, Sigmoid, Tanh) run as
//    a oneDNN eltwise post-op, when the product is read only by the
//    activation. Gemm becomes pier.internal::FusedGemm (opset 11+ Gemm
//    attributes kept).
#include "passes/pass_util.h"
#include "passes/passes.h"

namespace pier::passes {

namespace {

bool all_float(const ir::Graph& g, const ir::Node& n) {
  for (const auto& in : n.inputs)
    if (!in.empty() && value_type(g, in) != DataType::kFloat) return false;
  return true;
}

bool is_internal(const ir::Node& n, const char* op) { return n.domain == kPierDomain && n.op_type == op; }

// The bias as a [N] tensor when `c` is a per-column constant for a product
// with N columns and rank `rank`; undefined otherwise.
Tensor column_bias(const ir::Graph& g, const std::string& c, int64_t N, int rank) {
  const Tensor* t = constant(g, c);
  if (!t || t->dtype() != DataType::kFloat || t->rank() > rank) return Tensor();
  for (int d = 0; d + 1 < t->rank(); ++d)
    if (t->dim(d) != 1) return Tensor();
  if (t->numel() == N) return t->reshaped({N});
  if (t->numel() != 1) return Tensor();
  Tensor out(DataType::kFloat, {N});
  for (int64_t j = 0; j < N; ++j) out.data<float>()[j] = t->data<float>()[0];
  return out;
}

}  // namespace

bool fuse_matmul_add(ir::Graph& g) {
  GraphIndex ix(g);
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& mm = g.nodes[i];
    if (!is_op(mm, "MatMul") || mm.inputs.size() != 2 || !mm.has_output(0) || !all_float(g, mm)) continue;
    const std::string& y = mm.outputs[0];
    const auto& readers = ix.readers(y);
    if (readers.size() != 1 || !ix.only_read_by(y, readers)) continue;
    const int ai = readers[0];
    ir::Node& add = g.nodes[ai];
    if (!is_op(add, "Add") || add.inputs.size() != 2 || !add.has_output(0) || dead[ai]) continue;
    if (add.inputs[0] == add.inputs[1]) continue;
    const std::string& c = add.inputs[0] == y ? add.inputs[1] : add.inputs[0];
    // N from B (rank >= 2 keeps the columns as the product's last dim).
    const int rb = value_rank(g, mm.inputs[1]);
    const int ry = value_rank(g, y);
    const auto bs = static_shape(g, mm.inputs[1]);
    if (rb < 2 || ry < 2 || !bs) continue;
    const Tensor bias = column_bias(g, c, bs->back(), ry);
    if (!bias.defined()) continue;
    const std::string bias_name = bias.shape() == constant(g, c)->shape() ? c : add_constant(g, c + "_bias", bias);
    ir::Node fused = internal_node("FusedMatMul", mm.name, {mm.inputs[0], mm.inputs[1], bias_name}, {add.outputs[0]});
    add = std::move(fused);  // at the Add's position: all inputs exist there
    dead[i] = true;
    changed = true;
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

bool fuse_matmul_activation(ir::Graph& g) {
  GraphIndex ix(g);
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& act = g.nodes[i];
    std::string kind;
    if (is_op(act, "Relu")) kind = "Relu";
    else if (is_op(act, "Sigmoid")) kind = "Sigmoid";
    else if (is_op(act, "Tanh")) kind = "Tanh";
    else if (is_internal(act, "Gelu")) kind = act.attr_string("approximate", "none") == "tanh" ? "GeluTanh" : "Gelu";
    if (kind.empty() || act.inputs.size() != 1 || act.outputs.size() != 1 || act.inputs[0].empty()) continue;
    const std::string& x = act.inputs[0];
    const int pi = ix.producer(x);
    if (pi < 0 || dead[pi] || !ix.only_read_by(x, {static_cast<int>(i)})) continue;
    const ir::Node& p = g.nodes[pi];
    const bool matmul = is_op(p, "MatMul") || (is_internal(p, "FusedMatMul") && !p.has_attr("activation"));
    const bool gemm = (is_op(p, "Gemm") && p.since_version >= 11) ||
                      (is_internal(p, "FusedGemm") && !p.has_attr("activation"));
    if ((!matmul && !gemm) || p.outputs.size() != 1 || !all_float(g, p)) continue;
    ir::Node fused = internal_node(matmul ? "FusedMatMul" : "FusedGemm", p.name, p.inputs, act.outputs);
    fused.attrs = p.attrs;
    set_attr(fused, string_attr("activation", kind));
    act = std::move(fused);
    dead[pi] = true;
    changed = true;
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

}  // namespace pier::passes
