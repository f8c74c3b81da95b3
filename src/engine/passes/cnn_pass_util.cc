#include "passes/cnn_pass_util.h"

#include <algorithm>
#include <cstring>

namespace pier::passes {

namespace {

void collect_subgraph_reads(const ir::Graph& g, std::unordered_set<std::string>& out) {
  for (const auto& n : g.nodes) {
    for (const auto& in : n.inputs)
      if (!in.empty()) out.insert(in);
    for (const auto& a : n.attrs) {
      if (a.g) collect_subgraph_reads(*a.g, out);
      for (const auto& sg : a.graphs) collect_subgraph_reads(*sg, out);
    }
  }
  for (const auto& o : g.outputs) out.insert(o.name);
}

}  // namespace

FlowIndex::FlowIndex(const ir::Graph& g) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto& n = g.nodes[i];
    for (const auto& o : n.outputs)
      if (!o.empty()) producers[o] = static_cast<int>(i);
    for (const auto& in : n.inputs) {
      if (in.empty()) continue;
      use_count[in]++;
      auto& r = readers[in];
      if (r.empty() || r.back() != static_cast<int>(i)) r.push_back(static_cast<int>(i));
    }
    std::unordered_set<std::string> captured;
    for (const auto& a : n.attrs) {
      if (a.g) collect_subgraph_reads(*a.g, captured);
      for (const auto& sg : a.graphs) collect_subgraph_reads(*sg, captured);
    }
    for (const auto& c : captured) {
      use_count[c]++;
      escaping.insert(c);
    }
  }
  for (const auto& o : g.outputs) {
    use_count[o.name]++;
    escaping.insert(o.name);
  }
}

int FlowIndex::producer(const std::string& value) const {
  auto it = producers.find(value);
  return it == producers.end() ? -1 : it->second;
}

const std::vector<int>& FlowIndex::consumers(const std::string& value) const {
  static const std::vector<int> none;
  auto it = readers.find(value);
  return it == readers.end() ? none : it->second;
}

int FlowIndex::uses(const std::string& value) const {
  auto it = use_count.find(value);
  return it == use_count.end() ? 0 : it->second;
}

NameGen::NameGen(const ir::Graph& g) {
  for (const auto& n : g.nodes) {
    for (const auto& v : n.inputs) taken_.insert(v);
    for (const auto& v : n.outputs) taken_.insert(v);
    taken_.insert(n.name);
  }
  for (const auto& [k, v] : g.initializers) taken_.insert(k);
  for (const auto& [k, v] : g.value_info) taken_.insert(k);
  for (const auto& v : g.inputs) taken_.insert(v.name);
  for (const auto& v : g.outputs) taken_.insert(v.name);
}

std::string NameGen::operator()(const std::string& base) {
  std::string name = base;
  for (int i = 1; taken_.count(name); ++i) name = base + "_" + std::to_string(i);
  taken_.insert(name);
  return name;
}

void remove_attr(ir::Node& n, const std::string& name) {
  for (size_t i = 0; i < n.attrs.size(); ++i)
    if (n.attrs[i].name == name) {
      n.attrs.erase(n.attrs.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
}

const ValueInfo* float_info(const ir::Graph& g, const std::string& value) {
  const ValueInfo* vi = g.info(value);
  if (!vi || vi->kind != Value::Kind::kTensor || vi->dtype != DataType::kFloat) return nullptr;
  return vi;
}

int known_rank(const ir::Graph& g, const std::string& value) {
  if (const Tensor* t = g.initializer(value)) return t->rank();
  const ValueInfo* vi = g.info(value);
  if (!vi || vi->kind != Value::Kind::kTensor || !vi->has_shape) return -1;
  return static_cast<int>(vi->dims.size());
}

void set_info(ir::Graph& g, const std::string& value, ValueInfo like) {
  like.name = value;
  g.value_info[value] = std::move(like);
}

bool zero_pad(const ir::Graph& g, const ir::Node& n) {
  if (!is_onnx(n, "Pad")) return false;
  if (n.since_version < 11) {
    auto p = n.attr_ints("pads");
    return std::all_of(p.begin(), p.end(), [](int64_t v) { return v == 0; });
  }
  const Tensor* p = n.has_input(1) ? constant(g, n.inputs[1]) : nullptr;
  if (!p || p->dtype() != DataType::kInt64) return false;
  const int64_t* d = p->data<int64_t>();
  return std::all_of(d, d + p->numel(), [](int64_t v) { return v == 0; });
}

std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> v;
  if (t.dtype() == DataType::kFloat) {
    const float* p = t.data<float>();
    v.assign(p, p + t.numel());
  } else if (t.dtype() == DataType::kDouble) {
    const double* p = t.data<double>();
    v.assign(p, p + t.numel());
  }
  return v;
}

Tensor from_doubles(const std::vector<double>& v, DataType dtype, const Shape& shape) {
  Tensor t(dtype, shape);
  if (dtype == DataType::kFloat) {
    float* p = t.data<float>();
    for (size_t i = 0; i < v.size(); ++i) p[i] = static_cast<float>(v[i]);
  } else {
    double* p = t.data<double>();
    for (size_t i = 0; i < v.size(); ++i) p[i] = v[i];
  }
  return t;
}

}  // namespace pier::passes
