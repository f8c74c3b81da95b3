#include "test_util.h"

#include <cmath>
#include <cstring>
#include <random>

#include "ir/onnx_convert.h"
#include "onnx/defs/schema.h"
#include "onnx/shape_inference/implementation.h"

namespace pier::test {

namespace {
onnx::AttributeProto base(const std::string& name, onnx::AttributeProto::AttributeType t) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(t);
  return a;
}

void set_type(onnx::ValueInfoProto* vi, DataType t, const std::vector<int64_t>& dims, bool has_shape) {
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(t));
  if (has_shape) {
    auto* s = tt->mutable_shape();
    for (int64_t d : dims) {
      auto* dim = s->add_dim();
      if (d >= 0) dim->set_dim_value(d);
    }
  }
}
}  // namespace

onnx::AttributeProto attr(const std::string& name, int64_t v) {
  auto a = base(name, onnx::AttributeProto::INT);
  a.set_i(v);
  return a;
}
onnx::AttributeProto attr(const std::string& name, int v) { return attr(name, static_cast<int64_t>(v)); }
onnx::AttributeProto attr(const std::string& name, float v) {
  auto a = base(name, onnx::AttributeProto::FLOAT);
  a.set_f(v);
  return a;
}
onnx::AttributeProto attr(const std::string& name, const std::string& v) {
  auto a = base(name, onnx::AttributeProto::STRING);
  a.set_s(v);
  return a;
}
onnx::AttributeProto attr(const std::string& name, const char* v) { return attr(name, std::string(v)); }
onnx::AttributeProto attr(const std::string& name, const std::vector<int64_t>& v) {
  auto a = base(name, onnx::AttributeProto::INTS);
  for (auto x : v) a.add_ints(x);
  return a;
}
onnx::AttributeProto attr(const std::string& name, const std::vector<float>& v) {
  auto a = base(name, onnx::AttributeProto::FLOATS);
  for (auto x : v) a.add_floats(x);
  return a;
}
onnx::AttributeProto attr(const std::string& name, const std::vector<std::string>& v) {
  auto a = base(name, onnx::AttributeProto::STRINGS);
  for (const auto& x : v) a.add_strings(x);
  return a;
}
onnx::AttributeProto attr(const std::string& name, const Tensor& v) {
  auto a = base(name, onnx::AttributeProto::TENSOR);
  ir::tensor_to_proto(v, "", a.mutable_t());
  return a;
}
onnx::AttributeProto attr(const std::string& name, const onnx::GraphProto& g) {
  auto a = base(name, onnx::AttributeProto::GRAPH);
  *a.mutable_g() = g;
  return a;
}

ModelBuilder::ModelBuilder(int opset) {
  model_.set_ir_version(8);
  model_.set_producer_name("pier-test");
  auto* o = model_.add_opset_import();
  o->set_domain("");
  o->set_version(opset);
  model_.mutable_graph()->set_name("test");
}

ModelBuilder& ModelBuilder::opset(const std::string& domain, int version) {
  for (auto& o : *model_.mutable_opset_import())
    if (o.domain() == domain) {
      o.set_version(version);
      return *this;
    }
  auto* o = model_.add_opset_import();
  o->set_domain(domain);
  o->set_version(version);
  return *this;
}

ModelBuilder& ModelBuilder::input(const std::string& name, DataType t, std::vector<int64_t> dims, bool has_shape) {
  auto* vi = model_.mutable_graph()->add_input();
  vi->set_name(name);
  set_type(vi, t, dims, has_shape);
  return *this;
}

ModelBuilder& ModelBuilder::output(const std::string& name, DataType t, std::vector<int64_t> dims) {
  auto* vi = model_.mutable_graph()->add_output();
  vi->set_name(name);
  set_type(vi, t, dims, !dims.empty());
  return *this;
}

ModelBuilder& ModelBuilder::sequence_input(const std::string& name, DataType elem) {
  auto* vi = model_.mutable_graph()->add_input();
  vi->set_name(name);
  vi->mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(
      static_cast<int32_t>(elem));
  return *this;
}

ModelBuilder& ModelBuilder::sequence_output(const std::string& name, DataType elem) {
  auto* vi = model_.mutable_graph()->add_output();
  vi->set_name(name);
  vi->mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(
      static_cast<int32_t>(elem));
  return *this;
}

ModelBuilder& ModelBuilder::initializer(const std::string& name, const Tensor& t) {
  ir::tensor_to_proto(t, name, model_.mutable_graph()->add_initializer());
  return *this;
}

ModelBuilder& ModelBuilder::node(const std::string& op, std::vector<std::string> inputs,
                                 std::vector<std::string> outputs, std::vector<onnx::AttributeProto> attrs,
                                 const std::string& domain) {
  auto* n = model_.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_domain(domain);
  n->set_name(op + "_" + std::to_string(model_.graph().node_size()));
  for (auto& i : inputs) n->add_input(i);
  for (auto& o : outputs) n->add_output(o);
  for (auto& a : attrs) *n->add_attribute() = a;
  return *this;
}

