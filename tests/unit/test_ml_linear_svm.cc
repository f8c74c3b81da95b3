// LinearRegressor/Classifier and SVMRegressor/Classifier against references
// computed here from the operator definitions.
#include <algorithm>
#include <cmath>

#include "test_ml_helpers.h"

using namespace pier;
using namespace pier::test;
using namespace pier::test::mlt;

namespace {

const std::vector<float> kX = {0.5f, -1.f, 2.f, 0.25f, -0.75f, 1.5f, 0.f, 0.f};  // [4, 2]

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

std::vector<double> softmax(std::vector<double> v) {
  double m = *std::max_element(v.begin(), v.end()), s = 0;
  for (double& a : v) s += (a = std::exp(a - m));
  for (double& a : v) a /= s;
  return v;
}

}  // namespace

TEST(MlLinear, RegressorTargetsAndSoftmax) {
  const std::vector<float> coef = {1.f, 2.f, -1.f, 0.5f}, icp = {0.5f, -1.f};
  for (const std::string post : {"NONE", "SOFTMAX"}) {
    auto o = run_ml("LinearRegressor", {make<float>({4, 2}, kX)}, {DataType::kFloat},
                    {floats("coefficients", coef), floats("intercepts", icp), attr("targets", int64_t{2}),
                     attr("post_transform", post)});
    std::vector<float> want;
    for (int r = 0; r < 4; ++r) {
      std::vector<double> s(2);
      for (int t = 0; t < 2; ++t) s[t] = icp[t] + kX[2 * r] * coef[2 * t] + kX[2 * r + 1] * coef[2 * t + 1];
      if (post == "SOFTMAX") s = softmax(s);
      want.insert(want.end(), s.begin(), s.end());
    }
    EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({4, 2}, want))) << post;
  }
  // One target, int32 input, 1-D.
  auto o = run_ml("LinearRegressor", {make<int32_t>({3}, {1, 2, 3})}, {DataType::kFloat},
                  {floats("coefficients", {0.5f, 0.25f, -1.f}), floats("intercepts", {2.f})});
  EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({1, 1}, {2.f + 0.5f + 0.5f - 3.f})));
  EXPECT_THROW(run_ml("LinearRegressor", {make<float>({4, 2}, kX)}, {DataType::kFloat},
                      {floats("coefficients", {1.f, 2.f, 3.f})}),
               Error);
}

TEST(MlLinear, ClassifierMulticlass) {
  const std::vector<float> coef = {1.f, 0.f, 0.f, 1.f, -1.f, -1.f}, icp = {0.f, 0.5f, 0.2f};
  auto o = run_ml("LinearClassifier", {make<float>({4, 2}, kX)}, {DataType::kInt64, DataType::kFloat},
                  {floats("coefficients", coef), floats("intercepts", icp), ints("classlabels_ints", {7, 8, 9}),
                   attr("post_transform", "SOFTMAX"), attr("multi_class", int64_t{1})});
  std::vector<int64_t> labels;
  std::vector<float> scores;
  for (int r = 0; r < 4; ++r) {
    std::vector<double> s(3);
    for (int c = 0; c < 3; ++c) s[c] = icp[c] + kX[2 * r] * coef[2 * c] + kX[2 * r + 1] * coef[2 * c + 1];
    labels.push_back(7 + (std::max_element(s.begin(), s.end()) - s.begin()));
    for (double v : softmax(s)) scores.push_back(static_cast<float>(v));
  }
  EXPECT_TRUE(tensors_near(o[0].tensor(), make<int64_t>({4}, labels)));
  EXPECT_TRUE(tensors_near(o[1].tensor(), make<float>({4, 3}, scores)));
  // Without intercepts, double input.
  std::vector<double> xd(kX.begin(), kX.end());
  auto d = run_ml("LinearClassifier", {make<double>({4, 2}, xd)}, {DataType::kInt64, DataType::kFloat},
                  {floats("coefficients", coef), ints("classlabels_ints", {7, 8, 9})});
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 3; ++c)
      EXPECT_FLOAT_EQ(d[1].tensor().data<float>()[r * 3 + c], kX[2 * r] * coef[2 * c] + kX[2 * r + 1] * coef[2 * c + 1]);
}

