// Cast and CastLike: every numeric pair, strings both ways, half types,
// and the legacy string-valued 'to' attribute.
#include <cmath>
#include <limits>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

const DataType kNumeric[] = {DataType::kFloat,  DataType::kDouble, DataType::kFloat16, DataType::kBFloat16,
                             DataType::kInt8,   DataType::kInt16,  DataType::kInt32,   DataType::kInt64,
                             DataType::kUInt8,  DataType::kUInt16, DataType::kUInt32,  DataType::kUInt64,
                             DataType::kBool};

// Small non-negative integers are exact in every type; build them in `t`
// (as 0/1 when `binary`, or for bool).
Tensor small_ints(DataType t, bool binary = false) {
  const std::vector<double> v{0, 1, 2, 3, 7, 100};
  Tensor x(t, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) {
    const double d = (binary || t == DataType::kBool) ? (v[i] != 0) : v[i];
    switch (t) {
      case DataType::kFloat: x.data<float>()[i] = static_cast<float>(d); break;
      case DataType::kDouble: x.data<double>()[i] = d; break;
      case DataType::kFloat16: x.data<Float16>()[i] = Float16(static_cast<float>(d)); break;
      case DataType::kBFloat16: x.data<BFloat16>()[i] = BFloat16(static_cast<float>(d)); break;
      case DataType::kInt8: x.data<int8_t>()[i] = static_cast<int8_t>(d); break;
      case DataType::kInt16: x.data<int16_t>()[i] = static_cast<int16_t>(d); break;
      case DataType::kInt32: x.data<int32_t>()[i] = static_cast<int32_t>(d); break;
      case DataType::kInt64: x.data<int64_t>()[i] = static_cast<int64_t>(d); break;
      case DataType::kUInt8: x.data<uint8_t>()[i] = static_cast<uint8_t>(d); break;
      case DataType::kUInt16: x.data<uint16_t>()[i] = static_cast<uint16_t>(d); break;
      case DataType::kUInt32: x.data<uint32_t>()[i] = static_cast<uint32_t>(d); break;
      case DataType::kUInt64: x.data<uint64_t>()[i] = static_cast<uint64_t>(d); break;
      case DataType::kBool: x.data<bool>()[i] = d != 0; break;
      default: break;
    }
  }
  return x;
}

Tensor cast(const Tensor& x, DataType to, int opset = 17) {
  return run_node("Cast", {x}, {to}, {attr("to", static_cast<int64_t>(to))}, opset)[0].tensor();
}

}  // namespace

TEST(TensorCast, EveryNumericPairOnExactValues) {
  for (DataType from : kNumeric)
    for (DataType to : kNumeric) {
      const bool binary = from == DataType::kBool || to == DataType::kBool;
      EXPECT_TRUE(tensors_near(cast(small_ints(from), to), small_ints(to, binary), 0, 0))
          << dtype_name(from) << " -> " << dtype_name(to);
    }
}

TEST(TensorCast, FloatToIntTruncatesAndNeverTraps) {
  Tensor x = make<float>({6}, {1.9f, -1.9f, 300.f, NAN, INFINITY, -1e30f});
  Tensor y = cast(x, DataType::kInt32);
  EXPECT_EQ(y.data<int32_t>()[0], 1);
  EXPECT_EQ(y.data<int32_t>()[1], -1);
  EXPECT_EQ(y.data<int32_t>()[2], 300);
  EXPECT_EQ(y.data<int32_t>()[3], std::numeric_limits<int32_t>::min());  // x86 "indefinite"
  Tensor u8 = cast(x, DataType::kUInt8);
  EXPECT_EQ(u8.data<uint8_t>()[2], 300 % 256);  // low bits, as numpy on x86
  Tensor b = cast(make<float>({3}, {0.f, -0.f, NAN}), DataType::kBool);
  EXPECT_TRUE(tensors_near(b, make_bool({3}, {0, 0, 1})));
}

