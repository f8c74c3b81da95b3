#include "ir/loader.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "ir/convert.h"
#include "ir/onnx_convert.h"
#include "ir/validate.h"
#include "kernels/kernel.h"
#include "onnx/checker.h"
#include "onnx/defs/schema.h"
#include "onnx/shape_inference/implementation.h"

namespace pier::ir {

namespace {

constexpr int kMinIr = 3, kMaxIr = 8;
constexpr int kMaxOnnxOpset = 17, kMaxMlOpset = 3;

[[noreturn]] void invalid(const std::string& msg) { throw Error(ErrorCode::kInvalidModel, msg); }

bool parse_stream(google::protobuf::io::ZeroCopyInputStream* raw, onnx::ModelProto& model) {
  google::protobuf::io::CodedInputStream in(raw);
  in.SetTotalBytesLimit(INT_MAX);
  return model.ParseFromCodedStream(&in) && in.ConsumedEntireMessage();
}

void read_file(const std::string& path, onnx::ModelProto& model) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(ErrorCode::kIO, path + ": is a directory, not a model file");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIO, path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(ErrorCode::kIO, path + ": cannot stat");
  }
  if (st.st_size == 0) {
    ::close(fd);
    invalid(path + ": the file is empty, not an ONNX model");
  }
  if (st.st_size > INT_MAX) {
    ::close(fd);
    invalid(path + ": " + std::to_string(st.st_size) +
            " bytes exceeds protobuf's 2 GB limit; store the weights as external data");
  }
  google::protobuf::io::FileInputStream stream(fd);
  stream.SetCloseOnDelete(true);
  if (!parse_stream(&stream, model))
    invalid(path + ": cannot parse as an ONNX model (the file is truncated, corrupt, or not protobuf)");
}

bool is_onnx_domain(const std::string& d) {
  return d.empty() || d == "ai.onnx.ml" || d == "ai.onnx.preview.training";
}

std::string op_key(const std::string& domain, const std::string& op) {
  return domain.empty() ? op : domain + "::" + op;
}

// ---- external data ----
// A non-negative decimal integer of external_data, or an error naming it.
int64_t external_number(const std::string& what, const std::string& key, const std::string& value) {
  size_t used = 0;
  int64_t v = -1;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || v < 0)
    invalid(what + ": external data " + key + " \"" + value + "\" is not a non-negative integer");
  return v;
}

void load_external(onnx::TensorProto& t, const std::string& base_dir) {
  const std::string what = "tensor \"" + t.name() + "\"";
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = external_number(what, "offset", kv.value());
    else if (kv.key() == "length") length = external_number(what, "length", kv.value());
  }
  if (location.empty()) invalid(what + ": external data without a location");
  std::filesystem::path rel(location);
  if (rel.is_absolute()) invalid(what + ": external data location \"" + location + "\" must be relative");
  for (const auto& part : rel)
    if (part == "..") invalid(what + ": external data location \"" + location + "\" leaves the model's directory");
  if (base_dir.empty()) invalid(what + ": external data needs the model's directory");
  const std::filesystem::path full = std::filesystem::path(base_dir) / rel;
  std::ifstream f(full, std::ios::binary);
  if (!f) throw Error(ErrorCode::kIO, what + ": cannot open external data file " + full.string());
  f.seekg(0, std::ios::end);
  const int64_t size = f.tellg();
  if (offset < 0 || offset > size) invalid(what + ": external data offset " + std::to_string(offset) + " is past the end of " + full.string());
  if (length < 0) length = size - offset;
  if (length > size - offset) invalid(what + ": external data file " + full.string() + " is shorter than offset+length");
  std::string bytes(static_cast<size_t>(length), '\0');
  f.seekg(offset);
  f.read(bytes.data(), length);
  if (!f) throw Error(ErrorCode::kIO, what + ": reading external data from " + full.string() + " failed");
  t.set_raw_data(std::move(bytes));
  t.clear_external_data();
  t.set_data_location(onnx::TensorProto::DEFAULT);
}

void for_each_tensor_in_graph(onnx::GraphProto& g, const std::function<void(onnx::TensorProto&)>& fn);

