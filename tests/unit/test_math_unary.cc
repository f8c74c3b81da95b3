// Unary math ops and activations against <cmath> references.
#include <cmath>
#include <functional>
#include <limits>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

using Ref = std::function<double(double)>;

Tensor float_tensor(const std::vector<float>& v) { return make<float>({static_cast<int64_t>(v.size())}, v); }

// A spread of values over [lo, hi] plus some exact integers and halves.
std::vector<float> spread(float lo, float hi, int n = 997) {
  std::vector<float> v;
  for (int i = 0; i < n; ++i) v.push_back(lo + (hi - lo) * static_cast<float>(i) / static_cast<float>(n - 1));
  return v;
}

Tensor apply_ref(const Tensor& x, const Ref& f) {
  Tensor y(DataType::kFloat, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = static_cast<float>(f(x.data<float>()[i]));
  return y;
}

void check_float_op(const std::string& op, float lo, float hi, const Ref& f,
                    std::vector<onnx::AttributeProto> attrs = {}, double rtol = 2e-6, double atol = 1e-7) {
  SCOPED_TRACE(op);
  const Tensor x = float_tensor(spread(lo, hi));
  auto y = run_node(op, {x}, {DataType::kFloat}, attrs);
  EXPECT_TRUE(tensors_near(y[0].tensor(), apply_ref(x, f), rtol, atol));
  // Large enough for several threads; results must not depend on them.
  const Tensor big = random_float({64, 1000}, 7, lo, hi);
  auto one = run_node(op, {big}, {DataType::kFloat}, attrs, 17, "", 1);
  auto four = run_node(op, {big}, {DataType::kFloat}, attrs, 17, "", 4);
  EXPECT_TRUE(tensors_near(one[0].tensor(), four[0].tensor(), 0, 0));
  EXPECT_TRUE(tensors_near(one[0].tensor(), apply_ref(big, f), rtol, atol));
  // Double goes through libm: tight tolerance.
  Tensor xd(DataType::kDouble, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) xd.data<double>()[i] = x.data<float>()[i];
  auto yd = run_node(op, {xd}, {DataType::kDouble}, attrs);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double want = f(xd.data<double>()[i]);
    EXPECT_NEAR(yd[0].tensor().data<double>()[i], want, 1e-12 + 1e-12 * std::fabs(want)) << op << " at " << xd.data<double>()[i];
  }
}

}  // namespace

TEST(MathUnary, ElementaryFunctionsMatchLibm) {
  check_float_op("Abs", -5, 5, [](double v) { return std::fabs(v); });
  check_float_op("Neg", -5, 5, [](double v) { return -v; });
  check_float_op("Reciprocal", 0.1f, 9, [](double v) { return 1.0 / v; });
  check_float_op("Floor", -5, 5, [](double v) { return std::floor(v); });
  check_float_op("Ceil", -5, 5, [](double v) { return std::ceil(v); });
  check_float_op("Sqrt", 0, 100, [](double v) { return std::sqrt(v); });
  check_float_op("Exp", -100, 88, [](double v) { return std::exp(v); });
  check_float_op("Log", 1e-30f, 1e30f, [](double v) { return std::log(v); });
  check_float_op("Log", 0.5f, 2, [](double v) { return std::log(v); });
  check_float_op("Erf", -5, 5, [](double v) { return std::erf(v); });
  check_float_op("Sin", -7, 7, [](double v) { return std::sin(v); }, {}, 1e-5, 1e-6);
  check_float_op("Cos", -7, 7, [](double v) { return std::cos(v); }, {}, 1e-5, 1e-6);
  check_float_op("Tan", -1.5f, 1.5f, [](double v) { return std::tan(v); }, {}, 1e-5, 1e-6);
  check_float_op("Asin", -1, 1, [](double v) { return std::asin(v); });
  check_float_op("Acos", -1, 1, [](double v) { return std::acos(v); });
  check_float_op("Atan", -10, 10, [](double v) { return std::atan(v); });
  check_float_op("Sinh", -5, 5, [](double v) { return std::sinh(v); });
  check_float_op("Cosh", -5, 5, [](double v) { return std::cosh(v); });
  check_float_op("Asinh", -5, 5, [](double v) { return std::asinh(v); });
  check_float_op("Acosh", 1, 50, [](double v) { return std::acosh(v); }, {}, 1e-5, 1e-6);
  check_float_op("Atanh", -0.99f, 0.99f, [](double v) { return std::atanh(v); }, {}, 1e-5, 1e-6);
}