TEST(TensorCast, HalfTypesRoundToNearestEven) {
  Tensor x = make<float>({3}, {1.0f + 1.0f / 2048, 65504.f, 1e-8f});
  Tensor h = cast(x, DataType::kFloat16);
  EXPECT_EQ(static_cast<float>(h.data<Float16>()[0]), 1.0f);  // tie -> even
  EXPECT_EQ(static_cast<float>(h.data<Float16>()[1]), 65504.f);
  Tensor back = cast(h, DataType::kDouble);
  EXPECT_DOUBLE_EQ(back.data<double>()[1], 65504.0);
  Tensor bf = cast(make<float>({1}, {3.14159f}), DataType::kBFloat16);
  EXPECT_EQ(static_cast<float>(bf.data<BFloat16>()[0]), static_cast<float>(BFloat16(3.14159f)));
}

TEST(TensorCast, NumbersToStringsUseShortestRoundTripText) {
  Tensor x = make<float>({8}, {0.5f, 0.1f, 1e-5f, 100000.f, -2.25f, 1e20f, NAN, -INFINITY});
  Tensor s = cast(x, DataType::kString);
  const std::vector<std::string> want{"0.5", "0.1", "1e-05", "100000.0", "-2.25", "1e+20", "NaN", "-INF"};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(s.data<std::string>()[i], want[i]);
  // Shortest text reads back to the same float.
  Tensor r = random_float({50}, 3, -1000.f, 1000.f);
  Tensor back = cast(cast(r, DataType::kString), DataType::kFloat);
  EXPECT_TRUE(tensors_near(back, r, 0, 0));
  Tensor i = cast(make<int64_t>({2}, {-42, INT64_MAX}), DataType::kString);
  EXPECT_EQ(i.data<std::string>()[0], "-42");
  EXPECT_EQ(i.data<std::string>()[1], "9223372036854775807");
  Tensor h = cast(cast(make<float>({1}, {0.1f}), DataType::kFloat16), DataType::kString);
  EXPECT_EQ(h.data<std::string>()[0], "0.1");
}

TEST(TensorCast, StringsToNumbers) {
  Tensor s(DataType::kString, {5});
  const char* v[] = {"1.5", "-INF", "NaN", "+INF", "2e3"};
  for (int i = 0; i < 5; ++i) s.data<std::string>()[i] = v[i];
  Tensor f = cast(s, DataType::kDouble);
  EXPECT_EQ(f.data<double>()[0], 1.5);
  EXPECT_TRUE(std::isinf(f.data<double>()[1]) && f.data<double>()[1] < 0);
  EXPECT_TRUE(std::isnan(f.data<double>()[2]));
  EXPECT_EQ(f.data<double>()[4], 2000.0);
  Tensor n(DataType::kString, {2});
  n.data<std::string>()[0] = "-17";
  n.data<std::string>()[1] = "9007199254740993";  // not exact as a double
  Tensor i = cast(n, DataType::kInt64);
  EXPECT_EQ(i.data<int64_t>()[0], -17);
  EXPECT_EQ(i.data<int64_t>()[1], 9007199254740993);
  Tensor bad(DataType::kString, {1});
  bad.data<std::string>()[0] = "12abc";
  EXPECT_THROW(cast(bad, DataType::kFloat), Error);
}

TEST(TensorCast, Opset1StringTypeNameAndCastLike) {
  auto a = run_node("Cast", {make<float>({2}, {1.7f, -2.2f})}, {DataType::kInt32}, {attr("to", "INT32")}, 1);
  EXPECT_TRUE(tensors_near(a[0].tensor(), make<int32_t>({2}, {1, -2})));
  auto b = run_node("CastLike", {make<int32_t>({2}, {3, 4}), make<double>({1}, {0.0})}, {DataType::kDouble});
  EXPECT_TRUE(tensors_near(b[0].tensor(), make<double>({2}, {3.0, 4.0})));
}
