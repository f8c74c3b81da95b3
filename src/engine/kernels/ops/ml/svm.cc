// SVMRegressor and SVMClassifier (ai.onnx.ml 1), in double precision.
//
// Kernels (kernel_params = [gamma, coef0, degree]):
//   LINEAR <x, v>   POLY (gamma <x, v> + coef0)^degree
//   RBF exp(-gamma |x - v|^2)   SIGMOID tanh(gamma <x, v> + coef0)
//
// SVMClassifier with vectors_per_class is libsvm's one-vs-one layout:
// coefficients is [classes - 1, vectors] (libsvm's sv_coef), rho has one
// entry per class pair (i, j), i < j, in order, and the decision value of a
// pair is  sum_{v in i} coef[j-1][v] K(x, v) + sum_{v in j} coef[i][v] K(x, v)
// + rho[pair]; a positive value votes for i. The label is the class with
// most votes (the first on ties), as libsvm predicts.
//   Z without prob_a/prob_b: the pair decision values ([-d, d] for two
//   classes), post-transformed.
//   Z with prob_a/prob_b (Platt scaling): pair probabilities
//   1 / (1 + exp(d * A + B)), clipped to [1e-7, 1 - 1e-7], coupled into
//   class probabilities with libsvm's iterative method (Wu, Lin and Weng
//   2004), then post-transformed.
// Without vectors_per_class (linear mode) each class has a coefficient row
// and its score is <x, coef_c> + rho[0]; the label is the highest score.
#include <algorithm>
#include <cmath>

#include "kernels/kernel.h"
#include "kernels/util/ml_common.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace {

using ml::PostTransform;

class SvmKernelFn {
 public:
  enum Type { kLinear, kPoly, kRbf, kSigmoid };
  explicit SvmKernelFn(const ir::Node& node) {
    const std::string t = node.attr_string("kernel_type", "LINEAR");
    if (t == "LINEAR") type_ = kLinear;
    else if (t == "POLY") type_ = kPoly;
    else if (t == "RBF") type_ = kRbf;
    else if (t == "SIGMOID") type_ = kSigmoid;
    else ml::bad_attr("kernel_type \"" + t + "\" is not one of LINEAR, POLY, RBF, SIGMOID");
    const auto p = node.attr_floats("kernel_params");
    if (!p.empty() && p.size() != 3)
      ml::bad_attr("kernel_params must hold gamma, coef0 and degree, got " + std::to_string(p.size()) + " values");
    if (p.size() == 3) {
      gamma_ = p[0];
      coef0_ = p[1];
      degree_ = p[2];
    }
  }
  void force_linear() { type_ = kLinear; }

  // out[v] = K(x, sv_v) for the v support vectors stored transposed in
  // svt ([f, n]): the inner loops run over vectors, so they vectorize.
  void values(const double* x, const double* svt, int64_t n, int64_t f, double* out) const {
    std::fill(out, out + n, 0.0);
    if (type_ == kRbf) {
      for (int64_t j = 0; j < f; ++j) {
        const double xj = x[j];
        const double* s = svt + j * n;
        for (int64_t v = 0; v < n; ++v) {
          const double d = xj - s[v];
          out[v] += d * d;
        }
      }
      for (int64_t v = 0; v < n; ++v) out[v] = std::exp(-gamma_ * out[v]);
      return;
    }
    for (int64_t j = 0; j < f; ++j) {
      const double xj = x[j];
      const double* s = svt + j * n;
      for (int64_t v = 0; v < n; ++v) out[v] += xj * s[v];
    }
    if (type_ == kPoly)
      for (int64_t v = 0; v < n; ++v) out[v] = std::pow(gamma_ * out[v] + coef0_, degree_);
    else if (type_ == kSigmoid)
      for (int64_t v = 0; v < n; ++v) out[v] = std::tanh(gamma_ * out[v] + coef0_);
  }

  double operator()(const double* x, const double* v, int64_t f) const {
    if (type_ == kRbf) {
      double d = 0;
      for (int64_t j = 0; j < f; ++j) {
        const double t = x[j] - v[j];
        d += t * t;
      }
      return std::exp(-gamma_ * d);
    }
    double dot = 0;
    for (int64_t j = 0; j < f; ++j) dot += x[j] * v[j];
    switch (type_) {
      case kPoly: return std::pow(gamma_ * dot + coef0_, degree_);
      case kSigmoid: return std::tanh(gamma_ * dot + coef0_);
      default: return dot;
    }
  }

