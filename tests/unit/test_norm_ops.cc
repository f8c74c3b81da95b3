// LayerNormalization, InstanceNormalization, LpNormalization and
// MeanVarianceNormalization against double-precision references.
#include <cmath>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

struct Stats {
  double mean, inv_std;
};

Stats stats(const float* x, int64_t n, int64_t stride, double eps) {
  double m = 0, v = 0;
  for (int64_t i = 0; i < n; ++i) m += x[i * stride];
  m /= static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) v += (x[i * stride] - m) * (x[i * stride] - m);
  v /= static_cast<double>(n);
  return {m, 1.0 / std::sqrt(v + eps)};
}

}  // namespace

TEST(NormLayer, AxesScaleBiasAndStatistics) {
  const Tensor x = random_float({2, 3, 8}, 61, -2, 3);
  for (int axis : {-1, 1, 0}) {
    const int64_t a = axis < 0 ? axis + 3 : axis;
    int64_t rows = 1, n = 1;
    Shape ns;
    for (int64_t d = 0; d < 3; ++d) {
      (d < a ? rows : n) *= x.dim(static_cast<int>(d));
      if (d >= a) ns.push_back(x.dim(static_cast<int>(d)));
    }
    const Tensor scale = random_float(ns, 62, 0.5f, 1.5f), bias = random_float(ns, 63);
    auto y = run_node("LayerNormalization", {x, scale, bias}, {DataType::kFloat, DataType::kFloat, DataType::kFloat},
                      {attr("axis", axis), attr("epsilon", 1e-3f)}, 17);
    Shape stat_shape(x.shape().begin(), x.shape().begin() + a);
    stat_shape.resize(3, 1);
    EXPECT_EQ(y[1].tensor().shape(), stat_shape);
    for (int64_t r = 0; r < rows; ++r) {
      const Stats s = stats(x.data<float>() + r * n, n, 1, double{1e-3f});
      EXPECT_NEAR(y[1].tensor().data<float>()[r], s.mean, 1e-5);
      EXPECT_NEAR(y[2].tensor().data<float>()[r], s.inv_std, 1e-4);
      for (int64_t i = 0; i < n; ++i) {
        const double want = (x.data<float>()[r * n + i] - s.mean) * s.inv_std * scale.data<float>()[i] +
                            bias.data<float>()[i];
        EXPECT_NEAR(y[0].tensor().data<float>()[r * n + i], want, 1e-4) << "axis " << axis;
      }
    }
  }
}

TEST(NormLayer, BroadcastScaleNoBiasAndErrors) {
  const Tensor x = random_float({4, 2, 6}, 64);
  const Tensor scale = random_float({6}, 65);
  auto y = run_node("LayerNormalization", {x, scale}, {DataType::kFloat}, {attr("axis", 1)}, 17, "", 4);
  for (int64_t r = 0; r < 4; ++r) {
    const Stats s = stats(x.data<float>() + r * 12, 12, 1, 1e-5);
    for (int64_t i = 0; i < 12; ++i)
      EXPECT_NEAR(y[0].tensor().data<float>()[r * 12 + i],
                  (x.data<float>()[r * 12 + i] - s.mean) * s.inv_std * scale.data<float>()[i % 6], 1e-4);
  }
  EXPECT_THROW(run_node("LayerNormalization", {x, random_float({5}, 1)}, {DataType::kFloat}, {}, 17), Error);
}

TEST(NormLayer, Float16Input) {
  const Tensor xf = random_float({3, 16}, 66);
  Tensor x(DataType::kFloat16, {3, 16}), sc(DataType::kFloat16, {16});
  for (int i = 0; i < 48; ++i) x.data<Float16>()[i] = Float16(xf.data<float>()[i]);
  for (int i = 0; i < 16; ++i) sc.data<Float16>()[i] = Float16(1.f);
  auto y = run_node("LayerNormalization", {x, sc}, {DataType::kFloat16}, {}, 17);
  const auto xs = to_floats(x), ys = to_floats(y[0].tensor());
  for (int r = 0; r < 3; ++r) {
    const Stats s = stats(xs.data() + r * 16, 16, 1, 1e-5);
    for (int i = 0; i < 16; ++i) EXPECT_NEAR(ys[r * 16 + i], (xs[r * 16 + i] - s.mean) * s.inv_std, 1e-2);
  }
}

