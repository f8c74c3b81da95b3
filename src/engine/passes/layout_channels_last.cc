// Keeps activations channels-last ([N, D1..Dk, C], "NHWC") between
// convolution-family nodes, which is the layout oneDNN's brgemm/JIT
// convolutions run in without reordering (plain NCHW must be reordered in
// and out of every convolution, or convolved by the slower GEMM path).
//
// A channels-last value is an ordinary float tensor holding the physical
// layout; the nodes that read or write it know (channels_last=1 on internal
// ops, or layout-agnostic element-wise ops). Nodes that run channels-last:
//   Conv/FusedConv            -> FusedConv channels_last=1 (input 0 and the
//                               residual, input 3)
//   MaxPool (no Indices), AveragePool, GlobalAveragePool, GlobalMaxPool
//                             -> pier.internal::<same op> channels_last=1
//   BatchNormalization (inference, constant per-channel parameters)
//                             -> pier.internal::ChannelAffine(X, a, b),
//                               with a following Relu fused, and a Concat
//                               that only it reads (its other inputs
//                               follow b)
//   Concat on the channel axis -> Concat on the last axis
//   Transpose to channels-last order of a channels-last value
//                             -> pier.internal::Alias (the value as it is);
//                               and a Transpose to channels-first order
//                               needs no reorder back (ConvNeXt)
//   element-wise ops (unary activations, Add/Sub/Mul/Div/PRelu, zero Pad):
//                               unchanged; every operand is either
//                               channels-last of the same rank or a
//                               constant permuted to match (broadcasting
//                               commutes with permuting all operands alike)
// A Conv always may; the others only when an input already is. Explicit
// pier.internal::ToChannelsLast / ToChannelsFirst nodes convert at the
// edges (graph inputs and outputs, ops that need NCHW). Each converted value
// keeps its name for NCHW readers; the channels-last copy gets a new name.
// A connected channels-last region with fewer than two convolutions is left
// as it was (its reorders would cost what they save).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "passes/cnn_pass_util.h"
#include "passes/passes.h"

