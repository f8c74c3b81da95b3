#include "test_util.h"

using namespace pier;
using namespace pier::test;

TEST(Binary, AddBroadcastsRowVector) {
  auto out = run_node("Add", {make<float>({2, 3}, {0, 1, 2, 3, 4, 5}), make<float>({3}, {10, 20, 30})},
                      {DataType::kFloat});
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({2, 3}, {10, 21, 32, 13, 24, 35})));
}

TEST(Binary, SubBroadcastsColumnAndScalar) {
  auto out = run_node("Sub", {make<float>({2, 1}, {1, 2}), make<float>({1, 3}, {1, 2, 3})}, {DataType::kFloat});
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({2, 3}, {0, -1, -2, 1, 0, -1})));
  auto s = run_node("Mul", {make<int64_t>({}, {3}), make<int64_t>({2}, {4, 5})}, {DataType::kInt64});
  EXPECT_TRUE(tensors_near(s[0].tensor(), make<int64_t>({2}, {12, 15})));
}

TEST(Binary, ThreadedMatchesSingleThreaded) {
  Tensor a = random_float({64, 33, 17}, 1), b = random_float({33, 1}, 2);
  auto one = run_node("Div", {a, b}, {DataType::kFloat}, {}, 17, "", 1);
  auto four = run_node("Div", {a, b}, {DataType::kFloat}, {}, 17, "", 4);
  EXPECT_TRUE(tensors_near(one[0].tensor(), four[0].tensor(), 0, 0));
  // Spot-check against the definition.
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* po = one[0].tensor().data<float>();
  EXPECT_FLOAT_EQ(po[5 * 33 * 17 + 7 * 17 + 3], pa[5 * 33 * 17 + 7 * 17 + 3] / pb[7]);
}

TEST(Binary, IntegerDivisionByZeroIsAnError) {
  EXPECT_THROW(run_node("Div", {make<int32_t>({2}, {1, 2}), make<int32_t>({2}, {1, 0})}, {DataType::kInt32}), Error);
}

TEST(Binary, ModFollowsDivisorSignUnlessFmod) {
  auto m = run_node("Mod", {make<int32_t>({4}, {-4, 7, 5, -9}), make<int32_t>({4}, {3, -3, 2, 4})}, {DataType::kInt32});
  EXPECT_TRUE(tensors_near(m[0].tensor(), make<int32_t>({4}, {2, -2, 1, 3})));
  auto f = run_node("Mod", {make<float>({2}, {-4.5f, 7.f}), make<float>({2}, {2.f, -3.f})}, {DataType::kFloat},
                    {attr("fmod", 1)});
  EXPECT_TRUE(tensors_near(f[0].tensor(), make<float>({2}, {-0.5f, 1.f})));
}

TEST(Binary, ComparisonsAndLogic) {
  auto lt = run_node("Less", {make<float>({3}, {1, 2, 3}), make<float>({3}, {2, 2, 2})}, {DataType::kBool});
  EXPECT_TRUE(tensors_near(lt[0].tensor(), make_bool({3}, {1, 0, 0})));
  auto x = run_node("Xor", {make_bool({2}, {1, 1}), make_bool({2}, {0, 1})}, {DataType::kBool});
  EXPECT_TRUE(tensors_near(x[0].tensor(), make_bool({2}, {1, 0})));
}

TEST(Binary, BitShift) {
  auto l = run_node("BitShift", {make<uint32_t>({3}, {1, 2, 3}), make<uint32_t>({3}, {1, 2, 40})},
                    {DataType::kUInt32}, {attr("direction", "LEFT")});
  EXPECT_TRUE(tensors_near(l[0].tensor(), make<uint32_t>({3}, {2, 8, 0})));
}

TEST(Binary, MismatchedShapesAreAClearError) {
  try {
    run_node("Add", {make<float>({2}, {1, 2}), make<float>({3}, {1, 2, 3})}, {DataType::kFloat});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be broadcast"), std::string::npos) << e.what();
  }
}