TEST(NormInstance, PerChannelPlanes) {
  const Tensor x = random_float({2, 3, 5, 7}, 67, -1, 4);
  const Tensor scale = make<float>({3}, {1.f, 0.5f, 2.f}), bias = make<float>({3}, {0.f, 1.f, -1.f});
  auto y = run_node("InstanceNormalization", {x, scale, bias}, {DataType::kFloat}, {attr("epsilon", 1e-4f)}, 6, "", 4);
  for (int64_t p = 0; p < 6; ++p) {
    const Stats s = stats(x.data<float>() + p * 35, 35, 1, double{1e-4f});
    for (int64_t i = 0; i < 35; ++i)
      EXPECT_NEAR(y[0].tensor().data<float>()[p * 35 + i],
                  (x.data<float>()[p * 35 + i] - s.mean) * s.inv_std * scale.data<float>()[p % 3] +
                      bias.data<float>()[p % 3],
                  1e-4);
  }
  EXPECT_THROW(run_node("InstanceNormalization", {x, random_float({2}, 1), random_float({3}, 2)}, {DataType::kFloat},
                        {}, 6),
               Error);
}

TEST(NormInstance, LongPlanesStayAccurate) {
  // A large offset stresses summation error in the mean and variance.
  Tensor x = random_float({1, 1, 512, 512}, 68, -1, 1);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] += 1000.f;
  auto y = run_node("InstanceNormalization", {x, make<float>({1}, {1.f}), make<float>({1}, {0.f})},
                    {DataType::kFloat}, {}, 6);
  const Stats s = stats(x.data<float>(), x.numel(), 1, 1e-5);
  for (int64_t i = 0; i < x.numel(); i += 997)
    EXPECT_NEAR(y[0].tensor().data<float>()[i], (x.data<float>()[i] - s.mean) * s.inv_std, 2e-3);
}

TEST(NormLp, L1AndL2AlongAxes) {
  const Tensor x = random_float({3, 4, 5}, 69);
  for (int p : {1, 2})
    for (int axis : {0, 1, -1}) {
      auto y = run_node("LpNormalization", {x}, {DataType::kFloat}, {attr("p", p), attr("axis", axis)}, 1);
      const int64_t a = axis < 0 ? 2 : axis;
      const Shape& s = x.shape();
      int64_t outer = 1, inner = 1;
      for (int d = 0; d < 3; ++d) {
        if (d < a) outer *= s[d];
        if (d > a) inner *= s[d];
      }
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
          double norm = 0;
          for (int64_t i = 0; i < s[a]; ++i) {
            const double v = x.data<float>()[(o * s[a] + i) * inner + j];
            norm += p == 1 ? std::fabs(v) : v * v;
          }
          if (p == 2) norm = std::sqrt(norm);
          for (int64_t i = 0; i < s[a]; ++i) {
            const int64_t k = (o * s[a] + i) * inner + j;
            EXPECT_NEAR(y[0].tensor().data<float>()[k], x.data<float>()[k] / norm, 1e-5) << p << " " << axis;
          }
        }
    }
  EXPECT_THROW(run_node("LpNormalization", {x}, {DataType::kFloat}, {attr("p", 3)}, 1), Error);
}

TEST(NormMvn, DefaultAndCustomAxes) {
  const Tensor x = random_float({2, 3, 4, 5}, 70, 0, 2);
  auto y = run_node("MeanVarianceNormalization", {x}, {DataType::kFloat}, {}, 13);
  // Default axes [0, 2, 3]: statistics per channel.
  for (int c = 0; c < 3; ++c) {
    double m = 0, v = 0;
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 20; ++i) m += x.data<float>()[(n * 3 + c) * 20 + i];
    m /= 40;
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 20; ++i) v += std::pow(x.data<float>()[(n * 3 + c) * 20 + i] - m, 2);
    const double sd = std::sqrt(v / 40);
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 20; ++i) {
        const int k = (n * 3 + c) * 20 + i;
        EXPECT_NEAR(y[0].tensor().data<float>()[k], (x.data<float>()[k] - m) / (sd + 1e-9), 1e-4);
      }
  }
  auto last = run_node("MeanVarianceNormalization", {x}, {DataType::kFloat}, {attr("axes", std::vector<int64_t>{3})}, 13);
  for (int r = 0; r < 24; ++r) {
    const Stats s = stats(x.data<float>() + r * 5, 5, 1, 0);
    for (int i = 0; i < 5; ++i)
      EXPECT_NEAR(last[0].tensor().data<float>()[r * 5 + i], (x.data<float>()[r * 5 + i] - s.mean) * s.inv_std, 1e-4);
  }
}
