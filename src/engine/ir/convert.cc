#include "ir/convert.h"

#include <cstring>
#include <unordered_set>

#include "ir/onnx_convert.h"
#include "kernels/kernel.h"
#include "onnx/defs/schema.h"

namespace pier::ir {

std::string normalize_domain(const std::string& domain) { return domain == "ai.onnx" ? std::string() : domain; }

namespace {

using AttrType = Attribute::Type;

AttrType infer_attr_type(const onnx::AttributeProto& a) {
  if (a.type() != onnx::AttributeProto::UNDEFINED) return static_cast<AttrType>(a.type());
  // IR version 1-2 style attributes carry no type; infer it from the field.
  if (a.has_f()) return AttrType::kFloat;
  if (a.has_i()) return AttrType::kInt;
  if (a.has_s()) return AttrType::kString;
  if (a.has_t()) return AttrType::kTensor;
  if (a.has_g()) return AttrType::kGraph;
  if (a.floats_size()) return AttrType::kFloats;
  if (a.ints_size()) return AttrType::kInts;
  if (a.strings_size()) return AttrType::kStrings;
  if (a.tensors_size()) return AttrType::kTensors;
  if (a.graphs_size()) return AttrType::kGraphs;
  return AttrType::kUndefined;
}

Tensor sparse_to_dense(const onnx::SparseTensorProto& sp, const std::string& what) {
  Tensor values = tensor_from_proto(sp.values(), what);
  Tensor indices = tensor_from_proto(sp.indices(), what);
  Shape shape(sp.dims().begin(), sp.dims().end());
  Tensor dense = Tensor::zeros(values.dtype(), shape);
  if (values.dtype() == DataType::kString) throw Error(ErrorCode::kUnsupported, "sparse string tensor \"" + what + "\"");
  if (indices.dtype() != DataType::kInt64) throw Error(ErrorCode::kInvalidModel, "sparse tensor \"" + what + "\": indices must be int64");
  const int64_t nnz = values.numel();
  const int64_t total = dense.numel();
  const auto* idx = indices.data<int64_t>();
  const size_t es = dtype_size(values.dtype());
  const bool linear = indices.rank() == 1;
  if ((linear && indices.numel() != nnz) ||
      (!linear && (indices.rank() != 2 || indices.dim(0) != nnz || indices.dim(1) != static_cast<int64_t>(shape.size()))))
    throw Error(ErrorCode::kInvalidModel, "sparse tensor \"" + what + "\": indices do not match values");
  for (int64_t k = 0; k < nnz; ++k) {
    int64_t off = 0;
    if (linear) {
      off = idx[k];
    } else {
      for (size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + idx[k * shape.size() + d];
    }
    if (off < 0 || off >= total) throw Error(ErrorCode::kInvalidModel, "sparse tensor \"" + what + "\": index out of range");
    std::memcpy(static_cast<char*>(dense.raw()) + off * es, static_cast<const char*>(values.raw()) + k * es, es);
  }
  return dense;
}

DataType elem_type_of(const onnx::TypeProto* tp) {
  if (!tp) return DataType::kUndefined;
  if (tp->has_tensor_type()) {
    int32_t t = tp->tensor_type().elem_type();
    if (t >= 1 && t <= 16) return static_cast<DataType>(t);
  }
  return DataType::kUndefined;
}

class GraphBuilder {
 public:
  GraphBuilder(Graph& out, ConvertContext& ctx) : out_(out), ctx_(ctx) {}

  void emit(const onnx::NodeProto& np, const OpsetMap& opsets, int depth) {
    if (depth > 32) throw Error(ErrorCode::kInvalidModel, "functions nested too deeply at node \"" + np.name() + "\"");
    const std::string domain = normalize_domain(np.domain());
    auto fit = ctx_.local_functions.find(domain + "::" + np.op_type());
    if (fit != ctx_.local_functions.end()) {
      OpsetMap fn_opsets = opsets;
      for (const auto& o : fit->second->opset_import()) fn_opsets[normalize_domain(o.domain())] = static_cast<int>(o.version());
      expand(np, *fit->second, fn_opsets, nullptr, depth);
      return;
    }
    auto oit = opsets.find(domain);
    const int opset = oit == opsets.end() ? 0 : oit->second;
    const onnx::OpSchema* schema = opset > 0 ? onnx::OpSchemaRegistry::Schema(np.op_type(), opset, domain) : nullptr;
    const int since = schema ? schema->since_version() : opset;
    DataType t0 = DataType::kUndefined;
    if (np.input_size() > 0 && !np.input(0).empty()) {
      auto tit = ctx_.types.find(np.input(0));
      if (tit != ctx_.types.end()) t0 = elem_type_of(tit->second);
    }
    const auto& registry = kernels::KernelRegistry::global();
    if (schema && !registry.find(domain, np.op_type(), since, t0)) {
      onnx::FunctionProto body;
      bool have = false;
      if (schema->HasFunction()) {
        body = *schema->GetFunction();
        have = true;
      } else if (schema->HasContextDependentFunction()) {
        std::vector<onnx::TypeProto> types;
        for (const auto& in : np.input()) {
          auto tit = ctx_.types.find(in);
          types.push_back(tit != ctx_.types.end() ? *tit->second : onnx::TypeProto());
        }
        onnx::FunctionBodyBuildContextImpl fctx(np, types);
        try {
          have = schema->BuildContextDependentFunction(fctx, body);
        } catch (const std::exception&) {
          have = false;
        }
      }
      if (have) {
        OpsetMap fn_opsets = opsets;
        fn_opsets[""] = since;
        for (const auto& o : body.opset_import()) fn_opsets[normalize_domain(o.domain())] = static_cast<int>(o.version());
        fn_opsets[domain] = since;
        expand(np, body, fn_opsets, schema, depth);
        return;
      }
    }
    Node node;
    node.name = np.name().empty() ? np.op_type() + "_" + std::to_string(out_.nodes.size()) : np.name();
    node.op_type = np.op_type();
    node.domain = domain;
    node.opset = opset;
    node.since_version = since;
    node.inputs.assign(np.input().begin(), np.input().end());
    node.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& a : np.attribute()) node.attrs.push_back(convert_attribute(a, opsets, ctx_));
    out_.nodes.push_back(std::move(node));
  }

 private:
  // Replaces a call by the body of `fn`, renaming the body's values apart.
  void expand(const onnx::NodeProto& call, const onnx::FunctionProto& fn, const OpsetMap& fn_opsets,
              const onnx::OpSchema* schema, int depth) {
    std::unordered_map<std::string, std::string> rename;
    const std::string prefix = "__pier_fn" + std::to_string(ctx_.fresh++) + "_";
    for (int i = 0; i < fn.input_size(); ++i)
      rename[fn.input(i)] = i < call.input_size() ? call.input(i) : std::string();
    for (int i = 0; i < fn.output_size(); ++i) {
      std::string actual = i < call.output_size() ? call.output(i) : std::string();
      rename[fn.output(i)] = actual.empty() ? prefix + fn.output(i) : actual;
    }
    std::unordered_map<std::string, const onnx::AttributeProto*> call_attrs;
    for (const auto& a : call.attribute()) call_attrs[a.name()] = &a;
    auto map_name = [&](const std::string& n) -> std::string {
      if (n.empty()) return n;
      auto it = rename.find(n);
      if (it != rename.end()) return it->second;
      std::string fresh = prefix + n;
      rename[n] = fresh;
      return fresh;
    };
    for (const auto& bn : fn.node()) {
      onnx::NodeProto n = bn;
      n.set_name(call.name().empty() ? bn.name() : call.name() + "/" + bn.op_type());
      for (auto& in : *n.mutable_input()) in = map_name(in);
      for (auto& out : *n.mutable_output()) out = map_name(out);
      n.clear_attribute();
      for (const auto& a : bn.attribute()) {
        if (a.ref_attr_name().empty()) {
          *n.add_attribute() = a;
          continue;
        }
        auto cit = call_attrs.find(a.ref_attr_name());
        const onnx::AttributeProto* src = cit != call_attrs.end() ? cit->second : nullptr;
        if (!src && schema) {
          auto sit = schema->attributes().find(a.ref_attr_name());
          if (sit != schema->attributes().end() && sit->second.default_value.type() != onnx::AttributeProto::UNDEFINED)
            src = &sit->second.default_value;
        }
        if (!src) continue;
        onnx::AttributeProto copy = *src;
        copy.set_name(a.name());
        *n.add_attribute() = copy;
      }
      emit(n, fn_opsets, depth + 1);
    }
  }

  Graph& out_;
  ConvertContext& ctx_;
};

}  // namespace

Attribute convert_attribute(const onnx::AttributeProto& a, const OpsetMap& opsets, ConvertContext& ctx) {
  Attribute out;
  out.name = a.name();
  out.type = infer_attr_type(a);
  switch (out.type) {
    case AttrType::kFloat: out.f = a.f(); break;
    case AttrType::kInt: out.i = a.i(); break;
    case AttrType::kString: out.s = a.s(); break;
    case AttrType::kTensor: out.t = tensor_from_proto(a.t(), a.name()); break;
    case AttrType::kGraph: out.g = convert_graph(a.g(), opsets, ctx); break;
    case AttrType::kFloats: out.floats.assign(a.floats().begin(), a.floats().end()); break;
    case AttrType::kInts: out.ints.assign(a.ints().begin(), a.ints().end()); break;
    case AttrType::kStrings: out.strings.assign(a.strings().begin(), a.strings().end()); break;
    case AttrType::kTensors:
      for (const auto& t : a.tensors()) out.tensors.push_back(tensor_from_proto(t, a.name()));
      break;
    case AttrType::kGraphs:
      for (const auto& g : a.graphs()) out.graphs.push_back(convert_graph(g, opsets, ctx));
      break;
    case AttrType::kSparseTensor: out.t = sparse_to_dense(a.sparse_tensor(), a.name()); out.type = AttrType::kTensor; break;
    case AttrType::kTypeProto: out.tp_elem = elem_type_of(&a.tp()); break;
    case AttrType::kTypeProtos:
    case AttrType::kSparseTensors:
    case AttrType::kUndefined: break;
  }
  return out;
}

std::shared_ptr<Graph> convert_graph(const onnx::GraphProto& g, const OpsetMap& opsets, ConvertContext& ctx) {
  auto out = std::make_shared<Graph>();
  out->name = g.name();
  out->opsets = opsets;
  auto note_type = [&](const onnx::ValueInfoProto& vi) {
    if (!vi.has_type()) return;
    ctx.types[vi.name()] = &vi.type();
    out->value_info[vi.name()] = value_info_from_type(vi.name(), vi.type());
  };
  for (const auto& vi : g.value_info()) note_type(vi);
  for (const auto& vi : g.input()) note_type(vi);
  for (const auto& vi : g.output()) note_type(vi);
  for (const auto& t : g.initializer()) {
    Tensor tensor = tensor_from_proto(t, t.name());
    if (!out->value_info.count(t.name())) {
      ValueInfo vi;
      vi.name = t.name();
      vi.dtype = tensor.dtype();
      vi.has_shape = true;
      vi.dims = tensor.shape();
      vi.dim_params.assign(tensor.shape().size(), "");
      out->value_info[t.name()] = vi;
    }
    out->initializers[t.name()] = std::move(tensor);
  }
  for (const auto& sp : g.sparse_initializer()) {
    const std::string& name = sp.values().name();
    out->initializers[name] = sparse_to_dense(sp, name);
  }
  for (const auto& vi : g.input()) out->inputs.push_back(value_info_from_type(vi.name(), vi.type()));
  for (const auto& vi : g.output()) out->outputs.push_back(value_info_from_type(vi.name(), vi.type()));
  GraphBuilder builder(*out, ctx);
  for (const auto& np : g.node()) builder.emit(np, opsets, 0);
  return out;
}

}  // namespace pier::ir