void for_each_tensor_in_nodes(google::protobuf::RepeatedPtrField<onnx::NodeProto>& nodes,
                              const std::function<void(onnx::TensorProto&)>& fn) {
  for (auto& n : nodes) {
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_t()) fn(*a.mutable_t());
      for (auto& t : *a.mutable_tensors()) fn(t);
      if (a.has_g()) for_each_tensor_in_graph(*a.mutable_g(), fn);
      for (auto& g : *a.mutable_graphs()) for_each_tensor_in_graph(g, fn);
    }
  }
}

void for_each_tensor_in_graph(onnx::GraphProto& g, const std::function<void(onnx::TensorProto&)>& fn) {
  for (auto& t : *g.mutable_initializer()) fn(t);
  for (auto& s : *g.mutable_sparse_initializer()) {
    fn(*s.mutable_values());
    fn(*s.mutable_indices());
  }
  for_each_tensor_in_nodes(*g.mutable_node(), fn);
}

// ---- walking nodes (read only) ----
void for_each_node(const onnx::GraphProto& g, const std::function<void(const onnx::NodeProto&)>& fn) {
  for (const auto& n : g.node()) {
    fn(n);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) for_each_node(a.g(), fn);
      for (const auto& sg : a.graphs()) for_each_node(sg, fn);
    }
  }
}

void for_each_ir_node(const Graph& g, const std::function<void(const Graph&, const Node&)>& fn) {
  for (const auto& n : g.nodes) {
    fn(g, n);
    for (const auto& a : n.attrs) {
      if (a.g) for_each_ir_node(*a.g, fn);
      for (const auto& sg : a.graphs) for_each_ir_node(*sg, fn);
    }
  }
}

// onnx's shape inference divides by a constant scalar `split` of
// SplitToSequence without checking it (SIGFPE in onnx 1.12, which would
// take the process down); reject such models before inference runs.
void reject_zero_split(const onnx::ModelProto& model, const std::string& label) {
  std::unordered_map<std::string, int64_t> scalars;  // constant int scalars by name
  auto note = [&](const std::string& name, const onnx::TensorProto& t) {
    if (t.dims_size() != 0 || (t.data_type() != onnx::TensorProto::INT64 && t.data_type() != onnx::TensorProto::INT32))
      return;
    try {
      Tensor v = tensor_from_proto(t, name);
      scalars[name] = v.dtype() == DataType::kInt64 ? v.data<int64_t>()[0] : v.data<int32_t>()[0];
    } catch (const Error&) {
    }
  };
  std::function<void(const onnx::GraphProto&)> collect = [&](const onnx::GraphProto& g) {
    for (const auto& t : g.initializer()) note(t.name(), t);
    for (const auto& n : g.node()) {
      for (const auto& a : n.attribute()) {
        if (n.op_type() == "Constant" && n.output_size() == 1) {
          if (a.name() == "value" && a.has_t()) note(n.output(0), a.t());
          if (a.name() == "value_int") scalars[n.output(0)] = a.i();
        }
        if (a.has_g()) collect(a.g());
        for (const auto& sg : a.graphs()) collect(sg);
      }
    }
  };
  collect(model.graph());
  for_each_node(model.graph(), [&](const onnx::NodeProto& n) {
    if (n.op_type() != "SplitToSequence" || !normalize_domain(n.domain()).empty() || n.input_size() < 2) return;
    auto it = scalars.find(n.input(1));
    if (it != scalars.end() && it->second <= 0)
      invalid(label + ": node \"" + n.name() + "\" (SplitToSequence): split must be positive, got " +
              std::to_string(it->second));
  });
}

// onnx 1.12's convolution/pooling shape inference divides by `strides`
// without checking it (SIGFPE on strides 0 for Conv, ConvInteger,
// QLinearConv, MaxPool, AveragePool, LpPool). Every ONNX op with these
// window attributes requires them positive; reject such models by name
// before inference runs.
void reject_bad_window_attrs(const onnx::ModelProto& model, const std::string& label) {
  for_each_node(model.graph(), [&](const onnx::NodeProto& n) {
    if (!normalize_domain(n.domain()).empty()) return;
    for (const auto& a : n.attribute()) {
      if (a.name() != "strides" && a.name() != "dilations" && a.name() != "kernel_shape") continue;
      std::string values;
      bool bad = false;
      for (int64_t v : a.ints()) {
        if (!values.empty()) values += ',';
        values += std::to_string(v);
        bad |= v < 1;
      }
      if (bad)
        invalid(label + ": node \"" + n.name() + "\" (" + n.op_type() + "): " + a.name() + " must be positive, got [" +
                values + "]");
    }
  });
}

