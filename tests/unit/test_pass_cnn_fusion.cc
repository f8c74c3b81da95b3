// fold_conv_bn and fuse_conv_activation: patterns rewritten, same numbers as
// the unoptimized graph, and the cases that must stay untouched.
#include <cmath>

#include "kernels/util/dnnl_util.h"
#include "test_pass_cnn_util.h"

using namespace pier;
using namespace pier::test;

namespace {

using V = std::vector<int64_t>;
using Attrs = std::vector<onnx::AttributeProto>;

// x [1, 4, 6, 6] -> Conv 3x3 pad 1 (w, b) -> "c"
ModelBuilder conv_base(int opset = 13, bool bias = true) {
  ModelBuilder b(opset);
  b.input("x", DataType::kFloat, {1, 4, 6, 6});
  b.initializer("w", random_float({8, 4, 3, 3}, 1));
  std::vector<std::string> in{"x", "w"};
  if (bias) {
    b.initializer("b", random_float({8}, 2));
    in.push_back("b");
  }
  b.node("Conv", in, {"c"}, {attr("pads", V{1, 1, 1, 1})});
  return b;
}

void add_bn(ModelBuilder& b, const std::string& in, const std::string& out, uint32_t seed) {
  b.initializer(out + "_s", random_float({8}, seed, 0.5f, 1.5f));
  b.initializer(out + "_b", random_float({8}, seed + 1));
  b.initializer(out + "_m", random_float({8}, seed + 2));
  b.initializer(out + "_v", random_float({8}, seed + 3, 0.1f, 2.f));
  b.node("BatchNormalization", {in, out + "_s", out + "_b", out + "_m", out + "_v"}, {out},
         {attr("epsilon", 1e-3f)});
}

std::vector<Value> feeds_x() { return {Value(random_float({1, 4, 6, 6}, 7))}; }

std::vector<std::string> post_ops(const ir::Graph& g) {
  const ir::Node* f = find_op(g, "FusedConv");
  return f ? f->attr_strings("post_ops") : std::vector<std::string>{"<no FusedConv>"};
}

TEST(PassFoldConvBn, FoldsIntoWeightsAndBias) {
  for (bool bias : {true, false}) {
    auto b = conv_base(13, bias);
    add_bn(b, "c", "y", 10);
    b.output("y", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, "BatchNormalization"), 0);
    EXPECT_EQ(g->initializers.count("w"), 0u);  // replaced, not kept twice
    expect_same_as_unoptimized(b, feeds_x());
  }
}

TEST(PassFoldConvBn, SharedWeightsFoldPerConv) {
  auto b = conv_base();
  b.node("Conv", {"x", "w"}, {"c2"}, {attr("pads", V{1, 1, 1, 1})});
  add_bn(b, "c", "y", 10);
  add_bn(b, "c2", "y2", 20);
  b.output("y", DataType::kFloat).output("y2", DataType::kFloat);
  auto g = optimized_graph(b);
  EXPECT_EQ(count_ops(*g, "BatchNormalization"), 0);
  expect_same_as_unoptimized(b, feeds_x());
}

TEST(PassFoldConvBn, KeepsBnWhenConvOutputIsReadElsewhere) {
  {  // the conv output is also a graph output
    auto b = conv_base();
    add_bn(b, "c", "y", 10);
    b.output("y", DataType::kFloat).output("c", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, "BatchNormalization"), 1);
    expect_same_as_unoptimized(b, feeds_x());
  }
  {  // a second node reads it
    auto b = conv_base();
    add_bn(b, "c", "y", 10);
    b.node("Relu", {"c"}, {"r"});
    b.output("y", DataType::kFloat).output("r", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, "BatchNormalization"), 1);
    expect_same_as_unoptimized(b, feeds_x());
  }
}

TEST(PassFoldConvBn, KeepsBnWithFeedableParameters) {
  auto b = conv_base();
  b.input("bn_scale", DataType::kFloat, {8});
  b.initializer("bn_b", random_float({8}, 3));
  b.initializer("bn_m", random_float({8}, 4));
  b.initializer("bn_v", random_float({8}, 5, 0.1f, 1.f));
  b.node("BatchNormalization", {"c", "bn_scale", "bn_b", "bn_m", "bn_v"}, {"y"});
  b.output("y", DataType::kFloat);
  auto g = optimized_graph(b);
  EXPECT_EQ(count_ops(*g, "BatchNormalization"), 1);
  expect_same_as_unoptimized(b, {feeds_x()[0], Value(random_float({8}, 6))});
}

struct ActCase {
  const char* op;
  Attrs attrs;
  const char* post_op;
};

