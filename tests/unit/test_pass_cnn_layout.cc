// layout_channels_last: which nodes run channels-last, where reorders go,
// and the same numbers as the unoptimized graph for every op it touches.
#include "test_pass_cnn_util.h"

using namespace pier;
using namespace pier::test;

namespace {

using V = std::vector<int64_t>;

int reorders(const ir::Graph& g) {
  return count_ops(g, "ToChannelsLast", "pier.internal") + count_ops(g, "ToChannelsFirst", "pier.internal");
}

// conv(name): in -> Conv(k x k, c_in -> c_out, pad k/2) + Relu -> out
void conv(ModelBuilder& b, const std::string& in, const std::string& out, int64_t cin, int64_t cout, int64_t k,
          uint32_t seed, int64_t group = 1) {
  b.initializer(out + "_w", random_float({cout, cin / group, k, k}, seed, -0.5f, 0.5f));
  b.initializer(out + "_b", random_float({cout}, seed + 1));
  b.node("Conv", {in, out + "_w", out + "_b"}, {out + "_c"},
         {attr("pads", V{k / 2, k / 2, k / 2, k / 2}), attr("group", group)});
  b.node("Relu", {out + "_c"}, {out});
}

TEST(PassLayout, ChainGetsOneReorderEachWay) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 3, 12, 12});
  conv(b, "x", "a", 3, 16, 3, 1);
  b.node("MaxPool", {"a"}, {"p"}, {attr("kernel_shape", V{2, 2}), attr("strides", V{2, 2})});
  conv(b, "p", "c", 16, 16, 3, 3);
  conv(b, "c", "d", 16, 32, 1, 5);
  b.node("GlobalAveragePool", {"d"}, {"g"});
  b.node("Flatten", {"g"}, {"y"});
  b.output("y", DataType::kFloat);
  auto g = optimized_graph(b);
  EXPECT_EQ(count_ops(*g, "ToChannelsLast", "pier.internal"), 1);
  EXPECT_EQ(count_ops(*g, "ToChannelsFirst", "pier.internal"), 1);
  EXPECT_EQ(count_ops(*g, "MaxPool", "pier.internal"), 1);
  EXPECT_EQ(count_ops(*g, "GlobalAveragePool", "pier.internal"), 1);
  for (const auto& n : g->nodes)
    if (n.op_type == "FusedConv") {
      EXPECT_EQ(n.attr_int("channels_last", 0), 1);
    }
  expect_same_as_unoptimized(b, {Value(random_float({1, 3, 12, 12}, 9))});
  expect_same_as_unoptimized(b, {Value(random_float({1, 3, 12, 12}, 9))}, 1e-4, 1e-5, 2);
}

TEST(PassLayout, SingleConvStaysPlain) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 8, 10, 10});
  conv(b, "x", "a", 8, 8, 3, 1);
  b.node("MaxPool", {"a"}, {"y"}, {attr("kernel_shape", V{2, 2})});
  b.output("y", DataType::kFloat);
  auto g = optimized_graph(b);
  EXPECT_EQ(reorders(*g), 0);
  EXPECT_EQ(count_ops(*g, "MaxPool"), 1);
}

// Residual blocks, a DenseNet-style concat + BN + Relu, average pooling,
// an SE block (GAP -> conv -> Sigmoid -> Mul), a per-channel constant Add
// and an intermediate graph output.
ModelBuilder mixed_model(int64_t n) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {n, 8, 16, 16});
  conv(b, "x", "a", 8, 16, 3, 1);
  conv(b, "a", "b1", 16, 16, 3, 3);
  b.node("Add", {"a", "b1"}, {"r"});
  conv(b, "r", "c", 16, 8, 1, 5);
  b.node("Concat", {"r", "c"}, {"cat"}, {attr("axis", int64_t{1})});
  b.initializer("bn_s", random_float({24}, 7, 0.5f, 1.5f));
  b.initializer("bn_b", random_float({24}, 8));
  b.initializer("bn_m", random_float({24}, 9));
  b.initializer("bn_v", random_float({24}, 10, 0.2f, 1.f));
  b.node("BatchNormalization", {"cat", "bn_s", "bn_b", "bn_m", "bn_v"}, {"bn"});
  b.node("Relu", {"bn"}, {"bnr"});
  b.node("AveragePool", {"bnr"}, {"ap"}, {attr("kernel_shape", V{3, 3}), attr("strides", V{2, 2}),
                                          attr("pads", V{1, 1, 1, 1}), attr("count_include_pad", int64_t{1}),
                                          attr("ceil_mode", int64_t{1})});
  conv(b, "ap", "d", 24, 24, 3, 11, 24);  // depthwise
  b.node("GlobalAveragePool", {"d"}, {"se_g"});
  conv(b, "se_g", "se_c", 24, 24, 1, 13);
  b.node("Sigmoid", {"se_c"}, {"se_s"});
  b.node("Mul", {"d", "se_s"}, {"se"});
  b.initializer("cbias", random_float({24, 1, 1}, 15));
  b.node("Add", {"se", "cbias"}, {"y"});
  b.output("y", DataType::kFloat).output("c", DataType::kFloat);
  return b;
}

