// Inputs at the edges of the valid range that once brought the process
// down (SIGFPE in onnx's shape inference, in oneDNN or in integer
// division) instead of giving a result or a clear error.
#include <climits>
#include <cstring>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

using V = std::vector<int64_t>;

// onnx's convolution/pooling shape inference divides by the strides.
TEST(Degenerate, ZeroStridesAreRejectedAtLoad) {
  for (const char* op : {"Conv", "MaxPool", "AveragePool", "LpPool"}) {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 1, 8, 8});
    std::vector<std::string> ins{"x"};
    std::vector<onnx::AttributeProto> attrs{attr("strides", V{0, 0})};
    if (std::string(op) == "Conv") {
      b.initializer("w", Tensor::zeros(DataType::kFloat, {1, 1, 3, 3}));
      ins.push_back("w");
    } else {
      attrs.push_back(attr("kernel_shape", V{2, 2}));
    }
    b.node(op, ins, {"y"}, attrs).output("y", DataType::kFloat, {-1, -1, -1, -1});
    SCOPED_TRACE(op);
    expect_invalid_model(b, "strides must be positive, got [0,0]");
  }
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 1, 8, 8})
      .node("MaxPool", {"x"}, {"y"}, {attr("kernel_shape", V{2, 2}), attr("dilations", V{1, -1})})
      .output("y", DataType::kFloat, {-1, -1, -1, -1});
  expect_invalid_model(b, "dilations must be positive, got [1,-1]");
}

// min / -1 overflows; x86 traps on it. It wraps, as numpy's does.
TEST(Degenerate, IntegerMinDividedByMinusOneWraps) {
  auto div32 = run_node("Div", {make<int32_t>({3}, {INT32_MIN, 7, -7}), make<int32_t>({3}, {-1, -1, 2})},
                        {DataType::kInt32});
  EXPECT_TRUE(tensors_near(div32[0].tensor(), make<int32_t>({3}, {INT32_MIN, -7, -3})));
  auto div64 = run_node("Div", {make<int64_t>({2}, {INT64_MIN, 9}), make<int64_t>({2}, {-1, -1})},
                        {DataType::kInt64});
  EXPECT_TRUE(tensors_near(div64[0].tensor(), make<int64_t>({2}, {INT64_MIN, -9})));
  for (int fmod : {0, 1}) {
    auto mod = run_node("Mod", {make<int32_t>({3}, {INT32_MIN, 5, -5}), make<int32_t>({3}, {-1, -1, 3})},
                        {DataType::kInt32}, {attr("fmod", fmod)});
    // Python's -5 % 3 is 1; C's fmod gives -2.
    EXPECT_TRUE(tensors_near(mod[0].tensor(), make<int32_t>({3}, {0, 0, fmod ? -2 : 1}))) << "fmod " << fmod;
  }
  EXPECT_THROW(run_node("Div", {make<int32_t>({1}, {1}), make<int32_t>({1}, {0})}, {DataType::kInt32}), Error);
}