std::string ModelBuilder::bytes() const {
  // ONNX requires shapes on the main graph's outputs; take them from shape
  // inference where the test did not give one.
  // (Only then: a test of a model that onnx's own inference cannot take
  // gives every output a shape, and the loader sees the model first.)
  onnx::ModelProto m = model_;
  bool unshaped = false;
  for (const auto& o : m.graph().output())
    unshaped |= o.type().has_tensor_type() && !o.type().tensor_type().has_shape();
  try {
    onnx::ShapeInferenceOptions opts(false, 0, true);
    if (unshaped) onnx::shape_inference::InferShapes(m, onnx::OpSchemaRegistry::Instance(), opts);
  } catch (const std::exception&) {
  }
  for (auto& o : *m.mutable_graph()->mutable_output()) {
    // Where inference fails (as for invalid inputs a test provokes), an
    // empty shape satisfies the checker; Pier does not enforce output shapes.
    if (o.type().has_tensor_type() && !o.type().tensor_type().has_shape())
      o.mutable_type()->mutable_tensor_type()->mutable_shape();
  }
  return m.SerializeAsString();
}

std::unique_ptr<Session> ModelBuilder::session(int threads) const {
  SessionOptions o;
  o.threads = threads;
  return Session::load_from_memory(bytes(), o);
}

std::vector<Value> run_node(const std::string& op, const std::vector<Tensor>& inputs,
                            const std::vector<DataType>& output_types, std::vector<onnx::AttributeProto> attrs,
                            int opset, const std::string& domain, int threads) {
  ModelBuilder b(opset);
  if (!domain.empty()) b.opset(domain, domain == "ai.onnx.ml" ? 3 : 1);
  std::vector<std::string> in_names, out_names;
  for (size_t i = 0; i < inputs.size(); ++i) {
    in_names.push_back(inputs[i].defined() ? "in" + std::to_string(i) : "");
    if (inputs[i].defined()) b.input(in_names.back(), inputs[i].dtype(), inputs[i].shape(), true);
  }
  for (size_t i = 0; i < output_types.size(); ++i) {
    out_names.push_back("out" + std::to_string(i));
    b.output(out_names.back(), output_types[i]);
  }
  b.node(op, in_names, out_names, std::move(attrs), domain);
  auto s = b.session(threads);
  std::vector<Value> feeds;
  for (const auto& t : inputs)
    if (t.defined()) feeds.emplace_back(t);
  return s->run(feeds);
}

Tensor make_bool(Shape shape, std::vector<int> values) {
  Tensor t(DataType::kBool, std::move(shape));
  for (size_t i = 0; i < values.size(); ++i) t.data<bool>()[i] = values[i] != 0;
  return t;
}

Tensor random_float(Shape shape, uint32_t seed, float lo, float hi) {
  Tensor t(DataType::kFloat, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

std::vector<float> to_floats(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (t.dtype()) {
      case DataType::kFloat: v[i] = t.data<float>()[i]; break;
      case DataType::kDouble: v[i] = static_cast<float>(t.data<double>()[i]); break;
      case DataType::kFloat16: v[i] = static_cast<float>(t.data<Float16>()[i]); break;
      case DataType::kBFloat16: v[i] = static_cast<float>(t.data<BFloat16>()[i]); break;
      default: throw std::runtime_error("to_floats: not a float tensor");
    }
  }
  return v;
}

::testing::AssertionResult tensors_near(const Tensor& got, const Tensor& want, double rtol, double atol) {
  if (got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << "dtype " << dtype_name(got.dtype()) << " vs " << dtype_name(want.dtype());
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(got.shape()) << " vs " << shape_str(want.shape());
  const DataType t = got.dtype();
  if (t == DataType::kFloat || t == DataType::kDouble || t == DataType::kFloat16 || t == DataType::kBFloat16) {
    auto g = to_floats(got), w = to_floats(want);
    for (size_t i = 0; i < g.size(); ++i) {
      bool ok = std::isnan(w[i]) ? std::isnan(g[i]) : std::fabs(g[i] - w[i]) <= atol + rtol * std::fabs(w[i]);
      if (!ok) return ::testing::AssertionFailure() << "at " << i << ": got " << g[i] << ", want " << w[i];
    }
    return ::testing::AssertionSuccess();
  }
  if (t == DataType::kString) {
    for (int64_t i = 0; i < got.numel(); ++i)
      if (got.data<std::string>()[i] != want.data<std::string>()[i])
        return ::testing::AssertionFailure() << "at " << i << ": \"" << got.data<std::string>()[i] << "\" vs \""
                                             << want.data<std::string>()[i] << "\"";
    return ::testing::AssertionSuccess();
  }
  if (std::memcmp(got.raw(), want.raw(), got.nbytes()) != 0) {
    const size_t es = dtype_size(t);
    for (int64_t i = 0; i < got.numel(); ++i)
      if (std::memcmp(static_cast<const char*>(got.raw()) + i * es, static_cast<const char*>(want.raw()) + i * es, es))
        return ::testing::AssertionFailure() << "values differ at index " << i;
  }
  return ::testing::AssertionSuccess();
}

void expect_invalid_model(const ModelBuilder& b, const std::string& needle) {
  try {
    b.session();
    ADD_FAILURE() << "the model loaded; expected an error naming \"" << needle << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace pier::test
