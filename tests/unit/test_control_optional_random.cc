// Optional ops and the random generators (RandomNormal/Uniform(+Like),
// Bernoulli, Multinomial): shapes, dtypes, seed semantics, statistics.
#include <cmath>

#include "test_control_helpers.h"

using namespace pier;
using namespace pier::test;
using namespace pier::test::ctl;

namespace {
const DataType F = DataType::kFloat;
const DataType B = DataType::kBool;

double mean_of(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return s / static_cast<double>(v.size());
}
double stddev_of(const std::vector<float>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (float x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}
}  // namespace

TEST(ControlOptional, WrapTestAndUnwrap) {
  ModelBuilder b(15);
  b.input("x", F, {3});
  b.node("Optional", {"x"}, {"o"});
  b.node("OptionalHasElement", {"o"}, {"has"});
  b.node("OptionalGetElement", {"o"}, {"y"});
  b.output("has", B, {}).output("y", F, {3});
  auto out = b.session()->run({make<float>({3}, {1, 2, 3})});
  EXPECT_TRUE(out[0].tensor().data<bool>()[0]);
  EXPECT_TRUE(tensors_near(out[1].tensor(), make<float>({3}, {1, 2, 3})));
}

TEST(ControlOptional, EmptyOptionalInput) {
  ModelBuilder b(15);
  add_input(b, optional_info("o", F));
  b.node("OptionalHasElement", {"o"}, {"has"});
  b.output("has", B, {});
  auto s = b.session();
  EXPECT_FALSE(s->run({Value::none()})[0].tensor().data<bool>()[0]);
  EXPECT_TRUE(s->run({make<float>({1}, {0})})[0].tensor().data<bool>()[0]);

  ModelBuilder g(15);
  add_input(g, optional_info("o", F));
  g.node("OptionalGetElement", {"o"}, {"y"});
  g.output("y", F);
  auto gs = g.session();
  EXPECT_THROW(gs->run({Value::none()}), Error);
  EXPECT_TRUE(tensors_near(gs->run({make<float>({1}, {4})})[0].tensor(), make<float>({1}, {4})));
}

TEST(ControlOptional, EmptyOptionalFromTypeAndOptionalSequence) {
  ModelBuilder b(15);
  b.input("x", F, {2});
  b.node("Optional", {}, {"none"}, {type_attr("type", F, true)});
  b.node("OptionalHasElement", {"none"}, {"h0"});
  b.node("SequenceConstruct", {"x", "x"}, {"seq"});
  b.node("Optional", {"seq"}, {"os"});
  b.node("OptionalGetElement", {"os"}, {"back"});
  b.output("h0", B, {}).sequence_output("back", F);
  auto out = b.session()->run({make<float>({2}, {1, 2})});
  EXPECT_FALSE(out[0].tensor().data<bool>()[0]);
  ASSERT_TRUE(out[1].is_sequence());
  EXPECT_EQ(out[1].items().size(), 2u);
}

TEST(ControlRandom, UniformSeededIsRepeatableAndInRange) {
  std::vector<onnx::AttributeProto> attrs = {attr("shape", std::vector<int64_t>{100, 200}), attr("low", -2.f),
                                             attr("high", 3.f), attr("seed", 7.f)};
  auto a = run_node("RandomUniform", {}, {F}, attrs, 17, "", 1)[0].tensor();
  auto b = run_node("RandomUniform", {}, {F}, attrs, 17, "", 4)[0].tensor();
  EXPECT_EQ(a.shape(), (Shape{100, 200}));
  EXPECT_TRUE(tensors_near(a, b, 0, 0));  // same seed: same values, any thread count
  auto v = to_floats(a);
  for (float x : v) ASSERT_TRUE(x >= -2.f && x < 3.f) << x;
  EXPECT_NEAR(mean_of(v), 0.5, 0.05);
  EXPECT_NEAR(stddev_of(v), 5.0 / std::sqrt(12.0), 0.05);
  attrs[3] = attr("seed", 8.f);
  auto c = run_node("RandomUniform", {}, {F}, attrs)[0].tensor();
  EXPECT_FALSE(tensors_near(a, c, 0, 0));
}

TEST(ControlRandom, UnseededRunsDiffer) {
  ModelBuilder b(13);
  b.node("RandomNormal", {}, {"y"}, {attr("shape", std::vector<int64_t>{64})});
  b.output("y", F, {64});
  auto s = b.session();
  auto r1 = s->run(std::vector<Value>{})[0].tensor();
  auto r2 = s->run(std::vector<Value>{})[0].tensor();
  EXPECT_FALSE(tensors_near(r1, r2, 0, 0));
}

TEST(ControlRandom, NormalStatisticsAndDtypes) {
  auto y = run_node("RandomNormal", {}, {DataType::kDouble},
                    {attr("shape", std::vector<int64_t>{40000}), attr("mean", 1.5f), attr("scale", 0.5f),
                     attr("seed", 1.f), attr("dtype", static_cast<int64_t>(DataType::kDouble))})[0]
               .tensor();
  ASSERT_EQ(y.dtype(), DataType::kDouble);
  auto v = to_floats(y);
  EXPECT_NEAR(mean_of(v), 1.5, 0.02);
  EXPECT_NEAR(stddev_of(v), 0.5, 0.02);
  auto h = run_node("RandomNormal", {}, {DataType::kFloat16},
                    {attr("shape", std::vector<int64_t>{2, 3}), attr("dtype", static_cast<int64_t>(DataType::kFloat16))})[0]
               .tensor();
  EXPECT_EQ(h.dtype(), DataType::kFloat16);
  EXPECT_EQ(h.shape(), (Shape{2, 3}));
}

TEST(ControlRandom, LikeVariantsTakeShapeAndType) {
  Tensor x(DataType::kDouble, {3, 4});
  auto y = run_node("RandomUniformLike", {x}, {DataType::kDouble}, {attr("seed", 2.f)})[0].tensor();
  EXPECT_EQ(y.dtype(), DataType::kDouble);
  EXPECT_EQ(y.shape(), (Shape{3, 4}));
  Tensor xi = make<int32_t>({5}, {0, 0, 0, 0, 0});
  auto z = run_node("RandomNormalLike", {xi}, {F}, {attr("dtype", static_cast<int64_t>(F))})[0].tensor();
  EXPECT_EQ(z.dtype(), F);
  EXPECT_EQ(z.shape(), (Shape{5}));
}

TEST(ControlRandom, Bernoulli) {
  Tensor p = make<float>({6}, {0, 1, 0, 1, 1, 0});
  auto y = run_node("Bernoulli", {p}, {F})[0].tensor();
  EXPECT_TRUE(tensors_near(y, p));  // probabilities 0 and 1 are certain
  auto yi = run_node("Bernoulli", {p}, {DataType::kInt32}, {attr("dtype", static_cast<int64_t>(DataType::kInt32))})[0];
  EXPECT_TRUE(tensors_near(yi.tensor(), make<int32_t>({6}, {0, 1, 0, 1, 1, 0})));
  // Frequency and seeding.
  Tensor q(F, {20000});
  for (int64_t i = 0; i < q.numel(); ++i) q.data<float>()[i] = 0.3f;
  auto a = run_node("Bernoulli", {q}, {B}, {attr("dtype", static_cast<int64_t>(B)), attr("seed", 5.f)})[0].tensor();
  auto b = run_node("Bernoulli", {q}, {B}, {attr("dtype", static_cast<int64_t>(B)), attr("seed", 5.f)}, 17, "", 4)[0]
               .tensor();
  EXPECT_TRUE(tensors_near(a, b));
  int64_t ones = 0;
  for (int64_t i = 0; i < a.numel(); ++i) ones += a.data<bool>()[i];
  EXPECT_NEAR(static_cast<double>(ones) / a.numel(), 0.3, 0.02);
  EXPECT_THROW(run_node("Bernoulli", {make<float>({2}, {0.5f, 1.5f})}, {F}), Error);
}

TEST(ControlRandom, Multinomial) {
  const int64_t n = 20000;
  Tensor logits = make<float>({2, 3}, {0.f, -INFINITY, 0.f, std::log(0.7f), std::log(0.2f), std::log(0.1f)});
  auto y = run_node("Multinomial", {logits}, {DataType::kInt64},
                    {attr("sample_size", n), attr("seed", 3.f), attr("dtype", static_cast<int64_t>(DataType::kInt64))})[0]
               .tensor();
  ASSERT_EQ(y.shape(), (Shape{2, n}));
  std::vector<double> freq(6, 0);
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t s = 0; s < n; ++s) {
      const int64_t c = y.data<int64_t>()[r * n + s];
      ASSERT_TRUE(c >= 0 && c < 3);
      freq[r * 3 + c] += 1.0 / n;
    }
  EXPECT_EQ(freq[1], 0.0);  // probability 0 never drawn
  EXPECT_NEAR(freq[0], 0.5, 0.02);
  EXPECT_NEAR(freq[3], 0.7, 0.02);
  EXPECT_NEAR(freq[4], 0.2, 0.02);
  EXPECT_NEAR(freq[5], 0.1, 0.02);
  auto d = run_node("Multinomial", {logits}, {DataType::kInt32}, {attr("sample_size", int64_t{4})})[0].tensor();
  EXPECT_EQ(d.dtype(), DataType::kInt32);  // the default dtype
  EXPECT_EQ(d.shape(), (Shape{2, 4}));
}
