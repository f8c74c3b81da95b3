#include "ir/graph.h"

namespace pier::ir {

const char* attribute_type_name(Attribute::Type t) {
  switch (t) {
    case Attribute::Type::kFloat: return "float";
    case Attribute::Type::kInt: return "int";
    case Attribute::Type::kString: return "string";
    case Attribute::Type::kTensor: return "tensor";
    case Attribute::Type::kGraph: return "graph";
    case Attribute::Type::kFloats: return "floats";
    case Attribute::Type::kInts: return "ints";
    case Attribute::Type::kStrings: return "strings";
    case Attribute::Type::kTensors: return "tensors";
    case Attribute::Type::kGraphs: return "graphs";
    case Attribute::Type::kSparseTensor: return "sparse_tensor";
    case Attribute::Type::kSparseTensors: return "sparse_tensors";
    case Attribute::Type::kTypeProto: return "type_proto";
    case Attribute::Type::kTypeProtos: return "type_protos";
    case Attribute::Type::kUndefined: break;
  }
  return "undefined";
}

std::string Node::qualified_op() const { return (domain.empty() ? std::string("ai.onnx") : domain) + "::" + op_type; }

std::string Node::describe() const { return "node \"" + name + "\" (" + op_type + ")"; }

const Attribute* Node::find_attr(const std::string& n) const {
  for (const auto& a : attrs)
    if (a.name == n) return &a;
  return nullptr;
}

namespace {
[[noreturn]] void bad_attr(const Node& node, const std::string& name, const Attribute& a, const char* want) {
  throw Error(ErrorCode::kInvalidModel, node.describe() + ": attribute \"" + name + "\" should be " + want +
                                            ", got " + attribute_type_name(a.type));
}
}  // namespace

int64_t Node::attr_int(const std::string& n, int64_t def) const {
  const Attribute* a = find_attr(n);
  if (!a) return def;
  if (a->type != Attribute::Type::kInt) bad_attr(*this, n, *a, "an int");
  return a->i;
}

float Node::attr_float(const std::string& n, float def) const {
  const Attribute* a = find_attr(n);
  if (!a) return def;
  if (a->type == Attribute::Type::kInt) return static_cast<float>(a->i);
  if (a->type != Attribute::Type::kFloat) bad_attr(*this, n, *a, "a float");
  return a->f;
}

std::string Node::attr_string(const std::string& n, const std::string& def) const {
  const Attribute* a = find_attr(n);
  if (!a) return def;
  if (a->type != Attribute::Type::kString) bad_attr(*this, n, *a, "a string");
  return a->s;
}

std::vector<int64_t> Node::attr_ints(const std::string& n, const std::vector<int64_t>& def) const {
  const Attribute* a = find_attr(n);
  if (!a) return def;
  if (a->type != Attribute::Type::kInts) bad_attr(*this, n, *a, "a list of ints");
  return a->ints;
}

std::vector<float> Node::attr_floats(const std::string& n, const std::vector<float>& def) const {
  const Attribute* a = find_attr(n);
  if (!a) return def;
  if (a->type != Attribute::Type::kFloats) bad_attr(*this, n, *a, "a list of floats");
  return a->floats;
}

std::vector<std::string> Node::attr_strings(const std::string& n, const std::vector<std::string>& def) const {
  const Attribute* a = find_attr(n);
  if (!a) return def;
  if (a->type != Attribute::Type::kStrings) bad_attr(*this, n, *a, "a list of strings");
  return a->strings;
}

int64_t Node::req_int(const std::string& n) const {
  const Attribute* a = find_attr(n);
  if (!a) throw Error(ErrorCode::kInvalidModel, describe() + ": missing required attribute \"" + n + "\"");
  return attr_int(n, 0);
}

const Tensor& Node::req_tensor(const std::string& n) const {
  const Attribute* a = find_attr(n);
  if (!a) throw Error(ErrorCode::kInvalidModel, describe() + ": missing required attribute \"" + n + "\"");
  if (a->type != Attribute::Type::kTensor) bad_attr(*this, n, *a, "a tensor");
  return a->t;
}

std::shared_ptr<Graph> Node::req_graph(const std::string& n) const {
  const Attribute* a = find_attr(n);
  if (!a) throw Error(ErrorCode::kInvalidModel, describe() + ": missing required attribute \"" + n + "\"");
  if (a->type != Attribute::Type::kGraph || !a->g) bad_attr(*this, n, *a, "a graph");
  return a->g;
}

const ValueInfo* Graph::info(const std::string& value) const {
  auto it = value_info.find(value);
  return it == value_info.end() ? nullptr : &it->second;
}

const Tensor* Graph::initializer(const std::string& value) const {
  auto it = initializers.find(value);
  return it == initializers.end() ? nullptr : &it->second;
}

}  // namespace pier::ir
