// PRelu: y = x < 0 ? slope * x : x, with slope broadcast to x.
// Opset 7+: slope is unidirectionally (numpy) broadcastable to x.
// Opset 1 and 6 predate numpy broadcasting: a slope of one element is
// shared, one of x's shape is element-wise, and a 1-D slope of x.dim(1)
// elements is per channel (how Caffe2/PyTorch exports of that era use it).
#include <type_traits>

#include "kernels/kernel.h"
#include "kernels/util/broadcast.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/math_vec.h"

namespace pier::kernels {

namespace {

class PReluKernel final : public OpKernel {
 public:
  explicit PReluKernel(const KernelInit& init) : legacy_(init.node.since_version < 7) {}

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    Tensor slope = ctx.input(1);
    if (slope.dtype() != x.dtype())
      throw Error(ErrorCode::kInvalidArgument, std::string("PRelu slope type ") + dtype_name(slope.dtype()) +
                                                   " differs from input type " + dtype_name(x.dtype()));
    if (legacy_ && slope.shape() != x.shape()) {
      if (slope.numel() == 1) {
        slope = slope.reshaped({});
      } else if (slope.rank() == 1 && x.rank() >= 2 && slope.dim(0) == x.dim(1)) {
        Shape s(static_cast<size_t>(x.rank() - 1), 1);
        s[0] = slope.dim(0);
        slope = slope.reshaped(s);
      }
    }
    if (broadcast_shapes(x.shape(), slope.shape()) != x.shape())
      throw Error(ErrorCode::kInvalidArgument, "PRelu slope shape " + shape_str(slope.shape()) +
                                                   " does not broadcast to input shape " + shape_str(x.shape()));
    Tensor& y = ctx.allocate(0, x.dtype(), x.shape());
    if (x.numel() == 0) return;
    const BroadcastPlan p = plan_broadcast({x.shape(), slope.shape()}, x.shape());
    dispatch_numeric(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = compute_t<T>;
      const T* px = static_cast<const T*>(x.raw());
      const T* ps = static_cast<const T*>(slope.raw());
      T* py = static_cast<T*>(y.raw());
      const int64_t ss = p.inner_step[1];
      for_each_row(p, ctx.threads(), [&](int64_t o, const int64_t* off, int64_t n) {
        const T* a = px + off[0];
        const T* s = ps + off[1];
        T* z = py + o;
        if constexpr (std::is_floating_point_v<T>) {
          if (ss == 1) {
            for (int64_t i = 0; i < n; ++i) z[i] = vmath::sel(a[i] < T(0), a[i] * s[i], a[i]);
          } else {
            const T k = s[0];
            for (int64_t i = 0; i < n; ++i) z[i] = vmath::sel(a[i] < T(0), a[i] * k, a[i]);
          }
        } else if constexpr (std::is_unsigned_v<T>) {
          for (int64_t i = 0; i < n; ++i) z[i] = a[i];  // never negative
        } else {
          for (int64_t i = 0; i < n; ++i) {
            const C v = load(a[i]);
            z[i] = v < C(0) ? store<T>(v * load(s[i * ss])) : a[i];
          }
        }
      });
    });
  }

 private:
  bool legacy_;
};

}  // namespace

void register_kernels_math_prelu(KernelRegistry& r) {
  r.add("", "PRelu", 1, 5, make_factory<PReluKernel>());
  r.add("", "PRelu", 6, 6, make_factory<PReluKernel>());
  r.add("", "PRelu", 7, 8, make_factory<PReluKernel>());
  r.add("", "PRelu", 9, 15, make_factory<PReluKernel>());
  r.add("", "PRelu", 16, kOpenEnded, make_factory<PReluKernel>());
}

}  // namespace pier::kernels