TEST(MathUnary, RoundIsHalfToEvenAndFloorCeilKeepSign) {
  auto r = run_node("Round", {float_tensor({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, -2.6f, 1e8f})},
                    {DataType::kFloat});
  EXPECT_TRUE(tensors_near(r[0].tensor(), float_tensor({0.f, 2.f, 2.f, -0.f, -2.f, -2.f, 2.f, -3.f, 1e8f}), 0, 0));
  auto c = run_node("Ceil", {float_tensor({-0.5f, -0.f})}, {DataType::kFloat});
  EXPECT_TRUE(std::signbit(c[0].tensor().data<float>()[0]));
  EXPECT_TRUE(std::signbit(c[0].tensor().data<float>()[1]));
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  auto f = run_node("Floor", {float_tensor({nan, inf, -inf})}, {DataType::kFloat});
  EXPECT_TRUE(std::isnan(f[0].tensor().data<float>()[0]));
  EXPECT_EQ(f[0].tensor().data<float>()[1], inf);
  EXPECT_EQ(f[0].tensor().data<float>()[2], -inf);
}

TEST(MathUnary, SpecialValuesOfFastFunctions) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = float_tensor({nan, inf, -inf, 0.f, 1000.f, -1000.f});
  auto e = run_node("Exp", {x}, {DataType::kFloat});
  const float* pe = e[0].tensor().data<float>();
  EXPECT_TRUE(std::isnan(pe[0]));
  EXPECT_EQ(pe[1], inf);
  EXPECT_EQ(pe[2], 0.f);
  EXPECT_EQ(pe[3], 1.f);
  EXPECT_EQ(pe[4], inf);
  EXPECT_EQ(pe[5], 0.f);
  auto l = run_node("Log", {float_tensor({0.f, -1.f, inf, nan, 1e-45f})}, {DataType::kFloat});
  const float* pl = l[0].tensor().data<float>();
  EXPECT_EQ(pl[0], -inf);
  EXPECT_TRUE(std::isnan(pl[1]));
  EXPECT_EQ(pl[2], inf);
  EXPECT_TRUE(std::isnan(pl[3]));
  EXPECT_NEAR(pl[4], std::log(static_cast<double>(1e-45f)), 1e-3);  // subnormal input
  for (const char* op : {"Tanh", "Sigmoid", "Erf"}) {
    auto y = run_node(op, {x}, {DataType::kFloat});
    const float* p = y[0].tensor().data<float>();
    EXPECT_TRUE(std::isnan(p[0])) << op;
    EXPECT_EQ(p[1], 1.f) << op;
    EXPECT_EQ(p[2], std::string(op) == "Sigmoid" ? 0.f : -1.f) << op;
  }
}

TEST(MathUnary, HalfTypesComputeInFloat) {
  const std::vector<float> v = spread(-4, 4, 101);
  Tensor h(DataType::kFloat16, {101}), b(DataType::kBFloat16, {101});
  for (int i = 0; i < 101; ++i) {
    h.data<Float16>()[i] = Float16(v[i]);
    b.data<BFloat16>()[i] = BFloat16(v[i]);
  }
  for (const auto& t : {h, b}) {
    auto y = run_node("Exp", {t}, {t.dtype()});
    const auto xs = to_floats(t), ys = to_floats(y[0].tensor());
    for (size_t i = 0; i < xs.size(); ++i) EXPECT_NEAR(ys[i], std::exp(xs[i]), 1e-2 * std::exp(xs[i]));
  }
}

TEST(MathUnary, IntegerAbsNegSign) {
  auto a = run_node("Abs", {make<int32_t>({4}, {-3, 0, 7, INT32_MIN})}, {DataType::kInt32});
  EXPECT_TRUE(tensors_near(a[0].tensor(), make<int32_t>({4}, {3, 0, 7, INT32_MIN})));
  auto n = run_node("Neg", {make<int64_t>({3}, {-3, 0, 7})}, {DataType::kInt64});
  EXPECT_TRUE(tensors_near(n[0].tensor(), make<int64_t>({3}, {3, 0, -7})));
  auto s = run_node("Sign", {make<int8_t>({3}, {-3, 0, 7})}, {DataType::kInt8});
  EXPECT_TRUE(tensors_near(s[0].tensor(), make<int8_t>({3}, {-1, 0, 1})));
  auto u = run_node("Sign", {make<uint16_t>({2}, {0, 9})}, {DataType::kUInt16});
  EXPECT_TRUE(tensors_near(u[0].tensor(), make<uint16_t>({2}, {0, 1})));
  auto f = run_node("Sign", {float_tensor({-2.f, 0.f, 3.f})}, {DataType::kFloat});
  EXPECT_TRUE(tensors_near(f[0].tensor(), float_tensor({-1.f, 0.f, 1.f})));
}