TEST(PassFuseConv, FusesEachActivation) {
  const std::vector<ActCase> cases{
      {"Relu", {}, "relu"},
      {"LeakyRelu", {attr("alpha", 0.2f)}, "relu"},
      {"Sigmoid", {}, "sigmoid"},
      {"Tanh", {}, "tanh"},
      {"Elu", {attr("alpha", 0.7f)}, "elu"},
      {"HardSigmoid", {attr("alpha", 0.3f), attr("beta", 0.4f)}, "hardsigmoid"},
      {"HardSwish", {}, "hardswish"},
  };
  for (const auto& c : cases) {
    auto b = conv_base(14);
    b.node(c.op, {"c"}, {"y"}, c.attrs).output("y", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, c.op), 0) << c.op;
    EXPECT_EQ(post_ops(*g), std::vector<std::string>{c.post_op}) << c.op;
    expect_same_as_unoptimized(b, feeds_x());
  }
}

TEST(PassFuseConv, FusesClipWithConstantBounds) {
  {
    auto b = conv_base(13);
    b.initializer("lo", Tensor::from_vector<float>({0.f}, {}));
    b.initializer("hi", Tensor::from_vector<float>({0.5f}, {}));
    b.node("Clip", {"c", "lo", "hi"}, {"y"}).output("y", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(post_ops(*g), std::vector<std::string>{"clip"});
    expect_same_as_unoptimized(b, feeds_x());
  }
  {  // opset 6: bounds are attributes
    auto b = conv_base(6);
    b.node("Clip", {"c"}, {"y"}, {attr("min", -0.2f), attr("max", 6.f)}).output("y", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(post_ops(*g), std::vector<std::string>{"clip"});
    expect_same_as_unoptimized(b, feeds_x());
  }
  {  // a bound fed at run time is not fused
    auto b = conv_base(13);
    b.input("hi", DataType::kFloat, {});
    b.node("Clip", {"c", "", "hi"}, {"y"}).output("y", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, "Clip"), 1);
    expect_same_as_unoptimized(b, {feeds_x()[0], Value(Tensor::from_vector<float>({0.3f}, {}))});
  }
}

TEST(PassFuseConv, FusesSiluInEitherOrder) {
  for (bool swap : {false, true}) {
    auto b = conv_base();
    b.node("Sigmoid", {"c"}, {"s"});
    b.node("Mul", swap ? std::vector<std::string>{"s", "c"} : std::vector<std::string>{"c", "s"}, {"y"});
    b.output("y", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, "Sigmoid") + count_ops(*g, "Mul"), 0);
    EXPECT_EQ(post_ops(*g), std::vector<std::string>{"swish"});
    expect_same_as_unoptimized(b, feeds_x());
  }
}

TEST(PassFuseConv, SiluNotFusedWhenSigmoidIsReadElsewhere) {
  auto b = conv_base();
  b.node("Sigmoid", {"c"}, {"s"});
  b.node("Mul", {"c", "s"}, {"y"});
  b.output("y", DataType::kFloat).output("s", DataType::kFloat);
  auto g = optimized_graph(b);
  EXPECT_EQ(count_ops(*g, "Mul"), 1);
  expect_same_as_unoptimized(b, feeds_x());
}

// Conv -> Add(residual) -> Relu, the residual computed after the Conv.
ModelBuilder residual_model(bool residual_used_later) {
  auto b = conv_base();
  b.initializer("w2", random_float({8, 4, 1, 1}, 3));
  b.node("Conv", {"x", "w2"}, {"z"});
  b.node("Add", {"c", "z"}, {"a"});
  b.node("Relu", {"a"}, {"y"});
  b.output("y", DataType::kFloat);
  if (residual_used_later) {
    b.node("Sigmoid", {"z"}, {"t"});
    b.output("t", DataType::kFloat);
  }
  return b;
}

TEST(PassFuseConv, FusesResidualAddThenRelu) {
  for (bool later : {false, true}) {
    auto b = residual_model(later);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, "Add"), 0);
    EXPECT_EQ(count_ops(*g, "Relu"), 0);
    const ir::Node* f = nullptr;
    for (const auto& n : g->nodes)
      if (n.op_type == "FusedConv" && n.has_input(3)) f = &n;
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->attr_strings("post_ops"), (std::vector<std::string>{"sum", "relu"}));
    // Accumulating in place is allowed only when nothing reads z afterwards.
    EXPECT_EQ(f->attr_int("sum_inplace", -1), later ? 0 : 1);
    expect_same_as_unoptimized(b, feeds_x());
    expect_same_as_unoptimized(b, feeds_x(), 1e-4, 1e-5, 2);
  }
}

