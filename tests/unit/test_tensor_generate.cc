// Generating and ordering tensor ops: ConstantOfShape, Range, EyeLike,
// Trilu, CumSum, TopK, Unique.
#include <algorithm>
#include <map>
#include <numeric>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

TEST(TensorConstantOfShape, ValueTypeAndEmptyShape) {
  auto a = run_node("ConstantOfShape", {make<int64_t>({2}, {2, 3})}, {DataType::kInt32},
                    {attr("value", make<int32_t>({1}, {7}))});
  EXPECT_TRUE(tensors_near(a[0].tensor(), make<int32_t>({2, 3}, {7, 7, 7, 7, 7, 7})));
  auto b = run_node("ConstantOfShape", {make<int64_t>({1}, {0})}, {DataType::kFloat});
  EXPECT_EQ(b[0].tensor().shape(), (Shape{0}));
  EXPECT_THROW(run_node("ConstantOfShape", {make<int64_t>({1}, {-1})}, {DataType::kFloat}), Error);
}

TEST(TensorRange, CountsAndTypes) {
  auto f = run_node("Range", {make<float>({}, {1}), make<float>({}, {2}), make<float>({}, {0.3f})}, {DataType::kFloat});
  EXPECT_TRUE(tensors_near(f[0].tensor(), make<float>({4}, {1.f, 1.3f, 1.6f, 1.9f})));
  auto i = run_node("Range", {make<int32_t>({}, {10}), make<int32_t>({}, {4}), make<int32_t>({}, {-3})}, {DataType::kInt32});
  EXPECT_TRUE(tensors_near(i[0].tensor(), make<int32_t>({2}, {10, 7})));
  auto e = run_node("Range", {make<int64_t>({}, {5}), make<int64_t>({}, {5}), make<int64_t>({}, {1})}, {DataType::kInt64});
  EXPECT_EQ(e[0].tensor().numel(), 0);
  EXPECT_THROW(run_node("Range", {make<int64_t>({}, {0}), make<int64_t>({}, {5}), make<int64_t>({}, {0})},
                        {DataType::kInt64}),
               Error);
}

TEST(TensorEyeLike, DiagonalOffsetAndDtype) {
  Tensor x(DataType::kFloat, {3, 4});
  for (int k : {-3, -1, 0, 2, 5}) {
    auto out = run_node("EyeLike", {x}, {DataType::kInt64}, {attr("k", k), attr("dtype", int64_t{7})});
    const Tensor& y = out[0].tensor();
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) EXPECT_EQ(y.data<int64_t>()[i * 4 + j], j - i == k ? 1 : 0) << k;
  }
}

TEST(TensorTrilu, UpperLowerWithK) {
  Tensor x = random_float({2, 3, 4}, 4);
  for (int upper = 0; upper < 2; ++upper)
    for (int64_t k : {-4, -1, 0, 1, 3, 100}) {
      auto out = run_node("Trilu", {x, make<int64_t>({}, {k})}, {DataType::kFloat}, {attr("upper", upper)});
      const Tensor& y = out[0].tensor();
      for (int b = 0; b < 2; ++b)
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 4; ++j) {
            const int64_t p = (b * 3 + i) * 4 + j;
            const bool keep = upper ? j - i >= k : j - i <= k;
            EXPECT_EQ(y.data<float>()[p], keep ? x.data<float>()[p] : 0.f) << upper << " " << k;
          }
    }
}

TEST(TensorCumSum, ExclusiveReverseAxes) {
  Tensor x = random_float({3, 4, 5}, 2);
  for (int axis = -3; axis < 3; ++axis)
    for (int ex = 0; ex < 2; ++ex)
      for (int rev = 0; rev < 2; ++rev) {
        auto out = run_node("CumSum", {x, make<int32_t>({}, {axis})}, {DataType::kFloat},
                            {attr("exclusive", ex), attr("reverse", rev)});
        const int a = axis < 0 ? axis + 3 : axis;
        int64_t outer = 1, inner = 1;
        for (int d = 0; d < a; ++d) outer *= x.shape()[d];
        for (int d = a + 1; d < 3; ++d) inner *= x.shape()[d];
        const int64_t n = x.shape()[a];
        Tensor want(DataType::kFloat, x.shape());
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t i = 0; i < inner; ++i)
            for (int64_t j = 0; j < n; ++j) {
              double s = 0;
              for (int64_t m = 0; m < n; ++m) {
                const bool in = rev ? (ex ? m > j : m >= j) : (ex ? m < j : m <= j);
                if (in) s += x.data<float>()[(o * n + m) * inner + i];
              }
              want.data<float>()[(o * n + j) * inner + i] = static_cast<float>(s);
            }
        EXPECT_TRUE(tensors_near(out[0].tensor(), want, 1e-5, 1e-5)) << axis << ex << rev;
      }
  auto i = run_node("CumSum", {make<int64_t>({4}, {1, 2, 3, 4}), make<int64_t>({}, {0})}, {DataType::kInt64});
  EXPECT_TRUE(tensors_near(i[0].tensor(), make<int64_t>({4}, {1, 3, 6, 10})));
}