TEST(MlLinear, ClassifierBinaryOneRow) {
  auto o = run_ml("LinearClassifier", {make<float>({4, 2}, kX)}, {DataType::kString, DataType::kFloat},
                  {floats("coefficients", {2.f, -1.f}), floats("intercepts", {-0.5f}),
                   strings("classlabels_strings", {"neg", "pos"}), attr("post_transform", "LOGISTIC")});
  for (int r = 0; r < 4; ++r) {
    const double s = -0.5 + 2 * kX[2 * r] - kX[2 * r + 1];
    EXPECT_EQ(o[0].tensor().data<std::string>()[r], s > 0 ? "pos" : "neg");
    EXPECT_NEAR(o[1].tensor().data<float>()[2 * r], sigmoid(-s), 1e-6);
    EXPECT_NEAR(o[1].tensor().data<float>()[2 * r + 1], sigmoid(s), 1e-6);
  }
}

TEST(MlLinear, ClassifierErrors) {
  // Three coefficient rows for two labels.
  EXPECT_THROW(run_ml("LinearClassifier", {make<float>({4, 2}, kX)}, {DataType::kInt64, DataType::kFloat},
                      {floats("coefficients", {1, 2, 3, 4, 5, 6}), floats("intercepts", {0, 0, 0}),
                       ints("classlabels_ints", {0, 1})}),
               Error);
  // Input with 3 features for 2-feature rows.
  EXPECT_THROW(run_ml("LinearClassifier", {make<float>({1, 3}, {1, 2, 3})}, {DataType::kInt64, DataType::kFloat},
                      {floats("coefficients", {1, 2, 3, 4}), floats("intercepts", {0, 0}),
                       ints("classlabels_ints", {0, 1})}),
               Error);
  // No labels.
  EXPECT_THROW(run_ml("LinearClassifier", {make<float>({4, 2}, kX)}, {DataType::kInt64, DataType::kFloat},
                      {floats("coefficients", {1, 2})}),
               Error);
}

// ---- SVM ----

namespace {

const std::vector<float> kSv = {0.f, 0.f, 1.f, 1.f, -1.f, 0.5f, 2.f, -1.f, 0.5f, 0.5f};  // 5 vectors x 2

double kern(const std::string& type, const float* x, const float* v, double g, double c0, double deg) {
  double dot = x[0] * v[0] + x[1] * v[1];
  if (type == "RBF") {
    double d = (x[0] - v[0]) * (x[0] - v[0]) + (x[1] - v[1]) * (x[1] - v[1]);
    return std::exp(-g * d);
  }
  if (type == "POLY") return std::pow(g * dot + c0, deg);
  if (type == "SIGMOID") return std::tanh(g * dot + c0);
  return dot;
}

}  // namespace

TEST(MlSvm, RegressorKernels) {
  const std::vector<float> coef = {0.5f, -1.f, 0.25f, 2.f, -0.5f};
  for (const std::string k : {"LINEAR", "POLY", "RBF", "SIGMOID"}) {
    auto o = run_ml("SVMRegressor", {make<float>({4, 2}, kX)}, {DataType::kFloat},
                    {attr("kernel_type", k), floats("kernel_params", {0.5f, 1.f, 3.f}), floats("support_vectors", kSv),
                     floats("coefficients", coef), floats("rho", {0.1f}), attr("n_supports", int64_t{5})});
    std::vector<float> want;
    for (int r = 0; r < 4; ++r) {
      double s = 0.1;
      for (int v = 0; v < 5; ++v) s += coef[v] * kern(k, &kX[2 * r], &kSv[2 * v], 0.5, 1, 3);
      want.push_back(static_cast<float>(s));
    }
    EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({4, 1}, want))) << k;
  }
}

TEST(MlSvm, RegressorLinearModeAndOneClass) {
  auto lin = run_ml("SVMRegressor", {make<float>({4, 2}, kX)}, {DataType::kFloat},
                    {floats("coefficients", {1.5f, -2.f}), floats("rho", {0.25f})});
  auto one = run_ml("SVMRegressor", {make<float>({4, 2}, kX)}, {DataType::kFloat},
                    {floats("coefficients", {1.5f, -2.f}), floats("rho", {0.25f}), attr("one_class", int64_t{1})});
  for (int r = 0; r < 4; ++r) {
    const double s = 0.25 + 1.5 * kX[2 * r] - 2 * kX[2 * r + 1];
    EXPECT_FLOAT_EQ(lin[0].tensor().data<float>()[r], static_cast<float>(s));
    EXPECT_FLOAT_EQ(one[0].tensor().data<float>()[r], s > 0 ? 1.f : -1.f);
  }
  // 3 support vector values for 2 vectors.
  EXPECT_THROW(run_ml("SVMRegressor", {make<float>({4, 2}, kX)}, {DataType::kFloat},
                      {floats("coefficients", {1.f, 2.f}), floats("rho", {0.f}), floats("support_vectors", {1, 2, 3}),
                       attr("n_supports", int64_t{2})}),
               Error);
  // 3 input features for 2-feature vectors.
  EXPECT_THROW(run_ml("SVMRegressor", {make<float>({1, 3}, {1, 2, 3})}, {DataType::kFloat},
                      {floats("coefficients", {1.f, 2.f}), floats("rho", {0.f})}),
               Error);
}

