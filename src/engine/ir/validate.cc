#include "ir/validate.h"

#include <algorithm>
#include <climits>
#include <functional>
#include <unordered_map>
#include <vector>

#include "ir/convert.h"
#include "pier/engine.h"

namespace pier::ir {

namespace {

// The largest tensor a model may declare (elements); the same bound the
// kernels' checked_numel uses for outputs.
constexpr int64_t kMaxElements = int64_t{1} << 40;

[[noreturn]] void invalid(const std::string& msg) { throw Error(ErrorCode::kInvalidModel, msg); }

std::string dims_str(const onnx::TensorProto& t) {
  return shape_str(Shape(t.dims().begin(), t.dims().end()));
}

// Bytes per element as stored in raw_data; 0 for string and unknown types.
size_t raw_elem_size(int32_t dtype) {
  if (dtype < 1 || dtype > 16 || dtype == onnx::TensorProto::STRING) return 0;
  return dtype_size(static_cast<DataType>(dtype));
}

// How many values of the typed field a tensor of `numel` elements needs,
// and how many it has.
std::pair<int64_t, int64_t> typed_counts(const onnx::TensorProto& t, int64_t numel) {
  using P = onnx::TensorProto;
  switch (t.data_type()) {
    case P::FLOAT: return {numel, t.float_data_size()};
    case P::COMPLEX64: return {2 * numel, t.float_data_size()};
    case P::DOUBLE: return {numel, t.double_data_size()};
    case P::COMPLEX128: return {2 * numel, t.double_data_size()};
    case P::INT64: return {numel, t.int64_data_size()};
    case P::UINT32:
    case P::UINT64: return {numel, t.uint64_data_size()};
    case P::STRING: return {numel, t.string_data_size()};
    default: return {numel, t.int32_data_size()};  // int8/16/32, uint8/16, bool, float16, bfloat16
  }
}

void for_each_tensor(const onnx::GraphProto& g, const std::string& where,
                     const std::function<void(const onnx::TensorProto&, const std::string&)>& fn);

void for_each_tensor_in_nodes(const google::protobuf::RepeatedPtrField<onnx::NodeProto>& nodes,
                              const std::string& where,
                              const std::function<void(const onnx::TensorProto&, const std::string&)>& fn) {
  for (const auto& n : nodes) {
    for (const auto& a : n.attribute()) {
      const std::string what = where + "node \"" + n.name() + "\" (" + n.op_type() + ") attribute \"" + a.name() + "\"";
      if (a.has_t()) fn(a.t(), what);
      for (const auto& t : a.tensors()) fn(t, what);
      if (a.has_sparse_tensor()) {
        fn(a.sparse_tensor().values(), what + " values");
        fn(a.sparse_tensor().indices(), what + " indices");
      }
      if (a.has_g()) for_each_tensor(a.g(), where, fn);
      for (const auto& sg : a.graphs()) for_each_tensor(sg, where, fn);
    }
  }
}

void for_each_tensor(const onnx::GraphProto& g, const std::string& where,
                     const std::function<void(const onnx::TensorProto&, const std::string&)>& fn) {
  for (const auto& t : g.initializer()) fn(t, where + "initializer \"" + t.name() + "\"");
  for (const auto& s : g.sparse_initializer()) {
    fn(s.values(), where + "sparse initializer \"" + s.values().name() + "\" values");
    fn(s.indices(), where + "sparse initializer \"" + s.values().name() + "\" indices");
  }
  for_each_tensor_in_nodes(g.node(), where, fn);
}

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

// Ranks known before inference: declared graph inputs and value_info,
// initializers and Constant outputs.
using Ranks = std::unordered_map<std::string, int>;

void collect_ranks(const onnx::GraphProto& g, Ranks& ranks) {
  auto note_type = [&](const onnx::ValueInfoProto& v) {
    if (v.type().has_tensor_type() && v.type().tensor_type().has_shape())
      ranks[v.name()] = v.type().tensor_type().shape().dim_size();
  };
  for (const auto& v : g.input()) note_type(v);
  for (const auto& v : g.value_info()) note_type(v);
  for (const auto& t : g.initializer()) ranks[t.name()] = t.dims_size();
  for (const auto& n : g.node())
    if (n.op_type() == "Constant" && n.output_size() == 1)
      if (const auto* a = n.attribute_size() ? &n.attribute(0) : nullptr; a && a->has_t())
        ranks[n.output(0)] = a->t().dims_size();
}

// Integer attributes onnx's inference multiplies or divides by unchecked,
// and input ranks it indexes by position.
void check_node(const onnx::NodeProto& n, const Ranks& ranks, const std::string& label) {
  if (!normalize_domain(n.domain()).empty()) return;
  const std::string& op = n.op_type();
  const std::string node = label + ": node \"" + n.name() + "\" (" + op + "): ";
  auto rank = [&](int i) {
    if (i >= n.input_size()) return -1;
    auto it = ranks.find(n.input(i));
    return it == ranks.end() ? -1 : it->second;
  };
  if (op == "GatherND") {
    // onnx indexes the data dims from indices' last dim + batch_dims.
    if (const auto* a = find_attr(n, "batch_dims"); a && a->i() < 0)
      invalid(node + "batch_dims must be non-negative, got " + std::to_string(a->i()));
  }
  if (op == "Conv" || op == "ConvTranspose" || op == "ConvInteger" || op == "QLinearConv") {
    // onnx reads W's dims at X's spatial positions.
    const int w = op == "QLinearConv" ? 3 : 1;
    const int rx = rank(0), rw = rank(w);
    if (rx >= 0 && rw >= 0 && rx != rw)
      invalid(node + "the weight W has rank " + std::to_string(rw) + ", the input X rank " + std::to_string(rx) +
              "; they must be equal");
    if (rx >= 0 && rx < 3) invalid(node + "the input X must have rank 3 or more, got " + std::to_string(rx));
    if (rw >= 0 && rw < 3) invalid(node + "the weight W must have rank 3 or more, got " + std::to_string(rw));
  }
  if (op == "MaxUnpool") {
    const int rx = rank(0), ri = rank(1);
    if (rx >= 0 && ri >= 0 && rx != ri)
      invalid(node + "the indices I have rank " + std::to_string(ri) + ", the input X rank " + std::to_string(rx) +
              "; they must be equal");
  }
  if (op == "STFT") {
    if (const int r = rank(0); r >= 0 && r < 2)
      invalid(node + "the signal must be [batch, length] or [batch, length, 1 or 2], got rank " + std::to_string(r));
  }
  if (op == "DepthToSpace" || op == "SpaceToDepth") {
    // Its square divides the channels; 2^32 squared wraps to 0.
    if (const auto* a = find_attr(n, "blocksize"); a && (a->i() < 1 || a->i() > INT32_MAX))
      invalid(node + "blocksize must be in [1, 2^31), got " + std::to_string(a->i()));
  }
}

void for_each_call(const google::protobuf::RepeatedPtrField<onnx::NodeProto>& nodes,
                   const std::function<void(const std::string&)>& fn) {
  for (const auto& n : nodes) {
    fn(normalize_domain(n.domain()) + "::" + n.op_type());
    for (const auto& a : n.attribute()) {
      if (a.has_g()) for_each_call(a.g().node(), fn);
      for (const auto& sg : a.graphs()) for_each_call(sg.node(), fn);
    }
  }
}

// onnx's inference (and Pier's inlining) expand a call of a local function
// by its body; a function that calls itself, directly or through others,
// would recurse until the stack overflows.
void reject_recursive_functions(const onnx::ModelProto& model, const std::string& label) {
  std::unordered_map<std::string, const onnx::FunctionProto*> fns;
  for (const auto& f : model.functions()) fns[normalize_domain(f.domain()) + "::" + f.name()] = &f;
  enum class Mark { kNone, kActive, kDone };
  std::unordered_map<std::string, Mark> mark;
  std::vector<std::string> path;
  std::function<void(const std::string&)> visit = [&](const std::string& key) {
    Mark& m = mark[key];
    if (m == Mark::kDone) return;
    if (m == Mark::kActive) {
      std::string cycle;
      for (auto it = std::find(path.begin(), path.end(), key); it != path.end(); ++it) cycle += *it + " -> ";
      invalid(label + ": local function " + key + " calls itself (" + cycle + key + ")");
    }
    m = Mark::kActive;
    path.push_back(key);
    for_each_call(fns.at(key)->node(), [&](const std::string& callee) {
      if (fns.count(callee)) visit(callee);
    });
    path.pop_back();
    mark[key] = Mark::kDone;
  };
  for (const auto& [key, f] : fns) visit(key);
}

// A graph input that declares a negative dim, or more elements than any
// tensor may hold, could never be fed.
void check_graph_inputs(const onnx::GraphProto& g, const std::string& label) {
  std::unordered_map<std::string, bool> is_init;
  for (const auto& t : g.initializer()) is_init[t.name()] = true;
  for (const auto& v : g.input()) {
    if (is_init.count(v.name()) || !v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) continue;
    Shape dims;
    int64_t n = 1;
    bool too_large = false;
    for (const auto& d : v.type().tensor_type().shape().dim()) {
      dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
      if (!d.has_dim_value()) continue;
      if (d.dim_value() < 0)
        invalid(label + ": graph input \"" + v.name() + "\" declares a negative dimension " +
                std::to_string(d.dim_value()));
      if (d.dim_value() > 0 && n > kMaxElements / d.dim_value()) too_large = true;
      if (!too_large) n *= std::max<int64_t>(d.dim_value(), 1);
    }
    if (too_large)
      invalid(label + ": graph input \"" + v.name() + "\" declares shape " + shape_str(dims) +
              ", whose dims multiply to more than 2^40 elements");
  }
}

}  // namespace

int64_t proto_numel(const onnx::TensorProto& t, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0) invalid(what + ": negative dimension in " + dims_str(t));
    if (d != 0 && n > kMaxElements / d)
      invalid(what + ": shape " + dims_str(t) + " has more than 2^40 elements");
    n *= d;
  }
  return n;
}