TEST(TensorTopK, LargestSmallestStableTies) {
  Tensor x = make<float>({2, 5}, {3, 1, 3, 2, 3, 0, 0, 5, -1, 0});
  auto big = run_node("TopK", {x, make<int64_t>({1}, {3})}, {DataType::kFloat, DataType::kInt64});
  EXPECT_TRUE(tensors_near(big[0].tensor(), make<float>({2, 3}, {3, 3, 3, 5, 0, 0})));
  EXPECT_TRUE(tensors_near(big[1].tensor(), make<int64_t>({2, 3}, {0, 2, 4, 2, 0, 1})));
  auto small = run_node("TopK", {x, make<int64_t>({1}, {2})}, {DataType::kFloat, DataType::kInt64},
                        {attr("largest", 0), attr("axis", 0)});
  EXPECT_TRUE(tensors_near(small[1].tensor(), make<int64_t>({2, 5}, {1, 1, 0, 1, 1, 0, 0, 1, 0, 0})));
  // Against a full stable sort on random data along axis 1.
  Tensor r = random_float({3, 50}, 8);
  auto top = run_node("TopK", {r, make<int64_t>({1}, {7})}, {DataType::kFloat, DataType::kInt64});
  for (int row = 0; row < 3; ++row) {
    std::vector<int64_t> order(50);
    std::iota(order.begin(), order.end(), 0);
    const float* p = r.data<float>() + row * 50;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
    for (int j = 0; j < 7; ++j) EXPECT_EQ(top[1].tensor().data<int64_t>()[row * 7 + j], order[j]);
  }
  auto legacy = run_node("TopK", {x}, {DataType::kFloat, DataType::kInt64}, {attr("k", int64_t{1})}, 1);
  EXPECT_TRUE(tensors_near(legacy[0].tensor(), make<float>({2, 1}, {3, 5})));
  EXPECT_THROW(run_node("TopK", {x, make<int64_t>({1}, {6})}, {DataType::kFloat, DataType::kInt64}), Error);
}

TEST(TensorUnique, FlatSortedAndUnsorted) {
  Tensor x = make<int32_t>({6}, {2, 1, 1, 3, 4, 3});
  const std::vector<DataType> outs{DataType::kInt32, DataType::kInt64, DataType::kInt64, DataType::kInt64};
  auto s = run_node("Unique", {x}, outs);
  EXPECT_TRUE(tensors_near(s[0].tensor(), make<int32_t>({4}, {1, 2, 3, 4})));
  EXPECT_TRUE(tensors_near(s[1].tensor(), make<int64_t>({4}, {1, 0, 3, 4})));
  EXPECT_TRUE(tensors_near(s[2].tensor(), make<int64_t>({6}, {1, 0, 0, 2, 3, 2})));
  EXPECT_TRUE(tensors_near(s[3].tensor(), make<int64_t>({4}, {2, 1, 2, 1})));
  auto u = run_node("Unique", {x}, outs, {attr("sorted", 0)});
  EXPECT_TRUE(tensors_near(u[0].tensor(), make<int32_t>({4}, {2, 1, 3, 4})));
  EXPECT_TRUE(tensors_near(u[1].tensor(), make<int64_t>({4}, {0, 1, 3, 4})));
  EXPECT_TRUE(tensors_near(u[2].tensor(), make<int64_t>({6}, {0, 1, 1, 2, 3, 2})));
  EXPECT_TRUE(tensors_near(u[3].tensor(), make<int64_t>({4}, {1, 2, 2, 1})));
}

TEST(TensorUnique, SlicesAlongAnAxisAndStrings) {
  // Columns of a 2x4 matrix: (1,5) (0,3) (1,5) (0,2) -> sorted (0,2) (0,3) (1,5).
  Tensor x = make<float>({2, 4}, {1, 0, 1, 0, 5, 3, 5, 2});
  auto out = run_node("Unique", {x}, {DataType::kFloat, DataType::kInt64, DataType::kInt64, DataType::kInt64},
                      {attr("axis", -1)});
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({2, 3}, {0, 0, 1, 2, 3, 5})));
  EXPECT_TRUE(tensors_near(out[1].tensor(), make<int64_t>({3}, {3, 1, 0})));
  EXPECT_TRUE(tensors_near(out[2].tensor(), make<int64_t>({4}, {2, 1, 2, 0})));
  EXPECT_TRUE(tensors_near(out[3].tensor(), make<int64_t>({3}, {1, 1, 2})));
  Tensor s(DataType::kString, {3});
  s.data<std::string>()[0] = "b";
  s.data<std::string>()[1] = "a";
  s.data<std::string>()[2] = "b";
  auto so = run_node("Unique", {s}, {DataType::kString});
  ASSERT_EQ(so[0].tensor().numel(), 2);
  EXPECT_EQ(so[0].tensor().data<std::string>()[0], "a");
}
