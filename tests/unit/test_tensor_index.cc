// Indexed tensor ops: Gather, GatherElements, GatherND, ScatterElements,
// Scatter, ScatterND, OneHot, NonZero, Compress.
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

TEST(TensorGather, EveryAxisWithNegativeIndices) {
  Tensor x = random_float({3, 4, 5}, 1);
  Tensor ind = make<int64_t>({2, 2}, {0, -1, 2, 1});
  for (int axis = 0; axis < 3; ++axis) {
    auto out = run_node("Gather", {x, ind}, {DataType::kFloat}, {attr("axis", axis)});
    const Tensor& y = out[0].tensor();
    Shape want_shape = x.shape();
    want_shape.erase(want_shape.begin() + axis);
    want_shape.insert(want_shape.begin() + axis, {2, 2});
    ASSERT_EQ(y.shape(), want_shape);
    // Reference by index arithmetic.
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= x.shape()[d];
    for (int d = axis + 1; d < 3; ++d) inner *= x.shape()[d];
    const int64_t n = x.shape()[axis];
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < 4; ++j) {
        int64_t k = ind.data<int64_t>()[j];
        if (k < 0) k += n;
        for (int64_t i = 0; i < inner; ++i)
          ASSERT_EQ(y.data<float>()[(o * 4 + j) * inner + i], x.data<float>()[(o * n + k) * inner + i]);
      }
  }
}

TEST(TensorGather, OutOfRangeIndexIsAClearError) {
  Tensor x = iota_f({3, 2});
  const std::string msg = error_of([&] { run_node("Gather", {x, make<int64_t>({1}, {3})}, {DataType::kFloat}); });
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
  EXPECT_THROW(run_node("Gather", {x, make<int32_t>({1}, {-4})}, {DataType::kFloat}), Error);
  // Scalar index drops the axis; strings move too.
  Tensor s(DataType::kString, {3});
  s.data<std::string>()[2] = "two";
  auto g = run_node("Gather", {s, make<int64_t>({}, {-1})}, {DataType::kString});
  EXPECT_EQ(g[0].tensor().rank(), 0);
  EXPECT_EQ(g[0].tensor().data<std::string>()[0], "two");
}

TEST(TensorGatherElements, MatchesDefinition) {
  Tensor x = iota_f({3, 4});
  Tensor ind = make<int64_t>({2, 4}, {0, 2, -1, 1, 2, 0, 0, 1});
  for (int axis = 0; axis < 2; ++axis) {
    Tensor use = axis == 0 ? ind : make<int64_t>({2, 3}, {0, 3, -1, 1, 2, 0});
    auto out = run_node("GatherElements", {x, use}, {DataType::kFloat}, {attr("axis", axis)});
    const Tensor& y = out[0].tensor();
    ASSERT_EQ(y.shape(), use.shape());
    for (int64_t i = 0; i < use.dim(0); ++i)
      for (int64_t j = 0; j < use.dim(1); ++j) {
        int64_t k = use.data<int64_t>()[i * use.dim(1) + j];
        if (k < 0) k += x.shape()[axis];
        const float want = axis == 0 ? x.data<float>()[k * 4 + j] : x.data<float>()[i * 4 + k];
        EXPECT_EQ(y.data<float>()[i * use.dim(1) + j], want);
      }
  }
  EXPECT_THROW(run_node("GatherElements", {x, make<int64_t>({1, 1}, {3})}, {DataType::kFloat}), Error);
}

TEST(TensorGatherND, BatchDims) {
  Tensor x = iota_f({2, 3, 4});
  auto a = run_node("GatherND", {x, make<int64_t>({2, 2}, {1, 2, 0, -1})}, {DataType::kFloat});
  ASSERT_EQ(a[0].tensor().shape(), (Shape{2, 4}));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a[0].tensor().data<float>()[i], (1 * 3 + 2) * 4 + i);
    EXPECT_EQ(a[0].tensor().data<float>()[4 + i], (0 * 3 + 2) * 4 + i);
  }
  // batch_dims = 1: each batch picks its own [row, col].
  auto b = run_node("GatherND", {x, make<int64_t>({2, 2}, {1, 3, 2, 0})}, {DataType::kFloat}, {attr("batch_dims", 1)});
  EXPECT_TRUE(tensors_near(b[0].tensor(), make<float>({2}, {1 * 4 + 3, 12 + 2 * 4 + 0})));
  EXPECT_THROW(run_node("GatherND", {x, make<int64_t>({1, 2}, {2, 0})}, {DataType::kFloat}), Error);
}