 private:
  Type type_ = kLinear;
  double gamma_ = 0, coef0_ = 0, degree_ = 0;
};

std::vector<double> doubles(const ir::Node& node, const char* name) {
  const auto f = node.attr_floats(name);
  return std::vector<double>(f.begin(), f.end());
}

void check_features(const char* op, int64_t got, int64_t want) {
  if (got != want)
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": the input has " + std::to_string(got) +
                                                 " features, the model expects " + std::to_string(want));
}

// Runs fn(r, xrow, scratch) for the rows of x in parallel, rows converted
// to double; scratch is a per-thread buffer of `scratch_size` doubles.
template <typename F>
void for_each_row(KernelContext& ctx, const Tensor& x, const ml::Rows& rows, int64_t per_row, int64_t scratch_size,
                  F&& fn) {
  parallel_for(ctx.threads(), rows.n, ml::row_grain(per_row), [&](int64_t begin, int64_t end) {
    std::vector<double> xr(static_cast<size_t>(rows.f)), scratch(static_cast<size_t>(scratch_size));
    for (int64_t r = begin; r < end; ++r) {
      ml::rows_as_double(x, r, r + 1, rows.f, xr.data());
      fn(r, xr.data(), scratch.data());
    }
  });
}

// [n, f] row-major -> [f, n].
std::vector<double> transposed(const std::vector<double>& a, int64_t n, int64_t f) {
  std::vector<double> t(a.size());
  for (int64_t v = 0; v < n; ++v)
    for (int64_t j = 0; j < f; ++j) t[j * n + v] = a[v * f + j];
  return t;
}

