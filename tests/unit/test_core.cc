#include <gtest/gtest.h>

#include <cmath>

#include "pier/engine.h"

using namespace pier;

TEST(Float16, RoundTripsRepresentableValues) {
  for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f, 0.333251953125f}) {
    EXPECT_EQ(static_cast<float>(Float16(f)), f) << f;
  }
}

TEST(Float16, RoundsToNearestEvenAndSaturatesToInf) {
  EXPECT_EQ(static_cast<float>(Float16(1.0f + 1.0f / 2048)), 1.0f);              // tie -> even (down)
  EXPECT_EQ(static_cast<float>(Float16(1.0f + 3.0f / 2048)), 1.0f + 1.0f / 512);  // tie -> even (up)
  EXPECT_EQ(static_cast<float>(Float16(1.0f + 3.0f / 4096)), 1.0f + 1.0f / 1024);  // nearest
  EXPECT_TRUE(std::isinf(static_cast<float>(Float16(70000.0f))));
  EXPECT_TRUE(std::isnan(static_cast<float>(Float16(NAN))));
  EXPECT_EQ(static_cast<float>(Float16(1e-9f)), 0.0f);
}

TEST(BFloat16, RoundsToNearestEven) {
  EXPECT_EQ(static_cast<float>(BFloat16(1.0f)), 1.0f);
  EXPECT_EQ(static_cast<float>(BFloat16(1.00390625f)), 1.0f);  // tie -> even
  EXPECT_EQ(static_cast<float>(BFloat16(1.01171875f)), 1.015625f);
  EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(NAN))));
}

TEST(Tensor, AllocatesAlignedAndSharesOnCopy) {
  Tensor t(DataType::kFloat, {2, 3});
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
  Tensor u = t;
  EXPECT_EQ(u.raw(), t.raw());
  EXPECT_FALSE(t.unique());
  Tensor c = t.clone();
  EXPECT_NE(c.raw(), t.raw());
}

TEST(Tensor, RejectsBadShapesAndTypeMismatch) {
  EXPECT_THROW(Tensor(DataType::kFloat, {2, -1}), Error);
  EXPECT_THROW(Tensor(DataType::kFloat, {int64_t{1} << 40, int64_t{1} << 40}), Error);
  Tensor t(DataType::kFloat, {4});
  EXPECT_THROW(t.data<int64_t>(), Error);
  EXPECT_THROW(t.reshaped({3}), Error);
  EXPECT_EQ(t.reshaped({2, 2}).shape(), (Shape{2, 2}));
}

TEST(Tensor, StringsAreConstructedAndCopied) {
  Tensor t(DataType::kString, {2});
  t.data<std::string>()[0] = "hello";
  Tensor c = t.clone();
  EXPECT_EQ(c.data<std::string>()[0], "hello");
  EXPECT_EQ(c.data<std::string>()[1], "");
}

TEST(Value, KindsAndErrors) {
  Value none;
  EXPECT_TRUE(none.is_none());
  EXPECT_THROW(none.tensor(), Error);
  Value seq = Value::sequence(DataType::kFloat, {Tensor(DataType::kFloat, {1})});
  EXPECT_EQ(seq.items().size(), 1u);
  EXPECT_EQ(seq.elem_type(), DataType::kFloat);
  EXPECT_THROW(seq.tensor(), Error);
}

TEST(DataType, NamesRoundTrip) {
  for (int i = 1; i <= 16; ++i) {
    auto t = static_cast<DataType>(i);
    EXPECT_EQ(dtype_from_name(dtype_name(t)), t);
  }
  EXPECT_EQ(dtype_from_name("float32"), DataType::kFloat);
  EXPECT_FALSE(dtype_from_name("nope").has_value());
}
