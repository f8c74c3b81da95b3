// Shape-only tensor ops: Reshape, Flatten, Squeeze, Unsqueeze, Shape, Size.
#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

Tensor iota_f(Shape s) {
  Tensor t(DataType::kFloat, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(TensorReshape, ZeroCopiesDimAndMinusOneInfers) {
  Tensor x = iota_f({2, 3, 4});
  auto out = run_node("Reshape", {x, make<int64_t>({3}, {0, -1, 2})}, {DataType::kFloat});
  const Tensor& y = out[0].tensor();
  EXPECT_EQ(y.shape(), (Shape{2, 6, 2}));
  EXPECT_TRUE(tensors_near(y.reshaped({24}), x.reshaped({24}), 0, 0));
}

TEST(TensorReshape, AllowZeroKeepsZeroDims) {
  Tensor x(DataType::kFloat, {0, 3});
  auto out = run_node("Reshape", {x, make<int64_t>({3}, {3, 0, 5})}, {DataType::kFloat}, {attr("allowzero", 1)}, 14);
  EXPECT_EQ(out[0].tensor().shape(), (Shape{3, 0, 5}));
  // Without allowzero the 0 copies the input's dim 1 (3): 3*3*5 != 0.
  EXPECT_THROW(run_node("Reshape", {x, make<int64_t>({3}, {3, 0, 5})}, {DataType::kFloat}, {}, 14), Error);
}

TEST(TensorReshape, Opset1ShapeAttribute) {
  Tensor x = iota_f({4, 3});
  auto out = run_node("Reshape", {x}, {DataType::kFloat}, {attr("shape", std::vector<int64_t>{2, -1})}, 1);
  EXPECT_EQ(out[0].tensor().shape(), (Shape{2, 6}));
}

TEST(TensorReshape, ErrorsNameTheProblem) {
  Tensor x = iota_f({2, 3});
  EXPECT_NE(error_of([&] { run_node("Reshape", {x, make<int64_t>({2}, {-1, -1})}, {DataType::kFloat}); })
                .find("more than one -1"),
            std::string::npos);
  EXPECT_NE(error_of([&] { run_node("Reshape", {x, make<int64_t>({2}, {4, -1})}, {DataType::kFloat}); })
                .find("cannot reshape"),
            std::string::npos);
  EXPECT_THROW(run_node("Reshape", {x, make<int64_t>({2}, {-2, 3})}, {DataType::kFloat}), Error);
}

TEST(TensorReshape, SharesStorageWithItsInput) {
  // Reshape then Flatten then Unsqueeze inside one graph: every result is a
  // view of the graph input's buffer.
  Tensor x = iota_f({2, 3, 4});
  auto s = ModelBuilder(13)
               .input("x", DataType::kFloat, {2, 3, 4})
               .initializer("shape", make<int64_t>({2}, {6, 4}))
               .initializer("axes", make<int64_t>({1}, {0}))
               .node("Reshape", {"x", "shape"}, {"r"})
               .node("Flatten", {"r"}, {"f"}, {attr("axis", 2)})
               .node("Unsqueeze", {"f", "axes"}, {"y"})
               .output("y", DataType::kFloat)
               .session();
  auto out = s->run({Value(x)});
  EXPECT_EQ(out[0].tensor().shape(), (Shape{1, 24, 1}));
  EXPECT_EQ(out[0].tensor().storage_id(), x.storage_id());
}

TEST(TensorFlatten, AxisRangeIncludingNegative) {
  Tensor x = iota_f({2, 3, 4, 5});
  for (int axis = -4; axis <= 4; ++axis) {
    auto out = run_node("Flatten", {x}, {DataType::kFloat}, {attr("axis", axis)});
    const int a = axis < 0 ? axis + 4 : axis;
    int64_t outer = 1;
    for (int i = 0; i < a; ++i) outer *= x.shape()[i];
    EXPECT_EQ(out[0].tensor().shape(), (Shape{outer, 120 / outer})) << axis;
  }
  EXPECT_THROW(run_node("Flatten", {x}, {DataType::kFloat}, {attr("axis", 5)}), Error);
}

TEST(TensorSqueeze, AttributeBeforeOpset13InputAfter) {
  Tensor x = iota_f({1, 3, 1, 2});
  auto a = run_node("Squeeze", {x}, {DataType::kFloat}, {attr("axes", std::vector<int64_t>{0, -2})}, 11);
  EXPECT_EQ(a[0].tensor().shape(), (Shape{3, 2}));
  auto b = run_node("Squeeze", {x, make<int64_t>({1}, {2})}, {DataType::kFloat}, {}, 13);
  EXPECT_EQ(b[0].tensor().shape(), (Shape{1, 3, 2}));
  auto c = run_node("Squeeze", {x}, {DataType::kFloat}, {}, 13);  // all size-1 dims
  EXPECT_EQ(c[0].tensor().shape(), (Shape{3, 2}));
  EXPECT_THROW(run_node("Squeeze", {x, make<int64_t>({1}, {1})}, {DataType::kFloat}, {}, 13), Error);
}

TEST(TensorUnsqueeze, AxesReferToTheOutputRank) {
  Tensor x = iota_f({3, 4});
  auto a = run_node("Unsqueeze", {x}, {DataType::kFloat}, {attr("axes", std::vector<int64_t>{0, 3})}, 11);
  EXPECT_EQ(a[0].tensor().shape(), (Shape{1, 3, 4, 1}));
  auto b = run_node("Unsqueeze", {x, make<int64_t>({2}, {-1, 1})}, {DataType::kFloat}, {}, 13);
  EXPECT_EQ(b[0].tensor().shape(), (Shape{3, 1, 4, 1}));
  EXPECT_THROW(run_node("Unsqueeze", {x, make<int64_t>({2}, {1, 1})}, {DataType::kFloat}, {}, 13), Error);
  EXPECT_THROW(run_node("Unsqueeze", {x, make<int64_t>({1}, {5})}, {DataType::kFloat}, {}, 13), Error);
}

TEST(TensorShapeOp, StartAndEndClamp) {
  Tensor x = iota_f({2, 3, 4, 5});
  const std::vector<int64_t> dims{2, 3, 4, 5};
  for (int start = -6; start <= 6; ++start)
    for (int end = -6; end <= 6; ++end) {
      auto out = run_node("Shape", {x}, {DataType::kInt64}, {attr("start", start), attr("end", end)}, 15);
      auto clampi = [](int v) { return std::clamp(v < 0 ? v + 4 : v, 0, 4); };
      std::vector<int64_t> want;
      for (int i = clampi(start); i < clampi(end); ++i) want.push_back(dims[i]);
      EXPECT_TRUE(tensors_near(out[0].tensor(), make<int64_t>({static_cast<int64_t>(want.size())}, want)))
          << start << " " << end;
    }
  auto full = run_node("Shape", {x}, {DataType::kInt64}, {}, 13);
  EXPECT_TRUE(tensors_near(full[0].tensor(), make<int64_t>({4}, dims)));
}

TEST(TensorSize, CountsElements) {
  auto out = run_node("Size", {iota_f({2, 3, 4})}, {DataType::kInt64});
  EXPECT_EQ(out[0].tensor().data<int64_t>()[0], 24);
  EXPECT_EQ(out[0].tensor().rank(), 0);
}
