// LinearRegressor and LinearClassifier (ai.onnx.ml 1).
//
// Scores are X * coefficients^T + intercepts, accumulated in double, one
// coefficient row per target/class. LinearClassifier with one coefficient
// row and two labels is the binary case: the row scores the second class,
// Z is the post-transform of [-s, s] and the label is the second class when
// s > 0. Otherwise the label is the first class with the highest raw score.
#include <algorithm>

#include "kernels/kernel.h"
#include "kernels/util/ml_common.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace {

using ml::PostTransform;

// scores[r * m + t] = dot(x_r, coef_t) + intercept_t for rows [begin, end).
void linear_scores(const Tensor& x, int64_t begin, int64_t end, int64_t f, const std::vector<double>& coef,
                   const std::vector<double>& intercepts, int64_t m, std::vector<double>& xbuf, double* scores) {
  xbuf.resize(static_cast<size_t>((end - begin) * f));
  ml::rows_as_double(x, begin, end, f, xbuf.data());
  for (int64_t r = begin; r < end; ++r) {
    const double* xr = xbuf.data() + (r - begin) * f;
    for (int64_t t = 0; t < m; ++t) {
      const double* c = coef.data() + t * f;
      double s = intercepts.empty() ? 0.0 : intercepts[t];
      for (int64_t j = 0; j < f; ++j) s += xr[j] * c[j];
      scores[(r - begin) * m + t] = s;
    }
  }
}

class LinearRegressorKernel final : public OpKernel {
 public:
  explicit LinearRegressorKernel(const KernelInit& init)
      : targets_(init.node.attr_int("targets", 1)), post_(ml::parse_post_transform(init.node)) {
    const auto c = init.node.attr_floats("coefficients");
    const auto b = init.node.attr_floats("intercepts");
    coef_.assign(c.begin(), c.end());
    intercepts_.assign(b.begin(), b.end());
    if (targets_ < 1) ml::bad_attr("targets must be at least 1, got " + std::to_string(targets_));
    if (coef_.size() % static_cast<size_t>(targets_) != 0)
      ml::bad_attr("coefficients has " + std::to_string(coef_.size()) + " entries, not a multiple of targets " +
                   std::to_string(targets_));
    if (!intercepts_.empty() && static_cast<int64_t>(intercepts_.size()) != targets_)
      ml::bad_attr("intercepts has " + std::to_string(intercepts_.size()) + " entries, targets is " +
                   std::to_string(targets_));
    features_ = static_cast<int64_t>(coef_.size()) / targets_;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const ml::Rows rows = ml::rows_of(x, "LinearRegressor");
    if (rows.f != features_)
      throw Error(ErrorCode::kInvalidArgument, "LinearRegressor: the input has " + std::to_string(rows.f) +
                                                   " features, the coefficients expect " + std::to_string(features_));
    const int64_t m = targets_;
    float* y = ctx.allocate(0, DataType::kFloat, {rows.n, m}).data<float>();
    parallel_for(ctx.threads(), rows.n, ml::row_grain(features_ * m), [&](int64_t begin, int64_t end) {
      std::vector<double> xbuf, scores(static_cast<size_t>((end - begin) * m));
      linear_scores(x, begin, end, rows.f, coef_, intercepts_, m, xbuf, scores.data());
      for (int64_t r = begin; r < end; ++r) {
        double* s = scores.data() + (r - begin) * m;
        ml::apply_post_transform(post_, s, m);
        for (int64_t t = 0; t < m; ++t) y[r * m + t] = static_cast<float>(s[t]);
      }
    });
  }

 private:
  int64_t targets_;
  PostTransform post_;
  std::vector<double> coef_, intercepts_;
  int64_t features_ = 0;
};