class SVMRegressorKernel final : public OpKernel {
 public:
  explicit SVMRegressorKernel(const KernelInit& init)
      : kernel_(init.node),
        sv_(doubles(init.node, "support_vectors")),
        coef_(doubles(init.node, "coefficients")),
        rho_(doubles(init.node, "rho")),
        n_supports_(init.node.attr_int("n_supports", 0)),
        one_class_(init.node.attr_int("one_class", 0) != 0),
        post_(ml::parse_post_transform(init.node)) {
    if (rho_.empty()) ml::bad_attr("rho must hold the intercept");
    if (n_supports_ < 0) ml::bad_attr("n_supports must not be negative");
    if (n_supports_ > 0) {
      if (sv_.size() % static_cast<size_t>(n_supports_) != 0)
        ml::bad_attr(std::to_string(sv_.size()) + " support vector values do not split into " +
                     std::to_string(n_supports_) + " vectors");
      if (static_cast<int64_t>(coef_.size()) != n_supports_)
        ml::bad_attr("coefficients has " + std::to_string(coef_.size()) + " entries for " +
                     std::to_string(n_supports_) + " support vectors");
      features_ = static_cast<int64_t>(sv_.size()) / n_supports_;
      svt_ = transposed(sv_, n_supports_, features_);
    } else {
      kernel_.force_linear();  // linear mode: coefficients are the weights
      features_ = static_cast<int64_t>(coef_.size());
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const ml::Rows rows = ml::rows_of(x, "SVMRegressor");
    check_features("SVMRegressor", rows.f, features_);
    float* y = ctx.allocate(0, DataType::kFloat, {rows.n, 1}).data<float>();
    const int64_t nsv = n_supports_;
    for_each_row(ctx, x, rows, features_ * std::max<int64_t>(nsv, 1), nsv, [&](int64_t r, const double* xr, double* kv) {
      double s = rho_[0];
      if (nsv > 0) {
        kernel_.values(xr, svt_.data(), nsv, features_, kv);
        for (int64_t v = 0; v < nsv; ++v) s += coef_[v] * kv[v];
      } else {
        s += kernel_(xr, coef_.data(), features_);
      }
      if (one_class_) {
        s = s > 0 ? 1.0 : -1.0;
      } else {
        ml::apply_post_transform(post_, &s, 1);
      }
      y[r] = static_cast<float>(s);
    });
  }

 private:
  SvmKernelFn kernel_;
  std::vector<double> sv_, coef_, rho_;
  std::vector<double> svt_;  // support vectors transposed, [features, n_supports]
  int64_t n_supports_;
  bool one_class_;
  PostTransform post_;
  int64_t features_ = 0;
};

// Pairwise coupling of libsvm: r is k x k with r[i][j] = P(i | i or j);
// writes class probabilities to p.
void couple_probabilities(int64_t k, const double* r, double* p) {
  std::vector<double> q(static_cast<size_t>(k * k), 0.0), qp(static_cast<size_t>(k));
  for (int64_t t = 0; t < k; ++t) {
    p[t] = 1.0 / static_cast<double>(k);
    for (int64_t j = 0; j < k; ++j) {
      if (j == t) continue;
      q[t * k + t] += r[j * k + t] * r[j * k + t];
      q[t * k + j] = j < t ? q[j * k + t] : -r[j * k + t] * r[t * k + j];
    }
  }
  const int64_t max_iter = std::max<int64_t>(100, k);
  const double eps = 0.005 / static_cast<double>(k);
  for (int64_t it = 0; it < max_iter; ++it) {
    double pqp = 0;
    for (int64_t t = 0; t < k; ++t) {
      qp[t] = 0;
      for (int64_t j = 0; j < k; ++j) qp[t] += q[t * k + j] * p[j];
      pqp += p[t] * qp[t];
    }
    double max_error = 0;
    for (int64_t t = 0; t < k; ++t) max_error = std::max(max_error, std::fabs(qp[t] - pqp));
    if (max_error < eps) break;
    for (int64_t t = 0; t < k; ++t) {
      const double diff = (-qp[t] + pqp) / q[t * k + t];
      p[t] += diff;
      pqp = (pqp + diff * (diff * q[t * k + t] + 2 * qp[t])) / (1 + diff) / (1 + diff);
      for (int64_t j = 0; j < k; ++j) {
        qp[j] = (qp[j] + diff * q[t * k + j]) / (1 + diff);
        p[j] /= 1 + diff;
      }
    }
  }
}

class SVMClassifierKernel final : public OpKernel {
 public:
  explicit SVMClassifierKernel(const KernelInit& init)
      : labels_(ml::ClassLabels::from_node(init.node, "classlabels_ints")),
        kernel_(init.node),
        sv_(doubles(init.node, "support_vectors")),
        coef_(doubles(init.node, "coefficients")),
        rho_(doubles(init.node, "rho")),
        prob_a_(doubles(init.node, "prob_a")),
        prob_b_(doubles(init.node, "prob_b")),
        post_(ml::parse_post_transform(init.node)) {
    const int64_t k = labels_.size();
    pairs_ = k * (k - 1) / 2;
    const auto per_class = init.node.attr_ints("vectors_per_class");
    int64_t vectors = 0;
    for (int64_t c : per_class) {
      if (c < 0) ml::bad_attr("vectors_per_class must not be negative");
      start_.push_back(vectors);
      vectors += c;
    }
    if (rho_.empty()) ml::bad_attr("rho must be given");
    if (prob_a_.size() != prob_b_.size()) ml::bad_attr("prob_a and prob_b must have equal lengths");
    if (coef_.empty()) ml::bad_attr("coefficients must be given");
    if (vectors > 0) {
      svc_ = true;
      count_ = per_class;
      vectors_ = vectors;
      if (static_cast<int64_t>(per_class.size()) != k)
        ml::bad_attr("vectors_per_class has " + std::to_string(per_class.size()) + " entries for " +
                     std::to_string(k) + " classes");
      if (k < 2) ml::bad_attr("a support vector classifier needs at least 2 classes");
      if (sv_.size() % static_cast<size_t>(vectors) != 0)
        ml::bad_attr(std::to_string(sv_.size()) + " support vector values do not split into " +
                     std::to_string(vectors) + " vectors");
      features_ = static_cast<int64_t>(sv_.size()) / vectors;
      svt_ = transposed(sv_, vectors, features_);
      if (static_cast<int64_t>(coef_.size()) != (k - 1) * vectors)
        ml::bad_attr("coefficients has " + std::to_string(coef_.size()) + " entries, expected (classes - 1) * " +
                     "vectors = " + std::to_string((k - 1) * vectors));
      if (static_cast<int64_t>(rho_.size()) < pairs_)
        ml::bad_attr("rho has " + std::to_string(rho_.size()) + " entries for " + std::to_string(pairs_) +
                     " class pairs");
      if (!prob_a_.empty() && static_cast<int64_t>(prob_a_.size()) < pairs_)
        ml::bad_attr("prob_a has " + std::to_string(prob_a_.size()) + " entries for " + std::to_string(pairs_) +
                     " class pairs");
    } else {
      kernel_.force_linear();
      if (coef_.size() % static_cast<size_t>(k) != 0)
        ml::bad_attr(std::to_string(coef_.size()) + " coefficients do not split into " + std::to_string(k) +
                     " class rows");
      features_ = static_cast<int64_t>(coef_.size()) / k;
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const ml::Rows rows = ml::rows_of(x, "SVMClassifier");
    check_features("SVMClassifier", rows.f, features_);
    const int64_t k = labels_.size();
    const bool proba = svc_ && !prob_a_.empty();
    const int64_t zcols = !svc_ || proba ? k : (k == 2 ? 2 : pairs_);
    Tensor& y = ctx.allocate(0, labels_.dtype(), {rows.n});
    float* z = ctx.wants_output(1) ? ctx.allocate(1, DataType::kFloat, {rows.n, zcols}).data<float>() : nullptr;
    const int64_t per_row = features_ * (svc_ ? vectors_ : k) + k * k;
    // scratch: scores | kernel values | pairwise probabilities | votes
    const int64_t n_scores = std::max(zcols, pairs_);
    const int64_t scratch = n_scores + vectors_ + (proba ? k * k : 0) + k;
    for_each_row(ctx, x, rows, per_row, scratch, [&](int64_t r, const double* xr, double* buf) {
      double* scores = buf;
      int64_t best = 0;
      if (!svc_) {
        for (int64_t c = 0; c < k; ++c) {
          scores[c] = rho_[0] + kernel_(xr, coef_.data() + c * features_, features_);
          if (scores[c] > scores[best]) best = c;
        }
      } else {
        best = decide(xr, scores, buf + n_scores, buf + n_scores + vectors_ + (proba ? k * k : 0));
        if (proba) {
          double* pr = buf + n_scores + vectors_;
          std::fill(pr, pr + k * k, 0.0);
          for (int64_t i = 0, p = 0; i < k; ++i)
            for (int64_t j = i + 1; j < k; ++j, ++p) {
              const double v = std::clamp(1.0 / (1.0 + std::exp(scores[p] * prob_a_[p] + prob_b_[p])), 1e-7, 1 - 1e-7);
              pr[i * k + j] = v;
              pr[j * k + i] = 1 - v;
            }
          couple_probabilities(k, pr, scores);
        } else if (k == 2) {
          scores[1] = scores[0];
          scores[0] = -scores[1];
        }
      }
      labels_.write(y, r, best);
      if (!z) return;
      ml::apply_post_transform(post_, scores, zcols);
      for (int64_t c = 0; c < zcols; ++c) z[r * zcols + c] = static_cast<float>(scores[c]);
    });
  }

 private:
  // One-vs-one decision values into dec[0..pairs); returns the voted class.
  // kv (vectors) and votes (classes) are scratch.
  int64_t decide(const double* x, double* dec, double* kv, double* votes) const {
    const int64_t k = labels_.size();
    kernel_.values(x, svt_.data(), vectors_, features_, kv);
    std::fill(votes, votes + k, 0.0);
    int64_t p = 0;
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t j = i + 1; j < k; ++j, ++p) {
        double s = rho_[p];
        const double* ci = coef_.data() + (j - 1) * vectors_;  // coefficients of class i's vectors vs j
        const double* cj = coef_.data() + i * vectors_;        // coefficients of class j's vectors vs i
        for (int64_t v = start_[i]; v < start_[i] + count_[i]; ++v) s += ci[v] * kv[v];
        for (int64_t v = start_[j]; v < start_[j] + count_[j]; ++v) s += cj[v] * kv[v];
        dec[p] = s;
        votes[s > 0 ? i : j] += 1;
      }
    }
    return std::max_element(votes, votes + k) - votes;
  }

  ml::ClassLabels labels_;
  SvmKernelFn kernel_;
  std::vector<double> sv_, coef_, rho_, prob_a_, prob_b_;
  std::vector<double> svt_;  // support vectors transposed, [features, vectors]
  PostTransform post_;
  bool svc_ = false;
  std::vector<int64_t> start_, count_;
  int64_t vectors_ = 0, features_ = 0, pairs_ = 0;
};

}  // namespace

void register_kernels_ml_svm(KernelRegistry& r) {
  r.add("ai.onnx.ml", "SVMRegressor", 1, kOpenEnded, make_factory<SVMRegressorKernel>());
  r.add("ai.onnx.ml", "SVMClassifier", 1, kOpenEnded, make_factory<SVMClassifierKernel>());
}

}  // namespace pier::kernels
