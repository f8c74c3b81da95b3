// Helpers for kernel tests: build a small ONNX model in memory, load it as
// a Session and compare tensors.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "pier/engine.h"

namespace pier::test {

// Attribute constructors.
onnx::AttributeProto attr(const std::string& name, int64_t v);
onnx::AttributeProto attr(const std::string& name, int v);
onnx::AttributeProto attr(const std::string& name, float v);
onnx::AttributeProto attr(const std::string& name, const std::string& v);
onnx::AttributeProto attr(const std::string& name, const char* v);
onnx::AttributeProto attr(const std::string& name, const std::vector<int64_t>& v);
onnx::AttributeProto attr(const std::string& name, const std::vector<float>& v);
onnx::AttributeProto attr(const std::string& name, const std::vector<std::string>& v);
onnx::AttributeProto attr(const std::string& name, const Tensor& v);
onnx::AttributeProto attr(const std::string& name, const onnx::GraphProto& g);

// Builds a model graph step by step:
//   auto s = ModelBuilder(13).input("x", DataType::kFloat, {2, 3})
//                .node("Relu", {"x"}, {"y"}).output("y", DataType::kFloat).session();
class ModelBuilder {
 public:
  explicit ModelBuilder(int opset = 17);
  // dims: -1 for an unnamed dynamic dim; omit dims for unknown rank.
  ModelBuilder& input(const std::string& name, DataType t, std::vector<int64_t> dims = {}, bool has_shape = true);
  // Without dims the shape comes from ONNX shape inference (must succeed).
  ModelBuilder& output(const std::string& name, DataType t, std::vector<int64_t> dims = {});
  ModelBuilder& sequence_input(const std::string& name, DataType elem);
  ModelBuilder& sequence_output(const std::string& name, DataType elem);
  ModelBuilder& initializer(const std::string& name, const Tensor& t);
  ModelBuilder& node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                     std::vector<onnx::AttributeProto> attrs = {}, const std::string& domain = "");
  ModelBuilder& opset(const std::string& domain, int version);
  onnx::GraphProto& graph() { return *model_.mutable_graph(); }
  std::string bytes() const;
  std::unique_ptr<Session> session(int threads = 1) const;

 private:
  onnx::ModelProto model_;
};

// Runs a single-node model: inputs named in0, in1, ...; outputs out0, ...
// The output types are given; shapes are left to inference.
std::vector<Value> run_node(const std::string& op, const std::vector<Tensor>& inputs,
                            const std::vector<DataType>& output_types,
                            std::vector<onnx::AttributeProto> attrs = {}, int opset = 17,
                            const std::string& domain = "", int threads = 1);

// Tensor constructors.
template <typename T>
Tensor make(Shape shape, std::vector<T> values) {
  return Tensor::from_vector<T>(values, std::move(shape));
}
Tensor make_bool(Shape shape, std::vector<int> values);
// Deterministic pseudo-random floats in [lo, hi).
Tensor random_float(Shape shape, uint32_t seed, float lo = -1.f, float hi = 1.f);

// Element-wise closeness of float tensors (any float dtype) and exact
// equality of others; reports the first mismatch.
::testing::AssertionResult tensors_near(const Tensor& got, const Tensor& want, double rtol = 1e-5,
                                        double atol = 1e-6);

std::vector<float> to_floats(const Tensor& t);

// Loading `b` must fail with kInvalidModel, the message naming `needle`.
void expect_invalid_model(const ModelBuilder& b, const std::string& needle);

}  // namespace pier::test