TEST(PassLayout, MixedBlocksMatchUnoptimized) {
  auto b = mixed_model(2);
  auto g = optimized_graph(b);
  EXPECT_EQ(count_ops(*g, "ChannelAffine", "pier.internal"), 1);
  EXPECT_EQ(count_ops(*g, "BatchNormalization"), 0);
  EXPECT_EQ(count_ops(*g, "Relu"), 0);
  EXPECT_EQ(count_ops(*g, "AveragePool", "pier.internal"), 1);
  // In: x. Out: y and the intermediate output c.
  EXPECT_EQ(count_ops(*g, "ToChannelsLast", "pier.internal"), 1);
  EXPECT_EQ(count_ops(*g, "ToChannelsFirst", "pier.internal"), 2);
  expect_same_as_unoptimized(b, {Value(random_float({2, 8, 16, 16}, 21))});
  expect_same_as_unoptimized(b, {Value(random_float({2, 8, 16, 16}, 21))}, 1e-4, 1e-5, 2);
}

TEST(PassLayout, ConcatFoldsIntoAffineOnlyWhenItIsTheSoleReader) {
  for (bool concat_is_output : {false, true}) {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 8, 10, 10});
    conv(b, "x", "a", 8, 16, 3, 1);
    conv(b, "a", "c", 16, 8, 1, 3);
    b.node("Concat", {"a", "x", "c"}, {"cat"}, {attr("axis", int64_t{-3})});
    b.initializer("s", random_float({32}, 7, 0.5f, 1.5f));
    b.initializer("o", random_float({32}, 8));
    b.initializer("m", random_float({32}, 9));
    b.initializer("v", random_float({32}, 10, 0.2f, 1.f));
    b.node("BatchNormalization", {"cat", "s", "o", "m", "v"}, {"bn"});
    b.initializer("zp", Tensor::from_vector<int64_t>(std::vector<int64_t>(8, 0), {8}));
    b.node("Pad", {"bn", "zp"}, {"p"});
    b.node("Sigmoid", {"p"}, {"y"});
    b.output("y", DataType::kFloat);
    if (concat_is_output) b.output("cat", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, "Concat"), concat_is_output ? 1 : 0);
    EXPECT_EQ(count_ops(*g, "Pad"), 0);
    const ir::Node* a = find_op(*g, "ChannelAffine");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->num_inputs(), concat_is_output ? 3 : 5);
    expect_same_as_unoptimized(b, {Value(random_float({1, 8, 10, 10}, 11))});
  }
}

TEST(PassLayout, ZeroPadFoldsIntoAveragePool) {
  // Pad(0) + AveragePool = AveragePool(pads, count_include_pad=1); a
  // non-zero fill value or ceil_mode keeps the Pad.
  struct Case {
    float fill;
    int64_t ceil;
    bool folds;
  };
  for (const Case c : {Case{0.f, 0, true}, Case{1.f, 0, false}, Case{0.f, 1, false}}) {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 8, 9, 9});
    conv(b, "x", "a", 8, 8, 3, 1);
    b.initializer("pads", Tensor::from_vector<int64_t>({0, 0, 1, 2, 0, 0, 2, 1}, {8}));
    b.initializer("fill", Tensor::from_vector<float>({c.fill}, {}));
    b.node("Pad", {"a", "pads", "fill"}, {"p"});
    b.node("AveragePool", {"p"}, {"ap"}, {attr("kernel_shape", V{3, 3}), attr("ceil_mode", c.ceil),
                                          attr("strides", V{2, 2})});
    conv(b, "ap", "y", 8, 8, 1, 3);
    b.output("y", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, "Pad"), c.folds ? 0 : 1);
    expect_same_as_unoptimized(b, {Value(random_float({1, 8, 9, 9}, 4))});
  }
}

