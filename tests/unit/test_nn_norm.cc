// BatchNormalization and LRN against references computed here.
#include <cmath>

#include "test_nn_ref.h"

using namespace pier;
using namespace pier::test;

namespace {

Tensor positive(Shape s, uint32_t seed) { return random_float(std::move(s), seed, 0.1f, 2.f); }

// Per-channel (or per-activation when params have C*inner values) inference.
Tensor bn_ref(const Tensor& x, const Tensor& s, const Tensor& b, const Tensor& m, const Tensor& v, float eps) {
  const auto X = to_floats(x), S = to_floats(s), B = to_floats(b), M = to_floats(m), Vv = to_floats(v);
  const int64_t N = x.dim(0), C = x.dim(1), inner = x.numel() / (N * C);
  std::vector<float> Y(X.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t k = static_cast<int64_t>(S.size()) == C ? c : c * inner + i;
        const int64_t j = (n * C + c) * inner + i;
        Y[j] = static_cast<float>((X[j] - M[k]) / std::sqrt(double(Vv[k]) + eps) * S[k] + B[k]);
      }
  return Tensor::from_vector(Y, x.shape());
}

void batch_stats(const Tensor& x, std::vector<float>& mean, std::vector<float>& var) {
  const auto X = to_floats(x);
  const int64_t N = x.dim(0), C = x.dim(1), inner = x.numel() / (N * C);
  mean.assign(C, 0);
  var.assign(C, 0);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0, q = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < inner; ++i) s += X[(n * C + c) * inner + i];
    const double mu = s / (N * inner);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < inner; ++i) q += std::pow(X[(n * C + c) * inner + i] - mu, 2);
    mean[c] = static_cast<float>(mu);
    var[c] = static_cast<float>(q / (N * inner));
  }
}

Tensor lrn_ref(const Tensor& x, int64_t size, float alpha, float beta, float bias) {
  const auto X = to_floats(x);
  const int64_t N = x.dim(0), C = x.dim(1), inner = x.numel() / (N * C);
  std::vector<float> Y(X.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        double sq = 0;
        const int64_t from = std::max<int64_t>(0, c - (size - 1) / 2);
        const int64_t to = std::min<int64_t>(C - 1, c + (size - 1) - (size - 1) / 2);
        for (int64_t k = from; k <= to; ++k) sq += std::pow(X[(n * C + k) * inner + i], 2);
        const int64_t j = (n * C + c) * inner + i;
        Y[j] = static_cast<float>(X[j] / std::pow(bias + alpha / size * sq, beta));
      }
  return Tensor::from_vector(Y, x.shape());
}

}  // namespace

TEST(NnBatchNorm, InferenceMatchesDefinition) {
  for (Shape xs : {Shape{2, 3, 4, 5}, Shape{4, 6}, Shape{1, 2, 3, 2, 2}}) {
    const int64_t C = xs[1];
    Tensor x = random_float(xs, 1), s = random_float({C}, 2), b = random_float({C}, 3), m = random_float({C}, 4),
           v = positive({C}, 5);
    auto got = run_node("BatchNormalization", {x, s, b, m, v}, {DataType::kFloat}, {attr("epsilon", 1e-3f)}, 15);
    EXPECT_TRUE(tensors_near(got[0].tensor(), bn_ref(x, s, b, m, v, 1e-3f), 1e-5, 1e-5)) << shape_str(xs);
    // Parameters as initializers (folded at creation).
    auto sess = ModelBuilder(15)
                    .input("x", DataType::kFloat, xs)
                    .initializer("s", s)
                    .initializer("b", b)
                    .initializer("m", m)
                    .initializer("v", v)
                    .node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"})
                    .output("y", DataType::kFloat)
                    .session(2);
    EXPECT_TRUE(tensors_near(sess->run({Value(x)})[0].tensor(), bn_ref(x, s, b, m, v, 1e-5f), 1e-5, 1e-5));
  }
}

TEST(NnBatchNorm, OldOpsetsAndPerActivationParams) {
  Tensor x = random_float({2, 3, 2, 2}, 10), s = random_float({3}, 11), b = random_float({3}, 12),
         m = random_float({3}, 13), v = positive({3}, 14);
  auto y7 = run_node("BatchNormalization", {x, s, b, m, v}, {DataType::kFloat}, {}, 7);
  EXPECT_TRUE(tensors_near(y7[0].tensor(), bn_ref(x, s, b, m, v, 1e-5f), 1e-5, 1e-5));
  auto y6 = run_node("BatchNormalization", {x, s, b, m, v}, {DataType::kFloat}, {attr("is_test", int64_t{1})}, 6);
  EXPECT_TRUE(tensors_near(y6[0].tensor(), bn_ref(x, s, b, m, v, 1e-5f), 1e-5, 1e-5));
  // spatial = 0: one parameter per activation ([C, H, W]).
  Tensor sa = random_float({3, 2, 2}, 15), ba = random_float({3, 2, 2}, 16), ma = random_float({3, 2, 2}, 17),
         va = positive({3, 2, 2}, 18);
  auto ya = run_node("BatchNormalization", {x, sa, ba, ma, va}, {DataType::kFloat},
                     {attr("spatial", int64_t{0}), attr("is_test", int64_t{1})}, 6);
  EXPECT_TRUE(tensors_near(ya[0].tensor(), bn_ref(x, sa, ba, ma, va, 1e-5f), 1e-5, 1e-5));
}

