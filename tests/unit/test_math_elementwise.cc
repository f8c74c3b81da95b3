// Variadic Min/Max/Sum/Mean, Clip, PRelu and Dropout.
#include <cmath>
#include <limits>
#include <random>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

// Reference for a variadic op: broadcast every input to `shape` by index.
Tensor variadic_ref(const std::string& op, const std::vector<Tensor>& in, const Shape& shape) {
  Tensor out(DataType::kFloat, shape);
  const int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) {
    double acc = 0;
    for (size_t k = 0; k < in.size(); ++k) {
      // Decompose i over shape, then index input k (right-aligned, size-1 dims broadcast).
      int64_t rem = i, off = 0, mul = 1;
      const Shape& s = in[k].shape();
      for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
        const int64_t idx = rem % shape[d];
        rem /= shape[d];
        const int64_t kd = d - (static_cast<int64_t>(shape.size()) - static_cast<int64_t>(s.size()));
        if (kd < 0) continue;
        if (s[kd] != 1) off += idx * mul;
        mul *= s[kd];
      }
      const double v = in[k].data<float>()[off];
      if (k == 0) acc = v;
      else if (op == "Min") acc = std::min(acc, v);
      else if (op == "Max") acc = std::max(acc, v);
      else acc += v;
    }
    if (op == "Mean") acc /= static_cast<double>(in.size());
    out.data<float>()[i] = static_cast<float>(acc);
  }
  return out;
}

}  // namespace

TEST(MathVariadic, BroadcastsThreeInputs) {
  const std::vector<Tensor> in = {random_float({4, 1, 5}, 1), random_float({3, 1}, 2), random_float({5}, 3)};
  for (const char* op : {"Min", "Max", "Sum", "Mean"}) {
    auto y = run_node(op, in, {DataType::kFloat});
    EXPECT_TRUE(tensors_near(y[0].tensor(), variadic_ref(op, in, {4, 3, 5}))) << op;
  }
}

TEST(MathVariadic, SingleInputAndThreads) {
  const Tensor a = random_float({3, 2}, 4);
  auto y = run_node("Sum", {a}, {DataType::kFloat});
  EXPECT_TRUE(tensors_near(y[0].tensor(), a, 0, 0));
  const std::vector<Tensor> big = {random_float({128, 300}, 5), random_float({300}, 6)};
  auto one = run_node("Max", big, {DataType::kFloat}, {}, 17, "", 1);
  auto four = run_node("Max", big, {DataType::kFloat}, {}, 17, "", 4);
  EXPECT_TRUE(tensors_near(one[0].tensor(), four[0].tensor(), 0, 0));
  EXPECT_TRUE(tensors_near(one[0].tensor(), variadic_ref("Max", big, {128, 300})));
}

TEST(MathVariadic, IntegerMinMaxAndNaN) {
  auto m = run_node("Min", {make<int64_t>({3}, {5, -2, 9}), make<int64_t>({1}, {3})}, {DataType::kInt64});
  EXPECT_TRUE(tensors_near(m[0].tensor(), make<int64_t>({3}, {3, -2, 3})));
  auto u = run_node("Max", {make<uint8_t>({2}, {200, 7}), make<uint8_t>({2}, {100, 9})}, {DataType::kUInt8});
  EXPECT_TRUE(tensors_near(u[0].tensor(), make<uint8_t>({2}, {200, 9})));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto f = run_node("Max", {make<float>({2}, {nan, 1.f}), make<float>({2}, {1.f, nan})}, {DataType::kFloat});
  EXPECT_TRUE(std::isnan(f[0].tensor().data<float>()[0]));
  EXPECT_TRUE(std::isnan(f[0].tensor().data<float>()[1]));
}