TEST(PassLayout, TransposesToAndFromChannelsLastNeedNoReorder) {
  // ConvNeXt block: conv -> Transpose(0,2,3,1) -> per-channel MatMul ->
  // Transpose(0,3,1,2) -> Mul by a [C,1,1] constant -> residual Add -> conv.
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 8, 6, 6});
  conv(b, "x", "a", 8, 8, 3, 1);
  b.initializer("dw", random_float({8, 1, 3, 3}, 3));
  b.node("Conv", {"a", "dw"}, {"c"}, {attr("pads", V{1, 1, 1, 1}), attr("group", int64_t{8})});
  b.node("Transpose", {"c"}, {"t"}, {attr("perm", V{0, 2, 3, 1})});
  b.initializer("fc", random_float({8, 8}, 5));
  b.node("MatMul", {"t", "fc"}, {"mm"});
  b.node("Transpose", {"mm"}, {"back"}, {attr("perm", V{0, 3, 1, 2})});
  b.initializer("scale", random_float({8, 1, 1}, 6));
  b.node("Mul", {"scale", "back"}, {"sc"});
  b.node("Add", {"sc", "a"}, {"r"});
  conv(b, "r", "y", 8, 8, 1, 7);
  b.output("y", DataType::kFloat);
  auto g = optimized_graph(b);
  EXPECT_EQ(count_ops(*g, "ToChannelsLast", "pier.internal"), 1);  // x only
  EXPECT_EQ(count_ops(*g, "ToChannelsFirst", "pier.internal"), 1);  // y only
  EXPECT_EQ(count_ops(*g, "Transpose"), 0);
  EXPECT_EQ(count_ops(*g, "Alias", "pier.internal"), 1);
  expect_same_as_unoptimized(b, {Value(random_float({1, 8, 6, 6}, 8))});
}

TEST(PassLayout, GlobalPoolingOfLargeImagesOnTwoThreads) {
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {2, 4, 64, 64});
    conv(b, "x", "a", 4, 8, 1, 1);
    conv(b, "a", "c", 8, 32, 1, 3);
    b.node(op, {"c"}, {"y"});
    b.output("y", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, op, "pier.internal"), 1);
    expect_same_as_unoptimized(b, {Value(random_float({2, 4, 64, 64}, 5))}, 1e-4, 1e-5, 2);
  }
}

TEST(PassLayout, MaxPoolVariants) {
  struct Case {
    V kernel, strides, pads, dilations;
    int64_t ceil;
  };
  const std::vector<Case> cases{{{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 0},
                                {{3, 2}, {2, 1}, {0, 1, 2, 0}, {1, 1}, 1},
                                {{2, 2}, {1, 2}, {1, 0, 0, 1}, {2, 1}, 0},
                                {{3, 3}, {3, 3}, {0, 0, 0, 0}, {1, 1}, 1}};
  for (const auto& c : cases) {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {2, 4, 11, 10});
    conv(b, "x", "a", 4, 16, 3, 1);
    b.node("MaxPool", {"a"}, {"p"}, {attr("kernel_shape", c.kernel), attr("strides", c.strides),
                                     attr("pads", c.pads), attr("dilations", c.dilations), attr("ceil_mode", c.ceil)});
    conv(b, "p", "y", 16, 8, 1, 3);
    b.output("y", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, "MaxPool", "pier.internal"), 1);
    expect_same_as_unoptimized(b, {Value(random_float({2, 4, 11, 10}, 4))});
    expect_same_as_unoptimized(b, {Value(random_float({2, 4, 11, 10}, 4))}, 1e-4, 1e-5, 2);
  }
}

TEST(PassLayout, SiluAfterChannelsLastConvs) {
  // Small outputs take swish after the primitive (odd sizes: vector tails).
  for (int64_t hw : {5, 12}) {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 3, hw, hw});
    conv(b, "x", "a", 3, 24, 3, 1);
    b.initializer("w2", random_float({24, 1, 3, 3}, 2));
    b.node("Conv", {"a", "w2"}, {"c"}, {attr("pads", V{1, 1, 1, 1}), attr("group", int64_t{24})});
    b.node("Sigmoid", {"c"}, {"s"});
    b.node("Mul", {"c", "s"}, {"y"});
    b.output("y", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, "Mul") + count_ops(*g, "Sigmoid"), 0);
    expect_same_as_unoptimized(b, {Value(random_float({1, 3, hw, hw}, 3, -4.f, 4.f))});
    expect_same_as_unoptimized(b, {Value(random_float({1, 3, hw, hw}, 3, -4.f, 4.f))}, 1e-4, 1e-5, 2);
  }
}

