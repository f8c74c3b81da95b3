// MeanVarianceNormalization: (X - mean) / (sqrt(variance) + 1e-9) over
// `axes` (default [0, 2, 3]), as the ONNX function body defines it. The
// variance is computed from the deviations (not E[x^2] - E[x]^2) for
// stability. Half types are computed in float.
#include <algorithm>
#include <cmath>

#include "kernels/kernel.h"
#include "kernels/util/broadcast.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/reduce_util.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

class MvnKernel final : public OpKernel {
 public:
  explicit MvnKernel(const KernelInit& init) : axes_(init.node.attr_ints("axes", {0, 2, 3})) {}

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t rank = x.rank();
    std::vector<int64_t> axes = axes_;
    for (int64_t& a : axes) a = normalize_axis(a, rank, "axis");
    std::sort(axes.begin(), axes.end());
    if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
      throw Error(ErrorCode::kInvalidArgument, "MeanVarianceNormalization axes contain a duplicate");
    if (x.numel() == 0) {
      ctx.allocate(0, x.dtype(), x.shape());
      return;
    }
    const DataType ct = x.dtype() == DataType::kDouble ? DataType::kDouble : DataType::kFloat;
    const Tensor xc = cast_tensor(x, ct);
    const Tensor mean = reduce_tensor(xc, axes, ReduceOp::kMean, ctx.threads());
    Tensor dev(ct, x.shape());
    const BroadcastPlan plan = plan_broadcast({x.shape(), mean.shape()}, x.shape());
    dispatch_float(ct, [&](auto tag) {
      using C = decltype(tag);
      if constexpr (std::is_same_v<C, float> || std::is_same_v<C, double>) {
        const C* px = xc.data<C>();
        const C* pm = mean.data<C>();
        C* pd = dev.data<C>();
        for_each_row(plan, ctx.threads(), [&](int64_t o, const int64_t* off, int64_t n) {
          const C* a = px + off[0];
          const C* m = pm + off[1];
          if (plan.inner_step[1] == 1) {
            for (int64_t i = 0; i < n; ++i) pd[o + i] = a[i] - m[i];
          } else {
            for (int64_t i = 0; i < n; ++i) pd[o + i] = a[i] - m[0];
          }
        });
        Tensor var = reduce_tensor(dev, axes, ReduceOp::kSumSquare, ctx.threads());
        const double count = static_cast<double>(x.numel() / mean.numel());
        C* pv = var.data<C>();
        for (int64_t k = 0; k < var.numel(); ++k) pv[k] = static_cast<C>(1.0 / (std::sqrt(pv[k] / count) + 1e-9));
        for_each_row(plan, ctx.threads(), [&](int64_t o, const int64_t* off, int64_t n) {
          const C* v = pv + off[1];
          if (plan.inner_step[1] == 1) {
            for (int64_t i = 0; i < n; ++i) pd[o + i] *= v[i];
          } else {
            for (int64_t i = 0; i < n; ++i) pd[o + i] *= v[0];
          }
        });
      }
    });
    ctx.set_output(0, Value(cast_tensor(dev, x.dtype())));
  }

 private:
  std::vector<int64_t> axes_;
};

}  // namespace

void register_kernels_norm_mvn(KernelRegistry& r) {
  r.add("", "MeanVarianceNormalization", 9, 12, make_factory<MvnKernel>());
  r.add("", "MeanVarianceNormalization", 13, kOpenEnded, make_factory<MvnKernel>());
}

}  // namespace pier::kernels
