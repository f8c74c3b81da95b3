#include "kernels/util/ml_common.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pier::kernels::ml {

void bad_attr(const std::string& message) { throw Error(ErrorCode::kInvalidModel, message); }

PostTransform parse_post_transform(const ir::Node& node) {
  const std::string s = node.attr_string("post_transform", "NONE");
  if (s == "NONE") return PostTransform::kNone;
  if (s == "LOGISTIC") return PostTransform::kLogistic;
  if (s == "SOFTMAX") return PostTransform::kSoftmax;
  if (s == "SOFTMAX_ZERO") return PostTransform::kSoftmaxZero;
  if (s == "PROBIT") return PostTransform::kProbit;
  bad_attr("post_transform \"" + s + "\" is not one of NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT");
}

double logistic(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

double probit(double p) {
  double x = 2.0 * p - 1.0;
  const double sign = x < 0 ? -1.0 : 1.0;
  x = (1.0 - x) * (1.0 + x);
  if (x == 0) return 0;  // |2p - 1| == 1: the approximation is undefined there
  const double lg = std::log(x);
  const double a = 0.147;
  const double v = 2.0 / (M_PI * a) + 0.5 * lg;
  const double v2 = lg / a;
  const double erfinv = sign * std::sqrt(-v + std::sqrt(v * v - v2));
  return 1.41421356 * erfinv;
}

void apply_post_transform(PostTransform t, double* s, int64_t n) {
  if (n <= 0) return;
  switch (t) {
    case PostTransform::kNone: return;
    case PostTransform::kLogistic:
      for (int64_t i = 0; i < n; ++i) s[i] = logistic(s[i]);
      return;
    case PostTransform::kProbit:
      for (int64_t i = 0; i < n; ++i) s[i] = probit(s[i]);
      return;
    case PostTransform::kSoftmax: {
      const double mx = *std::max_element(s, s + n);
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += (s[i] = std::exp(s[i] - mx));
      for (int64_t i = 0; i < n; ++i) s[i] /= sum;
      return;
    }
    case PostTransform::kSoftmaxZero: {
      const double mx = *std::max_element(s, s + n);
      const double exp_neg_max = std::exp(-mx);
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (s[i] > 1e-7 || s[i] < -1e-7)
          s[i] = std::exp(s[i] - mx);
        else
          s[i] *= exp_neg_max;
        sum += s[i];
      }
      if (sum == 0) {
        for (int64_t i = 0; i < n; ++i) s[i] = 1.0 / static_cast<double>(n);
      } else {
        for (int64_t i = 0; i < n; ++i) s[i] /= sum;
      }
      return;
    }
  }
}

ClassLabels ClassLabels::from_node(const ir::Node& node, const char* ints_attr) {
  ClassLabels c;
  c.ints = node.attr_ints(ints_attr);
  c.strings = node.attr_strings("classlabels_strings");
  if (c.ints.empty() == c.strings.empty())
    bad_attr(std::string("exactly one of ") + ints_attr + " and classlabels_strings must be given");
  c.is_string = !c.strings.empty();
  return c;
}

void ClassLabels::write(Tensor& out, int64_t i, int64_t k) const {
  if (is_string)
    out.data<std::string>()[i] = strings[static_cast<size_t>(k)];
  else
    out.data<int64_t>()[i] = ints[static_cast<size_t>(k)];
}

bool is_ml_numeric(DataType t) {
  return t == DataType::kFloat || t == DataType::kDouble || t == DataType::kInt32 || t == DataType::kInt64;
}

Rows rows_of(const Tensor& x, const char* op) {
  if (!is_ml_numeric(x.dtype()))
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": input type " + dtype_name(x.dtype()) +
                                                 " is not float, double, int32 or int64");
  if (x.rank() == 1) return Rows{1, x.dim(0)};
  if (x.rank() == 2) return Rows{x.dim(0), x.dim(1)};
  throw Error(ErrorCode::kInvalidArgument,
              std::string(op) + ": input must be [N, F] or [F], got shape " + shape_str(x.shape()));
}

void rows_as_double(const Tensor& x, int64_t begin, int64_t end, int64_t f, double* out) {
  const int64_t off = begin * f, n = (end - begin) * f;
  switch (x.dtype()) {
    case DataType::kFloat: {
      const float* p = x.data<float>() + off;
      for (int64_t i = 0; i < n; ++i) out[i] = p[i];
      break;
    }
    case DataType::kDouble: std::copy(x.data<double>() + off, x.data<double>() + off + n, out); break;
    case DataType::kInt32: {
      const int32_t* p = x.data<int32_t>() + off;
      for (int64_t i = 0; i < n; ++i) out[i] = p[i];
      break;
    }
    case DataType::kInt64: {
      const int64_t* p = x.data<int64_t>() + off;
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<double>(p[i]);
      break;
    }
    default:
      throw Error(ErrorCode::kInvalidArgument,
                  std::string("input type ") + dtype_name(x.dtype()) + " is not float, double, int32 or int64");
  }
}

std::vector<double> as_double_vector(const Tensor& x) {
  std::vector<double> v(static_cast<size_t>(x.numel()));
  if (x.numel() > 0) rows_as_double(x, 0, 1, x.numel(), v.data());
  return v;
}

std::vector<double> floats_or_tensor(const ir::Node& node, const std::string& name) {
  const std::string tname = name + "_as_tensor";
  const bool has_list = node.has_attr(name), has_tensor = node.has_attr(tname);
  if (has_list && has_tensor) bad_attr("only one of " + name + " and " + tname + " may be given");
  if (has_tensor) {
    const Tensor& t = node.req_tensor(tname);
    if (t.dtype() != DataType::kDouble && t.dtype() != DataType::kFloat)
      bad_attr(tname + " must be a double or float tensor, got " + dtype_name(t.dtype()));
    return as_double_vector(t);
  }
  const std::vector<float> f = node.attr_floats(name);
  return std::vector<double>(f.begin(), f.end());
}

int64_t row_grain(int64_t per_row, int64_t work) { return std::max<int64_t>(1, work / std::max<int64_t>(per_row, 1)); }

}  // namespace pier::kernels::ml
