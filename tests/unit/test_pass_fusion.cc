// GELU, LayerNorm and MatMul epilogue (bias, activation) fusion.
#include <cmath>

#include "test_pass_util.h"

namespace pier::test {
namespace {

enum class GeluForm { kTorch, kHalfFirst, kHalfLast, kMulInvSqrt2 };

// y = 0.5 * x * (1 + erf(x / sqrt(2))) in several exported orders.
ModelBuilder gelu_erf(GeluForm form, float sqrt2 = 1.4142135f, bool leak_erf = false) {
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {4, 8})
      .initializer("c", scalar(form == GeluForm::kMulInvSqrt2 ? 1.f / sqrt2 : sqrt2))
      .initializer("one", scalar(1.f))
      .initializer("half", scalar(0.5f));
  mb.node(form == GeluForm::kMulInvSqrt2 ? "Mul" : "Div", {"x", "c"}, {"d"})
      .node("Erf", {"d"}, {"e"})
      .node("Add", {"one", "e"}, {"a"});
  switch (form) {
    case GeluForm::kTorch:
    case GeluForm::kMulInvSqrt2:
      mb.node("Mul", {"x", "a"}, {"m"}).node("Mul", {"m", "half"}, {"y"});
      break;
    case GeluForm::kHalfFirst: mb.node("Mul", {"x", "half"}, {"h"}).node("Mul", {"h", "a"}, {"y"}); break;
    case GeluForm::kHalfLast: mb.node("Mul", {"a", "half"}, {"h"}).node("Mul", {"x", "h"}, {"y"}); break;
  }
  mb.output("y", DataType::kFloat);
  if (leak_erf) mb.output("e", DataType::kFloat);
  return mb;
}

TEST(PassGelu, ErfFormsBecomeGelu) {
  for (GeluForm f : {GeluForm::kTorch, GeluForm::kHalfFirst, GeluForm::kHalfLast, GeluForm::kMulInvSqrt2}) {
    auto mb = gelu_erf(f);
    auto ops = optimized_ops(mb);
    EXPECT_EQ(count(ops, "Gelu"), 1) << static_cast<int>(f);
    EXPECT_EQ(count(ops, "Erf"), 0);
    EXPECT_EQ(count(ops, "Mul"), 0);
    expect_same_outputs(mb, {Value(random_float({4, 8}, 20, -4.f, 4.f))});
  }
}

TEST(PassGelu, WrongConstantOrSharedIntermediateIsLeftAlone) {
  auto wrong = gelu_erf(GeluForm::kTorch, 1.5f);
  EXPECT_EQ(count(optimized_ops(wrong), "Gelu"), 0);
  auto leak = gelu_erf(GeluForm::kTorch, 1.4142135f, true);
  auto ops = optimized_ops(leak);
  EXPECT_EQ(count(ops, "Gelu"), 0);
  EXPECT_EQ(count(ops, "Erf"), 1);
  expect_same_outputs(leak, {Value(random_float({4, 8}, 21))});
}

TEST(PassGelu, ConstantsThatBroadcastToHigherRankAreNotScalars) {
  // 0.5 of shape [1, 1, 1] turns the [4, 8] result into [1, 4, 8].
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {4, 8})
      .initializer("c", scalar(1.4142135f))
      .initializer("one", scalar(1.f))
      .initializer("half", Tensor::from_vector<float>({0.5f}, {1, 1, 1}))
      .node("Div", {"x", "c"}, {"d"})
      .node("Erf", {"d"}, {"e"})
      .node("Add", {"e", "one"}, {"a"})
      .node("Mul", {"x", "a"}, {"m"})
      .node("Mul", {"m", "half"}, {"y"})
      .output("y", DataType::kFloat);
  EXPECT_EQ(count(optimized_ops(mb), "Gelu"), 0);
  expect_same_outputs(mb, {Value(random_float({4, 8}, 23))});
}

TEST(PassGelu, TanhFormBecomesGelu) {
  for (bool pow : {true, false}) {
    ModelBuilder mb(13);
    mb.input("x", DataType::kFloat, {3, 16})
        .initializer("three", scalar(3.f))
        .initializer("k", scalar(0.044715f))
        .initializer("s", scalar(0.7978845608f))
        .initializer("one", scalar(1.f))
        .initializer("half", scalar(0.5f));
    if (pow) {
      mb.node("Pow", {"x", "three"}, {"x3"});
    } else {
      mb.node("Mul", {"x", "x"}, {"x2"}).node("Mul", {"x2", "x"}, {"x3"});
    }
    mb.node("Mul", {"k", "x3"}, {"t"})
        .node("Add", {"x", "t"}, {"u"})
        .node("Mul", {"u", "s"}, {"v"})
        .node("Tanh", {"v"}, {"th"})
        .node("Add", {"th", "one"}, {"a"})
        .node("Mul", {"x", "half"}, {"h"})
        .node("Mul", {"h", "a"}, {"y"})
        .output("y", DataType::kFloat);
    auto ops = optimized_ops(mb);
    EXPECT_EQ(count(ops, "Gelu"), 1) << pow;
    EXPECT_EQ(count(ops, "Tanh"), 0);
    expect_same_outputs(mb, {Value(random_float({3, 16}, 22, -5.f, 5.f))});
  }
}

