// Attention fusion: torch nn.MultiheadAttention and Swin-style window
// attention exports become one pier.internal::Attention node that reads Q,
// K, V in place and writes the merged heads directly.
#include <cmath>

#include "test_pass_util.h"

namespace pier::test {
namespace {

using V = std::vector<int64_t>;

enum class Scale { kOnQ, kOnScores, kAfterMask };

struct MhaSpec {
  int64_t S = 6, E = 8, heads = 2;
  Scale scale = Scale::kOnQ;
  bool mask = false;
  bool leak_probs = false;  // softmax output is also a graph output
  int64_t softmax_axis = -1;
};

// x [S, 1, E] -> qkv projection -> split heads -> attention -> merge heads
// -> output projection, the way torch exports nn.MultiheadAttention.
ModelBuilder mha(const MhaSpec& s) {
  const int64_t E = s.E, H = s.heads, D = E / H, S = s.S;
  ModelBuilder mb(14);
  mb.input("x", DataType::kFloat, {S, 1, E})
      .initializer("wqkv", random_float({E, 3 * E}, 60, -0.5f, 0.5f))
      .initializer("bqkv", random_float({3 * E}, 61))
      .initializer("wo", random_float({E, E}, 62, -0.5f, 0.5f))
      .initializer("axis", ints({-1}))
      .initializer("s0", ints({0}))
      .initializer("s1", ints({E}))
      .initializer("s2", ints({2 * E}))
      .initializer("s3", ints({3 * E}))
      .initializer("heads", ints({S, H, D}))
      .initializer("merged", ints({S, E}))
      .initializer("c", scalar(std::sqrt(static_cast<float>(D))))
      .initializer("mask", random_float({S, S}, 63, -2.f, 0.f));
  mb.node("MatMul", {"x", "wqkv"}, {"p"})
      .node("Add", {"bqkv", "p"}, {"qkv"})
      .node("Slice", {"qkv", "s0", "s1", "axis"}, {"q0"})
      .node("Slice", {"qkv", "s1", "s2", "axis"}, {"k0"})
      .node("Slice", {"qkv", "s2", "s3", "axis"}, {"v0"})
      .node("Reshape", {"q0", "heads"}, {"q1"})
      .node("Reshape", {"k0", "heads"}, {"k1"})
      .node("Reshape", {"v0", "heads"}, {"v1"})
      .node("Transpose", {"q1"}, {"q2"}, {attr("perm", V{1, 0, 2})})
      .node("Transpose", {"k1"}, {"kt"}, {attr("perm", V{1, 2, 0})})
      .node("Transpose", {"v1"}, {"v"}, {attr("perm", V{1, 0, 2})});
  std::string scores = "sc";
  if (s.scale == Scale::kOnQ) {
    mb.node("Div", {"q2", "c"}, {"q"}).node("MatMul", {"q", "kt"}, {"sc"});
  } else {
    mb.node("MatMul", {"q2", "kt"}, {"sc0"});
    if (s.scale == Scale::kOnScores) mb.node("Div", {"sc0", "c"}, {"sc"});
    else scores = "sc0";
  }
  if (s.mask) {
    mb.node("Add", {scores, "mask"}, {"scm"});
    scores = "scm";
  }
  if (s.scale == Scale::kAfterMask) {
    mb.node("Div", {scores, "c"}, {"scs"});
    scores = "scs";
  }
  mb.node("Softmax", {scores}, {"pr"}, {attr("axis", s.softmax_axis)})
      .node("MatMul", {"pr", "v"}, {"o"})
      .node("Transpose", {"o"}, {"om"}, {attr("perm", V{1, 0, 2})})
      .node("Reshape", {"om", "merged"}, {"o2"})
      .node("MatMul", {"o2", "wo"}, {"y"})
      .output("y", DataType::kFloat);
  if (s.leak_probs) mb.output("pr", DataType::kFloat);
  return mb;
}

TEST(PassAttention, TorchMultiheadAttentionFuses) {
  for (Scale sc : {Scale::kOnQ, Scale::kOnScores, Scale::kAfterMask})
    for (bool mask : {false, true}) {
      MhaSpec s;
      s.scale = sc;
      s.mask = mask;
      auto mb = mha(s);
      auto ops = optimized_ops(mb);
      EXPECT_EQ(count(ops, "Attention"), 1) << static_cast<int>(sc) << mask;
      EXPECT_EQ(count(ops, "Softmax"), 0);
      EXPECT_EQ(count(ops, "Transpose"), 0);
      EXPECT_EQ(count(ops, "Slice"), 0);  // Q, K, V are read in place
      const Tensor x = random_float({s.S, 1, s.E}, 64, -2.f, 2.f);
      expect_same_outputs(mb, {Value(x)});
      expect_same_outputs(mb, {Value(x)}, 1e-5, 1e-5, 2);
    }
}

TEST(PassAttention, SingleTokenAndSingleHead) {
  for (int64_t heads : {1, 2}) {
    MhaSpec s;
    s.S = 1;
    s.heads = heads;
    s.mask = true;
    auto mb = mha(s);
    EXPECT_EQ(count(optimized_ops(mb), "Attention"), 1) << heads;
    expect_same_outputs(mb, {Value(random_float({1, 1, 8}, 67))});
  }
}

TEST(PassAttention, SharedProbabilitiesOrOtherAxisAreLeftAlone) {
  MhaSpec leak;
  leak.leak_probs = true;
  auto mb = mha(leak);
  EXPECT_EQ(count(optimized_ops(mb), "Attention"), 0);
  expect_same_outputs(mb, {Value(random_float({6, 1, 8}, 65))});
  MhaSpec axis;
  axis.softmax_axis = 1;
  auto mb2 = mha(axis);
  EXPECT_EQ(count(optimized_ops(mb2), "Attention"), 0);
  expect_same_outputs(mb2, {Value(random_float({6, 1, 8}, 66))});
}

// Swin-style window attention: qkv [B, N, 3*H*D] -> Reshape [B, N, 3, H, D]
// -> Transpose [3, B, H, N, D] -> Gather 0/1/2; q * scale; scores + a
// relative position bias [H, N, N]; output Transpose [B, N, H, D] ->
// Reshape [B, N, H*D].
TEST(PassAttention, WindowAttentionWithGatherAndBiasFuses) {
  const int64_t B = 3, N = 5, H = 2, D = 4;
  ModelBuilder mb(14);
  mb.input("qkv", DataType::kFloat, {B, N, 3 * H * D})
      .initializer("shape5", ints({B, N, 3, H, D}))
      .initializer("i0", Tensor::from_vector<int64_t>({0}, {}))
      .initializer("i1", Tensor::from_vector<int64_t>({1}, {}))
      .initializer("i2", Tensor::from_vector<int64_t>({2}, {}))
      .initializer("scale", scalar(0.5f))
      .initializer("bias", random_float({H, N, N}, 70))
      .initializer("merged", ints({B, N, H * D}))
      .node("Reshape", {"qkv", "shape5"}, {"r"})
      .node("Transpose", {"r"}, {"t"}, {attr("perm", V{2, 0, 3, 1, 4})})
      .node("Gather", {"t", "i0"}, {"q0"}, {attr("axis", int64_t{0})})
      .node("Gather", {"t", "i1"}, {"k0"}, {attr("axis", int64_t{0})})
      .node("Gather", {"t", "i2"}, {"v"}, {attr("axis", int64_t{0})})
      .node("Mul", {"q0", "scale"}, {"q"})
      .node("Transpose", {"k0"}, {"kt"}, {attr("perm", V{0, 1, 3, 2})})
      .node("MatMul", {"q", "kt"}, {"s"})
      .node("Add", {"s", "bias"}, {"sb"})
      .node("Softmax", {"sb"}, {"p"}, {attr("axis", int64_t{-1})})
      .node("MatMul", {"p", "v"}, {"o"})
      .node("Transpose", {"o"}, {"ot"}, {attr("perm", V{0, 2, 1, 3})})
      .node("Reshape", {"ot", "merged"}, {"y"})
      .output("y", DataType::kFloat);
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "Attention"), 1);
  EXPECT_EQ(ops.size(), 1u);
  const Tensor x = random_float({B, N, 3 * H * D}, 71, -2.f, 2.f);
  expect_same_outputs(mb, {Value(x)});
  expect_same_outputs(mb, {Value(x)}, 1e-5, 1e-5, 2);
}

