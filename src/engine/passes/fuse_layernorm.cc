// LayerNorm fusion for models exported before opset 17 (torch's
// F.layer_norm, TF/Keras): the decomposed form
//
//   m = ReduceMean(x, axes)            axes = the last k dims, keepdims=1
//   d = Sub(x, m)
//   v = ReduceMean(Pow(d, 2) | Mul(d, d), axes)
//   n = Div(d, Sqrt(Add(v, eps)))
//   [y = Mul(n, gamma)] [y = Add(y, beta)]
//
// becomes LayerNormalization(x, gamma, beta, axis = rank - k, epsilon).
// gamma and beta must be float constants with one value per normalized
// element (leading 1s allowed); without them the scale is ones. Every
// intermediate must be read only inside the pattern.
#include <algorithm>
#include <numeric>

#include "passes/pass_util.h"
#include "passes/passes.h"

namespace pier::passes {

namespace {

struct Ctx {
  const ir::Graph& g;
  const GraphIndex& ix;
  const ir::Node* producer(const std::string& v) const {
    const int p = ix.producer(v);
    return p < 0 ? nullptr : &g.nodes[p];
  }
  int index(const ir::Node* n) const { return static_cast<int>(n - g.nodes.data()); }
  int sole_reader(const std::string& v) const {
    const auto& r = ix.readers(v);
    return r.size() == 1 && ix.only_read_by(v, r) ? r[0] : -1;
  }
};

// Sorted, normalized axes of a keepdims ReduceMean over `rank` dims, or
// empty when it is not one.
std::vector<int64_t> mean_axes(const ir::Graph& g, const ir::Node& n, int rank) {
  if (!is_op(n, "ReduceMean") || n.attr_int("keepdims", 1) != 1 || rank <= 0) return {};
  std::vector<int64_t> axes;
  if (n.since_version >= 18) {
    if (!n.has_input(1)) return {};
    auto a = int_constant(g, n.inputs[1]);
    if (!a) return {};
    axes = *a;
  } else {
    axes = n.attr_ints("axes");
  }
  if (axes.empty()) return {};
  for (auto& a : axes) {
    if (a < -rank || a >= rank) return {};
    if (a < 0) a += rank;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) return {};
  return axes;
}

// A constant broadcast over the normalized shape `ns` with one value per
// element, as a tensor of shape `ns`.
Tensor per_element(const ir::Graph& g, const std::string& v, const Shape& ns) {
  const Tensor* t = constant(g, v);
  if (!t || t->dtype() != DataType::kFloat || t->numel() != shape_numel(ns) ||
      t->rank() > static_cast<int>(ns.size()) + 0)
    return Tensor();
  // Its dims must be ns's trailing dims, preceded by 1s (a true broadcast).
  const int off = static_cast<int>(ns.size()) - t->rank();
  for (int d = 0; d < t->rank(); ++d)
    if (t->dim(d) != ns[off + d]) return Tensor();
  return t->reshaped(ns);
}

}  // namespace

bool fuse_layernorm(ir::Graph& g) {
  GraphIndex ix(g);
  Ctx c{g, ix};
  std::vector<bool> dead(g.nodes.size(), false);
  std::vector<std::pair<int, ir::Node>> replace;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& sub = g.nodes[i];
    if (!is_op(sub, "Sub") || sub.inputs.size() != 2 || !sub.has_output(0) || dead[i]) continue;
    const std::string& x = sub.inputs[0];
    const int rank = value_rank(g, x);
    if (value_type(g, x) != DataType::kFloat || rank <= 0) continue;
    const ir::Node* m = c.producer(sub.inputs[1]);
    if (!m || m->inputs.empty() || m->inputs[0] != x || c.sole_reader(sub.inputs[1]) != static_cast<int>(i)) continue;
    const auto axes = mean_axes(g, *m, rank);
    if (axes.empty() || axes.back() != rank - 1 || axes.front() != rank - static_cast<int64_t>(axes.size())) continue;
    // d is read by the square (Mul(d, d) reads it twice) and by the Div.
    const std::string& d = sub.outputs[0];
    const auto& all_dr = ix.readers(d);
    if (!ix.only_read_by(d, all_dr)) continue;
    std::vector<int> dr = all_dr;
    dr.erase(std::unique(dr.begin(), dr.end()), dr.end());
    if (dr.size() != 2) continue;
    const ir::Node* sq = nullptr;
    const ir::Node* div = nullptr;
    for (int r : dr) {
      const ir::Node& n = g.nodes[r];
      if (is_op(n, "Div") && n.inputs.size() == 2 && n.inputs[0] == d) div = &n;
      else if (is_op(n, "Pow") && n.inputs.size() == 2 && n.inputs[0] == d &&
               broadcast_scalar(g, n, 1) == 2.0)
        sq = &n;
      else if (is_op(n, "Mul") && n.inputs.size() == 2 && n.inputs[0] == d && n.inputs[1] == d)
        sq = &n;
    }
    if (!sq || !div || all_dr.size() != (is_op(*sq, "Mul") ? 3u : 2u)) continue;
    const int vi = c.sole_reader(sq->outputs[0]);
    if (vi < 0 || mean_axes(g, g.nodes[vi], rank) != axes || g.nodes[vi].inputs[0] != sq->outputs[0]) continue;
    const ir::Node& var = g.nodes[vi];
    const int ei = c.sole_reader(var.outputs[0]);
    if (ei < 0 || !is_op(g.nodes[ei], "Add") || g.nodes[ei].inputs.size() != 2) continue;
    const ir::Node& add_eps = g.nodes[ei];
    const std::string& eps_name = add_eps.inputs[0] == var.outputs[0] ? add_eps.inputs[1] : add_eps.inputs[0];
    const auto eps = broadcast_scalar(g, add_eps, add_eps.inputs[0] == eps_name ? 0 : 1);
    if (!eps || *eps < 0) continue;
    const int si = c.sole_reader(add_eps.outputs[0]);
    if (si < 0 || !is_op(g.nodes[si], "Sqrt")) continue;
    const ir::Node& sqrt = g.nodes[si];
    if (div->inputs[1] != sqrt.outputs[0] || c.sole_reader(sqrt.outputs[0]) != c.index(div)) continue;
    std::vector<int> nodes{c.index(m), static_cast<int>(i), c.index(sq), vi, ei, si, c.index(div)};

    // Normalized shape: the last k dims of x (must be known for gamma/beta).
    Shape ns;
    const ValueInfo* xinfo = g.info(x);
    bool ns_known = xinfo && xinfo->has_shape;
    for (size_t k = 0; ns_known && k < axes.size(); ++k) {
      const int64_t dim = xinfo->dims[static_cast<size_t>(axes[k])];
      ns_known = dim >= 0;
      ns.push_back(dim);
    }
    if (!ns_known) continue;
    std::string y = div->outputs[0], gamma, beta;
    Tensor gamma_t, beta_t;
    int ri = c.sole_reader(y);
    if (ri >= 0 && is_op(g.nodes[ri], "Mul") && g.nodes[ri].inputs.size() == 2) {
      const ir::Node& mul = g.nodes[ri];
      const std::string& o = mul.inputs[0] == y ? mul.inputs[1] : mul.inputs[0];
      gamma_t = per_element(g, o, ns);
      if (gamma_t.defined()) {
        gamma = o;
        nodes.push_back(ri);
        y = mul.outputs[0];
        ri = c.sole_reader(y);
      }
    }
    if (ri >= 0 && is_op(g.nodes[ri], "Add") && g.nodes[ri].inputs.size() == 2) {
      const ir::Node& add = g.nodes[ri];
      const std::string& o = add.inputs[0] == y ? add.inputs[1] : add.inputs[0];
      beta_t = per_element(g, o, ns);
      if (beta_t.defined()) {
        beta = o;
        nodes.push_back(ri);
        y = add.outputs[0];
      }
    }
    bool taken = false;
    for (int k : nodes) taken = taken || dead[k];
    if (taken) continue;
    const int last = nodes.back();
    const std::string name = g.nodes[last].name + "/LayerNorm";
    if (!gamma.empty() && gamma_t.shape() != constant(g, gamma)->shape()) gamma = add_constant(g, gamma + "_ln", gamma_t);
    if (gamma.empty()) {
      Tensor ones(DataType::kFloat, ns);
      std::fill_n(ones.data<float>(), ones.numel(), 1.f);
      gamma = add_constant(g, name + "_scale", ones);
    }
    if (!beta.empty() && beta_t.shape() != constant(g, beta)->shape()) beta = add_constant(g, beta + "_ln", beta_t);
    ir::Node ln;
    ln.op_type = "LayerNormalization";
    ln.name = name;
    ln.opset = 17;
    ln.since_version = 17;
    ln.inputs = {x, gamma};
    if (!beta.empty()) ln.inputs.push_back(beta);
    ln.outputs = {y};
    ln.attrs.push_back(int_attr("axis", rank - static_cast<int64_t>(axes.size())));
    ln.attrs.push_back(float_attr("epsilon", static_cast<float>(*eps)));
    for (int k : nodes) dead[k] = true;
    replace.emplace_back(last, std::move(ln));
  }
  if (replace.empty()) return false;
  for (auto& [k, node] : replace) {
    g.nodes[k] = std::move(node);
    dead[k] = false;
  }
  remove_nodes(g, dead);
  return true;
}

}  // namespace pier::passes