namespace {

// libsvm one-vs-one decision values and votes for 3 classes with 2, 1 and
// 2 support vectors; coefficients are [classes - 1, vectors].
const std::vector<int64_t> kPerClass = {2, 1, 2};
const std::vector<float> kCoef = {0.5f, 1.f, -0.5f, -1.f, 0.25f, 0.75f, -0.25f, 1.f, -1.f, -0.5f};
const std::vector<float> kRho = {0.1f, -0.2f, 0.3f};

std::vector<double> ref_ovo(const float* x, std::vector<int>& votes) {
  const int start[3] = {0, 2, 3};
  std::vector<double> dec;
  votes.assign(3, 0);
  for (int i = 0; i < 3; ++i)
    for (int j = i + 1; j < 3; ++j) {
      double s = kRho[dec.size()];
      for (int v = start[i]; v < start[i] + kPerClass[i]; ++v) s += kCoef[(j - 1) * 5 + v] * kern("RBF", x, &kSv[2 * v], 0.7, 0, 0);
      for (int v = start[j]; v < start[j] + kPerClass[j]; ++v) s += kCoef[i * 5 + v] * kern("RBF", x, &kSv[2 * v], 0.7, 0, 0);
      dec.push_back(s);
      ++votes[s > 0 ? i : j];
    }
  return dec;
}

std::vector<onnx::AttributeProto> svc_attrs() {
  return {attr("kernel_type", "RBF"), floats("kernel_params", {0.7f, 0.f, 0.f}), floats("support_vectors", kSv),
          floats("coefficients", kCoef), floats("rho", kRho), ints("vectors_per_class", kPerClass),
          ints("classlabels_ints", {4, 5, 6})};
}

}  // namespace

TEST(MlSvm, ClassifierOneVsOneVotes) {
  auto o = run_ml("SVMClassifier", {make<float>({4, 2}, kX)}, {DataType::kInt64, DataType::kFloat}, svc_attrs());
  EXPECT_EQ(o[1].tensor().shape(), (Shape{4, 3}));
  for (int r = 0; r < 4; ++r) {
    std::vector<int> votes;
    auto dec = ref_ovo(&kX[2 * r], votes);
    EXPECT_EQ(o[0].tensor().data<int64_t>()[r], 4 + (std::max_element(votes.begin(), votes.end()) - votes.begin()));
    for (int p = 0; p < 3; ++p) EXPECT_NEAR(o[1].tensor().data<float>()[3 * r + p], dec[p], 1e-6);
  }
}

TEST(MlSvm, ClassifierProbabilities) {
  auto a = svc_attrs();
  const std::vector<float> pa = {-1.5f, -2.f, -0.5f}, pb = {0.1f, -0.1f, 0.2f};
  a.push_back(floats("prob_a", pa));
  a.push_back(floats("prob_b", pb));
  auto o = run_ml("SVMClassifier", {make<float>({4, 2}, kX)}, {DataType::kInt64, DataType::kFloat}, a);
  EXPECT_EQ(o[1].tensor().shape(), (Shape{4, 3}));
  for (int r = 0; r < 4; ++r) {
    std::vector<int> votes;
    auto dec = ref_ovo(&kX[2 * r], votes);
    const float* p = o[1].tensor().data<float>() + 3 * r;
    EXPECT_NEAR(p[0] + p[1] + p[2], 1.0, 1e-5);
    // Coupled probabilities agree in direction with each pairwise one.
    double r01 = 1 / (1 + std::exp(dec[0] * pa[0] + pb[0]));
    if (std::fabs(r01 - 0.5) > 0.2) {
      EXPECT_EQ(r01 > 0.5, p[0] > p[1]) << r;
    }
    // The label still comes from the votes, as libsvm's predict.
    EXPECT_EQ(o[0].tensor().data<int64_t>()[r], 4 + (std::max_element(votes.begin(), votes.end()) - votes.begin()));
  }
}

