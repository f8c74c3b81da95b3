// Constant folding, shape folding and transpose elimination.
#include "test_pass_util.h"

namespace pier::test {
namespace {

// x -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): the shape
// arithmetic torch exports for x.view(x.size(0), -1).
ModelBuilder flatten_by_shape(std::vector<int64_t> dims) {
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, dims)
      .initializer("zero", Tensor::from_vector<int64_t>({0}, {}))
      .initializer("axes", ints({0}))
      .initializer("minus1", ints({-1}))
      .node("Shape", {"x"}, {"s"})
      .node("Gather", {"s", "zero"}, {"n"}, {attr("axis", int64_t{0})})
      .node("Unsqueeze", {"n", "axes"}, {"nu"})
      .node("Concat", {"nu", "minus1"}, {"shape"}, {attr("axis", int64_t{0})})
      .node("Reshape", {"x", "shape"}, {"y"})
      .output("y", DataType::kFloat);
  return mb;
}

TEST(PassFolding, StaticShapeArithmeticFoldsAway) {
  auto mb = flatten_by_shape({2, 3, 4});
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "Shape"), 0);
  EXPECT_EQ(count(ops, "Gather"), 0);
  EXPECT_EQ(count(ops, "Concat"), 0);
  EXPECT_EQ(count(ops, "Reshape"), 1);
  expect_same_outputs(mb, {Value(random_float({2, 3, 4}, 1))});
}

TEST(PassFolding, DynamicShapeStays) {
  auto mb = flatten_by_shape({-1, 3, 4});
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "Shape"), 1);
  EXPECT_EQ(count(ops, "Concat"), 1);
  expect_same_outputs(mb, {Value(random_float({5, 3, 4}, 2))});
}

TEST(PassFolding, ShapeStartEndAndSize) {
  ModelBuilder mb(15);
  mb.input("x", DataType::kFloat, {2, 3, 4, 5})
      .node("Shape", {"x"}, {"s"}, {attr("start", int64_t{1}), attr("end", int64_t{-1})})
      .node("Size", {"x"}, {"n"})
      .output("s", DataType::kInt64)
      .output("n", DataType::kInt64);
  auto ops = optimized_ops(mb);
  EXPECT_TRUE(ops.empty());
  auto out = run_level(mb, 2, {Value(random_float({2, 3, 4, 5}, 3))});
  EXPECT_TRUE(tensors_near(out[0].tensor(), ints({3, 4})));
  EXPECT_TRUE(tensors_near(out[1].tensor(), Tensor::from_vector<int64_t>({120}, {})));
}

TEST(PassFolding, ConstantSubgraphIsEvaluatedOnce) {
  // y = x + (Transpose(w) * 2 + 1): the constant part becomes one initializer.
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {3, 2})
      .initializer("w", random_float({2, 3}, 4))
      .initializer("two", scalar(2.f))
      .initializer("one", scalar(1.f))
      .node("Transpose", {"w"}, {"wt"})
      .node("Mul", {"wt", "two"}, {"w2"})
      .node("Add", {"w2", "one"}, {"w3"})
      .node("Add", {"x", "w3"}, {"y"})
      .output("y", DataType::kFloat);
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "Transpose"), 0);
  EXPECT_EQ(count(ops, "Mul"), 0);
  EXPECT_EQ(count(ops, "Add"), 1);
  expect_same_outputs(mb, {Value(random_float({3, 2}, 5))});
}

TEST(PassFolding, RandomOpsAreNeverFolded) {
  ModelBuilder mb(13);
  mb.initializer("like", random_float({4}, 6))
      .node("RandomUniform", {}, {"r"}, {attr("shape", std::vector<int64_t>{4})})
      .node("RandomNormalLike", {"like"}, {"rn"})
      .node("Add", {"r", "rn"}, {"y"})
      .output("y", DataType::kFloat);
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "RandomUniform"), 1);
  EXPECT_EQ(count(ops, "RandomNormalLike"), 1);
  EXPECT_EQ(count(ops, "Add"), 1);
}

TEST(PassFolding, LargeResultsFromSmallInputsStayRuntime) {
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {1})
      .initializer("big", ints({1024, 1024}))  // 4 MiB of zeros: not folded
      .initializer("small", ints({4}))
      .node("ConstantOfShape", {"big"}, {"zb"})
      .node("ConstantOfShape", {"small"}, {"zs"})
      .node("Add", {"zb", "x"}, {"yb"})
      .node("Add", {"zs", "x"}, {"ys"})
      .output("yb", DataType::kFloat)
      .output("ys", DataType::kFloat);
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "ConstantOfShape"), 1);
  expect_same_outputs(mb, {Value(random_float({1}, 7))});
}

TEST(PassFolding, OverridableInitializersAreNotConstants) {
  // "c" is both an initializer and a graph input: a feed may replace it.
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {2}).input("c", DataType::kFloat, {2}).initializer("c", random_float({2}, 8));
  mb.node("Neg", {"c"}, {"nc"}).node("Add", {"x", "nc"}, {"y"}).output("y", DataType::kFloat);
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "Neg"), 1);
  SessionOptions o;
  auto s = Session::load_from_memory(mb.bytes(), o);
  const Tensor x = random_float({2}, 9), c = random_float({2}, 10);
  auto out = s->run({{"x", Value(x)}, {"c", Value(c)}});
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({2}, {x.data<float>()[0] - c.data<float>()[0],
                                                              x.data<float>()[1] - c.data<float>()[1]})));
}

