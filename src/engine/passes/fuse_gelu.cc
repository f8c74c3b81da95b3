// GELU fusion: rewrites the decomposed forms exporters emit into one
// pier.internal::Gelu node (attribute approximate = "none" or "tanh").
//
//   erf:  0.5 * x * (1 + Erf(x / sqrt(2)))          (x * 0.7071... also)
//   tanh: 0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
//         with x^3 as Pow(x, 3) or x * x * x
//
// The outer product 0.5 * x * (1 + t) is matched in the association orders
// torch and TF exports use: (x * (1+t)) * 0.5, (x * 0.5) * (1+t) and
// x * ((1+t) * 0.5), each Mul/Add with its operands in either order.
// Every intermediate must be read only inside the pattern; x may have other
// readers. Only float tensors are rewritten.
#include <cmath>

#include "passes/pass_util.h"
#include "passes/passes.h"

namespace pier::passes {

namespace {

bool near(std::optional<double> v, double want, double rel = 1e-4) {
  return v && std::fabs(*v - want) <= rel * std::fabs(want);
}

class Matcher {
 public:
  explicit Matcher(const ir::Graph& g) : g_(g), ix_(g) {}

  const ir::Node* node(int i) const { return i < 0 ? nullptr : &g_.nodes[i]; }
  const ir::Node* producer(const std::string& v) const { return node(ix_.producer(v)); }

  // The only reader of `v` (a node index) when `v` has exactly one use.
  int sole_reader(const std::string& v) const {
    const auto& r = ix_.readers(v);
    if (r.size() != 1 || ix_.uses(v) != 1 || ix_.is_graph_output(v)) return -1;
    return r[0];
  }
  // For a binary node, the input that is not `v` (empty when neither or
  // both are `v`).
  static std::string other(const ir::Node& n, const std::string& v) {
    if (n.inputs.size() != 2) return {};
    if (n.inputs[0] == v && n.inputs[1] != v) return n.inputs[1];
    if (n.inputs[1] == v && n.inputs[0] != v) return n.inputs[0];
    return {};
  }
  // Binary `op` node `n` with a scalar constant near `c`; returns the other
  // input.
  std::string with_scalar(const ir::Node* n, const char* op, double c) const {
    if (!n || !is_op(*n, op) || n->inputs.size() != 2) return {};
    for (int k = 0; k < 2; ++k)
      if (near(broadcast_scalar(g_, *n, k), c)) return n->inputs[1 - k];
    return {};
  }
  int index_of(const ir::Node* n) const { return n ? static_cast<int>(n - g_.nodes.data()) : -1; }
  bool single_use(const std::string& v) const { return sole_reader(v) >= 0; }

  // x ^ 3 as Pow(x, 3) or Mul(Mul(x, x), x) / Mul(x, Mul(x, x)); returns x
  // and appends the nodes.
  std::string cube(const std::string& v, std::vector<int>& nodes) const {
    const ir::Node* n = producer(v);
    if (!n) return {};
    if (is_op(*n, "Pow") && n->inputs.size() == 2 && near(broadcast_scalar(g_, *n, 1), 3.0, 1e-7)) {
      nodes.push_back(index_of(n));
      return n->inputs[0];
    }
    if (!is_op(*n, "Mul") || n->inputs.size() != 2) return {};
    for (int k = 0; k < 2; ++k) {
      const ir::Node* sq = producer(n->inputs[k]);
      const std::string& x = n->inputs[1 - k];
      if (sq && is_op(*sq, "Mul") && sq->inputs.size() == 2 && sq->inputs[0] == x && sq->inputs[1] == x &&
          single_use(n->inputs[k])) {
        nodes.push_back(index_of(n));
        nodes.push_back(index_of(sq));
        return x;
      }
    }
    return {};
  }

