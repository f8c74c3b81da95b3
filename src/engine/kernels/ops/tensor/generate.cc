// Ops that generate tensors from a shape or a pattern: ConstantOfShape,
// Range, OneHot, EyeLike and Trilu.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernel.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/strided_copy.h"

namespace pier::kernels {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

// Fills n elements of dst with the single element of `value` (same dtype).
void fill_with(Tensor& dst, const Tensor& value, int threads) {
  dispatch_elements(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T v = *static_cast<const T*>(value.raw());
    T* d = static_cast<T*>(dst.raw());
    parallel_for(threads, dst.numel(), 1 << 16, [&](int64_t b, int64_t e) { std::fill(d + b, d + e, v); });
  });
}

class ConstantOfShapeKernel final : public OpKernel {
 public:
  explicit ConstantOfShapeKernel(const KernelInit& init) {
    if (init.node.has_attr("value")) {
      value_ = init.node.req_tensor("value");
      if (value_.numel() != 1)
        throw Error(ErrorCode::kInvalidModel, "ConstantOfShape: 'value' must hold exactly one element");
    } else {
      value_ = Tensor::zeros(DataType::kFloat, {1});
    }
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& s = ctx.input(0);
    if (s.rank() > 1) bad("ConstantOfShape: shape input must be 1-D");
    const Shape shape = to_int64_vector(s);
    for (int64_t d : shape)
      if (d < 0) bad("ConstantOfShape: negative dimension in " + shape_str(shape));
    Tensor& y = ctx.allocate(0, value_.dtype(), shape);
    fill_with(y, value_, ctx.threads());
  }

 private:
  Tensor value_;
};

class RangeKernel final : public OpKernel {
 public:
  explicit RangeKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& ts = ctx.input(0);
    const Tensor& tl = ctx.input(1);
    const Tensor& td = ctx.input(2);
    for (const Tensor* t : {&ts, &tl, &td}) {
      if (t->numel() != 1) bad("Range: start, limit and delta must be scalars, got " + shape_str(t->shape()));
      if (t->dtype() != ts.dtype()) bad("Range: start, limit and delta must have one type");
    }
    switch (ts.dtype()) {
      case DataType::kFloat: run<float>(ctx, ts, tl, td); break;
      case DataType::kDouble: run<double>(ctx, ts, tl, td); break;
      case DataType::kInt16: run<int16_t>(ctx, ts, tl, td); break;
      case DataType::kInt32: run<int32_t>(ctx, ts, tl, td); break;
      case DataType::kInt64: run<int64_t>(ctx, ts, tl, td); break;
      default: unsupported_type(ts.dtype(), "Range");
    }
  }

 private:
  template <typename T>
  static void run(KernelContext& ctx, const Tensor& ts, const Tensor& tl, const Tensor& td) {
    const T start = ts.data<T>()[0], limit = tl.data<T>()[0], delta = td.data<T>()[0];
    if (delta == 0) bad("Range: delta cannot be zero");
    int64_t n = 0;
    if constexpr (std::is_integral_v<T>) {
      // Unsigned differences are exact for any pair of int64 values.
      const int64_t s = start, l = limit, d = delta;
      if (d > 0 && l > s) n = static_cast<int64_t>((static_cast<uint64_t>(l) - static_cast<uint64_t>(s) - 1) / static_cast<uint64_t>(d)) + 1;
      if (d < 0 && l < s)
        n = static_cast<int64_t>((static_cast<uint64_t>(s) - static_cast<uint64_t>(l) - 1) /
                                 (static_cast<uint64_t>(-(d + 1)) + 1)) + 1;
    } else {
      const double c = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
      if (std::isnan(c)) bad("Range: start, limit and delta must be finite");
      if (c > 0) {
        if (c > static_cast<double>(int64_t{1} << 40)) bad("Range: the output would be too large");
        n = static_cast<int64_t>(c);
      }
    }
    Tensor& y = ctx.allocate(0, ts.dtype(), {n});
    T* p = y.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<T>(i) * delta);
  }
};

