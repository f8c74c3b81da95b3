#include "passes/pass_util.h"

#include <algorithm>

#include "passes/passes.h"

namespace pier::passes {

GraphIndex::GraphIndex(const ir::Graph& g) : uses_(use_counts(g)) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto& n = g.nodes[i];
    for (const auto& in : n.inputs)
      if (!in.empty()) readers_[in].push_back(static_cast<int>(i));
    for (const auto& o : n.outputs)
      if (!o.empty()) producer_[o] = static_cast<int>(i);
  }
  for (const auto& o : g.outputs) outputs_[o.name] = true;
}

int GraphIndex::producer(const std::string& v) const {
  auto it = producer_.find(v);
  return it == producer_.end() ? -1 : it->second;
}

const std::vector<int>& GraphIndex::readers(const std::string& v) const {
  static const std::vector<int> kNone;
  auto it = readers_.find(v);
  return it == readers_.end() ? kNone : it->second;
}

int GraphIndex::uses(const std::string& v) const {
  auto it = uses_.find(v);
  return it == uses_.end() ? 0 : it->second;
}

bool GraphIndex::only_read_by(const std::string& v, const std::vector<int>& allowed) const {
  if (is_graph_output(v)) return false;
  const auto& r = readers(v);
  // Reads by subgraphs or outputs show up in uses() but not in readers().
  if (static_cast<int>(r.size()) != uses(v)) return false;
  for (int i : r)
    if (std::find(allowed.begin(), allowed.end(), i) == allowed.end()) return false;
  return true;
}

const Tensor* constant(const ir::Graph& g, const std::string& name) {
  if (name.empty()) return nullptr;
  const Tensor* t = g.initializer(name);
  if (!t) return nullptr;
  for (const auto& in : g.inputs)
    if (in.name == name) return nullptr;
  return t;
}

namespace {
template <typename F>
bool for_each_number(const Tensor& t, F&& f) {
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DataType::kFloat: for (int64_t i = 0; i < n; ++i) f(t.data<float>()[i]); return true;
    case DataType::kDouble: for (int64_t i = 0; i < n; ++i) f(t.data<double>()[i]); return true;
    case DataType::kFloat16:
      for (int64_t i = 0; i < n; ++i) f(static_cast<float>(t.data<Float16>()[i]));
      return true;
    case DataType::kBFloat16:
      for (int64_t i = 0; i < n; ++i) f(static_cast<float>(t.data<BFloat16>()[i]));
      return true;
    case DataType::kInt64: for (int64_t i = 0; i < n; ++i) f(static_cast<double>(t.data<int64_t>()[i])); return true;
    case DataType::kInt32: for (int64_t i = 0; i < n; ++i) f(t.data<int32_t>()[i]); return true;
    default: return false;
  }
}
}  // namespace

std::optional<double> scalar_constant(const ir::Graph& g, const std::string& name) {
  const Tensor* t = constant(g, name);
  if (!t || t->numel() != 1) return std::nullopt;
  double v = 0;
  if (!for_each_number(*t, [&](double x) { v = x; })) return std::nullopt;
  return v;
}

std::optional<double> broadcast_scalar(const ir::Graph& g, const ir::Node& n, int i) {
  if (n.inputs.size() != 2 || i < 0 || i > 1) return std::nullopt;
  const Tensor* t = constant(g, n.inputs[i]);
  if (!t || t->numel() != 1) return std::nullopt;
  if (t->rank() > 0) {
    const int other = value_rank(g, n.inputs[1 - i]);
    if (other < t->rank()) return std::nullopt;
  }
  return scalar_constant(g, n.inputs[i]);
}

std::optional<std::vector<double>> constant_values(const ir::Graph& g, const std::string& name) {
  const Tensor* t = constant(g, name);
  if (!t) return std::nullopt;
  std::vector<double> out;
  out.reserve(static_cast<size_t>(t->numel()));
  if (!for_each_number(*t, [&](double x) { out.push_back(x); })) return std::nullopt;
  return out;
}

