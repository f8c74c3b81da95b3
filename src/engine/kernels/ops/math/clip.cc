// Clip: min/max attributes before opset 11, optional scalar inputs from 11,
// integer types from 12. When min > max every value becomes max (as the
// spec says: the upper bound is applied last). NaN passes through.
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/math_map.h"
#include "kernels/util/math_vec.h"

namespace pier::kernels {

namespace {

using namespace math_util;

class ClipKernel final : public OpKernel {
 public:
  explicit ClipKernel(const KernelInit& init) {
    legacy_ = init.node.since_version < 11;
    if (legacy_) {
      min_attr_ = init.node.attr_float("min", std::numeric_limits<float>::lowest());
      max_attr_ = init.node.attr_float("max", std::numeric_limits<float>::max());
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const DataType t = x.dtype();
    Tensor& y = ctx.allocate_or_reuse(0, 0, t, x.shape());  // element-wise: may write over x
    const Tensor* lo = nullptr;
    const Tensor* hi = nullptr;
    if (!legacy_) {
      if (ctx.has_input(1)) lo = &ctx.input(1);
      if (ctx.has_input(2)) hi = &ctx.input(2);
      for (const Tensor* b : {lo, hi}) {
        if (b == nullptr) continue;
        if (b->numel() != 1)
          throw Error(ErrorCode::kInvalidArgument, "Clip min/max must be scalars, got shape " + shape_str(b->shape()));
        if (b->dtype() != t)
          throw Error(ErrorCode::kInvalidArgument, std::string("Clip min/max type ") + dtype_name(b->dtype()) +
                                                       " differs from input type " + dtype_name(t));
      }
    }
    dispatch_numeric(t, [&](auto tag) {
      using T = decltype(tag);
      using C = compute_t<T>;
      C a = std::numeric_limits<C>::lowest(), b = std::numeric_limits<C>::max();
      if constexpr (std::is_floating_point_v<C>) {
        a = -std::numeric_limits<C>::infinity();
        b = std::numeric_limits<C>::infinity();
      }
      if (legacy_) {
        a = static_cast<C>(min_attr_);
        b = static_cast<C>(max_attr_);
      }
      if (lo) a = load(static_cast<const T*>(lo->raw())[0]);
      if (hi) b = load(static_cast<const T*>(hi->raw())[0]);
      const T* px = static_cast<const T*>(x.raw());
      T* py = static_cast<T*>(y.raw());
      if constexpr (std::is_floating_point_v<C>) {
        map_unary<T>(ctx.threads(), px, py, x.numel(),
                     [=](C v) {
                       const C t = vmath::sel(v < a, a, v);
                       return vmath::sel(t > b, b, t);
                     });
      } else {
        map_unary<T>(ctx.threads(), px, py, x.numel(), [=](C v) {
          const C t = v < a ? a : v;
          return t > b ? b : t;
        });
      }
    });
  }

 private:
  bool legacy_ = false;
  float min_attr_ = 0, max_attr_ = 0;
};

}  // namespace

void register_kernels_math_clip(KernelRegistry& r) {
  r.add("", "Clip", 1, 5, make_factory<ClipKernel>());
  r.add("", "Clip", 6, 10, make_factory<ClipKernel>());
  r.add("", "Clip", 11, 11, make_factory<ClipKernel>());
  r.add("", "Clip", 12, 12, make_factory<ClipKernel>());
  r.add("", "Clip", 13, kOpenEnded, make_factory<ClipKernel>());
}

}  // namespace pier::kernels