class OneHotKernel final : public OpKernel {
 public:
  explicit OneHotKernel(const KernelInit& init) : axis_(init.node.attr_int("axis", -1)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& ind = ctx.input(0);
    const Tensor& dt = ctx.input(1);
    const Tensor& vals = ctx.input(2);
    if (vals.numel() != 2) bad("OneHot: values must hold [off_value, on_value], got " + shape_str(vals.shape()));
    const double dd = scalar_as_double(dt);
    if (!(dd >= 1) || dd > static_cast<double>(int64_t{1} << 40))
      bad("OneHot: depth must be a positive integer, got " + std::to_string(dd));
    const int64_t depth = static_cast<int64_t>(dd);
    const int64_t r = ind.rank() + 1;
    const int64_t axis = normalize_axis(axis_, r, "OneHot axis");
    Shape out_shape = ind.shape();
    out_shape.insert(out_shape.begin() + axis, depth);
    // Indices as int64 (float indices truncate toward zero).
    std::vector<int64_t> idx(static_cast<size_t>(ind.numel()));
    dispatch_numeric(ind.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* p = static_cast<const T*>(ind.raw());
      for (size_t i = 0; i < idx.size(); ++i) {
        const double v = static_cast<double>(load(p[i]));
        idx[i] = std::isfinite(v) && std::fabs(v) < 9e18 ? static_cast<int64_t>(v) : depth;
      }
    });
    int64_t inner = 1;
    for (int64_t d = axis; d < ind.rank(); ++d) inner *= ind.shape()[d];
    const int64_t outer = ind.numel() / std::max<int64_t>(inner, 1);
    Tensor& y = ctx.allocate(0, vals.dtype(), out_shape);
    dispatch_elements(vals.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T off = static_cast<const T*>(vals.raw())[0], on = static_cast<const T*>(vals.raw())[1];
      T* p = static_cast<T*>(y.raw());
      std::fill_n(p, y.numel(), off);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          int64_t k = idx[o * inner + i];
          if (k < 0) k += depth;
          if (k >= 0 && k < depth) p[(o * depth + k) * inner + i] = on;
        }
    });
  }

 private:
  int64_t axis_;
};

class EyeLikeKernel final : public OpKernel {
 public:
  explicit EyeLikeKernel(const KernelInit& init) {
    k_ = init.node.attr_int("k", 0);
    if (init.node.has_attr("dtype")) {
      const int64_t t = init.node.attr_int("dtype", 0);
      if (t < 1 || t > 16 || t == 8 || t == 14 || t == 15)
        throw Error(ErrorCode::kInvalidModel, "EyeLike: unsupported dtype " + std::to_string(t));
      dtype_ = static_cast<DataType>(t);
    }
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.rank() != 2) bad("EyeLike: input must be 2-D, got " + shape_str(x.shape()));
    const DataType t = dtype_ == DataType::kUndefined ? x.dtype() : dtype_;
    if (t == DataType::kString) unsupported_type(t, "EyeLike");
    Tensor& y = ctx.allocate(0, t, x.shape());
    if (y.nbytes()) std::memset(y.raw(), 0, y.nbytes());
    const Tensor one = cast_tensor(Tensor::from_vector<float>({1.f}, {1}), t);
    const int64_t rows = x.dim(0), cols = x.dim(1);
    const size_t es = dtype_size(t);
    auto* p = static_cast<unsigned char*>(y.raw());
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t j = i + k_;
      if (j >= 0 && j < cols) std::memcpy(p + (i * cols + j) * es, one.raw(), es);
    }
  }

 private:
  int64_t k_ = 0;
  DataType dtype_ = DataType::kUndefined;
};

class TriluKernel final : public OpKernel {
 public:
  explicit TriluKernel(const KernelInit& init) : upper_(init.node.attr_int("upper", 1) != 0) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 2) bad("Trilu: input must have rank >= 2, got " + shape_str(x.shape()));
    int64_t k = 0;
    if (ctx.has_input(1)) {
      const auto kv = to_int64_vector(ctx.input(1));
      if (kv.size() != 1) bad("Trilu: k must be a scalar");
      k = kv[0];
    }
    const int64_t rows = x.dim(-2), cols = x.dim(-1);
    k = std::clamp<int64_t>(k, -rows - 1, cols + 1);  // no overflow below
    const int64_t mats = x.numel() / std::max<int64_t>(rows * cols, 1);
    Tensor& y = ctx.allocate(0, x.dtype(), x.shape());
    const bool upper = upper_;
    dispatch_elements(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = static_cast<const T*>(x.raw());
      T* dst = static_cast<T*>(y.raw());
      parallel_for(ctx.threads(), mats * rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t r = b; r < e; ++r) {
                       const int64_t i = r % rows;
                       const T* s = src + r * cols;
                       T* d = dst + r * cols;
                       // Kept: j - i >= k (upper) or j - i <= k (lower).
                       const int64_t edge = std::clamp<int64_t>(upper ? i + k : i + k + 1, 0, cols);
                       if (upper) {
                         std::fill(d, d + edge, T{});
                         std::copy(s + edge, s + cols, d + edge);
                       } else {
                         std::copy(s, s + edge, d);
                         std::fill(d + edge, d + cols, T{});
                       }
                     }
                   });
    });
  }

 private:
  bool upper_;
};

}  // namespace

void register_kernels_tensor_generate(KernelRegistry& r) {
  r.add("", "ConstantOfShape", 9, kOpenEnded, make_factory<ConstantOfShapeKernel>());
  r.add("", "Range", 11, kOpenEnded, make_factory<RangeKernel>());
  r.add("", "OneHot", 9, 10, make_factory<OneHotKernel>());
  r.add("", "OneHot", 11, kOpenEnded, make_factory<OneHotKernel>());
  r.add("", "EyeLike", 9, kOpenEnded, make_factory<EyeLikeKernel>());
  r.add("", "Trilu", 14, kOpenEnded, make_factory<TriluKernel>());
}

}  // namespace pier::kernels