TEST(PassAttention, OperandsWithoutUnitStrideAreGathered) {
  // Q is a full transpose of its source (no unit stride in its matrix
  // dims); the mask is fed at run time and broadcast over heads.
  const int64_t B = 2, S = 6, D = 4;
  ModelBuilder mb(14);
  mb.input("qs", DataType::kFloat, {D, S, B})
      .input("k", DataType::kFloat, {B, D, S})
      .input("v", DataType::kFloat, {B, S, D})
      .input("m", DataType::kFloat, {1, S, S})
      .node("Transpose", {"qs"}, {"q"}, {attr("perm", V{2, 1, 0})})
      .node("MatMul", {"q", "k"}, {"s"})
      .node("Add", {"m", "s"}, {"sm"})
      .node("Softmax", {"sm"}, {"p"}, {attr("axis", int64_t{2})})
      .node("MatMul", {"p", "v"}, {"y"})
      .output("y", DataType::kFloat);
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "Attention"), 1);
  EXPECT_EQ(count(ops, "Transpose"), 0);
  expect_same_outputs(mb, {Value(random_float({D, S, B}, 72)), Value(random_float({B, D, S}, 73)),
                           Value(random_float({B, S, D}, 74)), Value(random_float({1, S, S}, 75))});
}

}  // namespace
}  // namespace pier::test
