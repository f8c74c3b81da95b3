// Helpers for the ai.onnx.ml kernel tests: single-node models at a chosen
// ai.onnx.ml opset, typed attribute lists and map-typed graph values.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "test_util.h"

namespace pier::test::mlt {

inline const std::string kMl = "ai.onnx.ml";

inline onnx::AttributeProto ints(const std::string& name, std::vector<int64_t> v) { return attr(name, v); }
inline onnx::AttributeProto floats(const std::string& name, std::vector<float> v) { return attr(name, v); }
inline onnx::AttributeProto strings(const std::string& name, std::vector<std::string> v) { return attr(name, v); }

// Runs one ai.onnx.ml node: inputs in0.., outputs out0.. of the given
// element types (shapes from inference).
inline std::vector<Value> run_ml(const std::string& op, const std::vector<Tensor>& inputs,
                                 const std::vector<DataType>& outputs, std::vector<onnx::AttributeProto> attrs,
                                 int ml_opset = 3, int threads = 1) {
  ModelBuilder b(17);
  b.opset(kMl, ml_opset);
  std::vector<std::string> in_names, out_names;
  for (size_t i = 0; i < inputs.size(); ++i) {
    in_names.push_back("in" + std::to_string(i));
    b.input(in_names.back(), inputs[i].dtype(), inputs[i].shape());
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    out_names.push_back("out" + std::to_string(i));
    b.output(out_names.back(), outputs[i]);
  }
  b.node(op, in_names, out_names, std::move(attrs), kMl);
  auto s = b.session(threads);
  std::vector<Value> feeds(inputs.begin(), inputs.end());
  return s->run(feeds);
}

// map(K, V) and seq(map(K, V)) declarations.
inline void set_map_type(onnx::TypeProto* tp, DataType k, DataType v) {
  auto* mt = tp->mutable_map_type();
  mt->set_key_type(static_cast<int32_t>(k));
  mt->mutable_value_type()->mutable_tensor_type()->set_elem_type(static_cast<int32_t>(v));
}
inline void add_map_input(ModelBuilder& b, const std::string& name, DataType k, DataType v) {
  auto* vi = b.graph().add_input();
  vi->set_name(name);
  set_map_type(vi->mutable_type(), k, v);
}
inline void add_map_sequence_output(ModelBuilder& b, const std::string& name, DataType k, DataType v) {
  auto* vi = b.graph().add_output();
  vi->set_name(name);
  set_map_type(vi->mutable_type()->mutable_sequence_type()->mutable_elem_type(), k, v);
}

inline std::vector<float> row_floats(const Tensor& t) { return to_floats(t); }

}  // namespace pier::test::mlt