TEST(NnBatchNorm, TrainingModeOutputsRunningStats) {
  Tensor x = random_float({3, 2, 4, 3}, 20), s = random_float({2}, 21), b = random_float({2}, 22),
         m = random_float({2}, 23), v = positive({2}, 24);
  const float momentum = 0.8f;
  auto got = run_node("BatchNormalization", {x, s, b, m, v}, {DataType::kFloat, DataType::kFloat, DataType::kFloat},
                      {attr("training_mode", int64_t{1}), attr("momentum", momentum)}, 15);
  std::vector<float> bm, bv;
  batch_stats(x, bm, bv);
  Tensor tm = Tensor::from_vector(bm, {2}), tv = Tensor::from_vector(bv, {2});
  EXPECT_TRUE(tensors_near(got[0].tensor(), bn_ref(x, s, b, tm, tv, 1e-5f), 1e-4, 1e-5));
  std::vector<float> rm, rv;
  for (int c = 0; c < 2; ++c) {
    rm.push_back(m.data<float>()[c] * momentum + bm[c] * (1 - momentum));
    rv.push_back(v.data<float>()[c] * momentum + bv[c] * (1 - momentum));
  }
  EXPECT_TRUE(tensors_near(got[1].tensor(), Tensor::from_vector(rm, {2}), 1e-5, 1e-6));
  EXPECT_TRUE(tensors_near(got[2].tensor(), Tensor::from_vector(rv, {2}), 1e-5, 1e-6));
  // Opset 9 with all five outputs: training, with the batch statistics saved.
  auto old = run_node("BatchNormalization", {x, s, b, m, v},
                      {DataType::kFloat, DataType::kFloat, DataType::kFloat, DataType::kFloat, DataType::kFloat},
                      {attr("momentum", momentum)}, 9);
  EXPECT_TRUE(tensors_near(old[0].tensor(), bn_ref(x, s, b, tm, tv, 1e-5f), 1e-4, 1e-5));
  EXPECT_TRUE(tensors_near(old[3].tensor(), tm, 1e-5, 1e-6));
  EXPECT_TRUE(tensors_near(old[4].tensor(), tv, 1e-5, 1e-6));
}

TEST(NnBatchNorm, OtherTypesAndErrors) {
  Tensor x = random_float({1, 2, 3}, 30), s = random_float({2}, 31), b = random_float({2}, 32),
         m = random_float({2}, 33), v = positive({2}, 34);
  Tensor want = bn_ref(x, s, b, m, v, 1e-5f);
  auto d = run_node("BatchNormalization",
                    {cast_to(x, DataType::kDouble), cast_to(s, DataType::kDouble), cast_to(b, DataType::kDouble),
                     cast_to(m, DataType::kDouble), cast_to(v, DataType::kDouble)},
                    {DataType::kDouble}, {}, 15);
  EXPECT_TRUE(tensors_near(d[0].tensor(), cast_to(want, DataType::kDouble), 1e-5, 1e-6));
  // Opset 15: scale/bias and mean/var may have their own types.
  auto h = run_node("BatchNormalization", {cast_to(x, DataType::kFloat16), s, b, m, v}, {DataType::kFloat16}, {}, 15);
  EXPECT_TRUE(tensors_near(h[0].tensor(), cast_to(want, DataType::kFloat16), 5e-3, 5e-3));
  EXPECT_THROW(run_node("BatchNormalization", {x, random_float({3}, 1), b, m, v}, {DataType::kFloat}, {}, 15), Error);
}

TEST(NnLrn, OddAndEvenSizes) {
  Tensor x = random_float({2, 7, 3, 4}, 40);
  for (int64_t size : {1, 2, 3, 4, 5}) {
    auto got = run_node("LRN", {x}, {DataType::kFloat},
                        {attr("size", size), attr("alpha", 0.01f), attr("beta", 0.6f), attr("bias", 1.5f)}, 13);
    EXPECT_TRUE(tensors_near(got[0].tensor(), lrn_ref(x, size, 0.01f, 0.6f, 1.5f), 1e-5, 1e-6)) << size;
  }
  auto def = run_node("LRN", {x}, {DataType::kFloat}, {attr("size", int64_t{3})}, 1);
  EXPECT_TRUE(tensors_near(def[0].tensor(), lrn_ref(x, 3, 1e-4f, 0.75f, 1.f), 1e-5, 1e-6));
  Tensor h = cast_to(random_float({1, 4, 5}, 41), DataType::kFloat16);
  auto gh = run_node("LRN", {h}, {DataType::kFloat16}, {attr("size", int64_t{3}), attr("alpha", 0.5f)}, 13);
  EXPECT_TRUE(tensors_near(gh[0].tensor(), cast_to(lrn_ref(h, 3, 0.5f, 0.75f, 1.f), DataType::kFloat16), 5e-3, 5e-3));
}
