// Numeric feature transforms of ai.onnx.ml (all opset 1): Scaler,
// Normalizer, Binarizer, Imputer, ArrayFeatureExtractor, FeatureVectorizer.
//
// The feature axis is the last one; per-feature attributes have one entry
// per feature or a single entry for all.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernel.h"
#include "kernels/util/ml_common.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace {

constexpr int64_t kGrain = 1 << 14;

int64_t last_dim(const Tensor& x) { return x.rank() == 0 ? 1 : x.dim(-1); }

void check_per_feature(const char* op, const char* attr, size_t size, int64_t features) {
  if (size != 1 && static_cast<int64_t>(size) != features)
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": " + attr + " has " + std::to_string(size) +
                                                 " entries, the input has " + std::to_string(features) + " features");
}

void require_ml_numeric(const Tensor& x, const char* op) {
  if (!ml::is_ml_numeric(x.dtype()))
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": input type " + dtype_name(x.dtype()) +
                                                 " is not float, double, int32 or int64");
}

// Y = (X - offset) * scale, as float.
class ScalerKernel final : public OpKernel {
 public:
  explicit ScalerKernel(const KernelInit& init) {
    const auto o = init.node.attr_floats("offset");
    const auto s = init.node.attr_floats("scale");
    offset_.assign(o.begin(), o.end());
    scale_.assign(s.begin(), s.end());
    if (offset_.empty()) offset_ = {0.0};
    if (scale_.empty()) scale_ = {1.0};
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    require_ml_numeric(x, "Scaler");
    const int64_t f = last_dim(x);
    check_per_feature("Scaler", "offset", offset_.size(), f);
    check_per_feature("Scaler", "scale", scale_.size(), f);
    float* y = ctx.allocate(0, DataType::kFloat, x.shape()).data<float>();
    const bool o1 = offset_.size() == 1, s1 = scale_.size() == 1;
    parallel_for(ctx.threads(), x.numel(), kGrain, [&](int64_t begin, int64_t end) {
      std::vector<double> v(static_cast<size_t>(end - begin));
      ml::rows_as_double(x, begin, end, 1, v.data());
      for (int64_t i = begin; i < end; ++i) {
        const int64_t j = f ? i % f : 0;
        y[i] = static_cast<float>((v[i - begin] - offset_[o1 ? 0 : j]) * scale_[s1 ? 0 : j]);
      }
    });
  }

 private:
  std::vector<double> offset_, scale_;
};

// Each row divided by its max (MAX), sum of |x| (L1) or Euclidean norm
// (L2); a row whose divisor is zero is copied unchanged.
class NormalizerKernel final : public OpKernel {
 public:
  enum class Norm { kMax, kL1, kL2 };
  explicit NormalizerKernel(const KernelInit& init) {
    const std::string n = init.node.attr_string("norm", "MAX");
    if (n == "MAX") norm_ = Norm::kMax;
    else if (n == "L1") norm_ = Norm::kL1;
    else if (n == "L2") norm_ = Norm::kL2;
    else ml::bad_attr("norm \"" + n + "\" is not one of MAX, L1, L2");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const ml::Rows rows = ml::rows_of(x, "Normalizer");
    float* y = ctx.allocate(0, DataType::kFloat, x.shape()).data<float>();
    const int64_t f = rows.f;
    parallel_for(ctx.threads(), rows.n, ml::row_grain(f), [&](int64_t begin, int64_t end) {
      std::vector<double> v(static_cast<size_t>(f));
      for (int64_t r = begin; r < end; ++r) {
        ml::rows_as_double(x, r, r + 1, f, v.data());
        double d = 0;
        if (norm_ == Norm::kMax) {
          d = f ? *std::max_element(v.begin(), v.end()) : 0.0;
        } else if (norm_ == Norm::kL1) {
          for (double a : v) d += std::fabs(a);
        } else {
          for (double a : v) d += a * a;
          d = std::sqrt(d);
        }
        if (d == 0) d = 1;
        for (int64_t j = 0; j < f; ++j) y[r * f + j] = static_cast<float>(v[j] / d);
      }
    });
  }

 private:
  Norm norm_ = Norm::kMax;
};