// Decomposed LayerNorm over the last `k` dims of x [2, 3, 8].
ModelBuilder layernorm(bool mul_square, bool affine, std::vector<int64_t> axes = {-1}, bool leak_mean = false) {
  ModelBuilder mb(13);
  Shape ns = axes.size() == 1 ? Shape{8} : Shape{3, 8};
  mb.input("x", DataType::kFloat, {2, 3, 8})
      .initializer("two", scalar(2.f))
      .initializer("eps", scalar(1e-5f))
      .initializer("gamma", random_float(ns, 30, 0.5f, 1.5f))
      .initializer("beta", random_float(ns, 31));
  mb.node("ReduceMean", {"x"}, {"m"}, {attr("axes", axes)}).node("Sub", {"x", "m"}, {"d"});
  if (mul_square) mb.node("Mul", {"d", "d"}, {"p"});
  else mb.node("Pow", {"d", "two"}, {"p"});
  mb.node("ReduceMean", {"p"}, {"v"}, {attr("axes", axes)})
      .node("Add", {"v", "eps"}, {"ve"})
      .node("Sqrt", {"ve"}, {"s"})
      .node("Div", {"d", "s"}, {affine ? "n" : "y"});
  if (affine) mb.node("Mul", {"n", "gamma"}, {"g"}).node("Add", {"g", "beta"}, {"y"});
  mb.output("y", DataType::kFloat);
  if (leak_mean) mb.output("m", DataType::kFloat);
  return mb;
}

TEST(PassLayerNorm, DecomposedFormsBecomeLayerNormalization) {
  for (bool sq : {false, true})
    for (bool affine : {false, true}) {
      auto mb = layernorm(sq, affine);
      auto ops = optimized_ops(mb);
      EXPECT_EQ(count(ops, "LayerNormalization"), 1) << sq << affine;
      EXPECT_EQ(count(ops, "ReduceMean"), 0);
      EXPECT_EQ(ops.size(), 1u);
      expect_same_outputs(mb, {Value(random_float({2, 3, 8}, 32, -3.f, 3.f))});
    }
  auto two_axes = layernorm(false, true, {1, 2});
  EXPECT_EQ(count(optimized_ops(two_axes), "LayerNormalization"), 1);
  expect_same_outputs(two_axes, {Value(random_float({2, 3, 8}, 33))});
}

TEST(PassLayerNorm, OtherAxesOrSharedValuesAreLeftAlone) {
  auto middle = layernorm(false, true, {1});
  EXPECT_EQ(count(optimized_ops(middle), "LayerNormalization"), 0);
  expect_same_outputs(middle, {Value(random_float({2, 3, 8}, 34))});
  auto leak = layernorm(false, true, {-1}, true);
  EXPECT_EQ(count(optimized_ops(leak), "LayerNormalization"), 0);
  expect_same_outputs(leak, {Value(random_float({2, 3, 8}, 35))});
}

// y = act(x W + b) with x [2, 5, 6], W [6, 7].
ModelBuilder linear(const std::string& act, Tensor bias, bool bias_first = true, bool leak_product = false) {
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {2, 5, 6}).initializer("w", random_float({6, 7}, 40)).initializer("b", bias);
  mb.node("MatMul", {"x", "w"}, {"p"});
  mb.node("Add", bias_first ? std::vector<std::string>{"b", "p"} : std::vector<std::string>{"p", "b"},
          {act.empty() ? "y" : "z"});
  if (act == "Gelu") {
    mb.initializer("c", scalar(1.4142135f)).initializer("one", scalar(1.f)).initializer("half", scalar(0.5f));
    mb.node("Div", {"z", "c"}, {"d"})
        .node("Erf", {"d"}, {"e"})
        .node("Add", {"e", "one"}, {"a"})
        .node("Mul", {"z", "a"}, {"m"})
        .node("Mul", {"m", "half"}, {"y"});
  } else if (!act.empty()) {
    mb.node(act, {"z"}, {"y"});
  }
  mb.output("y", DataType::kFloat);
  if (leak_product) mb.output("p", DataType::kFloat);
  return mb;
}

