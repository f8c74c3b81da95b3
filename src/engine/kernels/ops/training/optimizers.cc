// Optimizer steps of the ai.onnx.preview.training domain (version 1):
// Adagrad, Adam and Momentum (standard and Nesterov).
//
// Inputs are the learning rate R (scalar), the update count T (int64
// scalar), then n tensors X_i, their gradients G_i and their state (H_i for
// Adagrad; V_i then H_i for Adam; V_i for Momentum). Outputs are the new X_i
// then the new state, in the same order. Each tensor is updated on its own
// with the update rules of the operator documentation; gradients and state
// must have the shape and type of their X. Element arithmetic is in double.
#include <cmath>
#include <memory>
#include <string>

#include "kernels/kernel.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

enum class Kind { kAdagrad, kAdam, kMomentum };

constexpr int64_t kGrain = 1 << 14;

class OptimizerKernel final : public OpKernel {
 public:
  OptimizerKernel(const KernelInit& init, Kind kind) : kind_(kind) {
    const auto& n = init.node;
    name_ = n.op_type;
    epsilon_ = n.attr_float("epsilon", 1e-6f);
    norm_ = n.attr_float("norm_coefficient", 0.f);
    switch (kind) {
      case Kind::kAdagrad: decay_ = n.attr_float("decay_factor", 0.f); break;
      case Kind::kAdam:
        alpha_ = n.attr_float("alpha", 0.9f);
        beta_ = n.attr_float("beta", 0.999f);
        norm_post_ = n.attr_float("norm_coefficient_post", 0.f);
        break;
      case Kind::kMomentum: {
        // The schema gives no defaults: all four attributes are required.
        if (!n.has_attr("alpha") || !n.has_attr("beta") || !n.has_attr("mode") || !n.has_attr("norm_coefficient"))
          throw Error(ErrorCode::kInvalidModel, "Momentum needs the alpha, beta, mode and norm_coefficient attributes");
        alpha_ = n.attr_float("alpha", 0.f);
        beta_ = n.attr_float("beta", 0.f);
        const std::string mode = n.attr_string("mode", "");
        if (mode == "nesterov") nesterov_ = true;
        else if (mode != "standard")
          throw Error(ErrorCode::kInvalidModel, "Momentum mode must be standard or nesterov, got \"" + mode + "\"");
        break;
      }
    }
    groups_ = kind == Kind::kAdam ? 4 : 3;
    const int data_inputs = n.num_inputs() - 2;
    if (data_inputs < groups_ || data_inputs % groups_ != 0)
      throw Error(ErrorCode::kInvalidModel, name_ + " needs R, T and " + std::to_string(groups_) +
                                                " inputs per optimized tensor, got " + std::to_string(n.num_inputs()) +
                                                " inputs");
    tensors_ = data_inputs / groups_;
    if (n.num_outputs() > (groups_ - 1) * tensors_)
      throw Error(ErrorCode::kInvalidModel, name_ + " has at most " + std::to_string((groups_ - 1) * tensors_) +
                                                " outputs for " + std::to_string(tensors_) + " optimized tensors");
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& rt = ctx.input(0);
    const Tensor& tt = ctx.input(1);
    if (rt.numel() != 1 || (rt.dtype() != DataType::kFloat && rt.dtype() != DataType::kDouble))
      throw Error(ErrorCode::kInvalidArgument, name_ + ": R must be a float or double scalar");
    if (tt.numel() != 1 || tt.dtype() != DataType::kInt64)
      throw Error(ErrorCode::kInvalidArgument, name_ + ": T must be an int64 scalar");
    const double r = scalar_as_double(rt);
    const double t = static_cast<double>(tt.data<int64_t>()[0]);
    for (int k = 0; k < tensors_; ++k) {
      const Tensor& x = ctx.input(2 + k);
      if (x.dtype() != DataType::kFloat && x.dtype() != DataType::kDouble)
        throw Error(ErrorCode::kInvalidArgument, name_ + ": optimized tensors must be float or double");
      const Tensor* in[4] = {&x, nullptr, nullptr, nullptr};
      for (int g = 1; g < groups_; ++g) {
        in[g] = &ctx.input(2 + g * tensors_ + k);
        if (in[g]->shape() != x.shape() || in[g]->dtype() != x.dtype())
          throw Error(ErrorCode::kInvalidArgument, name_ + ": input " + std::to_string(2 + g * tensors_ + k) +
                                                       " must have the shape and type of X (" + shape_str(x.shape()) +
                                                       "), got " + shape_str(in[g]->shape()));
      }
      // Outputs: X_new at k, state s at (s + 1) * n + k.
      Tensor* out[3] = {nullptr, nullptr, nullptr};
      for (int s = 0; s < groups_ - 1; ++s) {
        const int o = s * tensors_ + k;
        out[s] = o < ctx.num_outputs() && ctx.wants_output(o) ? &ctx.allocate(o, x.dtype(), x.shape()) : nullptr;
      }
      if (x.dtype() == DataType::kFloat) step<float>(ctx, r, t, in, out);
      else step<double>(ctx, r, t, in, out);
    }
  }