// Y = 1 where X > threshold, else 0 (NaN gives 0), in X's type.
class BinarizerKernel final : public OpKernel {
 public:
  explicit BinarizerKernel(const KernelInit& init) : threshold_(init.node.attr_float("threshold", 0.f)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    require_ml_numeric(x, "Binarizer");
    Tensor& y = ctx.allocate(0, x.dtype(), x.shape());
    auto run = [&](auto tag) {
      using T = decltype(tag);
      const T* in = x.data<T>();
      T* out = y.data<T>();
      const double th = threshold_;
      parallel_for(ctx.threads(), x.numel(), kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) out[i] = static_cast<double>(in[i]) > th ? T(1) : T(0);
      });
    };
    switch (x.dtype()) {
      case DataType::kFloat: run(float{}); break;
      case DataType::kDouble: run(double{}); break;
      case DataType::kInt32: run(int32_t{}); break;
      default: run(int64_t{}); break;
    }
  }

 private:
  double threshold_;
};

// Replaces elements equal to the replaced value (NaN matches NaN) with the
// imputed value of their feature. Float inputs use the *_float(s)
// attributes, integer inputs the *_int64(s) ones.
class ImputerKernel final : public OpKernel {
 public:
  explicit ImputerKernel(const KernelInit& init)
      : fvals_(init.node.attr_floats("imputed_value_floats")),
        ivals_(init.node.attr_ints("imputed_value_int64s")),
        freplace_(init.node.attr_float("replaced_value_float", 0.f)),
        ireplace_(init.node.attr_int("replaced_value_int64", 0)) {
    if (fvals_.empty() && ivals_.empty()) ml::bad_attr("one of imputed_value_floats and imputed_value_int64s must be given");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    require_ml_numeric(x, "Imputer");
    const int64_t f = last_dim(x);
    Tensor& y = ctx.allocate(0, x.dtype(), x.shape());
    const bool is_float = x.dtype() == DataType::kFloat || x.dtype() == DataType::kDouble;
    if (is_float ? fvals_.empty() : ivals_.empty())
      throw Error(ErrorCode::kInvalidArgument, std::string("Imputer: a ") + dtype_name(x.dtype()) + " input needs " +
                                                   (is_float ? "imputed_value_floats" : "imputed_value_int64s"));
    check_per_feature("Imputer", is_float ? "imputed_value_floats" : "imputed_value_int64s",
                      is_float ? fvals_.size() : ivals_.size(), f);
    auto run = [&](auto tag, const auto& vals, auto replaced) {
      using T = decltype(tag);
      const T* in = x.data<T>();
      T* out = y.data<T>();
      const bool one = vals.size() == 1;
      const bool nan = is_float && std::isnan(static_cast<double>(replaced));
      parallel_for(ctx.threads(), x.numel(), kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const T v = in[i];
          bool hit;
          if constexpr (std::is_floating_point_v<T>)
            hit = nan ? std::isnan(v) : v == static_cast<T>(replaced);
          else
            hit = static_cast<int64_t>(v) == static_cast<int64_t>(replaced);
          out[i] = hit ? static_cast<T>(vals[one ? 0 : (f ? i % f : 0)]) : v;
        }
      });
    };
    switch (x.dtype()) {
      case DataType::kFloat: run(float{}, fvals_, freplace_); break;
      case DataType::kDouble: run(double{}, fvals_, freplace_); break;
      case DataType::kInt32: run(int32_t{}, ivals_, ireplace_); break;
      default: run(int64_t{}, ivals_, ireplace_); break;
    }
  }

 private:
  std::vector<float> fvals_;
  std::vector<int64_t> ivals_;
  float freplace_;
  int64_t ireplace_;
};

