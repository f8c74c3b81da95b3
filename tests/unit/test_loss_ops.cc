// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss against a direct
// evaluation of the spec's formulas, and the training-domain optimizers
// (Adagrad, Adam, Momentum) against their update rules.
#include <cmath>
#include <random>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

struct LossCase {
  Shape shape;  // [N, C, d...]
  std::string reduction = "mean";
  bool weighted = false;
  bool ignore = false;
  int64_t ignore_index = -1;
};

// Returns {loss, log_prob} computed from the definition.
std::pair<Tensor, Tensor> loss_ref(const Tensor& x, const std::vector<int64_t>& t, const std::vector<float>* w,
                                   const LossCase& c, bool softmax) {
  const int64_t N = x.dim(0), C = x.dim(1), D = x.numel() / (N * C);
  Tensor lp(DataType::kFloat, x.shape());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t d = 0; d < D; ++d) {
      double z = 0;
      for (int64_t k = 0; k < C; ++k) z += std::exp(double(x.data<float>()[(n * C + k) * D + d]));
      for (int64_t k = 0; k < C; ++k) {
        const double v = x.data<float>()[(n * C + k) * D + d];
        lp.data<float>()[(n * C + k) * D + d] = static_cast<float>(softmax ? v - std::log(z) : v);
      }
    }
  Shape ts{N};
  for (int i = 2; i < x.rank(); ++i) ts.push_back(x.dim(i));
  Tensor per(DataType::kFloat, ts);
  double sum = 0, wsum = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t d = 0; d < D; ++d) {
      const int64_t k = t[n * D + d];
      double l = 0, wk = 0;
      if (!(c.ignore && k == c.ignore_index)) {
        wk = w ? (*w)[k] : 1.0;
        l = -double(lp.data<float>()[(n * C + k) * D + d]) * wk;
      }
      per.data<float>()[n * D + d] = static_cast<float>(l);
      sum += l, wsum += wk;
    }
  if (c.reduction == "none") return {per, lp};
  double r = sum;
  if (c.reduction == "mean") r = (w || c.ignore) ? sum / wsum : sum / double(N * D);
  return {make<float>({}, {static_cast<float>(r)}), lp};
}

}  // namespace

TEST(LossOps, NllAndSoftmaxCrossEntropyMatchDefinition) {
  std::mt19937 rng(3);
  const LossCase cases[] = {
      {{4, 5}, "none"},         {{4, 5}, "sum", true},         {{4, 5}, "mean"},
      {{3, 4, 6}, "mean", true, true, 2}, {{2, 3, 2, 5}, "none", false, true, -5},
      {{2, 3, 2, 2, 3}, "sum", true, true, 10}, {{3, 6, 4}, "mean", false, true, 0},
  };
  for (const LossCase& c : cases)
    for (bool softmax : {false, true})
      for (bool i32 : {false, true}) {
        Tensor x = random_float(c.shape, 5, -3.f, 1.f);
        const int64_t C = c.shape[1];
        Shape ts{c.shape[0]};
        for (size_t i = 2; i < c.shape.size(); ++i) ts.push_back(c.shape[i]);
        std::vector<int64_t> t(static_cast<size_t>(shape_numel(ts)));
        std::uniform_int_distribution<int64_t> cls(0, C - 1);
        for (auto& v : t) v = cls(rng);
        if (c.ignore) t[0] = c.ignore_index, t[t.size() / 2] = c.ignore_index;
        std::vector<float> w;
        for (int64_t k = 0; k < C; ++k) w.push_back(0.2f + 0.3f * k);
        std::vector<Tensor> in = {x, i32 ? make<int32_t>(ts, std::vector<int32_t>(t.begin(), t.end()))
                                         : make<int64_t>(ts, t)};
        if (c.weighted) in.push_back(make<float>({C}, w));
        std::vector<onnx::AttributeProto> a = {attr("reduction", c.reduction)};
        if (c.ignore) a.push_back(attr("ignore_index", c.ignore_index));
        auto [want, lp] = loss_ref(x, t, c.weighted ? &w : nullptr, c, softmax);
        if (softmax) {
          auto y = run_node("SoftmaxCrossEntropyLoss", in, {DataType::kFloat, DataType::kFloat}, a, 13);
          EXPECT_TRUE(tensors_near(y[0].tensor(), want, 1e-5, 1e-6)) << shape_str(c.shape) << " " << c.reduction;
          EXPECT_TRUE(tensors_near(y[1].tensor(), lp, 1e-5, 1e-6));
          auto y12 = run_node("SoftmaxCrossEntropyLoss", in, {DataType::kFloat}, a, 12);
          EXPECT_TRUE(tensors_near(y12[0].tensor(), want, 1e-5, 1e-6));
        } else {
          auto y = run_node("NegativeLogLikelihoodLoss", in, {DataType::kFloat}, a, 13);
          EXPECT_TRUE(tensors_near(y[0].tensor(), want, 1e-5, 1e-6)) << shape_str(c.shape) << " " << c.reduction;
        }
      }
}