// A constant B is packed at load for the declared shape of A; oneDNN
// faults when asked for a primitive with a zero dimension.
TEST(Degenerate, MatMulAndGemmWithEmptyDimensions) {
  struct Case {
    Shape a, b;
  };
  for (const auto& c : {Case{{0, 3}, {3, 5}}, Case{{2, 0}, {0, 5}}, Case{{4, 3}, {3, 0}}, Case{{2, 0, 3}, {3, 4}}}) {
    SCOPED_TRACE(shape_str(c.a) + " x " + shape_str(c.b));
    Tensor w = random_float(c.b, 7);
    auto s = ModelBuilder(13)
                 .input("a", DataType::kFloat, c.a)
                 .initializer("w", w)
                 .node("MatMul", {"a", "w"}, {"y"})
                 .output("y", DataType::kFloat)
                 .session();
    auto out = s->run({Value(Tensor::zeros(DataType::kFloat, c.a))});
    Shape want = c.a;
    want.back() = c.b.back();
    ASSERT_EQ(out[0].tensor().shape(), want);
    EXPECT_TRUE(tensors_near(out[0].tensor(), Tensor::zeros(DataType::kFloat, want)));
  }
  // Gemm: K == 0 leaves beta * C; M == 0 gives [0, N].
  auto s = ModelBuilder(13)
               .input("a", DataType::kFloat, {2, 0})
               .initializer("b", Tensor::zeros(DataType::kFloat, {0, 3}))
               .initializer("c", make<float>({3}, {1.f, 2.f, 3.f}))
               .node("Gemm", {"a", "b", "c"}, {"y"}, {attr("beta", 2.f)})
               .output("y", DataType::kFloat)
               .session();
  auto y = s->run({Value(Tensor::zeros(DataType::kFloat, {2, 0}))});
  EXPECT_TRUE(tensors_near(y[0].tensor(), make<float>({2, 3}, {2, 4, 6, 2, 4, 6})));
  auto s0 = ModelBuilder(13)
                .input("a", DataType::kFloat, {0, 4})
                .initializer("b", random_float({4, 3}, 3))
                .node("Gemm", {"a", "b"}, {"y"})
                .output("y", DataType::kFloat)
                .session();
  EXPECT_EQ(s0->run({Value(Tensor::zeros(DataType::kFloat, {0, 4}))})[0].tensor().shape(), (Shape{0, 3}));
}

// LSTM, GRU and RNN with input size 0: the input contributes nothing, so
// the result equals that of the same cell with one input feature and zero
// input weights.
TEST(Degenerate, RecurrentOpsWithEmptyInputSize) {
  for (const auto& [op, gates] : {std::pair{"LSTM", 4}, {"GRU", 3}, {"RNN", 1}}) {
    for (int64_t batch : {1, 5}) {
      SCOPED_TRACE(std::string(op) + " batch " + std::to_string(batch));
      const int64_t T = 3, H = 4;
      Tensor r = random_float({1, gates * H, H}, 11);
      Tensor bias = random_float({1, 2 * gates * H}, 12);
      auto run_with = [&](int64_t I) {
        return ModelBuilder(13)
            .input("x", DataType::kFloat, {T, batch, I})
            .initializer("w", Tensor::zeros(DataType::kFloat, {1, gates * H, I}))
            .initializer("r", r)
            .initializer("b", bias)
            .node(op, {"x", "w", "r", "b"}, {"y", "yh"}, {attr("hidden_size", H)})
            .output("y", DataType::kFloat)
            .output("yh", DataType::kFloat)
            .session()
            ->run({Value(Tensor::zeros(DataType::kFloat, {T, batch, I}))});
      };
      auto empty = run_with(0), one = run_with(1);
      EXPECT_TRUE(tensors_near(empty[0].tensor(), one[0].tensor()));
      EXPECT_TRUE(tensors_near(empty[1].tensor(), one[1].tensor()));
    }
  }
}

// MatMul-Softmax-MatMul becomes pier.internal::Attention; an empty
// sequence must still give the empty result the unfused graph gives.
TEST(Degenerate, AttentionWithEmptySequence) {
  auto build = [](int64_t s) {
    return ModelBuilder(13)
        .input("q", DataType::kFloat, {1, s, 8})
        .input("k", DataType::kFloat, {1, 8, s})
        .input("v", DataType::kFloat, {1, s, 8})
        .node("MatMul", {"q", "k"}, {"sc"})
        .node("Softmax", {"sc"}, {"p"}, {attr("axis", -1)})
        .node("MatMul", {"p", "v"}, {"y"})
        .output("y", DataType::kFloat)
        .session();
  };
  auto y = build(0)->run({Value(Tensor::zeros(DataType::kFloat, {1, 0, 8})),
                          Value(Tensor::zeros(DataType::kFloat, {1, 8, 0})),
                          Value(Tensor::zeros(DataType::kFloat, {1, 0, 8}))});
  EXPECT_EQ(y[0].tensor().shape(), (Shape{1, 0, 8}));
}

}  // namespace