// Z[..., k] = X[..., Y[k]] (Y flattened); a 1-D X gives [1, len(Y)].
class ArrayFeatureExtractorKernel final : public OpKernel {
 public:
  explicit ArrayFeatureExtractorKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& idx = ctx.input(1);
    if (x.rank() == 0) throw Error(ErrorCode::kInvalidArgument, "ArrayFeatureExtractor: X must have at least one dimension");
    if (idx.dtype() != DataType::kInt64)
      throw Error(ErrorCode::kInvalidArgument, "ArrayFeatureExtractor: indices must be int64");
    const int64_t f = x.dim(-1), k = idx.numel();
    const int64_t* ip = idx.data<int64_t>();
    for (int64_t i = 0; i < k; ++i)
      if (ip[i] < 0 || ip[i] >= f)
        throw Error(ErrorCode::kInvalidArgument, "ArrayFeatureExtractor: index " + std::to_string(ip[i]) +
                                                     " is out of range for " + std::to_string(f) + " features");
    Shape out_shape = x.shape();
    if (x.rank() == 1) out_shape.insert(out_shape.begin(), 1);
    out_shape.back() = k;
    Tensor& z = ctx.allocate(0, x.dtype(), out_shape);
    const int64_t rows = f ? x.numel() / f : shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
    if (x.dtype() == DataType::kString) {
      const auto* in = x.data<std::string>();
      auto* out = z.data<std::string>();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < k; ++i) out[r * k + i] = in[r * f + ip[i]];
      return;
    }
    const size_t es = dtype_size(x.dtype());
    const auto* in = static_cast<const char*>(x.raw());
    auto* out = static_cast<char*>(z.raw());
    parallel_for(ctx.threads(), rows, ml::row_grain(k), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        for (int64_t i = 0; i < k; ++i) std::memcpy(out + (r * k + i) * es, in + (r * f + ip[i]) * es, es);
    });
  }
};

// Concatenates inputs [N, C_i] (1-D: [1, C_i]) into [N, sum(d_i)] floats,
// d_i = inputdimensions[i]: extra columns are dropped, missing ones are 0.
class FeatureVectorizerKernel final : public OpKernel {
 public:
  explicit FeatureVectorizerKernel(const KernelInit& init) : dims_(init.node.attr_ints("inputdimensions")) {
    for (int64_t d : dims_)
      if (d < 0) ml::bad_attr("inputdimensions must not be negative");
    if (!dims_.empty() && static_cast<int>(dims_.size()) != init.node.num_inputs())
      ml::bad_attr("inputdimensions has " + std::to_string(dims_.size()) + " entries for " +
                   std::to_string(init.node.num_inputs()) + " inputs");
  }
  void compute(KernelContext& ctx) const override {
    const int n_in = ctx.num_inputs();
    int64_t n = -1, total = 0;
    std::vector<int64_t> width(n_in), cols(n_in);
    for (int i = 0; i < n_in; ++i) {
      const Tensor& x = ctx.input(i);
      require_ml_numeric(x, "FeatureVectorizer");
      const int64_t rows = x.rank() <= 1 ? 1 : x.dim(0);
      if (n >= 0 && rows != n)
        throw Error(ErrorCode::kInvalidArgument, "FeatureVectorizer: input " + std::to_string(i) + " has " +
                                                     std::to_string(rows) + " rows, input 0 has " + std::to_string(n));
      n = rows;
      cols[i] = rows ? x.numel() / rows : 0;
      width[i] = dims_.empty() ? cols[i] : dims_[i];
      total += width[i];
    }
    if (n < 0) n = 1;
    float* y = ctx.allocate(0, DataType::kFloat, {n, total}).data<float>();
    std::fill(y, y + n * total, 0.f);
    int64_t off = 0;
    for (int i = 0; i < n_in; ++i) {
      const Tensor& x = ctx.input(i);
      const int64_t c = std::min(cols[i], width[i]);
      std::vector<double> row(static_cast<size_t>(cols[i]));
      for (int64_t r = 0; r < n; ++r) {
        ml::rows_as_double(x, r, r + 1, cols[i], row.data());
        for (int64_t j = 0; j < c; ++j) y[r * total + off + j] = static_cast<float>(row[j]);
      }
      off += width[i];
    }
  }

 private:
  std::vector<int64_t> dims_;
};

}  // namespace

void register_kernels_ml_feature(KernelRegistry& r) {
  r.add("ai.onnx.ml", "Scaler", 1, kOpenEnded, make_factory<ScalerKernel>());
  r.add("ai.onnx.ml", "Normalizer", 1, kOpenEnded, make_factory<NormalizerKernel>());
  r.add("ai.onnx.ml", "Binarizer", 1, kOpenEnded, make_factory<BinarizerKernel>());
  r.add("ai.onnx.ml", "Imputer", 1, kOpenEnded, make_factory<ImputerKernel>());
  r.add("ai.onnx.ml", "ArrayFeatureExtractor", 1, kOpenEnded, make_factory<ArrayFeatureExtractorKernel>());
  r.add("ai.onnx.ml", "FeatureVectorizer", 1, kOpenEnded, make_factory<FeatureVectorizerKernel>());
}

}  // namespace pier::kernels