// Nodes of the main graph whose schema can output a map type, removed
// (with their positions) so that shape inference skips them.
std::vector<std::pair<int, onnx::NodeProto>> park_map_producers(onnx::GraphProto& g, const OpsetMap& opsets) {
  std::vector<std::pair<int, onnx::NodeProto>> parked;
  auto outputs_map = [&](const onnx::NodeProto& n) {
    auto it = opsets.find(normalize_domain(n.domain()));
    if (it == opsets.end()) return false;
    const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(n.op_type(), it->second, n.domain());
    if (!schema) return false;
    for (const auto& out : schema->outputs())
      for (const auto* t : out.GetTypes())
        if (t->find("map(") != std::string::npos) return true;
    return false;
  };
  auto* nodes = g.mutable_node();
  for (int i = nodes->size() - 1; i >= 0; --i) {
    if (!outputs_map(nodes->Get(i))) continue;
    parked.emplace_back(i, std::move(*nodes->Mutable(i)));
    nodes->DeleteSubrange(i, 1);
  }
  return parked;  // last position first
}

void unpark(onnx::GraphProto& g, std::vector<std::pair<int, onnx::NodeProto>> parked) {
  auto* nodes = g.mutable_node();
  for (auto it = parked.rbegin(); it != parked.rend(); ++it) {
    *nodes->Add() = std::move(it->second);
    for (int j = nodes->size() - 1; j > it->first; --j) nodes->SwapElements(j, j - 1);
  }
}

std::string unsupported_message(const std::string& domain, const std::string& op, int opset, const std::string& node) {
  return "unsupported operator " + (domain.empty() ? std::string("ai.onnx") : domain) + "::" + op + " (opset " +
         std::to_string(opset) + ") at node \"" + node + "\"";
}