TEST(PassFuseConv, AddNotFusedWhenConvOutputHasTwoReaders) {
  auto b = conv_base();
  b.input("z", DataType::kFloat, {1, 8, 6, 6});
  b.node("Add", {"c", "z"}, {"y"});
  b.node("Neg", {"c"}, {"n"});
  b.output("y", DataType::kFloat).output("n", DataType::kFloat);
  auto g = optimized_graph(b);
  EXPECT_EQ(count_ops(*g, "Add"), 1);
  expect_same_as_unoptimized(b, {feeds_x()[0], Value(random_float({1, 8, 6, 6}, 9))});
}

TEST(PassFuseConv, AddNotFusedWhenItBroadcasts) {
  auto b = conv_base();
  b.input("z", DataType::kFloat, {1, 8, 1, 1});
  b.node("Add", {"c", "z"}, {"y"}).output("y", DataType::kFloat);
  auto g = optimized_graph(b);
  EXPECT_EQ(count_ops(*g, "Add"), 1);
  expect_same_as_unoptimized(b, {feeds_x()[0], Value(random_float({1, 8, 1, 1}, 9))});
}

TEST(PassFuseConv, ResidualFromGraphInputIsNotOverwritten) {
  auto b = conv_base();
  b.input("z", DataType::kFloat, {1, 8, 6, 6});
  b.node("Add", {"z", "c"}, {"y"}).output("y", DataType::kFloat);
  const Tensor z = random_float({1, 8, 6, 6}, 9);
  const Tensor z_copy = z.clone();
  expect_same_as_unoptimized(b, {feeds_x()[0], Value(z)});
  EXPECT_TRUE(tensors_near(z, z_copy, 0, 0));
}

TEST(PassFuseConv, ConvOutputAsGraphOutputIsNotFused) {
  auto b = conv_base();
  b.node("Relu", {"c"}, {"y"});
  b.output("y", DataType::kFloat).output("c", DataType::kFloat);
  auto g = optimized_graph(b);
  EXPECT_EQ(count_ops(*g, "Relu"), 1);
  expect_same_as_unoptimized(b, feeds_x());
}

TEST(PassFuseConv, Level0LeavesGraphAlone) {
  auto b = conv_base();
  b.node("Relu", {"c"}, {"y"}).output("y", DataType::kFloat);
  auto m = ir::load_model_bytes(b.bytes(), "", ir::Unsupported::kThrow);
  passes::optimize(*m.graph, 0);
  EXPECT_EQ(count_ops(*m.graph, "Conv"), 1);
  EXPECT_EQ(count_ops(*m.graph, "Relu"), 1);
}

TEST(PostOps, ReferenceMatchesDefinitions) {
  namespace du = pier::kernels::dnnl_util;
  using du::PostOp;
  std::vector<float> y{-2.f, -0.5f, 0.f, 0.5f, 4.f}, z{1.f, 1.f, 1.f, 1.f, 1.f};
  std::vector<PostOp> ops{{PostOp::kSum, 0, 0}, {PostOp::kClip, 0.f, 3.f}};
  auto v = y;
  du::apply_post_ops(ops, v.data(), z.data(), 5, 1);
  EXPECT_EQ(v, (std::vector<float>{0.f, 0.5f, 1.f, 1.5f, 3.f}));
  v = y;
  du::apply_post_ops({{PostOp::kRelu, 0.1f, 0}}, v.data(), nullptr, 5, 1);
  EXPECT_FLOAT_EQ(v[0], -0.2f);
  EXPECT_FLOAT_EQ(v[4], 4.f);
}

TEST(PostOps, SwishIsAccurateOverTheWholeRange) {
  namespace du = pier::kernels::dnnl_util;
  std::vector<float> x;
  for (float t = -120.f; t < 120.f; t += 0.0137f) x.push_back(t);
  x.push_back(0.f);
  x.push_back(-0.f);
  auto v = x;
  du::apply_post_ops({{du::PostOp::kSwish, 1.f, 0.f}}, v.data(), nullptr, static_cast<int64_t>(v.size()), 2);
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = x[i] / (1.0 + std::exp(-static_cast<double>(x[i])));
    ASSERT_NEAR(v[i], want, 1e-6 * std::fabs(want) + 1e-30) << "x = " << x[i];
  }
  float nan = std::nanf("");
  du::apply_post_ops({{du::PostOp::kSwish, 1.f, 0.f}}, &nan, nullptr, 1, 1);
  EXPECT_TRUE(std::isnan(nan));
}

}  // namespace