void check_tensor_proto(const onnx::TensorProto& t, const std::string& what) {
  const int32_t dtype = t.data_type();
  if (dtype < 1 || dtype > 16) invalid(what + ": unknown data type " + std::to_string(dtype));
  const int64_t numel = proto_numel(t, what);
  if (t.data_location() == onnx::TensorProto::EXTERNAL) invalid(what + ": external data was not loaded");
  if (t.has_raw_data()) {
    const size_t es = raw_elem_size(dtype);
    if (es == 0) invalid(what + ": raw_data is not allowed for " + dtype_name(static_cast<DataType>(dtype)) + " tensors");
    const size_t want = static_cast<size_t>(numel) * es;
    if (t.raw_data().size() != want)
      invalid(what + ": raw_data has " + std::to_string(t.raw_data().size()) + " bytes, shape " + dims_str(t) + " of " +
              dtype_name(static_cast<DataType>(dtype)) + " needs " + std::to_string(want));
    return;
  }
  const auto [want, have] = typed_counts(t, numel);
  // A tensor with no data at all is an empty tensor only when its shape
  // says so.
  if (have != want)
    invalid(what + ": holds " + std::to_string(have) + " values, shape " + dims_str(t) + " of " +
            dtype_name(static_cast<DataType>(dtype)) + " needs " + std::to_string(want));
}

void validate_before_inference(const onnx::ModelProto& model, const std::string& label) {
  auto check = [&](const onnx::TensorProto& t, const std::string& what) { check_tensor_proto(t, label + ": " + what); };
  for_each_tensor(model.graph(), "", check);
  for (const auto& f : model.functions()) for_each_tensor_in_nodes(f.node(), "function \"" + f.name() + "\" ", check);
  std::function<void(const onnx::GraphProto&, Ranks)> walk = [&](const onnx::GraphProto& g, Ranks ranks) {
    collect_ranks(g, ranks);  // a subgraph also sees its outer scope's values
    for (const auto& n : g.node()) {
      check_node(n, ranks, label);
      for (const auto& a : n.attribute()) {
        if (a.has_g()) walk(a.g(), ranks);
        for (const auto& sg : a.graphs()) walk(sg, ranks);
      }
    }
  };
  walk(model.graph(), {});
  reject_recursive_functions(model, label);
  check_graph_inputs(model.graph(), label);
  for (const auto& f : model.functions())
    for (const auto& n : f.node()) check_node(n, {}, label + ": function \"" + f.name() + "\"");
}

}  // namespace pier::ir