TEST(MathVariadic, Float16MeanAndErrors) {
  Tensor a(DataType::kFloat16, {2}), b(DataType::kFloat16, {2});
  a.data<Float16>()[0] = Float16(1.f);
  a.data<Float16>()[1] = Float16(2.f);
  b.data<Float16>()[0] = Float16(3.f);
  b.data<Float16>()[1] = Float16(5.f);
  auto y = run_node("Mean", {a, b}, {DataType::kFloat16});
  EXPECT_EQ(to_floats(y[0].tensor()), (std::vector<float>{2.f, 3.5f}));
  EXPECT_THROW(run_node("Sum", {random_float({2, 3}, 1), random_float({4}, 2)}, {DataType::kFloat}), Error);
}

TEST(MathClip, AttributesBeforeOpset11) {
  auto y = run_node("Clip", {make<float>({4}, {-2, -0.2f, 0.3f, 4})}, {DataType::kFloat},
                    {attr("min", -0.5f), attr("max", 0.5f)}, 6);
  EXPECT_TRUE(tensors_near(y[0].tensor(), make<float>({4}, {-0.5f, -0.2f, 0.3f, 0.5f})));
  auto d = run_node("Clip", {make<float>({2}, {-1e30f, 1e30f})}, {DataType::kFloat}, {}, 6);
  EXPECT_TRUE(tensors_near(d[0].tensor(), make<float>({2}, {-1e30f, 1e30f})));
}

TEST(MathClip, OptionalInputsAndIntegers) {
  const Tensor x = make<float>({4}, {-2, -0.2f, 0.3f, 4});
  auto lo = run_node("Clip", {x, make<float>({}, {0.f})}, {DataType::kFloat}, {}, 13);
  EXPECT_TRUE(tensors_near(lo[0].tensor(), make<float>({4}, {0, 0, 0.3f, 4})));
  auto hi = run_node("Clip", {x, Tensor(), make<float>({}, {0.f})}, {DataType::kFloat}, {}, 13);
  EXPECT_TRUE(tensors_near(hi[0].tensor(), make<float>({4}, {-2, -0.2f, 0, 0})));
  auto inv = run_node("Clip", {x, make<float>({}, {1.f}), make<float>({}, {0.f})}, {DataType::kFloat}, {}, 13);
  EXPECT_TRUE(tensors_near(inv[0].tensor(), make<float>({4}, {0, 0, 0, 0})));  // min > max: all max
  auto i = run_node("Clip", {make<int8_t>({3}, {-100, 5, 100}), make<int8_t>({}, {-10}), make<int8_t>({}, {10})},
                    {DataType::kInt8}, {}, 12);
  EXPECT_TRUE(tensors_near(i[0].tensor(), make<int8_t>({3}, {-10, 5, 10})));
  EXPECT_THROW(run_node("Clip", {x, make<float>({2}, {0.f, 1.f})}, {DataType::kFloat}, {}, 13), Error);
}

TEST(MathPRelu, BroadcastSlopes) {
  const Tensor x = random_float({2, 3, 4}, 9);
  const Tensor s = random_float({4}, 10, 0, 1);
  auto y = run_node("PRelu", {x, s}, {DataType::kFloat}, {}, 16);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.data<float>()[i];
    EXPECT_FLOAT_EQ(y[0].tensor().data<float>()[i], v < 0 ? v * s.data<float>()[i % 4] : v);
  }
  auto bad = [&] { run_node("PRelu", {x, random_float({5}, 1)}, {DataType::kFloat}, {}, 16); };
  EXPECT_THROW(bad(), Error);
}

TEST(MathPRelu, LegacyPerChannelSlope) {
  const Tensor x = random_float({2, 3, 2, 2}, 11);
  const Tensor s = make<float>({3}, {0.1f, 0.2f, 0.3f});
  auto y = run_node("PRelu", {x, s}, {DataType::kFloat}, {}, 6);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.data<float>()[i];
    const float k = s.data<float>()[(i / 4) % 3];
    EXPECT_FLOAT_EQ(y[0].tensor().data<float>()[i], v < 0 ? v * k : v);
  }
  auto i = run_node("PRelu", {make<int32_t>({3}, {-4, 0, 4}), make<int32_t>({1}, {2})}, {DataType::kInt32}, {}, 16);
  EXPECT_TRUE(tensors_near(i[0].tensor(), make<int32_t>({3}, {-8, 0, 4})));
}

