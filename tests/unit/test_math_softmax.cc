// Softmax, LogSoftmax, Hardmax (both axis semantics), Einsum and Det.
#include <cmath>
#include <limits>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

// Reference over [outer, n, inner] in double.
Tensor softmax_ref(const std::string& op, const Tensor& x, int64_t outer, int64_t n, int64_t inner) {
  Tensor y(DataType::kFloat, x.shape());
  const float* p = x.data<float>();
  float* q = y.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t i) { return (o * n + i) * inner + j; };
      double m = -INFINITY, s = 0;
      int64_t best = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (p[at(i)] > m) best = i;
        m = std::max(m, double{p[at(i)]});
      }
      for (int64_t i = 0; i < n; ++i) s += std::exp(p[at(i)] - m);
      for (int64_t i = 0; i < n; ++i) {
        if (op == "Softmax") q[at(i)] = static_cast<float>(std::exp(p[at(i)] - m) / s);
        else if (op == "LogSoftmax") q[at(i)] = static_cast<float>(p[at(i)] - m - std::log(s));
        else q[at(i)] = i == best ? 1.f : 0.f;
      }
    }
  return y;
}

}  // namespace

TEST(MathSoftmax, SingleAxisSemanticsFromOpset13) {
  const Tensor x = random_float({3, 4, 5}, 31, -5, 5);
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
    auto last = run_node(op, {x}, {DataType::kFloat}, {}, 13);
    EXPECT_TRUE(tensors_near(last[0].tensor(), softmax_ref(op, x, 12, 5, 1))) << op;
    auto mid = run_node(op, {x}, {DataType::kFloat}, {attr("axis", 1)}, 13);
    EXPECT_TRUE(tensors_near(mid[0].tensor(), softmax_ref(op, x, 3, 4, 5))) << op;
    auto first = run_node(op, {x}, {DataType::kFloat}, {attr("axis", -3)}, 13);
    EXPECT_TRUE(tensors_near(first[0].tensor(), softmax_ref(op, x, 1, 3, 20))) << op;
  }
}

TEST(MathSoftmax, CoercesTo2DBeforeOpset13) {
  const Tensor x = random_float({3, 4, 5}, 32, -5, 5);
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
    auto def = run_node(op, {x}, {DataType::kFloat}, {}, 11);  // default axis 1: rows of 20
    EXPECT_TRUE(tensors_near(def[0].tensor(), softmax_ref(op, x, 3, 20, 1))) << op;
    auto a0 = run_node(op, {x}, {DataType::kFloat}, {attr("axis", 0)}, 1);
    EXPECT_TRUE(tensors_near(a0[0].tensor(), softmax_ref(op, x, 1, 60, 1))) << op;
    auto a2 = run_node(op, {x}, {DataType::kFloat}, {attr("axis", -1)}, 11);
    EXPECT_TRUE(tensors_near(a2[0].tensor(), softmax_ref(op, x, 12, 5, 1))) << op;
  }
}

TEST(MathSoftmax, LargeValuesAndThreads) {
  Tensor x = random_float({64, 1000}, 33, -1, 1);
  for (int64_t i = 0; i < x.numel(); i += 7) x.data<float>()[i] += 1000.f;
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    auto one = run_node(op, {x}, {DataType::kFloat}, {}, 13, "", 1);
    auto four = run_node(op, {x}, {DataType::kFloat}, {}, 13, "", 4);
    EXPECT_TRUE(tensors_near(one[0].tensor(), four[0].tensor(), 0, 0));
    EXPECT_TRUE(tensors_near(one[0].tensor(), softmax_ref(op, x, 64, 1000, 1), 1e-5, 1e-7)) << op;
  }
  const Tensor col = random_float({4, 300, 600}, 34, -3, 3);
  auto y = run_node("Softmax", {col}, {DataType::kFloat}, {attr("axis", 1)}, 13, "", 4);
  EXPECT_TRUE(tensors_near(y[0].tensor(), softmax_ref("Softmax", col, 4, 300, 600), 1e-5, 1e-7));
}

TEST(MathSoftmax, HalfAndDouble) {
  const Tensor x = random_float({2, 8}, 35, -2, 2);
  Tensor h(DataType::kFloat16, {2, 8});
  Tensor d(DataType::kDouble, {2, 8});
  for (int i = 0; i < 16; ++i) {
    h.data<Float16>()[i] = Float16(x.data<float>()[i]);
    d.data<double>()[i] = x.data<float>()[i];
  }
  const Tensor want = softmax_ref("Softmax", x, 2, 8, 1);
  auto yh = run_node("Softmax", {h}, {DataType::kFloat16}, {}, 13);
  auto yd = run_node("Softmax", {d}, {DataType::kDouble}, {}, 13);
  const auto fh = to_floats(yh[0].tensor()), fd = to_floats(yd[0].tensor()), fw = to_floats(want);
  for (int i = 0; i < 16; ++i) {
    EXPECT_NEAR(fh[i], fw[i], 2e-3);
    EXPECT_NEAR(fd[i], fw[i], 1e-6);
  }
  EXPECT_THROW(run_node("Softmax", {x}, {DataType::kFloat}, {attr("axis", 2)}, 13), Error);
}

