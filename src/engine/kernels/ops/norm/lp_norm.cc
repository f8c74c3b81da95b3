// LpNormalization: x / ||x||_p along `axis` (p = 1 or 2). The norms come
// from reduce_tensor; a zero norm gives NaN or inf, as in the reference.
#include <cmath>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/reduce_util.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

class LpNormKernel final : public OpKernel {
 public:
  explicit LpNormKernel(const KernelInit& init) {
    axis_ = init.node.attr_int("axis", -1);
    p_ = init.node.attr_int("p", 2);
    if (p_ != 1 && p_ != 2)
      throw Error(ErrorCode::kInvalidModel, "LpNormalization p must be 1 or 2, got " + std::to_string(p_));
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t rank = x.rank();
    const int64_t axis = normalize_axis(axis_, std::max<int64_t>(rank, 1), "axis");
    Tensor& y = ctx.allocate(0, x.dtype(), x.shape());
    if (y.numel() == 0) return;
    if (rank == 0) {
      dispatch_float(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const auto v = load(static_cast<const T*>(x.raw())[0]);
        static_cast<T*>(y.raw())[0] = store<T>(v / std::fabs(v));
      });
      return;
    }
    const DataType ct = x.dtype() == DataType::kDouble ? DataType::kDouble : DataType::kFloat;
    const Tensor xc = cast_tensor(x, ct);
    const Tensor norm = reduce_tensor(xc, {axis}, p_ == 1 ? ReduceOp::kL1 : ReduceOp::kL2, ctx.threads());
    int64_t outer = 1, n = x.dim(static_cast<int>(axis)), inner = 1;
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) outer *= x.dim(static_cast<int>(d));
      if (d > axis) inner *= x.dim(static_cast<int>(d));
    }
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = compute_t<T>;
      const T* px = static_cast<const T*>(x.raw());
      const C* pn = static_cast<const C*>(norm.raw());
      T* py = static_cast<T*>(y.raw());
      parallel_for(ctx.threads(), outer, std::max<int64_t>(1, 32768 / (n * inner)), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o)
          for (int64_t i = 0; i < n; ++i) {
            const T* xr = px + (o * n + i) * inner;
            T* yr = py + (o * n + i) * inner;
            const C* nr = pn + o * inner;
            for (int64_t j = 0; j < inner; ++j) yr[j] = store<T>(load(xr[j]) / nr[j]);
          }
      });
    });
  }

 private:
  int64_t axis_ = -1;
  int64_t p_ = 2;
};

}  // namespace

void register_kernels_norm_lp_norm(KernelRegistry& r) {
  r.add("", "LpNormalization", 1, kOpenEnded, make_factory<LpNormKernel>());
}

}  // namespace pier::kernels
