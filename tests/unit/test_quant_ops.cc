// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear against the
// formulas of the ONNX spec, computed here element by element.
#include <algorithm>
#include <cmath>
#include <limits>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

template <typename Q>
Q quantize_ref(double x_over_scale, double zp) {
  double v = std::nearbyint(x_over_scale) + zp;  // ties to even
  v = std::clamp(v, double(std::numeric_limits<Q>::min()), double(std::numeric_limits<Q>::max()));
  return static_cast<Q>(v);
}

// Per-axis reference over an [outer, channels, inner] view.
template <typename Q>
Tensor quantize_axis_ref(const Tensor& x, const std::vector<float>& scale, const std::vector<Q>& zp, int64_t axis) {
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.dim(static_cast<int>(i));
  for (int64_t i = axis + 1; i < x.rank(); ++i) inner *= x.dim(static_cast<int>(i));
  const int64_t c = x.dim(static_cast<int>(axis));
  Tensor y(DataTypeOf<Q>::value, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t ch = scale.size() == 1 ? 0 : (i / inner) % c;
    y.data<Q>()[i] = quantize_ref<Q>(x.data<float>()[i] / scale[ch], zp.empty() ? 0 : zp[ch]);
  }
  (void)outer;
  return y;
}

}  // namespace

TEST(QuantQuantizeLinear, PerTensorRoundsHalfToEvenAndSaturates) {
  Tensor x = make<float>({10}, {0.f, 1.f, 3.f, 5.f, -1.f, -3.f, 254.f, 1000.f, -1000.f, 2.9f});
  // x / 2 = 0, 0.5, 1.5, 2.5, -0.5, -1.5, ...: ties go to the even neighbour.
  auto u = run_node("QuantizeLinear", {x, make<float>({}, {2.f}), make<uint8_t>({}, {10})}, {DataType::kUInt8});
  EXPECT_TRUE(tensors_near(u[0].tensor(), make<uint8_t>({10}, {10, 10, 12, 12, 10, 8, 137, 255, 0, 11})));
  auto s = run_node("QuantizeLinear", {x, make<float>({}, {2.f}), make<int8_t>({}, {-3})}, {DataType::kInt8});
  EXPECT_TRUE(tensors_near(s[0].tensor(), make<int8_t>({10}, {-3, -3, -1, -1, -3, -5, 124, 127, -128, -2})));
  Tensor big = random_float({3, 1000}, 11, -300.f, 300.f);
  auto b = run_node("QuantizeLinear", {big, make<float>({}, {0.7f}), make<int8_t>({}, {5})}, {DataType::kInt8});
  EXPECT_TRUE(tensors_near(b[0].tensor(), quantize_axis_ref<int8_t>(big, {0.7f}, {5}, 0)));
}

TEST(QuantQuantizeLinear, NoZeroPointGivesUint8AndOpset10) {
  Tensor x = make<float>({4}, {-1.f, 0.4f, 100.f, 600.f});
  for (int opset : {10, 13}) {
    auto y = run_node("QuantizeLinear", {x, make<float>({}, {2.f})}, {DataType::kUInt8}, {}, opset);
    EXPECT_TRUE(tensors_near(y[0].tensor(), make<uint8_t>({4}, {0, 0, 50, 255}))) << opset;
  }
}

TEST(QuantQuantizeLinear, Int32Input) {
  Tensor x = make<int32_t>({4}, {-7, 7, 100000, 9});
  auto y = run_node("QuantizeLinear", {x, make<float>({}, {2.f}), make<int8_t>({}, {0})}, {DataType::kInt8});
  EXPECT_TRUE(tensors_near(y[0].tensor(), make<int8_t>({4}, {-4, 4, 127, 4})));
}

