// Det: determinant of square matrices [..., M, M] by LU decomposition with
// partial pivoting, in double. Batches run in parallel.
#include <cmath>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

double determinant(std::vector<double>& a, int64_t m) {
  double det = 1.0;
  for (int64_t c = 0; c < m; ++c) {
    int64_t piv = c;
    for (int64_t r = c + 1; r < m; ++r)
      if (std::fabs(a[r * m + c]) > std::fabs(a[piv * m + c])) piv = r;
    if (a[piv * m + c] == 0.0) return 0.0;
    if (piv != c) {
      for (int64_t k = 0; k < m; ++k) std::swap(a[c * m + k], a[piv * m + k]);
      det = -det;
    }
    const double d = a[c * m + c];
    det *= d;
    for (int64_t r = c + 1; r < m; ++r) {
      const double f = a[r * m + c] / d;
      if (f == 0.0) continue;
      for (int64_t k = c + 1; k < m; ++k) a[r * m + k] -= f * a[c * m + k];
    }
  }
  return det;
}

class DetKernel final : public OpKernel {
 public:
  explicit DetKernel(const KernelInit&) {}

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 2 || x.dim(-1) != x.dim(-2))
      throw Error(ErrorCode::kInvalidArgument, "Det needs square matrices [..., M, M], got shape " + shape_str(x.shape()));
    const int64_t m = x.dim(-1);
    const Shape out_shape(x.shape().begin(), x.shape().end() - 2);
    Tensor& y = ctx.allocate(0, x.dtype(), out_shape);
    const int64_t batch = y.numel();
    if (batch == 0) return;
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* px = static_cast<const T*>(x.raw());
      T* py = static_cast<T*>(y.raw());
      parallel_for(ctx.threads(), batch, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, m * m * m)),
                   [&](int64_t b, int64_t e) {
                     std::vector<double> a(static_cast<size_t>(m * m));
                     for (int64_t i = b; i < e; ++i) {
                       for (int64_t k = 0; k < m * m; ++k) a[k] = static_cast<double>(load(px[i * m * m + k]));
                       py[i] = store<T>(static_cast<compute_t<T>>(determinant(a, m)));
                     }
                   });
    });
  }
};

}  // namespace

void register_kernels_math_det(KernelRegistry& r) { r.add("", "Det", 11, kOpenEnded, make_factory<DetKernel>()); }

}  // namespace pier::kernels