TEST(PassLayout, FewChannelInputsAreInterleaved) {
  for (int64_t c : {2, 3, 4}) {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {2, c, 7, 9});
    conv(b, "x", "a", c, 8, 3, 1);
    conv(b, "a", "y", 8, 8, 1, 3);
    b.output("y", DataType::kFloat);
    expect_same_as_unoptimized(b, {Value(random_float({2, c, 7, 9}, 5))});
    expect_same_as_unoptimized(b, {Value(random_float({2, c, 7, 9}, 5))}, 1e-4, 1e-5, 2);
  }
}

TEST(PassLayout, DynamicBatch) {
  auto b = mixed_model(-1);
  for (int64_t n : {1, 3}) expect_same_as_unoptimized(b, {Value(random_float({n, 8, 16, 16}, 22))});
}

TEST(PassLayout, PlainReaderGetsReorderedValue) {
  // Transpose cannot run channels-last: it reads the plain value.
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 4, 6, 6});
  conv(b, "x", "a", 4, 8, 3, 1);
  conv(b, "a", "c", 8, 8, 3, 3);
  b.node("Transpose", {"a"}, {"t"}, {attr("perm", V{0, 1, 3, 2})});
  b.output("c", DataType::kFloat).output("t", DataType::kFloat);
  auto g = optimized_graph(b);
  EXPECT_EQ(count_ops(*g, "ToChannelsFirst", "pier.internal"), 2);
  expect_same_as_unoptimized(b, {Value(random_float({1, 4, 6, 6}, 3))});
}

TEST(PassLayout, BroadcastOperandOfLowerRankIsNotConverted) {
  // A runtime operand of lower rank cannot be permuted: the Add stays NCHW.
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 4, 6, 6});
  b.input("s", DataType::kFloat, {6});
  conv(b, "x", "a", 4, 8, 3, 1);
  conv(b, "a", "c", 8, 8, 3, 3);
  b.node("Add", {"c", "s"}, {"y"});
  b.output("y", DataType::kFloat);
  expect_same_as_unoptimized(b, {Value(random_float({1, 4, 6, 6}, 3)), Value(random_float({6}, 4))});
}

TEST(PassLayout, Conv1dAndConv3d) {
  {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 4, 20});
    b.initializer("w1", random_float({8, 4, 3}, 1));
    b.initializer("w2", random_float({8, 8, 3}, 2));
    b.node("Conv", {"x", "w1"}, {"a"}, {attr("pads", V{1, 1})});
    b.node("Relu", {"a"}, {"r"});
    b.node("Conv", {"r", "w2"}, {"y"});
    b.output("y", DataType::kFloat);
    expect_same_as_unoptimized(b, {Value(random_float({1, 4, 20}, 3))});
  }
  {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 4, 5, 6, 6});
    b.initializer("w1", random_float({8, 4, 3, 3, 3}, 1));
    b.initializer("w2", random_float({8, 8, 1, 1, 1}, 2));
    b.node("Conv", {"x", "w1"}, {"a"}, {attr("pads", V{1, 1, 1, 1, 1, 1})});
    b.node("MaxPool", {"a"}, {"p"}, {attr("kernel_shape", V{1, 2, 2}), attr("strides", V{1, 2, 2})});
    b.node("Conv", {"p", "w2"}, {"c"});
    b.node("GlobalMaxPool", {"c"}, {"y"});
    b.output("y", DataType::kFloat);
    auto g = optimized_graph(b);
    EXPECT_EQ(count_ops(*g, "GlobalMaxPool", "pier.internal"), 1);
    expect_same_as_unoptimized(b, {Value(random_float({1, 4, 5, 6, 6}, 3))});
  }
}

TEST(PassLayout, LargeImageWinogradStaysClose) {
  // 3x3 convolutions on 32x32 images (Winograd when available).
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 16, 32, 32});
  conv(b, "x", "a", 16, 32, 3, 1);
  conv(b, "a", "c", 32, 32, 3, 3);
  b.output("c", DataType::kFloat);
  expect_same_as_unoptimized(b, {Value(random_float({1, 16, 32, 32}, 3))}, 1e-3, 1e-4);
}

}  // namespace