TEST(QuantQuantizeLinear, PerAxis) {
  Tensor x = random_float({2, 3, 4, 5}, 12, -100.f, 100.f);
  for (int64_t axis : {1, 3, -1, 0}) {
    const int64_t a = axis < 0 ? axis + 4 : axis;
    const int64_t c = x.dim(static_cast<int>(a));
    std::vector<float> scale;
    std::vector<uint8_t> zp;
    for (int64_t i = 0; i < c; ++i) scale.push_back(0.5f + 0.25f * i), zp.push_back(static_cast<uint8_t>(100 + 10 * i));
    auto y = run_node("QuantizeLinear", {x, make<float>({c}, scale), make<uint8_t>({c}, zp)}, {DataType::kUInt8},
                      {attr("axis", axis)});
    EXPECT_TRUE(tensors_near(y[0].tensor(), quantize_axis_ref<uint8_t>(x, scale, zp, a))) << axis;
  }
  // Threads split the channel rows but give the same result.
  Tensor big = random_float({4, 64, 300}, 13, -50.f, 50.f);
  std::vector<float> scale(64);
  std::vector<int8_t> zp(64);
  for (int i = 0; i < 64; ++i) scale[i] = 0.1f + 0.01f * i, zp[i] = static_cast<int8_t>(i - 32);
  auto one = run_node("QuantizeLinear", {big, make<float>({64}, scale), make<int8_t>({64}, zp)}, {DataType::kInt8}, {},
                      13, "", 1);
  auto four = run_node("QuantizeLinear", {big, make<float>({64}, scale), make<int8_t>({64}, zp)}, {DataType::kInt8}, {},
                       13, "", 4);
  EXPECT_TRUE(tensors_near(one[0].tensor(), quantize_axis_ref<int8_t>(big, scale, zp, 1)));
  EXPECT_TRUE(tensors_near(four[0].tensor(), one[0].tensor()));
}

TEST(QuantQuantizeLinear, BadInputsAreErrors) {
  Tensor x = random_float({2, 3}, 1);
  // Zero scale, wrong per-axis length, zero point shape mismatch, per-axis in opset 10, scale not float.
  EXPECT_THROW(run_node("QuantizeLinear", {x, make<float>({}, {0.f})}, {DataType::kUInt8}), Error);
  EXPECT_THROW(run_node("QuantizeLinear", {x, make<float>({2}, {1.f, 2.f})}, {DataType::kUInt8}), Error);
  EXPECT_THROW(run_node("QuantizeLinear", {x, make<float>({3}, {1, 2, 3}), make<uint8_t>({}, {0})}, {DataType::kUInt8}),
               Error);
  EXPECT_THROW(run_node("QuantizeLinear", {x, make<float>({3}, {1, 2, 3})}, {DataType::kUInt8}, {}, 10), Error);
  EXPECT_THROW(run_node("QuantizeLinear", {x, make<float>({3}, {1, 2, 3})}, {DataType::kUInt8}, {attr("axis", 2)}),
               Error);
}

TEST(QuantDequantizeLinear, PerTensorPerAxisAndInt32) {
  Tensor x = make<uint8_t>({5}, {0, 3, 128, 255, 7});
  for (int opset : {10, 13}) {
    auto y = run_node("DequantizeLinear", {x, make<float>({}, {2.f}), make<uint8_t>({}, {128})}, {DataType::kFloat},
                      {}, opset);
    EXPECT_TRUE(tensors_near(y[0].tensor(), make<float>({5}, {-256, -250, 0, 254, -242}), 0, 0)) << opset;
  }
  auto nozp = run_node("DequantizeLinear", {make<int8_t>({3}, {-128, 0, 127}), make<float>({}, {0.5f})},
                       {DataType::kFloat});
  EXPECT_TRUE(tensors_near(nozp[0].tensor(), make<float>({3}, {-64.f, 0.f, 63.5f}), 0, 0));
  auto i32 = run_node("DequantizeLinear", {make<int32_t>({3}, {-100000, 0, 5}), make<float>({}, {0.25f})},
                      {DataType::kFloat});
  EXPECT_TRUE(tensors_near(i32[0].tensor(), make<float>({3}, {-25000.f, 0.f, 1.25f}), 0, 0));

  // Per axis: y = (x - zp[c]) * scale[c].
  Tensor q(DataType::kInt8, {2, 3, 4});
  for (int64_t i = 0; i < q.numel(); ++i) q.data<int8_t>()[i] = static_cast<int8_t>(i * 11 - 128);
  const std::vector<float> scale = {0.5f, 2.f, 3.f};
  const std::vector<int8_t> zp = {-5, 0, 7};
  auto y = run_node("DequantizeLinear", {q, make<float>({3}, scale), make<int8_t>({3}, zp)}, {DataType::kFloat},
                    {attr("axis", 1)});
  Tensor want(DataType::kFloat, {2, 3, 4});
  for (int64_t i = 0; i < q.numel(); ++i) {
    const int64_t c = (i / 4) % 3;
    want.data<float>()[i] = static_cast<float>(q.data<int8_t>()[i] - zp[c]) * scale[c];
  }
  EXPECT_TRUE(tensors_near(y[0].tensor(), want, 0, 0));
}

