// Selection by value: NonZero and Compress.
#include <algorithm>

#include "kernels/kernel.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/strided_copy.h"

namespace pier::kernels {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

template <typename T>
bool is_nonzero(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) return !v.empty();
  else if constexpr (std::is_same_v<T, bool>) return v;
  else return load(v) != compute_t<T>{};
}

class NonZeroKernel final : public OpKernel {
 public:
  explicit NonZeroKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t n = x.numel(), r = x.rank();
    std::vector<uint8_t> nz(static_cast<size_t>(n));
    int64_t count = 0;
    dispatch_all(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* p = static_cast<const T*>(x.raw());
      for (int64_t i = 0; i < n; ++i) count += (nz[i] = is_nonzero(p[i]) ? 1 : 0);
    });
    Tensor& y = ctx.allocate(0, DataType::kInt64, {r, count});
    int64_t* out = y.data<int64_t>();
    std::vector<int64_t> idx(r, 0);
    int64_t c = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (nz[i]) {
        for (int64_t d = 0; d < r; ++d) out[d * count + c] = idx[d];
        ++c;
      }
      for (int64_t d = r - 1; d >= 0; --d) {
        if (++idx[d] < x.shape()[d]) break;
        idx[d] = 0;
      }
    }
  }
};

class CompressKernel final : public OpKernel {
 public:
  explicit CompressKernel(const KernelInit& init) {
    has_axis_ = init.node.has_attr("axis");
    axis_ = init.node.attr_int("axis", 0);
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& c = ctx.input(1);
    if (c.dtype() != DataType::kBool) bad("Compress: condition must be bool");
    if (c.rank() != 1) bad("Compress: condition must be 1-D, got " + shape_str(c.shape()));
    Tensor in = x;
    int64_t axis = 0;
    if (has_axis_) axis = normalize_axis(axis_, x.rank(), "Compress axis");
    else in = x.reshaped({x.numel()});
    const int64_t dim = in.shape()[axis];
    const bool* cond = c.data<bool>();
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < c.numel(); ++i) {
      if (!cond[i]) continue;
      if (i >= dim)
        bad("Compress: condition selects index " + std::to_string(i) + " beyond dimension size " + std::to_string(dim));
      keep.push_back(i);
    }
    Shape out_shape = in.shape();
    out_shape[axis] = static_cast<int64_t>(keep.size());
    Tensor& y = ctx.allocate(0, x.dtype(), out_shape);
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= in.shape()[d];
    for (int64_t d = axis + 1; d < in.rank(); ++d) inner *= in.shape()[d];
    const int64_t k = static_cast<int64_t>(keep.size());
    dispatch_elements(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = static_cast<const T*>(in.raw());
      T* dst = static_cast<T*>(y.raw());
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < k; ++j)
          std::copy_n(src + (o * dim + keep[j]) * inner, inner, dst + (o * k + j) * inner);
    });
  }

 private:
  bool has_axis_;
  int64_t axis_;
};

}  // namespace

void register_kernels_tensor_select(KernelRegistry& r) {
  r.add("", "NonZero", 9, 12, make_factory<NonZeroKernel>());
  r.add("", "NonZero", 13, kOpenEnded, make_factory<NonZeroKernel>());
  r.add("", "Compress", 9, 10, make_factory<CompressKernel>());
  r.add("", "Compress", 11, kOpenEnded, make_factory<CompressKernel>());
}

}  // namespace pier::kernels