TEST(LossOps, DoubleInputAndAllIgnoredMeanIsNaN) {
  Tensor xd(DataType::kDouble, {2, 3});
  for (int i = 0; i < 6; ++i) xd.data<double>()[i] = -0.1 * (i + 1);
  auto y = run_node("NegativeLogLikelihoodLoss", {xd, make<int64_t>({2}, {2, 0})}, {DataType::kDouble},
                    {attr("reduction", "sum")});
  EXPECT_DOUBLE_EQ(y[0].tensor().data<double>()[0], 0.3 + 0.4);
  auto nan = run_node("NegativeLogLikelihoodLoss", {random_float({2, 3}, 1), make<int64_t>({2}, {7, 7})},
                      {DataType::kFloat}, {attr("ignore_index", int64_t{7})});
  EXPECT_TRUE(std::isnan(nan[0].tensor().data<float>()[0]));
}

TEST(LossOps, BadInputsAreErrors) {
  Tensor x = random_float({2, 3, 4}, 1);
  EXPECT_THROW(run_node("NegativeLogLikelihoodLoss", {x, make<int64_t>({2, 4}, {0, 1, 2, 3, 0, 0, 0, 0})},
                        {DataType::kFloat}),
               Error);  // target 3 >= C
  EXPECT_THROW(run_node("NegativeLogLikelihoodLoss", {x, make<int64_t>({2, 4}, {0, 1, 2, -1, 0, 0, 0, 0})},
                        {DataType::kFloat}, {attr("ignore_index", int64_t{5})}),
               Error);  // negative target that is not ignore_index
  EXPECT_THROW(run_node("SoftmaxCrossEntropyLoss", {x, make<int64_t>({2, 3}, {0, 1, 2, 0, 0, 0})}, {DataType::kFloat}),
               Error);  // target shape
  EXPECT_THROW(run_node("SoftmaxCrossEntropyLoss", {x, make<int64_t>({2, 4}, {0, 1, 2, 0, 0, 0, 0, 0}),
                                                    make<float>({2}, {1, 2})},
                        {DataType::kFloat}),
               Error);  // weight size
  EXPECT_THROW(run_node("SoftmaxCrossEntropyLoss", {x, make<int64_t>({2, 4}, {0, 1, 2, 0, 0, 0, 0, 0})},
                        {DataType::kFloat}, {attr("reduction", "max")}),
               Error);
}

namespace {

const char* kTraining = "ai.onnx.preview.training";

std::vector<Value> run_training(const std::string& op, const std::vector<Tensor>& in, int outputs,
                                std::vector<onnx::AttributeProto> attrs) {
  return run_node(op, in, std::vector<DataType>(static_cast<size_t>(outputs), DataType::kFloat), std::move(attrs), 17,
                  kTraining);
}

}  // namespace

TEST(TrainingOps, AdagradTwoTensors) {
  Tensor x1 = random_float({3}, 1), x2 = random_float({2, 2}, 2), g1 = random_float({3}, 3), g2 = random_float({2, 2}, 4);
  Tensor h1 = random_float({3}, 5, 0.f, 1.f), h2 = random_float({2, 2}, 6, 0.f, 1.f);
  const float r = 0.1f, norm = 0.01f, eps = 1e-5f, decay = 0.1f;
  const int64_t t = 3;
  auto out = run_training("Adagrad", {make<float>({}, {r}), make<int64_t>({}, {t}), x1, x2, g1, g2, h1, h2}, 4,
                          {attr("norm_coefficient", norm), attr("epsilon", eps), attr("decay_factor", decay)});
  const Tensor* xs[] = {&x1, &x2};
  const Tensor* gs[] = {&g1, &g2};
  const Tensor* hs[] = {&h1, &h2};
  for (int k = 0; k < 2; ++k) {
    Tensor xn(DataType::kFloat, xs[k]->shape()), hn(DataType::kFloat, xs[k]->shape());
    for (int64_t i = 0; i < xs[k]->numel(); ++i) {
      const double x = xs[k]->data<float>()[i], g = gs[k]->data<float>()[i] + norm * x;
      const double h = hs[k]->data<float>()[i] + g * g;
      hn.data<float>()[i] = float(h);
      xn.data<float>()[i] = float(x - r / (1 + t * decay) * g / (std::sqrt(h) + eps));
    }
    EXPECT_TRUE(tensors_near(out[k].tensor(), xn, 1e-5, 1e-6));
    EXPECT_TRUE(tensors_near(out[2 + k].tensor(), hn, 1e-5, 1e-6));
  }
}