TEST(PassMatMul, BiasAndActivationsFuseIntoOneMatMul) {
  for (const std::string act : {"", "Relu", "Gelu", "Sigmoid", "Tanh"})
    for (bool first : {true, false}) {
      auto mb = linear(act, random_float({7}, 41), first);
      auto ops = optimized_ops(mb);
      EXPECT_EQ(count(ops, "FusedMatMul"), 1) << act;
      EXPECT_EQ(ops.size(), 1u) << act;
      expect_same_outputs(mb, {Value(random_float({2, 5, 6}, 42, -2.f, 2.f))}, 1e-5, 2e-5);
    }
  // A [1, 7] bias and a scalar bias are per-column too.
  for (Tensor b : {random_float({1, 7}, 43), random_float({1}, 44)}) {
    auto mb = linear("", b);
    EXPECT_EQ(count(optimized_ops(mb), "FusedMatMul"), 1);
    expect_same_outputs(mb, {Value(random_float({2, 5, 6}, 45))});
  }
}

TEST(PassMatMul, OtherAddsAreLeftAlone) {
  // A full [5, 7] addend, or a product read elsewhere: no fusion.
  auto full = linear("", random_float({5, 7}, 46));
  EXPECT_EQ(count(optimized_ops(full), "FusedMatMul"), 0);
  expect_same_outputs(full, {Value(random_float({2, 5, 6}, 47))});
  auto leak = linear("Relu", random_float({7}, 48), true, true);
  auto ops = optimized_ops(leak);
  EXPECT_EQ(count(ops, "FusedMatMul"), 0);
  EXPECT_EQ(count(ops, "Relu"), 1);
  expect_same_outputs(leak, {Value(random_float({2, 5, 6}, 49))});
  // A bias fed at run time is not a constant.
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {3, 6}).input("b", DataType::kFloat, {7}).initializer("w", random_float({6, 7}, 50));
  mb.node("MatMul", {"x", "w"}, {"p"}).node("Add", {"p", "b"}, {"y"}).output("y", DataType::kFloat);
  EXPECT_EQ(count(optimized_ops(mb), "FusedMatMul"), 0);
}

TEST(PassMatMul, LayersSharingOneWeightShareItsPackedCopy) {
  // Three products read the same initializer (one packed copy serves all);
  // a second session packing it again must still be right.
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {3, 6})
      .input("z", DataType::kFloat, {5, 6})
      .initializer("w", random_float({6, 6}, 57))
      .node("MatMul", {"x", "w"}, {"a"})
      .node("MatMul", {"a", "w"}, {"b"})
      .node("MatMul", {"z", "w"}, {"c"})
      .node("Gemm", {"z", "w"}, {"d"}, {attr("transB", int64_t{1})})
      .output("b", DataType::kFloat)
      .output("c", DataType::kFloat)
      .output("d", DataType::kFloat);
  const std::vector<Value> in{Value(random_float({3, 6}, 58)), Value(random_float({5, 6}, 59))};
  expect_same_outputs(mb, in);
  expect_same_outputs(mb, in, 1e-5, 1e-5, 2);
}

TEST(PassMatMul, GemmWithReluBecomesFusedGemm) {
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {4, 6})
      .initializer("w", random_float({7, 6}, 51))
      .initializer("c", random_float({7}, 52))
      .node("Gemm", {"x", "w", "c"}, {"g"}, {attr("transB", int64_t{1}), attr("alpha", 0.5f)})
      .node("Relu", {"g"}, {"y"})
      .output("y", DataType::kFloat);
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "FusedGemm"), 1);
  EXPECT_EQ(ops.size(), 1u);
  expect_same_outputs(mb, {Value(random_float({4, 6}, 53))});
}

TEST(PassMatMul, BatchedProductWithBiasAndTwoThreads) {
  // B with a batch (not a constant weight): bias and Relu still fuse.
  ModelBuilder mb(13);
  mb.input("a", DataType::kFloat, {3, 4, 5}).input("bm", DataType::kFloat, {3, 5, 6}).initializer("b", random_float({6}, 54));
  mb.node("MatMul", {"a", "bm"}, {"p"}).node("Add", {"p", "b"}, {"z"}).node("Relu", {"z"}, {"y"}).output("y", DataType::kFloat);
  EXPECT_EQ(count(optimized_ops(mb), "FusedMatMul"), 1);
  expect_same_outputs(mb, {Value(random_float({3, 4, 5}, 55)), Value(random_float({3, 5, 6}, 56))}, 1e-5, 1e-5, 2);
}

}  // namespace
}  // namespace pier::test