  const ir::Graph& g_;
  GraphIndex ix_;
};

struct Match {
  std::string x, y;
  std::vector<int> nodes;  // all pattern nodes; the one producing y is last
  bool tanh = false;
};

// From the Erf/Tanh node at `t`: the inner part, then 1 + t, then the outer
// products. Returns false when anything does not fit.
bool match_at(const Matcher& m, int t, Match& out) {
  const ir::Node& tn = m.g_.nodes[t];
  if (tn.inputs.size() != 1 || tn.outputs.size() != 1) return false;
  std::vector<int> nodes{t};
  std::string x;
  const ir::Node* inner = m.producer(tn.inputs[0]);
  if (!inner || !m.single_use(tn.inputs[0])) return false;
  if (is_op(tn, "Erf")) {
    x = m.with_scalar(inner, "Div", M_SQRT2);
    if (!x.empty() && inner->inputs[0] != x) return false;  // x / c, not c / x
    if (x.empty()) x = m.with_scalar(inner, "Mul", M_SQRT1_2);
    if (x.empty()) return false;
    nodes.push_back(m.index_of(inner));
  } else {
    const std::string s = m.with_scalar(inner, "Mul", std::sqrt(2.0 / M_PI));
    const ir::Node* sum = s.empty() ? nullptr : m.producer(s);
    if (!sum || !is_op(*sum, "Add") || sum->inputs.size() != 2 || !m.single_use(s)) return false;
    nodes.push_back(m.index_of(inner));
    nodes.push_back(m.index_of(sum));
    bool ok = false;
    for (int k = 0; k < 2 && !ok; ++k) {
      const std::string& cand = sum->inputs[k];
      const std::string& tv = sum->inputs[1 - k];
      const std::string p = m.with_scalar(m.producer(tv), "Mul", 0.044715);
      if (p.empty() || !m.single_use(tv) || !m.single_use(p)) continue;
      std::vector<int> cube_nodes;
      if (m.cube(p, cube_nodes) != cand) continue;
      nodes.push_back(m.index_of(m.producer(tv)));
      nodes.insert(nodes.end(), cube_nodes.begin(), cube_nodes.end());
      x = cand;
      ok = true;
    }
    if (!ok) return false;
    out.tanh = true;
  }
  // a = 1 + t
  const int ai = m.sole_reader(tn.outputs[0]);
  const ir::Node* a = m.node(ai);
  if (!a || m.with_scalar(a, "Add", 1.0) != tn.outputs[0] || !a->has_output(0)) return false;
  nodes.push_back(ai);
  const std::string av = a->outputs[0];
  const int m1i = m.sole_reader(av);
  const ir::Node* m1 = m.node(m1i);
  if (!m1 || !is_op(*m1, "Mul") || !m1->has_output(0)) return false;
  nodes.push_back(m1i);
  const std::string o = Matcher::other(*m1, av);
  if (o.empty()) return false;
  const int oi = m1->inputs[0] == o ? 0 : 1;
  if (o == x || near(broadcast_scalar(m.g_, *m1, oi), 0.5, 1e-7)) {
    // (x * a) * 0.5  or  (a * 0.5) * x
    const int m2i = m.sole_reader(m1->outputs[0]);
    const ir::Node* m2 = m.node(m2i);
    if (!m2 || !is_op(*m2, "Mul") || !m2->has_output(0)) return false;
    const std::string o2 = Matcher::other(*m2, m1->outputs[0]);
    const int o2i = m2->inputs[0] == o2 ? 0 : 1;
    if (o == x ? !near(broadcast_scalar(m.g_, *m2, o2i), 0.5, 1e-7) : o2 != x) return false;
    nodes.push_back(m2i);
    out.y = m2->outputs[0];
  } else {
    // (x * 0.5) * a
    const ir::Node* h = m.producer(o);
    if (m.with_scalar(h, "Mul", 0.5) != x || !m.single_use(o)) return false;
    nodes.insert(nodes.end() - 1, m.index_of(h));
    out.y = m1->outputs[0];
  }
  out.x = x;
  out.nodes = std::move(nodes);
  return value_type(m.g_, x) == DataType::kFloat;
}

}  // namespace

bool fuse_gelu(ir::Graph& g) {
  Matcher m(g);
  std::vector<bool> dead(g.nodes.size(), false);
  std::vector<std::pair<int, ir::Node>> replace;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    if (!is_op(n, "Erf") && !is_op(n, "Tanh")) continue;
    Match mt;
    if (!match_at(m, static_cast<int>(i), mt)) continue;
    bool taken = false;
    for (int k : mt.nodes) taken = taken || dead[k];
    if (taken) continue;
    // The fused node goes where the last pattern node (the one producing y)
    // was: every input of the pattern is defined before it.
    int last = -1;
    for (int k : mt.nodes) {
      dead[k] = true;
      if (g.nodes[k].has_output(0) && g.nodes[k].outputs[0] == mt.y) last = k;
    }
    ir::Node gelu = internal_node("Gelu", g.nodes[last].name + "/Gelu", {mt.x}, {mt.y});
    gelu.attrs.push_back(string_attr("approximate", mt.tanh ? "tanh" : "none"));
    replace.emplace_back(last, std::move(gelu));
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