TEST(PassFolding, FailingNodesAreLeftForRunTime) {
  // Reshape of a constant to an impossible shape: folding must not throw at
  // load; running still reports the error.
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {6})
      .initializer("c", random_float({6}, 11))
      .initializer("bad", ints({4, 4}))
      .node("Reshape", {"c", "bad"}, {"r"})
      .node("Add", {"r", "x"}, {"y"})
      .output("y", DataType::kFloat);
  SessionOptions o;
  auto s = Session::load_from_memory(mb.bytes(), o);
  EXPECT_THROW(s->run({Value(random_float({6}, 12))}), Error);
}

TEST(PassFolding, ShapesPropagateThroughFoldedReshapesAndPads) {
  // Pad by a computed amount, then reshape by a shape read back from the
  // padded value: ONNX inference leaves both unknown; after folding the
  // pads, shapes propagate and every Shape folds away.
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {1, 5, 6})
      .initializer("one", ints({1}))
      .initializer("zeros2", ints({0, 0}))
      .initializer("zero1", ints({0}))
      .initializer("idx", Tensor::from_vector<int64_t>({1}, {}))
      .initializer("axes", ints({0}))
      .initializer("tail", ints({-1}))
      .node("Concat", {"zeros2", "one", "zeros2", "zero1"}, {"pads"}, {attr("axis", int64_t{0})})  // [0,0,1,0,0,0]
      .node("Pad", {"x", "pads"}, {"p"})                                                            // [1, 5, 7]
      .node("Shape", {"p"}, {"s"})
      .node("Gather", {"s", "idx"}, {"d"}, {attr("axis", int64_t{0})})
      .node("Unsqueeze", {"d", "axes"}, {"du"})
      .node("Concat", {"du", "tail"}, {"shape"}, {attr("axis", int64_t{0})})
      .node("Reshape", {"p", "shape"}, {"r"})  // [5, 7]
      .node("Shape", {"r"}, {"rs"})
      .node("Relu", {"r"}, {"y"})
      .output("y", DataType::kFloat)
      .output("rs", DataType::kInt64);
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "Shape"), 0);
  EXPECT_EQ(count(ops, "Concat"), 0);
  expect_same_outputs(mb, {Value(random_float({1, 5, 6}, 16))});
}

TEST(PassFolding, DropoutWithZeroRatioIsRemovedEvenInTrainingMode) {
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {2, 3})
      .initializer("ratio", scalar(0.f))
      .initializer("train", make_bool({}, {1}))
      .node("Dropout", {"x", "ratio", "train"}, {"d", "mask"})
      .node("Relu", {"d"}, {"y"})
      .output("y", DataType::kFloat);
  EXPECT_EQ(count(optimized_ops(mb), "Dropout"), 0);
  expect_same_outputs(mb, {Value(random_float({2, 3}, 17))});
  ModelBuilder half(13);  // ratio 0.5 in training mode is random: kept
  half.input("x", DataType::kFloat, {2, 3})
      .initializer("ratio", scalar(0.5f))
      .initializer("train", make_bool({}, {1}))
      .node("Dropout", {"x", "ratio", "train"}, {"d", "mask"})
      .node("Relu", {"d"}, {"y"})
      .output("y", DataType::kFloat);
  EXPECT_EQ(count(optimized_ops(half), "Dropout"), 1);
}

TEST(PassTranspose, InversePairsCancelAndPairsCompose) {
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {2, 3, 4})
      .node("Transpose", {"x"}, {"a"}, {attr("perm", std::vector<int64_t>{1, 2, 0})})
      .node("Transpose", {"a"}, {"b"}, {attr("perm", std::vector<int64_t>{2, 0, 1})})  // inverse: b == x
      .node("Transpose", {"x"}, {"c"}, {attr("perm", std::vector<int64_t>{1, 0, 2})})
      .node("Transpose", {"c"}, {"d"}, {attr("perm", std::vector<int64_t>{0, 2, 1})})
      .node("Add", {"b", "x"}, {"y"})
      .node("Relu", {"d"}, {"z"})
      .output("y", DataType::kFloat)
      .output("z", DataType::kFloat);
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "Transpose"), 1);  // c -> d became one transpose of x
  expect_same_outputs(mb, {Value(random_float({2, 3, 4}, 13))});
}

TEST(PassTranspose, MovingOnlyUnitDimsBecomesReshape) {
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {1, 5, 1, 3})
      .node("Transpose", {"x"}, {"a"}, {attr("perm", std::vector<int64_t>{1, 0, 3, 2})})  // [5,1,3,1]
      .node("Transpose", {"x"}, {"b"}, {attr("perm", std::vector<int64_t>{3, 1, 0, 2})})  // moves data
      .output("a", DataType::kFloat)
      .output("b", DataType::kFloat);
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "Reshape"), 1);
  EXPECT_EQ(count(ops, "Transpose"), 1);
  expect_same_outputs(mb, {Value(random_float({1, 5, 1, 3}, 14))});
}

TEST(PassTranspose, IdentityTransposeAsGraphOutputStays) {
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, {2, 3})
      .node("Transpose", {"x"}, {"a"}, {attr("perm", std::vector<int64_t>{1, 0})})
      .node("Transpose", {"a"}, {"y"}, {attr("perm", std::vector<int64_t>{1, 0})})
      .output("y", DataType::kFloat);
  auto ops = optimized_ops(mb);
  EXPECT_EQ(count(ops, "Transpose"), 0);
  EXPECT_EQ(count(ops, "Identity"), 1);  // y must still be produced
  expect_same_outputs(mb, {Value(random_float({2, 3}, 15))});
}

TEST(PassLevels, LevelZeroRunsNoPass) {
  auto mb = flatten_by_shape({2, 3, 4});
  auto ops = optimized_ops(mb, 0);
  EXPECT_EQ(count(ops, "Shape"), 1);
  EXPECT_EQ(count(ops, "Concat"), 1);
}

}  // namespace
}  // namespace pier::test
