// InstanceNormalization: for X of shape [N, C, D1, ...], each (n, c) plane
// is normalized over its spatial elements and scaled by scale[c], shifted by
// B[c]. Statistics are computed in float (double for double inputs).
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/norm_util.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

using namespace math_util;

class InstanceNormKernel final : public OpKernel {
 public:
  explicit InstanceNormKernel(const KernelInit& init) : epsilon_(init.node.attr_float("epsilon", 1e-5f)) {}

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 2)
      throw Error(ErrorCode::kInvalidArgument,
                  "InstanceNormalization input must have rank >= 2, got shape " + shape_str(x.shape()));
    const int64_t c = x.dim(1);
    const int64_t planes = x.dim(0) * c;
    const int64_t n = planes == 0 ? 0 : x.numel() / planes;
    for (int i : {1, 2}) {
      const Tensor& p = ctx.input(i);
      if (p.numel() != c || p.rank() != 1)
        throw Error(ErrorCode::kInvalidArgument, std::string("InstanceNormalization ") + (i == 1 ? "scale" : "B") +
                                                     " must have shape [" + std::to_string(c) + "], got " +
                                                     shape_str(p.shape()));
    }
    Tensor& y = ctx.allocate(0, x.dtype(), x.shape());
    if (y.numel() == 0) return;
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = compute_t<T>;
      const Tensor sc = cast_tensor(ctx.input(1), DataTypeOf<C>::value);
      const Tensor bi = cast_tensor(ctx.input(2), DataTypeOf<C>::value);
      const C* scale = sc.data<C>();
      const C* bias = bi.data<C>();
      const T* px = static_cast<const T*>(x.raw());
      T* py = static_cast<T*>(y.raw());
      const double eps = epsilon_;
      parallel_for(ctx.threads(), planes, std::max<int64_t>(1, 16384 / n), [&](int64_t b, int64_t e) {
        std::vector<C> in_buf, out_buf;
        if constexpr (!std::is_same_v<T, C>) {
          in_buf.resize(static_cast<size_t>(n));
          out_buf.resize(static_cast<size_t>(n));
        }
        for (int64_t p = b; p < e; ++p) {
          const C* xr;
          C* yr;
          if constexpr (std::is_same_v<T, C>) {
            xr = px + p * n;
            yr = py + p * n;
          } else {
            for (int64_t i = 0; i < n; ++i) in_buf[i] = load(px[p * n + i]);
            xr = in_buf.data();
            yr = out_buf.data();
          }
          const RowMoments<C> mo = row_moments(xr, n, eps);
          const C k = mo.inv_std * scale[p % c], m = mo.mean, shift = bias[p % c];
          for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * k + shift;
          if constexpr (!std::is_same_v<T, C>) {
            for (int64_t i = 0; i < n; ++i) py[p * n + i] = store<T>(out_buf[i]);
          }
        }
      });
    });
  }

 private:
  float epsilon_;
};

}  // namespace

void register_kernels_norm_instance_norm(KernelRegistry& r) {
  r.add("", "InstanceNormalization", 1, 5, make_factory<InstanceNormKernel>());
  r.add("", "InstanceNormalization", 6, kOpenEnded, make_factory<InstanceNormKernel>());
}

}  // namespace pier::kernels