TEST(MathUnary, NotIsNaNIsInf) {
  auto n = run_node("Not", {make_bool({3}, {1, 0, 1})}, {DataType::kBool});
  EXPECT_TRUE(tensors_near(n[0].tensor(), make_bool({3}, {0, 1, 0})));
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = float_tensor({1.f, nan, inf, -inf});
  auto i = run_node("IsNaN", {x}, {DataType::kBool});
  EXPECT_TRUE(tensors_near(i[0].tensor(), make_bool({4}, {0, 1, 0, 0})));
  auto a = run_node("IsInf", {x}, {DataType::kBool});
  EXPECT_TRUE(tensors_near(a[0].tensor(), make_bool({4}, {0, 0, 1, 1})));
  auto p = run_node("IsInf", {x}, {DataType::kBool}, {attr("detect_negative", 0)});
  EXPECT_TRUE(tensors_near(p[0].tensor(), make_bool({4}, {0, 0, 1, 0})));
  auto q = run_node("IsInf", {x}, {DataType::kBool}, {attr("detect_positive", 0)});
  EXPECT_TRUE(tensors_near(q[0].tensor(), make_bool({4}, {0, 0, 0, 1})));
}

TEST(MathUnary, FloatOnlyOpRejectsIntegers) {
  EXPECT_THROW(run_node("Exp", {make<int32_t>({2}, {1, 2})}, {DataType::kInt32}, {}, 13), Error);
}

TEST(MathActivation, MatchDefinitions) {
  const double selu_a = 1.67326319217681884765625, selu_g = 1.05070102214813232421875;
  check_float_op("Relu", -3, 3, [](double v) { return v > 0 ? v : 0; });
  check_float_op("Sigmoid", -90, 30, [](double v) { return 1 / (1 + std::exp(-v)); });
  check_float_op("Tanh", -10, 10, [](double v) { return std::tanh(v); });
  check_float_op("Tanh", -0.01f, 0.01f, [](double v) { return std::tanh(v); });
  check_float_op("LeakyRelu", -3, 3, [](double v) { return v >= 0 ? v : double{0.1f} * v; }, {attr("alpha", 0.1f)});
  check_float_op("Elu", -3, 3, [](double v) { return v >= 0 ? v : 0.5 * std::expm1(v); }, {attr("alpha", 0.5f)});
  check_float_op("Elu", -1e-3f, 1e-3f, [](double v) { return v >= 0 ? v : std::expm1(v); });
  check_float_op("Selu", -3, 3, [&](double v) { return selu_g * (v > 0 ? v : selu_a * std::expm1(v)); });
  check_float_op("Celu", -3, 3, [](double v) { return std::max(0.0, v) + std::min(0.0, 2.0 * std::expm1(v / 2.0)); },
                 {attr("alpha", 2.f)});
  check_float_op("HardSigmoid", -5, 5, [](double v) { return std::clamp(double{0.3f} * v + double{0.4f}, 0.0, 1.0); },
                 {attr("alpha", 0.3f), attr("beta", 0.4f)}, 1e-6, 1e-7);
  check_float_op("HardSwish", -5, 5, [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); }, {}, 1e-6, 1e-6);
  check_float_op("Softplus", -90, 90, [](double v) { return std::log1p(std::exp(v)); });
  check_float_op("Softsign", -5, 5, [](double v) { return v / (1 + std::fabs(v)); });
  check_float_op("ThresholdedRelu", -3, 3, [](double v) { return v > 1.5 ? v : 0; }, {attr("alpha", 1.5f)});
  check_float_op("Shrink", -3, 3, [](double v) { return v < -1 ? v + 0.5 : (v > 1 ? v - 0.5 : 0); },
                 {attr("lambd", 1.f), attr("bias", 0.5f)});
}

TEST(MathActivation, IntegerReluAndShrink) {
  auto r = run_node("Relu", {make<int32_t>({3}, {-3, 0, 5})}, {DataType::kInt32}, {}, 14);
  EXPECT_TRUE(tensors_near(r[0].tensor(), make<int32_t>({3}, {0, 0, 5})));
  auto s = run_node("Shrink", {make<int8_t>({5}, {-3, -1, 0, 1, 3})}, {DataType::kInt8},
                    {attr("lambd", 1.5f), attr("bias", 1.f)});
  EXPECT_TRUE(tensors_near(s[0].tensor(), make<int8_t>({5}, {-2, 0, 0, 0, 2})));
}

TEST(MathActivation, ReluKeepsNaN) {
  auto r = run_node("Relu", {float_tensor({std::numeric_limits<float>::quiet_NaN(), -1.f})}, {DataType::kFloat});
  EXPECT_TRUE(std::isnan(r[0].tensor().data<float>()[0]));
  EXPECT_EQ(r[0].tensor().data<float>()[1], 0.f);
}