std::optional<std::vector<int64_t>> int_constant(const ir::Graph& g, const std::string& name) {
  const Tensor* t = constant(g, name);
  if (!t) return std::nullopt;
  std::vector<int64_t> out;
  if (t->dtype() == DataType::kInt64) {
    out.assign(t->data<int64_t>(), t->data<int64_t>() + t->numel());
  } else if (t->dtype() == DataType::kInt32) {
    out.assign(t->data<int32_t>(), t->data<int32_t>() + t->numel());
  } else {
    return std::nullopt;
  }
  return out;
}

DataType value_type(const ir::Graph& g, const std::string& v) {
  if (const Tensor* t = g.initializer(v)) return t->dtype();
  const ValueInfo* vi = g.info(v);
  return vi && vi->kind == Value::Kind::kTensor ? vi->dtype : DataType::kUndefined;
}

std::optional<Shape> static_shape(const ir::Graph& g, const std::string& v) {
  if (const Tensor* t = constant(g, v)) return t->shape();
  const ValueInfo* vi = g.info(v);
  if (!vi || vi->kind != Value::Kind::kTensor || !vi->has_shape) return std::nullopt;
  for (int64_t d : vi->dims)
    if (d < 0) return std::nullopt;
  return vi->dims;
}

int value_rank(const ir::Graph& g, const std::string& v) {
  if (const Tensor* t = constant(g, v)) return t->rank();
  const ValueInfo* vi = g.info(v);
  if (!vi || vi->kind != Value::Kind::kTensor || !vi->has_shape) return -1;
  return static_cast<int>(vi->dims.size());
}

ir::Node internal_node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
                       std::vector<std::string> outputs) {
  ir::Node n;
  n.op_type = op;
  n.domain = kPierDomain;
  n.name = name;
  n.opset = 1;
  n.since_version = 1;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  return n;
}

ir::Attribute int_attr(const std::string& name, int64_t v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kInt;
  a.i = v;
  return a;
}

ir::Attribute float_attr(const std::string& name, float v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kFloat;
  a.f = v;
  return a;
}

ir::Attribute string_attr(const std::string& name, const std::string& v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kString;
  a.s = v;
  return a;
}

ir::Attribute ints_attr(const std::string& name, std::vector<int64_t> v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kInts;
  a.ints = std::move(v);
  return a;
}

ir::Attribute floats_attr(const std::string& name, std::vector<float> v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kFloats;
  a.floats = std::move(v);
  return a;
}

ir::Attribute strings_attr(const std::string& name, std::vector<std::string> v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kStrings;
  a.strings = std::move(v);
  return a;
}

void set_attr(ir::Node& n, ir::Attribute a) {
  for (auto& x : n.attrs)
    if (x.name == a.name) {
      x = std::move(a);
      return;
    }
  n.attrs.push_back(std::move(a));
}

std::string fresh_name(const ir::Graph& g, const std::string& base) {
  auto taken = [&](const std::string& s) {
    if (g.initializers.count(s) || g.value_info.count(s)) return true;
    for (const auto& n : g.nodes)
      for (const auto& o : n.outputs)
        if (o == s) return true;
    return false;
  };
  std::string name = base;
  for (int i = 1; taken(name); ++i) name = base + "_" + std::to_string(i);
  return name;
}

std::string add_constant(ir::Graph& g, const std::string& base, Tensor t) {
  std::string name = fresh_name(g, base);
  ValueInfo vi;
  vi.name = name;
  vi.dtype = t.dtype();
  vi.has_shape = true;
  vi.dims = t.shape();
  vi.dim_params.assign(t.shape().size(), "");
  g.value_info[name] = vi;
  g.initializers[name] = std::move(t);
  return name;
}

void remove_nodes(ir::Graph& g, const std::vector<bool>& dead) {
  std::vector<ir::Node> kept;
  kept.reserve(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (i >= dead.size() || !dead[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
}

bool has_subgraph(const ir::Node& n) {
  for (const auto& a : n.attrs)
    if (a.g || !a.graphs.empty()) return true;
  return false;
}

}  // namespace pier::passes