TEST(MathDropout, InferenceIsIdentityWithTrueMask) {
  const Tensor x = random_float({3, 4}, 12);
  auto y = run_node("Dropout", {x, make<float>({}, {0.5f})}, {DataType::kFloat, DataType::kBool}, {}, 13);
  EXPECT_TRUE(tensors_near(y[0].tensor(), x, 0, 0));
  for (int64_t i = 0; i < 12; ++i) EXPECT_TRUE(y[1].tensor().data<bool>()[i]);
  auto old = run_node("Dropout", {x}, {DataType::kFloat, DataType::kFloat}, {attr("ratio", 0.3f)}, 7);
  EXPECT_TRUE(tensors_near(old[0].tensor(), x, 0, 0));
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(old[1].tensor().data<float>()[i], 1.f);
}

TEST(MathDropout, TrainingModeScalesKeptValuesAndIsSeeded) {
  const Tensor x = random_float({1000}, 13, 1, 2);
  const std::vector<Tensor> in = {x, make<float>({}, {0.25f}), make_bool({}, {1})};
  auto a = run_node("Dropout", in, {DataType::kFloat, DataType::kBool}, {attr("seed", 7)}, 13);
  auto b = run_node("Dropout", in, {DataType::kFloat, DataType::kBool}, {attr("seed", 7)}, 13);
  EXPECT_TRUE(tensors_near(a[0].tensor(), b[0].tensor(), 0, 0));
  int kept = 0;
  for (int64_t i = 0; i < 1000; ++i) {
    const bool m = a[1].tensor().data<bool>()[i];
    kept += m;
    EXPECT_FLOAT_EQ(a[0].tensor().data<float>()[i], m ? x.data<float>()[i] / 0.75f : 0.f);
  }
  EXPECT_GT(kept, 650);
  EXPECT_LT(kept, 850);
  // The draws follow numpy.random.seed(7); uniform(0, 1, shape) >= ratio.
  std::mt19937 gen(7);
  for (int64_t i = 0; i < 1000; ++i) {
    const uint32_t hi = gen() >> 5, lo = gen() >> 6;
    EXPECT_EQ(a[1].tensor().data<bool>()[i], (hi * 67108864.0 + lo) / 9007199254740992.0 >= 0.25);
  }
  EXPECT_THROW(run_node("Dropout", {x, make<float>({}, {1.5f}), make_bool({}, {1})}, {DataType::kFloat}, {}, 13),
               Error);
}

TEST(MathBinary, PowFastPathsMatchStdPow) {
  const Tensor x = random_float({3, 50}, 14, 0.1f, 4);
  for (float e : {2.f, 3.f, 1.f, 0.5f, -1.f, 1.7f}) {
    auto y = run_node("Pow", {x, make<float>({}, {e})}, {DataType::kFloat}, {}, 15);
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double want = std::pow(double{x.data<float>()[i]}, double{e});
      EXPECT_NEAR(y[0].tensor().data<float>()[i], want, 2e-7 * std::fabs(want)) << "exponent " << e;
    }
  }
  auto i = run_node("Pow", {make<int32_t>({3}, {2, -3, 5}), make<int32_t>({1}, {2})}, {DataType::kInt32}, {}, 15);
  EXPECT_TRUE(tensors_near(i[0].tensor(), make<int32_t>({3}, {4, 9, 25})));
}

TEST(MathBinary, ComparisonsWithBroadcastScalars) {
  const Tensor x = random_float({4, 33}, 15);
  auto y = run_node("GreaterOrEqual", {x, make<float>({1}, {0.f})}, {DataType::kBool}, {}, 16);
  auto z = run_node("Less", {make<float>({}, {0.f}), x}, {DataType::kBool}, {}, 13);
  for (int64_t i = 0; i < x.numel(); ++i) {
    EXPECT_EQ(y[0].tensor().data<bool>()[i], x.data<float>()[i] >= 0.f);
    EXPECT_EQ(z[0].tensor().data<bool>()[i], 0.f < x.data<float>()[i]);
  }
}
