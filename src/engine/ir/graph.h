// Pier's graph IR: nodes, attributes and graphs, built from ONNX protobuf.
// It carries no protobuf types, so kernels and passes compile without them.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "pier/engine.h"

namespace pier::ir {

struct Graph;

struct Attribute {
  enum class Type {
    kUndefined = 0,
    kFloat = 1,
    kInt = 2,
    kString = 3,
    kTensor = 4,
    kGraph = 5,
    kFloats = 6,
    kInts = 7,
    kStrings = 8,
    kTensors = 9,
    kGraphs = 10,
    kSparseTensor = 11,
    kSparseTensors = 12,
    kTypeProto = 13,
    kTypeProtos = 14,
  };
  std::string name;
  Type type = Type::kUndefined;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
  // For kTypeProto: the element type of the tensor type it names.
  DataType tp_elem = DataType::kUndefined;
};

const char* attribute_type_name(Attribute::Type t);

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;       // "" for ai.onnx
  int opset = 0;            // the model's opset for this domain
  int since_version = 0;    // the schema version in force (from onnx's registry)
  std::vector<std::string> inputs;   // "" marks an absent optional input
  std::vector<std::string> outputs;  // "" marks an unused optional output
  std::vector<Attribute> attrs;

  // "ai.onnx::Conv" style name for messages.
  std::string qualified_op() const;
  // `node "name" (Op)` for messages.
  std::string describe() const;

  const Attribute* find_attr(const std::string& name) const;
  bool has_attr(const std::string& name) const { return find_attr(name) != nullptr; }
  // Typed getters. A missing attribute gives `def`; one of the wrong type
  // raises kInvalidModel naming the node and attribute.
  int64_t attr_int(const std::string& name, int64_t def) const;
  float attr_float(const std::string& name, float def) const;
  std::string attr_string(const std::string& name, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& name, const std::vector<int64_t>& def = {}) const;
  std::vector<float> attr_floats(const std::string& name, const std::vector<float>& def = {}) const;
  std::vector<std::string> attr_strings(const std::string& name, const std::vector<std::string>& def = {}) const;
  // Required variants: a missing attribute raises kInvalidModel.
  int64_t req_int(const std::string& name) const;
  const Tensor& req_tensor(const std::string& name) const;
  std::shared_ptr<Graph> req_graph(const std::string& name) const;

  int num_inputs() const { return static_cast<int>(inputs.size()); }
  int num_outputs() const { return static_cast<int>(outputs.size()); }
  bool has_input(int i) const { return i < num_inputs() && !inputs[i].empty(); }
  bool has_output(int i) const { return i < num_outputs() && !outputs[i].empty(); }
};

struct Graph {
  std::string name;
  std::vector<Node> nodes;            // topologically sorted
  std::vector<ValueInfo> inputs;      // every declared input, including ones with initializers
  std::vector<ValueInfo> outputs;
  std::unordered_map<std::string, Tensor> initializers;
  // Declared or inferred types of values (inputs, outputs and intermediates).
  std::unordered_map<std::string, ValueInfo> value_info;
  // Opset per domain ("" = ai.onnx), shared with subgraphs.
  std::unordered_map<std::string, int> opsets;

  const ValueInfo* info(const std::string& value) const;
  const Tensor* initializer(const std::string& value) const;
};

}  // namespace pier::ir

namespace pier::ir {
// The tensor a Constant node produces (value, value_float(s), value_int(s),
// value_string(s) or sparse_value). Raises kInvalidModel when malformed.
Tensor constant_node_value(const Node& node);
}  // namespace pier::ir