namespace pier::passes {

namespace {

// kUnwrap: a Transpose to channels-last order ([0, 2, ..., r-1, 1]) of a
// channels-last value, which is that value's physical tensor as it is.
enum class Role { kNone, kConv, kPool, kAffine, kConcat, kUnary, kBinary, kUnwrap };

// perm moving axis 1 last ([0, 2, ..., r-1, 1]) or back ([0, r-1, 1, ..., r-2]).
bool is_perm_to_last(const std::vector<int64_t>& p, int r) {
  if (static_cast<int>(p.size()) != r || p[0] != 0 || p[r - 1] != 1) return false;
  for (int i = 1; i + 1 < r; ++i)
    if (p[i] != i + 1) return false;
  return true;
}
bool is_perm_to_first(const std::vector<int64_t>& p, int r) {
  if (static_cast<int>(p.size()) != r || p[0] != 0 || p[1] != r - 1) return false;
  for (int i = 2; i < r; ++i)
    if (p[i] != i - 1) return false;
  return true;
}

bool is_one_of(const std::string& op, std::initializer_list<const char*> ops) {
  return std::any_of(ops.begin(), ops.end(), [&](const char* o) { return op == o; });
}

bool rank_ok(int r) { return r >= 3 && r <= 5; }

int float_rank(const ir::Graph& g, const std::string& v) {
  if (!float_info(g, v)) return -1;
  return known_rank(g, v);
}

bool bn_affine(const ir::Graph& g, const ir::Node& n) {
  if (!is_onnx(n, "BatchNormalization") || n.num_inputs() != 5) return false;
  for (int i = 1; i < n.num_outputs(); ++i)
    if (n.has_output(i)) return false;
  if (n.since_version >= 14 && n.attr_int("training_mode", 0) != 0) return false;
  if (n.since_version < 9 && n.attr_int("spatial", 1) != 1) return false;
  const ValueInfo* xi = float_info(g, n.inputs[0]);
  if (!xi || !xi->has_shape || xi->dims.size() < 2 || xi->dims[1] <= 0) return false;
  for (int i = 1; i < 5; ++i) {
    const Tensor* t = constant(g, n.inputs[i]);
    if (!t || t->numel() != xi->dims[1] || (t->dtype() != DataType::kFloat && t->dtype() != DataType::kDouble))
      return false;
  }
  return true;
}

// What node `n` could do channels-last (before looking at its inputs).
Role classify(const ir::Graph& g, const ir::Node& n) {
  if (n.num_outputs() < 1 || !n.has_output(0) || !n.has_input(0)) return Role::kNone;
  const int r = float_rank(g, n.outputs[0]);
  if (!rank_ok(r)) return Role::kNone;
  for (int i = 1; i < n.num_outputs(); ++i)
    if (n.has_output(i)) return Role::kNone;
  const std::string& op = n.op_type;
  // Binary operands are checked one by one (a constant may come first).
  if (n.domain.empty() && is_one_of(op, {"Add", "Sub", "Mul", "Div", "PRelu"}))
    return n.num_inputs() == 2 ? Role::kBinary : Role::kNone;
  if (float_rank(g, n.inputs[0]) != r) return Role::kNone;
  if (is_internal(n, "FusedConv")) return n.attr_int("channels_last", 0) ? Role::kNone : Role::kConv;
  if (!n.domain.empty()) return Role::kNone;
  if (op == "Conv") return Role::kConv;
  if (op == "Transpose") return is_perm_to_last(n.attr_ints("perm"), r) ? Role::kUnwrap : Role::kNone;
  if (is_one_of(op, {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"})) return Role::kPool;
  if (op == "BatchNormalization") return bn_affine(g, n) ? Role::kAffine : Role::kNone;
  if (op == "Concat") {
    int64_t axis = n.attr_int("axis", 1);
    return axis == 1 || axis == 1 - r ? Role::kConcat : Role::kNone;
  }
  if (is_one_of(op, {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu",
                     "Softplus", "Abs", "Neg", "Exp", "Erf", "Sqrt", "Identity"}))
    return n.num_inputs() == 1 ? Role::kUnary : Role::kNone;
  if (op == "Clip") {
    for (int i = 1; i < n.num_inputs(); ++i)
      if (n.has_input(i) && known_rank(g, n.inputs[i]) != 0) return Role::kNone;
    return Role::kUnary;
  }
  if (zero_pad(g, n)) return Role::kUnary;
  return Role::kNone;
}

// Inputs that carry the (channels-last) data.
std::vector<int> data_inputs(Role role, const ir::Node& n) {
  switch (role) {
    case Role::kConv: return n.has_input(3) ? std::vector<int>{0, 3} : std::vector<int>{0};
    case Role::kConcat:
    case Role::kBinary: {
      std::vector<int> v(n.num_inputs());
      std::iota(v.begin(), v.end(), 0);
      return v;
    }
    default: return {0};
  }
}

// A constant of rank <= r, as its rank-r channels-last equivalent.
Tensor permute_constant(const Tensor& t, int r) {
  Shape s(static_cast<size_t>(r - t.rank()), 1);
  s.insert(s.end(), t.shape().begin(), t.shape().end());
  Shape ps{s[0]};
  ps.insert(ps.end(), s.begin() + 2, s.end());
  ps.push_back(s[1]);
  if (t.numel() <= 1 || t.numel() == s[1] || s[1] == 1) return t.reshaped(ps);
  // General case: out[n, d..., c] = in[n, c, d...].
  Tensor out(t.dtype(), ps);
  const size_t es = dtype_size(t.dtype());
  const int64_t N = s[0], C = s[1], inner = t.numel() / std::max<int64_t>(1, N * C);
  const char* src = static_cast<const char*>(t.raw());
  char* dst = static_cast<char*>(out.raw());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i)
        std::memcpy(dst + ((n * inner + i) * C + c) * es, src + ((n * C + c) * inner + i) * es, es);
  return out;
}

ValueInfo permuted_info(const ValueInfo& vi) {
  ValueInfo p = vi;
  if (vi.has_shape && vi.dims.size() >= 3) {
    p.dims = {vi.dims[0]};
    p.dims.insert(p.dims.end(), vi.dims.begin() + 2, vi.dims.end());
    p.dims.push_back(vi.dims[1]);
    if (vi.dim_params.size() == vi.dims.size()) {
      p.dim_params = {vi.dim_params[0]};
      p.dim_params.insert(p.dim_params.end(), vi.dim_params.begin() + 2, vi.dim_params.end());
      p.dim_params.push_back(vi.dim_params[1]);
    }
  }
  return p;
}

struct UnionFind {
  std::vector<int> parent;
  explicit UnionFind(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int find(int x) { return parent[x] == x ? x : parent[x] = find(parent[x]); }
  void unite(int a, int b) { parent[find(a)] = find(b); }
};

bool verbose() {
  const char* env = std::getenv("PIER_DUMP_GRAPH");
  return env && *env && std::string(env) != "0";
}

// Folds a Relu reading only a ChannelAffine into it, and a channel Concat
// read only by a ChannelAffine into its inputs (DenseNet: each layer's
// concatenation feeds its BatchNormalization alone, so it is never stored).
void fuse_affine(ir::Graph& g) {
  FlowIndex flow(g);
  std::vector<bool> erase(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& a = g.nodes[i];
    if (!is_internal(a, "ChannelAffine")) continue;
    const std::string& y = a.outputs[0];
    const auto& cons = flow.consumers(y);
    if (flow.uses(y) == 1 && cons.size() == 1 && is_onnx(g.nodes[cons[0]], "Relu")) {
      ir::Node& relu = g.nodes[cons[0]];
      a.outputs[0] = relu.outputs[0];
      set_attr(a, strings_attr("post_ops", {"relu"}));
      erase[cons[0]] = true;
    }
    const int c = flow.producer(a.inputs[0]);
    if (c < 0 || erase[c] || !is_onnx(g.nodes[c], "Concat") || flow.uses(a.inputs[0]) != 1) continue;
    const ir::Node& cat = g.nodes[c];
    const int r = known_rank(g, cat.outputs[0]);
    const int64_t axis = cat.attr_int("axis", 0);
    if (r < 0 || (axis != r - 1 && axis != -1)) continue;
    std::vector<std::string> in{cat.inputs[0], a.inputs[1], a.inputs[2]};
    in.insert(in.end(), cat.inputs.begin() + 1, cat.inputs.end());
    a.inputs = std::move(in);
    erase[c] = true;
  }
  std::vector<ir::Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!erase[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
}

}  // namespace

bool layout_channels_last(ir::Graph& g) {
  const size_t n = g.nodes.size();
  FlowIndex flow(g);
  std::vector<Role> role(n, Role::kNone);
  std::vector<bool> cl(n, false);
  std::unordered_map<std::string, int> cl_value;  // value produced channels-last -> producer

  // A value made by a Transpose to channels-first order: its input is its
  // channels-last form, so converting it costs nothing.
  auto unwrapped = [&](const std::string& v, int r) -> const std::string* {
    const int p = flow.producer(v);
    if (p < 0 || !is_onnx(g.nodes[p], "Transpose") || !is_perm_to_first(g.nodes[p].attr_ints("perm"), r) ||
        float_rank(g, g.nodes[p].inputs[0]) != r)
      return nullptr;
    return &g.nodes[p].inputs[0];
  };

  // 1. Which nodes run channels-last (forward over the topological order).
  for (size_t i = 0; i < n; ++i) {
    const ir::Node& node = g.nodes[i];
    role[i] = classify(g, node);
    if (role[i] == Role::kNone) continue;
    const int r = known_rank(g, node.outputs[0]);
    bool any_cl = role[i] == Role::kConv, ok = true;
    for (int k : data_inputs(role[i], node)) {
      const std::string& in = node.inputs[k];
      if (in.empty()) continue;
      if (cl_value.count(in)) {
        any_cl = true;
        continue;
      }
      if (unwrapped(in, r)) {  // converts for free
        any_cl = true;
        continue;
      }
      const int ir = known_rank(g, in);
      const bool is_const = constant(g, in) != nullptr;
      if (role[i] == Role::kBinary ? (ir < 0 || ir > r || (!is_const && ir != r)) : ir != r) ok = false;
      if (!float_info(g, in) && !(is_const && g.initializer(in)->dtype() == DataType::kFloat)) ok = false;
    }
    if (ok && any_cl) {
      cl[i] = true;
      if (role[i] != Role::kUnwrap) cl_value[node.outputs[0]] = static_cast<int>(i);
    }
  }

  // 2. Drop regions with fewer than two convolutions.
  UnionFind uf(n);
  for (size_t i = 0; i < n; ++i) {
    if (!cl[i]) continue;
    for (int k : data_inputs(role[i], g.nodes[i])) {
      auto it = cl_value.find(g.nodes[i].inputs[k]);
      if (it != cl_value.end()) uf.unite(static_cast<int>(i), it->second);
    }
  }
  std::unordered_map<int, int> convs;
  for (size_t i = 0; i < n; ++i)
    if (cl[i] && role[i] == Role::kConv) convs[uf.find(static_cast<int>(i))]++;
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    if (cl[i] && convs[uf.find(static_cast<int>(i))] < 2) {
      cl[i] = false;
      cl_value.erase(g.nodes[i].outputs[0]);
    }
    count += cl[i];
  }
  if (count == 0) return false;

  // 3. Rewrite: rename channels-last outputs, convert inputs at the edges.
  NameGen names(g);
  std::unordered_map<std::string, std::string> cl_name;  // value -> its channels-last name
  for (auto& [v, p] : cl_value) {
    cl_name[v] = names(v + "_nhwc");
    if (const ValueInfo* vi = g.info(v)) set_info(g, cl_name[v], permuted_info(*vi));
  }
  std::unordered_map<int, std::vector<ir::Node>> after;  // producer index (-1: start) -> nodes
  std::unordered_map<std::string, std::string> converted;
  int to_last = 0, to_first = 0;
  auto convert = [&](const std::string& v, int r) -> std::string {
    auto it = converted.find(v);
    if (it != converted.end()) return it->second;
    std::string name;
    if (const Tensor* t = constant(g, v)) {
      name = names(v + "_nhwc");
      g.initializers[name] = permute_constant(*t, r);
    } else if (const std::string* t = unwrapped(v, r)) {
      name = *t;
    } else {
      name = names(v + "_nhwc");
      if (const ValueInfo* vi = g.info(v)) set_info(g, name, permuted_info(*vi));
      after[flow.producer(v)].push_back(internal_node("ToChannelsLast", name, {v}, {name}));
      ++to_last;
    }
    return converted[v] = name;
  };
  std::vector<ir::Node>& nodes = g.nodes;
  for (size_t i = 0; i < n; ++i) {
    if (!cl[i]) continue;
    ir::Node& node = nodes[i];
    const int r = known_rank(g, node.outputs[0]);
    for (int k : data_inputs(role[i], node)) {
      std::string& in = node.inputs[k];
      if (in.empty()) continue;
      auto it = cl_name.find(in);
      in = it != cl_name.end() ? it->second : convert(in, r);
    }
    const std::string y = node.outputs[0];
    if (role[i] == Role::kUnwrap) {
      node = internal_node("Alias", node.name, {node.inputs[0]}, {y});
      continue;
    }
    node.outputs[0] = cl_name[y];
    switch (role[i]) {
      case Role::kConv:
        if (node.domain.empty()) {
          ir::Node f = internal_node("FusedConv", node.name, node.inputs, node.outputs);
          f.attrs = node.attrs;
          node = std::move(f);
        }
        set_attr(node, int_attr("channels_last", 1));
        break;
      case Role::kPool: {
        ir::Node p = internal_node(node.op_type, node.name, node.inputs, node.outputs);
        p.attrs = node.attrs;
        set_attr(p, int_attr("channels_last", 1));
        node = std::move(p);
        break;
      }
      case Role::kAffine: {
        std::vector<std::vector<double>> p(4);
        for (int k = 0; k < 4; ++k) p[k] = to_doubles(*constant(g, node.inputs[k + 1]));
        const double eps = node.attr_float("epsilon", 1e-5f);
        std::vector<double> a(p[0].size()), b(p[0].size());
        for (size_t c = 0; c < a.size(); ++c) {
          a[c] = p[0][c] / std::sqrt(p[3][c] + eps);
          b[c] = p[1][c] - p[2][c] * a[c];
        }
        const Shape cs{static_cast<int64_t>(a.size())};
        const std::string an = names(node.name + "_scale"), bn = names(node.name + "_shift");
        g.initializers[an] = from_doubles(a, DataType::kFloat, cs);
        g.initializers[bn] = from_doubles(b, DataType::kFloat, cs);
        ir::Node f = internal_node("ChannelAffine", node.name, {node.inputs[0], an, bn}, node.outputs);
        f.attrs.push_back(int_attr("channels_last", 1));
        node = std::move(f);
        break;
      }
      case Role::kConcat: set_attr(node, int_attr("axis", r - 1)); break;
      default: break;
    }
    // NCHW readers keep the original name, through a ToChannelsFirst.
    bool plain_reader = flow.escapes(y);
    for (int c : flow.consumers(y)) {
      if (!cl[c]) {
        plain_reader = true;
        continue;
      }
      const auto di = data_inputs(role[c], nodes[c]);
      for (int k = 0; k < nodes[c].num_inputs(); ++k)
        if (nodes[c].inputs[k] == y && std::find(di.begin(), di.end(), k) == di.end()) plain_reader = true;
    }
    if (plain_reader) {
      after[static_cast<int>(i)].push_back(internal_node("ToChannelsFirst", y, {node.outputs[0]}, {y}));
      ++to_first;
    }
  }
  std::vector<ir::Node> out;
  out.reserve(n + to_last + to_first);
  auto flush = [&](int key) {
    auto it = after.find(key);
    if (it == after.end()) return;
    for (auto& x : it->second) out.push_back(std::move(x));
  };
  flush(-1);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(std::move(nodes[i]));
    flush(static_cast<int>(i));
  }
  g.nodes = std::move(out);
  fuse_affine(g);
  eliminate_dead_code(g);  // Transposes whose channels-last form replaced them
  if (verbose())
    std::fprintf(stderr, "[pier-graph] layout_channels_last: %zu nodes channels-last, %d ToChannelsLast, %d ToChannelsFirst\n",
                 count, to_last, to_first);
  return true;
}

}  // namespace pier::passes