 private:
  template <typename T>
  void step(KernelContext& ctx, double r, double t, const Tensor* const* in, Tensor* const* out) const {
    const int64_t n = in[0]->numel();
    const T* x = in[0]->data<T>();
    const T* g = in[1]->data<T>();
    const T* s1 = in[2]->data<T>();
    const T* s2 = groups_ == 4 ? in[3]->data<T>() : nullptr;
    T* xo = out[0] ? out[0]->data<T>() : nullptr;
    T* o1 = out[1] ? out[1]->data<T>() : nullptr;
    T* o2 = groups_ == 4 && out[2] ? out[2]->data<T>() : nullptr;
    const double norm = norm_, eps = epsilon_, alpha = alpha_, beta = beta_;
    switch (kind_) {
      case Kind::kAdagrad: {
        const double rate = r / (1 + t * decay_);
        parallel_for(ctx.threads(), n, kGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            const double gr = norm * x[i] + g[i];
            const double h = s1[i] + gr * gr;
            if (xo) xo[i] = static_cast<T>(x[i] - rate * gr / (std::sqrt(h) + eps));
            if (o1) o1[i] = static_cast<T>(h);
          }
        });
        break;
      }
      case Kind::kAdam: {
        const double rate = t > 0 ? r * std::sqrt(1 - std::pow(beta, t)) / (1 - std::pow(alpha, t)) : r;
        const double post = 1 - static_cast<double>(norm_post_);
        parallel_for(ctx.threads(), n, kGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            const double gr = norm * x[i] + g[i];
            const double v = alpha * s1[i] + (1 - alpha) * gr;
            const double h = beta * s2[i] + (1 - beta) * gr * gr;
            if (xo) xo[i] = static_cast<T>(post * (x[i] - rate * v / (std::sqrt(h) + eps)));
            if (o1) o1[i] = static_cast<T>(v);
            if (o2) o2[i] = static_cast<T>(h);
          }
        });
        break;
      }
      case Kind::kMomentum: {
        const double b_adj = t > 0 ? beta : 1.0;
        const bool nesterov = nesterov_;
        parallel_for(ctx.threads(), n, kGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            const double gr = norm * x[i] + g[i];
            const double v = alpha * s1[i] + b_adj * gr;
            if (xo) xo[i] = static_cast<T>(nesterov ? x[i] - r * (gr + alpha * v) : x[i] - r * v);
            if (o1) o1[i] = static_cast<T>(v);
          }
        });
        break;
      }
    }
  }

  Kind kind_;
  std::string name_;
  float epsilon_ = 1e-6f, norm_ = 0, decay_ = 0, alpha_ = 0, beta_ = 0, norm_post_ = 0;
  bool nesterov_ = false;
  int groups_ = 3, tensors_ = 1;
};

KernelFactory optimizer(Kind kind) {
  return [kind](const KernelInit& init) -> std::unique_ptr<OpKernel> {
    return std::make_unique<OptimizerKernel>(init, kind);
  };
}

}  // namespace

void register_kernels_training_optimizers(KernelRegistry& r) {
  const std::string d = "ai.onnx.preview.training";
  r.add(d, "Adagrad", 1, kOpenEnded, optimizer(Kind::kAdagrad));
  r.add(d, "Adam", 1, kOpenEnded, optimizer(Kind::kAdam));
  r.add(d, "Momentum", 1, kOpenEnded, optimizer(Kind::kMomentum));
}

}  // namespace pier::kernels