TEST(QuantDequantizeLinear, BadInputsAreErrors) {
  EXPECT_THROW(run_node("DequantizeLinear", {make<uint8_t>({2}, {1, 2}), make<float>({}, {1.f}), make<int8_t>({}, {0})},
                        {DataType::kFloat}),
               Error);  // zero point type differs
  EXPECT_THROW(run_node("DequantizeLinear",
                        {make<int32_t>({2}, {1, 2}), make<float>({}, {1.f}), make<int32_t>({}, {3})},
                        {DataType::kFloat}),
               Error);  // int32 with non-zero zero point
  EXPECT_THROW(run_node("DequantizeLinear", {make<uint8_t>({2, 2}, {1, 2, 3, 4}), make<float>({3}, {1, 2, 3})},
                        {DataType::kFloat}),
               Error);
}

TEST(QuantDynamicQuantizeLinear, MatchesSpecFormula) {
  for (auto x : {make<float>({6}, {0, 2, -3, -2.5f, 1.34f, 0.5f}), make<float>({6}, {-1, -2.1f, -1.3f, -2.5f, -3.34f, -4}),
                 make<float>({3, 4}, {1, 2.1f, 1.3f, 2.5f, 3.34f, 4, 1.5f, 2.6f, 3.9f, 4, 3, 2.345f}),
                 random_float({7, 33}, 5, -3.f, 10.f)}) {
    auto out = run_node("DynamicQuantizeLinear", {x}, {DataType::kUInt8, DataType::kFloat, DataType::kUInt8}, {}, 11);
    const float* px = x.data<float>();
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < x.numel(); ++i) lo = std::min(lo, px[i]), hi = std::max(hi, px[i]);
    const float scale = (hi - lo) / 255.f;
    const uint8_t zp = quantize_ref<uint8_t>(-lo / scale, 0);
    EXPECT_FLOAT_EQ(out[1].tensor().data<float>()[0], scale);
    EXPECT_EQ(out[2].tensor().data<uint8_t>()[0], zp);
    Tensor want(DataType::kUInt8, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) want.data<uint8_t>()[i] = quantize_ref<uint8_t>(px[i] / scale, zp);
    EXPECT_TRUE(tensors_near(out[0].tensor(), want));
  }
}

TEST(QuantDynamicQuantizeLinear, AllZeroInputAvoidsDivisionByZero) {
  auto out = run_node("DynamicQuantizeLinear", {make<float>({3}, {0, 0, 0})},
                      {DataType::kUInt8, DataType::kFloat, DataType::kUInt8}, {}, 11);
  EXPECT_FLOAT_EQ(out[1].tensor().data<float>()[0], 1.f / 255.f);
  EXPECT_EQ(out[2].tensor().data<uint8_t>()[0], 0);
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<uint8_t>({3}, {0, 0, 0})));
  EXPECT_THROW(run_node("DynamicQuantizeLinear", {make<float>({2}, {1.f, NAN})},
                        {DataType::kUInt8, DataType::kFloat, DataType::kUInt8}, {}, 11),
               Error);
}