TEST(TensorScatterElements, ReductionsAndNegativeIndices) {
  Tensor x = iota_f({2, 3});
  Tensor ind = make<int64_t>({2, 2}, {0, -1, 2, 2});
  Tensor upd = make<float>({2, 2}, {10, 20, 30, 40});
  for (const char* red : {"none", "add", "mul"}) {
    auto out = run_node("ScatterElements", {x, ind, upd}, {DataType::kFloat}, {attr("axis", 1), attr("reduction", red)},
                        16);
    Tensor want = x.clone();
    float* w = want.data<float>();
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        int64_t k = ind.data<int64_t>()[i * 2 + j];
        if (k < 0) k += 3;
        float& t = w[i * 3 + k];
        const float u = upd.data<float>()[i * 2 + j];
        t = std::string(red) == "add" ? t + u : std::string(red) == "mul" ? t * u : u;
      }
    EXPECT_TRUE(tensors_near(out[0].tensor(), want)) << red;
  }
  auto legacy = run_node("Scatter", {x, make<int64_t>({1, 3}, {1, 0, 1}), make<float>({1, 3}, {7, 8, 9})},
                         {DataType::kFloat}, {}, 9);
  EXPECT_TRUE(tensors_near(legacy[0].tensor(), make<float>({2, 3}, {0, 8, 2, 7, 4, 9})));
  EXPECT_THROW(run_node("ScatterElements", {x, make<int64_t>({1, 1}, {2}), make<float>({1, 1}, {1})}, {DataType::kFloat}),
               Error);
}

TEST(TensorScatterND, SlicesAndReductions) {
  Tensor x = iota_f({3, 2});
  Tensor ind = make<int64_t>({2, 1}, {2, -3});
  Tensor upd = make<float>({2, 2}, {1, 2, 3, 4});
  auto none = run_node("ScatterND", {x, ind, upd}, {DataType::kFloat});
  EXPECT_TRUE(tensors_near(none[0].tensor(), make<float>({3, 2}, {3, 4, 2, 3, 1, 2})));
  auto add = run_node("ScatterND", {x, make<int64_t>({2, 2}, {1, 1, 1, 1}), make<float>({2}, {5, 6})}, {DataType::kFloat},
                      {attr("reduction", "add")});
  EXPECT_TRUE(tensors_near(add[0].tensor(), make<float>({3, 2}, {0, 1, 2, 14, 4, 5})));
  auto mul = run_node("ScatterND", {x, make<int64_t>({1, 2}, {2, 1}), make<float>({1}, {10})}, {DataType::kFloat},
                      {attr("reduction", "mul")});
  EXPECT_TRUE(tensors_near(mul[0].tensor(), make<float>({3, 2}, {0, 1, 2, 3, 4, 50})));
  EXPECT_THROW(run_node("ScatterND", {x, make<int64_t>({1, 1}, {3}), make<float>({1, 2}, {0, 0})}, {DataType::kFloat}),
               Error);
}

TEST(TensorOneHot, AxisNegativeIndicesAndOutOfRange) {
  Tensor ind = make<int64_t>({3}, {0, -1, 7});
  auto out = run_node("OneHot", {ind, make<float>({}, {4}), make<int32_t>({2}, {-1, 5})}, {DataType::kInt32},
                      {attr("axis", 0)});
  const Tensor& y = out[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{4, 3}));
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 3; ++i) {
      const int64_t v = ind.data<int64_t>()[i] < 0 ? ind.data<int64_t>()[i] + 4 : ind.data<int64_t>()[i];
      EXPECT_EQ(y.data<int32_t>()[k * 3 + i], v == k ? 5 : -1);
    }
  EXPECT_THROW(run_node("OneHot", {ind, make<float>({}, {0}), make<int32_t>({2}, {0, 1})}, {DataType::kInt32}), Error);
}

TEST(TensorNonZero, RowMajorCoordinates) {
  Tensor x = make<float>({2, 3}, {0, 1, 0, -2, 0, 3});
  auto out = run_node("NonZero", {x}, {DataType::kInt64});
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<int64_t>({2, 3}, {0, 1, 1, 1, 0, 2})));
  auto none = run_node("NonZero", {make<int32_t>({3}, {0, 0, 0})}, {DataType::kInt64});
  EXPECT_EQ(none[0].tensor().shape(), (Shape{1, 0}));
}

TEST(TensorCompress, WithAndWithoutAxis) {
  Tensor x = iota_f({3, 2});
  auto a = run_node("Compress", {x, make_bool({2}, {1, 0})}, {DataType::kFloat}, {attr("axis", 0)});
  EXPECT_TRUE(tensors_near(a[0].tensor(), make<float>({1, 2}, {0, 1})));
  auto b = run_node("Compress", {x, make_bool({3}, {0, 1, 1})}, {DataType::kFloat});
  EXPECT_TRUE(tensors_near(b[0].tensor(), make<float>({2}, {1, 2})));
  auto c = run_node("Compress", {x, make_bool({2}, {0, 1})}, {DataType::kFloat}, {attr("axis", -1)});
  EXPECT_TRUE(tensors_near(c[0].tensor(), make<float>({3, 1}, {1, 3, 5})));
  EXPECT_THROW(run_node("Compress", {x, make_bool({4}, {0, 0, 0, 1})}, {DataType::kFloat}, {attr("axis", 0)}), Error);
}