TEST(MlSvm, ClassifierBinary) {
  // Two classes: 2 + 1 vectors, one pair. Z is [-d, d]; with Platt scaling
  // the coupling converges to the pairwise probability (libsvm's iteration
  // stops within 0.005 / k; tests/ml checks the exact values against
  // scikit-learn's libsvm).
  const std::vector<float> sv = {0.f, 0.f, 1.f, 1.f, -1.f, 0.5f}, coef = {0.5f, 1.f, -1.5f};
  std::vector<onnx::AttributeProto> a = {attr("kernel_type", "LINEAR"), floats("support_vectors", sv),
                                         floats("coefficients", coef), floats("rho", {-0.25f}),
                                         ints("vectors_per_class", {2, 1}), strings("classlabels_strings", {"a", "b"})};
  auto o = run_ml("SVMClassifier", {make<float>({4, 2}, kX)}, {DataType::kString, DataType::kFloat}, a);
  a.push_back(floats("prob_a", {-2.f}));
  a.push_back(floats("prob_b", {0.3f}));
  auto p = run_ml("SVMClassifier", {make<float>({4, 2}, kX)}, {DataType::kString, DataType::kFloat}, a);
  for (int r = 0; r < 4; ++r) {
    const float* x = &kX[2 * r];
    double d = -0.25;
    for (int v = 0; v < 3; ++v) d += coef[v] * (x[0] * sv[2 * v] + x[1] * sv[2 * v + 1]);
    EXPECT_EQ(o[0].tensor().data<std::string>()[r], d > 0 ? "a" : "b");
    EXPECT_NEAR(o[1].tensor().data<float>()[2 * r], -d, 1e-6);
    EXPECT_NEAR(o[1].tensor().data<float>()[2 * r + 1], d, 1e-6);
    const double pr = std::clamp(1 / (1 + std::exp(-2 * d + 0.3)), 1e-7, 1 - 1e-7);
    EXPECT_NEAR(p[1].tensor().data<float>()[2 * r], pr, 2.5e-3);
    EXPECT_NEAR(p[1].tensor().data<float>()[2 * r + 1], 1 - pr, 2.5e-3);
  }
}

TEST(MlSvm, ClassifierLinearModeAndErrors) {
  // No vectors_per_class: one coefficient row per class, rho[0] for all.
  auto o = run_ml("SVMClassifier", {make<float>({4, 2}, kX)}, {DataType::kInt64, DataType::kFloat},
                  {floats("coefficients", {1.f, 0.f, 0.f, 1.f, -1.f, 0.5f}), floats("rho", {0.5f}),
                   ints("classlabels_ints", {0, 1, 2})});
  for (int r = 0; r < 4; ++r) {
    const double s[3] = {0.5 + kX[2 * r], 0.5 + kX[2 * r + 1], 0.5 - kX[2 * r] + 0.5 * kX[2 * r + 1]};
    EXPECT_EQ(o[0].tensor().data<int64_t>()[r], std::max_element(s, s + 3) - s);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(o[1].tensor().data<float>()[3 * r + c], s[c], 1e-6);
  }
  auto bad = svc_attrs();
  bad[4] = floats("coefficients", {1.f, 2.f});
  EXPECT_THROW(run_ml("SVMClassifier", {make<float>({4, 2}, kX)}, {DataType::kInt64, DataType::kFloat}, bad), Error);
  auto bad2 = svc_attrs();
  bad2[5] = ints("vectors_per_class", {2, 3});
  EXPECT_THROW(run_ml("SVMClassifier", {make<float>({4, 2}, kX)}, {DataType::kInt64, DataType::kFloat}, bad2), Error);
  auto bad3 = svc_attrs();
  bad3[0] = attr("kernel_type", "CUBIC");
  EXPECT_THROW(run_ml("SVMClassifier", {make<float>({4, 2}, kX)}, {DataType::kInt64, DataType::kFloat}, bad3), Error);
  EXPECT_THROW(run_ml("SVMClassifier", {make<float>({1, 3}, {1, 2, 3})}, {DataType::kInt64, DataType::kFloat}, svc_attrs()),
               Error);
}