TEST(MathEinsum, MatmulTransposeTraceAndSums) {
  const Tensor a = random_float({2, 3, 4}, 41), b = random_float({2, 4, 5}, 42);
  auto y = run_node("Einsum", {a, b}, {DataType::kFloat}, {attr("equation", "bij,bjk->bik")}, 12);
  ASSERT_EQ(y[0].tensor().shape(), (Shape{2, 3, 5}));
  for (int bb = 0; bb < 2; ++bb)
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 5; ++k) {
        double s = 0;
        for (int j = 0; j < 4; ++j) s += a.data<float>()[(bb * 3 + i) * 4 + j] * b.data<float>()[(bb * 4 + j) * 5 + k];
        EXPECT_NEAR(y[0].tensor().data<float>()[(bb * 3 + i) * 5 + k], s, 1e-5);
      }
  const Tensor m = random_float({3, 3}, 43);
  auto tr = run_node("Einsum", {m}, {DataType::kFloat}, {attr("equation", "ii")}, 12);
  EXPECT_NEAR(tr[0].tensor().data<float>()[0], m.data<float>()[0] + m.data<float>()[4] + m.data<float>()[8], 1e-6);
  auto t = run_node("Einsum", {m}, {DataType::kFloat}, {attr("equation", "ij -> ji")}, 12);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(t[0].tensor().data<float>()[j * 3 + i], m.data<float>()[i * 3 + j]);
  auto s = run_node("Einsum", {m}, {DataType::kFloat}, {attr("equation", "ij->")}, 12);
  double total = 0;
  for (int i = 0; i < 9; ++i) total += m.data<float>()[i];
  EXPECT_NEAR(s[0].tensor().data<float>()[0], total, 1e-5);
}

TEST(MathEinsum, EllipsisImplicitOutputAndThreeOperands) {
  const Tensor a = random_float({2, 3, 4}, 44), v = random_float({4}, 45);
  // Implicit output: "...j" plus labels seen once, alphabetical -> "...i".
  auto y = run_node("Einsum", {a, v}, {DataType::kFloat}, {attr("equation", "...ij,j")}, 12);
  ASSERT_EQ(y[0].tensor().shape(), (Shape{2, 3}));
  for (int r = 0; r < 6; ++r) {
    double s = 0;
    for (int j = 0; j < 4; ++j) s += a.data<float>()[r * 4 + j] * v.data<float>()[j];
    EXPECT_NEAR(y[0].tensor().data<float>()[r], s, 1e-5);
  }
  const Tensor p = random_float({3}, 46), q = random_float({3}, 47), w = random_float({3, 3}, 48);
  auto bil = run_node("Einsum", {p, w, q}, {DataType::kFloat}, {attr("equation", "i,ij,j->")}, 12);
  double s = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) s += p.data<float>()[i] * w.data<float>()[i * 3 + j] * q.data<float>()[j];
  EXPECT_NEAR(bil[0].tensor().data<float>()[0], s, 1e-5);
  // A repeated label needs equal dims: 3 x 4 has no diagonal.
  EXPECT_THROW(run_node("Einsum", {a}, {DataType::kFloat}, {attr("equation", "...ii->...i")}, 12), Error);
}

TEST(MathEinsum, BatchDiagonalIntegersAndErrors) {
  const Tensor x = random_float({3, 5, 5}, 49);
  auto d = run_node("Einsum", {x}, {DataType::kFloat}, {attr("equation", "...ii->...i")}, 12);
  ASSERT_EQ(d[0].tensor().shape(), (Shape{3, 5}));
  for (int b = 0; b < 3; ++b)
    for (int i = 0; i < 5; ++i) EXPECT_EQ(d[0].tensor().data<float>()[b * 5 + i], x.data<float>()[b * 25 + i * 6]);
  auto i = run_node("Einsum", {make<int32_t>({2, 2}, {1, 2, 3, 4}), make<int32_t>({2}, {5, 6})}, {DataType::kInt32},
                    {attr("equation", "ij,j->i")}, 12);
  EXPECT_TRUE(tensors_near(i[0].tensor(), make<int32_t>({2}, {17, 39})));
  EXPECT_THROW(run_node("Einsum", {random_float({2, 3}, 1), random_float({4, 5}, 2)}, {DataType::kFloat},
                        {attr("equation", "ij,jk->ik")}, 12),
               Error);
  EXPECT_THROW(run_node("Einsum", {random_float({2, 3}, 1)}, {DataType::kFloat}, {attr("equation", "ijk->i")}, 12),
               Error);
}

TEST(MathDet, MatchesCofactorExpansion) {
  const Tensor x = random_float({4, 3, 3}, 51);
  auto y = run_node("Det", {x}, {DataType::kFloat}, {}, 11);
  ASSERT_EQ(y[0].tensor().shape(), (Shape{4}));
  for (int b = 0; b < 4; ++b) {
    const float* m = x.data<float>() + b * 9;
    const double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                       m[2] * (m[3] * m[7] - m[4] * m[6]);
    EXPECT_NEAR(y[0].tensor().data<float>()[b], det, 1e-5);
  }
  auto s = run_node("Det", {make<float>({2, 2}, {1, 2, 2, 4})}, {DataType::kFloat}, {}, 11);
  EXPECT_EQ(s[0].tensor().data<float>()[0], 0.f);
  EXPECT_THROW(run_node("Det", {random_float({2, 3}, 1)}, {DataType::kFloat}, {}, 11), Error);
}