TEST(TrainingOps, AdamWithBiasCorrectionAndPostNorm) {
  Tensor x = random_float({5}, 7), g = random_float({5}, 8), v = random_float({5}, 9), h = random_float({5}, 10, 0.f, 1.f);
  const double r = 0.05, alpha = 0.9, beta = 0.99, eps = 1e-3, norm = 0.02, post = 0.1;
  for (int64_t t : {0, 4}) {
    auto out = run_training("Adam", {make<float>({}, {float(r)}), make<int64_t>({}, {t}), x, g, v, h}, 3,
                            {attr("alpha", float(alpha)), attr("beta", float(beta)), attr("epsilon", float(eps)),
                             attr("norm_coefficient", float(norm)), attr("norm_coefficient_post", float(post))});
    for (int64_t i = 0; i < 5; ++i) {
      const double a = float(alpha), b = float(beta), e = float(eps), nc = float(norm), np = float(post);
      const double xi = x.data<float>()[i], gr = g.data<float>()[i] + nc * xi;
      const double vn = a * v.data<float>()[i] + (1 - a) * gr;
      const double hn = b * h.data<float>()[i] + (1 - b) * gr * gr;
      const double ra = t > 0 ? float(r) * std::sqrt(1 - std::pow(b, t)) / (1 - std::pow(a, t)) : float(r);
      EXPECT_NEAR(out[0].tensor().data<float>()[i], (1 - np) * (xi - ra * vn / (std::sqrt(hn) + e)), 1e-6);
      EXPECT_NEAR(out[1].tensor().data<float>()[i], vn, 1e-6);
      EXPECT_NEAR(out[2].tensor().data<float>()[i], hn, 1e-6);
    }
  }
}

TEST(TrainingOps, MomentumStandardAndNesterov) {
  Tensor x = random_float({6}, 11), g = random_float({6}, 12), v = random_float({6}, 13);
  const float r = 0.1f, alpha = 0.9f, beta = 0.5f, norm = 0.01f;
  for (const char* mode : {"standard", "nesterov"})
    for (int64_t t : {0, 2}) {
      auto out = run_training("Momentum", {make<float>({}, {r}), make<int64_t>({}, {t}), x, g, v}, 2,
                              {attr("alpha", alpha), attr("beta", beta), attr("mode", mode),
                               attr("norm_coefficient", norm)});
      for (int64_t i = 0; i < 6; ++i) {
        const double xi = x.data<float>()[i], gr = g.data<float>()[i] + double(norm) * xi;
        const double vn = double(alpha) * v.data<float>()[i] + (t > 0 ? double(beta) : 1.0) * gr;
        const double xn = std::string(mode) == "nesterov" ? xi - r * (gr + double(alpha) * vn) : xi - r * vn;
        EXPECT_NEAR(out[0].tensor().data<float>()[i], xn, 1e-6) << mode;
        EXPECT_NEAR(out[1].tensor().data<float>()[i], vn, 1e-6) << mode;
      }
    }
}

TEST(TrainingOps, BadInputsAreErrors) {
  Tensor x = random_float({3}, 1);
  EXPECT_THROW(run_training("Adagrad", {make<float>({}, {0.1f}), make<int64_t>({}, {0}), x, x, random_float({4}, 2)}, 2,
                            {}),
               Error);  // state shape
  EXPECT_THROW(run_training("Momentum", {make<float>({}, {0.1f}), make<int64_t>({}, {0}), x, x, x}, 2,
                            {attr("alpha", 0.9f), attr("beta", 0.1f), attr("mode", "heavy"),
                             attr("norm_coefficient", 0.f)}),
               Error);
}