LoadedModel load(onnx::ModelProto& model, const std::string& base_dir, const std::string& label, Unsupported policy) {
  if (!model.has_graph()) invalid(label + ": not an ONNX model (it has no graph)");
  if (!model.has_ir_version() || model.ir_version() <= 0) invalid(label + ": not an ONNX model (no IR version)");
  if (model.ir_version() < kMinIr || model.ir_version() > kMaxIr)
    throw Error(ErrorCode::kUnsupported, label + ": IR version " + std::to_string(model.ir_version()) +
                                             " is not supported (Pier loads IR versions " + std::to_string(kMinIr) +
                                             "-" + std::to_string(kMaxIr) + ")");
  OpsetMap opsets;
  for (const auto& o : model.opset_import()) {
    const std::string d = normalize_domain(o.domain());
    opsets[d] = static_cast<int>(o.version());
    if ((d.empty() && o.version() > kMaxOnnxOpset) || (d == "ai.onnx.ml" && o.version() > kMaxMlOpset))
      throw Error(ErrorCode::kUnsupported, label + ": opset " + std::to_string(o.version()) + " of " +
                                               (d.empty() ? "ai.onnx" : d) + " is newer than supported (" +
                                               std::to_string(d.empty() ? kMaxOnnxOpset : kMaxMlOpset) + ")");
  }

  // Resolve external data before anything reads tensors.
  auto resolve = [&](onnx::TensorProto& t) {
    if (t.data_location() == onnx::TensorProto::EXTERNAL) load_external(t, base_dir);
  };
  for_each_tensor_in_graph(*model.mutable_graph(), resolve);
  for (auto& f : *model.mutable_functions()) for_each_tensor_in_nodes(*f.mutable_node(), resolve);

  std::map<std::string, const onnx::FunctionProto*> local_functions;
  for (const auto& f : model.functions()) local_functions[normalize_domain(f.domain()) + "::" + f.name()] = &f;

  ModelInfo info;
  info.ir_version = model.ir_version();
  info.producer_name = model.producer_name();
  info.producer_version = model.producer_version();
  info.domain = model.domain();
  info.doc_string = model.doc_string();
  info.model_version = model.model_version();
  for (const auto& o : model.opset_import()) info.opsets.emplace_back(o.domain(), o.version());
  for (const auto& kv : model.metadata_props()) info.metadata[kv.key()] = kv.value();

  // Operators ONNX itself does not know would only get a vague checker
  // error; name them the way the rest of Pier does.
  for_each_node(model.graph(), [&](const onnx::NodeProto& n) {
    const std::string d = normalize_domain(n.domain());
    info.op_counts[op_key(d, n.op_type())]++;
    if (!is_onnx_domain(d) || local_functions.count(d + "::" + n.op_type())) return;
    auto it = opsets.find(d);
    if (it == opsets.end())
      invalid(label + ": node \"" + n.name() + "\" uses domain \"" + (d.empty() ? "ai.onnx" : d) +
              "\" which the model does not import");
    if (!onnx::OpSchemaRegistry::Schema(n.op_type(), it->second, d))
      throw Error(ErrorCode::kUnsupported, unsupported_message(d, n.op_type(), it->second, n.name()));
  });

  validate_before_inference(model, label);
  reject_zero_split(model, label);
  reject_bad_window_attrs(model, label);
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    invalid(label + ": model check failed: " + e.what());
  }
  // Lenient mode: per-node inference errors leave those shapes unknown
  // (old exporters produce models stricter rules reject, and ONNX Runtime
  // runs them); contradictions between declared and inferred types still
  // reject the model. Kernels validate their own attributes.
  {
    // onnx 1.12's inference fails the whole model on a node whose inferred
    // output is a map ("type case unsupported for symbolic shape
    // inference"), i.e. on every ai.onnx.ml ZipMap. Infer without those
    // nodes; their outputs keep their declared types.
    auto parked = park_map_producers(*model.mutable_graph(), opsets);
    try {
      onnx::ShapeInferenceOptions opts(/*check_type=*/false, /*error_mode=*/0, /*data_prop=*/true);
      onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), opts);
    } catch (const std::exception& e) {
      invalid(label + ": shape inference failed: " + e.what());
    }
    unpark(*model.mutable_graph(), std::move(parked));
  }

  ConvertContext ctx;
  ctx.local_functions = std::move(local_functions);
  LoadedModel out;
  out.graph = convert_graph(model.graph(), opsets, ctx);

  std::vector<std::string> missing;
  const auto& registry = kernels::KernelRegistry::global();
  for_each_ir_node(*out.graph, [&](const Graph& g, const Node& n) {
    DataType t0 = DataType::kUndefined;
    if (n.has_input(0))
      if (const ValueInfo* vi = g.info(n.inputs[0])) t0 = vi->dtype;
    if (registry.find(n.domain, n.op_type, n.since_version, t0)) return;
    std::string msg = unsupported_message(n.domain, n.op_type, n.opset, n.name);
    if (t0 != DataType::kUndefined && registry.find(n.domain, n.op_type, n.since_version))
      msg += " for input type " + std::string(dtype_name(t0));
    missing.push_back(msg);
  });
  if (!missing.empty() && policy == Unsupported::kThrow) {
    std::string msg = missing.front();
    if (missing.size() > 1) msg += " (and " + std::to_string(missing.size() - 1) + " more unsupported nodes)";
    throw Error(ErrorCode::kUnsupported, msg);
  }
  info.unsupported = std::move(missing);

  std::unordered_map<std::string, bool> has_init;
  for (const auto& [name, t] : out.graph->initializers) has_init[name] = true;
  for (const auto& in : out.graph->inputs)
    if (!has_init.count(in.name)) info.inputs.push_back(in);
  info.outputs = out.graph->outputs;
  out.info = std::move(info);
  return out;
}

}  // namespace

LoadedModel load_model_file(const std::string& path, Unsupported policy) {
  onnx::ModelProto model;
  read_file(path, model);
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return load(model, dir, path, policy);
}

LoadedModel load_model_bytes(std::string_view bytes, const std::string& base_dir, Unsupported policy) {
  if (bytes.empty()) invalid("model is empty");
  if (bytes.size() > INT_MAX) invalid("model exceeds protobuf's 2 GB limit");
  onnx::ModelProto model;
  google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  if (!parse_stream(&stream, model))
    invalid("cannot parse as an ONNX model (the data is truncated, corrupt, or not protobuf)");
  return load(model, base_dir, "model", policy);
}

}  // namespace pier::ir
