#include "compare.h"

#include <cmath>
#include <cstring>

namespace pier::conformance {

namespace {

bool is_float(DataType t) {
  return t == DataType::kFloat || t == DataType::kDouble || t == DataType::kFloat16 || t == DataType::kBFloat16 ||
         t == DataType::kComplex64 || t == DataType::kComplex128;
}

double float_at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat: return t.data<float>()[i];
    case DataType::kDouble: return t.data<double>()[i];
    case DataType::kFloat16: return static_cast<float>(t.data<Float16>()[i]);
    case DataType::kBFloat16: return static_cast<float>(t.data<BFloat16>()[i]);
    case DataType::kComplex64: return static_cast<const float*>(t.raw())[i];
    case DataType::kComplex128: return static_cast<const double*>(t.raw())[i];
    default: return 0;
  }
}

std::string fmt(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

}  // namespace

std::string compare_tensors(const Tensor& got, const Tensor& want, double rtol, double atol) {
  if (got.dtype() != want.dtype())
    return std::string("type ") + dtype_name(got.dtype()) + ", want " + dtype_name(want.dtype());
  if (got.shape() != want.shape()) return "shape " + shape_str(got.shape()) + ", want " + shape_str(want.shape());
  const int64_t n = got.numel();
  int64_t bad = 0, first = -1;
  std::string first_msg;
  if (is_float(got.dtype())) {
    const int64_t m = (got.dtype() == DataType::kComplex64 || got.dtype() == DataType::kComplex128) ? 2 * n : n;
    for (int64_t i = 0; i < m; ++i) {
      const double g = float_at(got, i), w = float_at(want, i);
      bool ok;
      if (std::isnan(w)) ok = std::isnan(g);
      else if (std::isinf(w)) ok = g == w;
      else ok = std::fabs(g - w) <= atol + rtol * std::fabs(w);
      if (!ok) {
        if (first < 0) {
          first = i;
          first_msg = "got " + fmt(g) + ", want " + fmt(w);
        }
        ++bad;
      }
    }
  } else if (got.dtype() == DataType::kString) {
    for (int64_t i = 0; i < n; ++i) {
      if (got.data<std::string>()[i] != want.data<std::string>()[i]) {
        if (first < 0) {
          first = i;
          first_msg = "got \"" + got.data<std::string>()[i] + "\", want \"" + want.data<std::string>()[i] + "\"";
        }
        ++bad;
      }
    }
  } else {
    const size_t es = dtype_size(got.dtype());
    const auto* g = static_cast<const unsigned char*>(got.raw());
    const auto* w = static_cast<const unsigned char*>(want.raw());
    for (int64_t i = 0; i < n; ++i) {
      bool same = got.dtype() == DataType::kBool ? (g[i] != 0) == (w[i] != 0) : std::memcmp(g + i * es, w + i * es, es) == 0;
      if (!same) {
        if (first < 0) {
          first = i;
          first_msg = "values differ";
        }
        ++bad;
      }
    }
  }
  if (bad == 0) return "";
  return std::to_string(bad) + " of " + std::to_string(n) + " values differ; first at " + std::to_string(first) + ": " +
         first_msg;
}

std::string compare_values(const Value& got, const Value& want, double rtol, double atol) {
  if (got.kind() != want.kind()) {
    auto name = [](const Value& v) { return v.is_none() ? "none" : v.is_sequence() ? "sequence" : "tensor"; };
    return std::string("got a ") + name(got) + ", want a " + name(want);
  }
  if (got.is_none()) return "";
  if (got.is_tensor()) return compare_tensors(got.tensor(), want.tensor(), rtol, atol);
  if (got.items().size() != want.items().size())
    return "sequence of " + std::to_string(got.items().size()) + ", want " + std::to_string(want.items().size());
  for (size_t i = 0; i < got.items().size(); ++i) {
    std::string why = compare_tensors(got.items()[i], want.items()[i], rtol, atol);
    if (!why.empty()) return "item " + std::to_string(i) + ": " + why;
  }
  return "";
}

}  // namespace pier::conformance