class LinearClassifierKernel final : public OpKernel {
 public:
  explicit LinearClassifierKernel(const KernelInit& init)
      : labels_(ml::ClassLabels::from_node(init.node, "classlabels_ints")), post_(ml::parse_post_transform(init.node)) {
    const auto c = init.node.attr_floats("coefficients");
    const auto b = init.node.attr_floats("intercepts");
    coef_.assign(c.begin(), c.end());
    intercepts_.assign(b.begin(), b.end());
    if (coef_.empty()) ml::bad_attr("coefficients must be given");
    if (!intercepts_.empty()) {
      rows_ = static_cast<int64_t>(intercepts_.size());
      if (coef_.size() % intercepts_.size() != 0)
        ml::bad_attr("coefficients has " + std::to_string(coef_.size()) + " entries, not a multiple of the " +
                     std::to_string(rows_) + " intercepts");
      check_rows(rows_);
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const ml::Rows rows = ml::rows_of(x, "LinearClassifier");
    // Without intercepts the number of coefficient rows follows from F.
    int64_t m = rows_;
    if (m == 0) {
      if (rows.f == 0 || static_cast<int64_t>(coef_.size()) % rows.f != 0)
        throw Error(ErrorCode::kInvalidArgument, "LinearClassifier: " + std::to_string(coef_.size()) +
                                                     " coefficients do not split into rows of " +
                                                     std::to_string(rows.f) + " input features");
      m = static_cast<int64_t>(coef_.size()) / rows.f;
      check_rows(m);
    } else if (m * rows.f != static_cast<int64_t>(coef_.size())) {
      throw Error(ErrorCode::kInvalidArgument, "LinearClassifier: the input has " + std::to_string(rows.f) +
                                                   " features, the coefficients expect " +
                                                   std::to_string(coef_.size() / static_cast<size_t>(m)));
    }
    const bool binary = m == 1 && labels_.size() == 2;
    const int64_t k = binary ? 2 : m;
    Tensor& y = ctx.allocate(0, labels_.dtype(), {rows.n});
    float* z = ctx.wants_output(1) ? ctx.allocate(1, DataType::kFloat, {rows.n, k}).data<float>() : nullptr;
    parallel_for(ctx.threads(), rows.n, ml::row_grain(rows.f * m), [&](int64_t begin, int64_t end) {
      std::vector<double> xbuf, scores(static_cast<size_t>((end - begin) * m)), out(static_cast<size_t>(k));
      linear_scores(x, begin, end, rows.f, coef_, intercepts_, m, xbuf, scores.data());
      for (int64_t r = begin; r < end; ++r) {
        const double* s = scores.data() + (r - begin) * m;
        int64_t best = 0;
        if (binary) {
          out[0] = -s[0];
          out[1] = s[0];
          best = s[0] > 0 ? 1 : 0;
        } else {
          for (int64_t c = 0; c < k; ++c) {
            out[c] = s[c];
            if (s[c] > s[best]) best = c;
          }
        }
        labels_.write(y, r, best);
        if (!z) continue;
        ml::apply_post_transform(post_, out.data(), k);
        for (int64_t c = 0; c < k; ++c) z[r * k + c] = static_cast<float>(out[c]);
      }
    });
  }

 private:
  void check_rows(int64_t m) const {
    if (m != labels_.size() && !(m == 1 && labels_.size() == 2))
      throw Error(ErrorCode::kInvalidModel, "LinearClassifier: " + std::to_string(m) + " coefficient rows for " +
                                                std::to_string(labels_.size()) + " class labels");
  }

  ml::ClassLabels labels_;
  PostTransform post_;
  std::vector<double> coef_, intercepts_;
  int64_t rows_ = 0;  // coefficient rows, when known from the intercepts
};

}  // namespace

void register_kernels_ml_linear(KernelRegistry& r) {
  r.add("ai.onnx.ml", "LinearRegressor", 1, kOpenEnded, make_factory<LinearRegressorKernel>());
  r.add("ai.onnx.ml", "LinearClassifier", 1, kOpenEnded, make_factory<LinearClassifierKernel>());
}

}  // namespace pier::kernels
