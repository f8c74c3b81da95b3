// LRN (local response normalization across channels):
//   y = x / (bias + alpha / size * sum_{c' in window(c)} x[c']^2) ^ beta
// with window(c) = [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to
// the channels. oneDNN's LRN centres even windows differently, so this is
// a direct loop: per (n, c) plane the squares of the window's planes are
// summed row-wise (contiguous, vectorizable).
#include <cmath>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace {

class LrnKernel final : public OpKernel {
 public:
  explicit LrnKernel(const KernelInit& init) {
    alpha_ = init.node.attr_float("alpha", 1e-4f);
    beta_ = init.node.attr_float("beta", 0.75f);
    bias_ = init.node.attr_float("bias", 1.f);
    size_ = init.node.req_int("size");
    if (size_ < 1) throw Error(ErrorCode::kInvalidModel, "LRN size must be positive");
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 2)
      throw Error(ErrorCode::kInvalidArgument, "LRN input must have rank >= 2, got " + shape_str(x.shape()));
    Tensor& y = ctx.allocate(0, x.dtype(), x.shape());
    const int64_t N = x.dim(0), C = x.dim(1);
    if (N * C == 0) return;
    const int64_t inner = x.numel() / (N * C);
    const int64_t lo = (size_ - 1) / 2, hi = size_ - 1 - lo;
    const float scale = alpha_ / static_cast<float>(size_);
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      using F = std::conditional_t<std::is_same_v<T, double>, double, float>;
      const T* px = static_cast<const T*>(x.raw());
      T* py = static_cast<T*>(y.raw());
      parallel_for(ctx.threads(), N * C, std::max<int64_t>(1, 8192 / std::max<int64_t>(inner * size_, 1)),
                   [&](int64_t b0, int64_t b1) {
                     std::vector<F> acc(static_cast<size_t>(inner));
                     for (int64_t p = b0; p < b1; ++p) {
                       const int64_t n = p / C, c = p % C;
                       std::fill(acc.begin(), acc.end(), F(0));
                       for (int64_t cc = std::max<int64_t>(0, c - lo); cc <= std::min(C - 1, c + hi); ++cc) {
                         const T* xs = px + (n * C + cc) * inner;
                         for (int64_t i = 0; i < inner; ++i) {
                           const F v = static_cast<F>(load(xs[i]));
                           acc[i] += v * v;
                         }
                       }
                       const T* xi = px + p * inner;
                       T* yi = py + p * inner;
                       for (int64_t i = 0; i < inner; ++i)
                         yi[i] = store<T>(static_cast<compute_t<T>>(
                             static_cast<F>(load(xi[i])) *
                             std::pow(static_cast<F>(bias_) + static_cast<F>(scale) * acc[i], static_cast<F>(-beta_))));
                     }
                   });
    });
  }

 private:
  float alpha_, beta_, bias_;
  int64_t size_;
};

}  // namespace

void register_kernels_nn_lrn(KernelRegistry& r) {
  r.add("", "LRN", 1, 12, make_factory<LrnKernel>());
  r.add("", "LRN", 13, kOpenEnded, make_factory<LrnKernel>());
}

}  // namespace pier::kernels
