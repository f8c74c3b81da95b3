// pier.internal::Gelu, created by the GELU fusion pass from the decomposed
// erf or tanh form (attribute approximate = "none" | "tanh"):
//   none: y = 0.5 * x * (1 + erf(x / sqrt(2)))
//   tanh: y = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
// One vectorizable pass over float data (the pass only fuses float).
#include <cmath>

#include "kernels/kernel.h"
#include "kernels/util/math_vec.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace {

void gelu_erf(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.f + vmath::erf_f(v * static_cast<float>(M_SQRT1_2)));
  }
}

void gelu_tanh(const float* x, float* y, int64_t n) {
  const float k = static_cast<float>(0.79788456080286535588);  // sqrt(2/pi)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.f + vmath::tanh_f(k * (v + 0.044715f * (v * v * v))));
  }
}

class GeluKernel final : public OpKernel {
 public:
  explicit GeluKernel(const KernelInit& init) {
    const std::string a = init.node.attr_string("approximate", "none");
    if (a != "none" && a != "tanh") throw Error(ErrorCode::kInvalidModel, "Gelu approximate must be none or tanh");
    tanh_ = a == "tanh";
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DataType::kFloat) throw Error(ErrorCode::kInvalidArgument, "Gelu takes float input");
    Tensor& y = ctx.allocate(0, DataType::kFloat, x.shape());
    const float* px = x.data<float>();
    float* py = y.data<float>();
    parallel_for(ctx.threads(), x.numel(), 16384, [&](int64_t b, int64_t e) {
      if (tanh_)
        gelu_tanh(px + b, py + b, e - b);
      else
        gelu_erf(px + b, py + b, e - b);
    });
  }

 private:
  bool tanh_ = false;
};

}  // namespace

void register_kernels_fused_gelu(KernelRegistry& r) {
  r.add("pier.internal", "Gelu", 1, kOpenEnded, make_factory<GeluKernel>());
}

}  // namespace pier::kernels
