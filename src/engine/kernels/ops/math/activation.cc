// Activations: Relu, Sigmoid, Tanh, LeakyRelu, Elu, Selu, Celu, HardSigmoid,
// HardSwish, Softplus, Softsign, ThresholdedRelu and Shrink. Attributes are
// read once; each op is a branch-free functor in a vectorizable loop.
#include <cmath>
#include <type_traits>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/math_map.h"
#include "kernels/util/math_vec.h"

namespace pier::kernels {

namespace {

using namespace math_util;

using vmath::sel;

enum class Op {
  kRelu, kSigmoid, kTanh, kLeakyRelu, kElu, kSelu, kCelu, kHardSigmoid, kHardSwish,
  kSoftplus, kSoftsign, kThresholdedRelu, kShrink,
};

inline float log1p_pos(float x) { return vmath::log1p_pos_f(x); }
inline double log1p_pos(double x) { return std::log1p(x); }

struct Params {
  float alpha = 0, beta = 0, gamma = 0;
};

template <typename T>
void run_float(Op op, const Params& p, int threads, const T* x, T* y, int64_t n) {
  using C = compute_t<T>;
  const C alpha = static_cast<C>(p.alpha), beta = static_cast<C>(p.beta), gamma = static_cast<C>(p.gamma);
  auto cheap = [&](auto f) { map_unary<T>(threads, x, y, n, f, kGrainCheap); };
  auto costly = [&](auto f) { map_unary<T>(threads, x, y, n, f, kGrainCostly); };
  switch (op) {
    case Op::kRelu: cheap([](C v) { return sel(v < C(0), C(0), v); }); break;  // NaN stays NaN
    case Op::kSigmoid: costly([](C v) { return vmath::vsigmoid(v); }); break;
    case Op::kTanh: costly([](C v) { return vmath::vtanh(v); }); break;
    case Op::kLeakyRelu: cheap([=](C v) { return sel(v >= C(0), v, v * alpha); }); break;
    case Op::kElu: costly([=](C v) { return sel(v >= C(0), v, alpha * vmath::vexpm1(v)); }); break;
    case Op::kSelu:
      costly([=](C v) { return gamma * sel(v > C(0), v, alpha * vmath::vexpm1(v)); });
      break;
    case Op::kCelu:
      costly([=](C v) {
        const C neg = alpha * vmath::vexpm1(v / alpha);
        return sel(v > C(0), v, C(0)) + sel(neg < C(0), neg, C(0));
      });
      break;
    case Op::kHardSigmoid:
      cheap([=](C v) {
        const C t = alpha * v + beta;
        return sel(t < C(0), C(0), sel(t > C(1), C(1), t));
      });
      break;
    case Op::kHardSwish:
      cheap([](C v) {
        const C t = v * C(1.0 / 6.0) + C(0.5);
        return v * sel(t < C(0), C(0), sel(t > C(1), C(1), t));
      });
      break;
    case Op::kSoftplus:
      // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large x.
      costly([](C v) { return sel(v > C(0), v, C(0)) + log1p_pos(vmath::vexp(-std::fabs(v))); });
      break;
    case Op::kSoftsign: cheap([](C v) { return v / (C(1) + std::fabs(v)); }); break;
    case Op::kThresholdedRelu: cheap([=](C v) { return sel(v > alpha, v, C(0)); }); break;
    case Op::kShrink:
      cheap([=](C v) { return sel(v < -alpha, v + beta, sel(v > alpha, v - beta, C(0))); });
      break;
  }
}

class ActivationKernel final : public OpKernel {
 public:
  ActivationKernel(const KernelInit& init, Op op) : op_(op) {
    const auto& n = init.node;
    switch (op_) {
      case Op::kLeakyRelu: p_.alpha = n.attr_float("alpha", 0.01f); break;
      case Op::kElu:
      case Op::kCelu: p_.alpha = n.attr_float("alpha", 1.f); break;
      case Op::kSelu:
        p_.alpha = n.attr_float("alpha", 1.67326319217681884765625f);
        p_.gamma = n.attr_float("gamma", 1.05070102214813232421875f);
        break;
      case Op::kHardSigmoid:
        p_.alpha = n.attr_float("alpha", 0.2f);
        p_.beta = n.attr_float("beta", 0.5f);
        break;
      case Op::kThresholdedRelu: p_.alpha = n.attr_float("alpha", 1.f); break;
      case Op::kShrink:
        p_.alpha = n.attr_float("lambd", 0.5f);
        p_.beta = n.attr_float("bias", 0.f);
        break;
      default: break;
    }
    if (op_ == Op::kCelu && p_.alpha == 0.f) throw Error(ErrorCode::kInvalidModel, "Celu alpha must not be 0");
    if (op_ == Op::kShrink && p_.alpha < 0.f) throw Error(ErrorCode::kInvalidModel, "Shrink lambd must not be negative");
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const DataType t = x.dtype();
    Tensor& y = ctx.allocate_or_reuse(0, 0, t, x.shape());  // element-wise: may write over x
    const int64_t n = x.numel();
    const int threads = ctx.threads();
    if (t == DataType::kFloat || t == DataType::kDouble || t == DataType::kFloat16 || t == DataType::kBFloat16) {
      dispatch_float(t, [&](auto tag) {
        using T = decltype(tag);
        run_float<T>(op_, p_, threads, static_cast<const T*>(x.raw()), static_cast<T*>(y.raw()), n);
      });
      return;
    }
    if (op_ == Op::kRelu) {  // signed integers since opset 14
      dispatch_int(t, [&](auto tag) {
        using T = decltype(tag);
        map_unary<T>(threads, static_cast<const T*>(x.raw()), static_cast<T*>(y.raw()), n,
                     [](T v) { return v > T(0) ? v : T(0); });
      });
      return;
    }
    if (op_ == Op::kShrink) {  // all numeric types; computed in double, cast back
      const double lambd = p_.alpha, bias = p_.beta;
      dispatch_int(t, [&](auto tag) {
        using T = decltype(tag);
        map_unary<T>(threads, static_cast<const T*>(x.raw()), static_cast<T*>(y.raw()), n, [=](T v) {
          const double d = static_cast<double>(v);
          return static_cast<T>(d < -lambd ? d + bias : (d > lambd ? d - bias : 0.0));
        });
      });
      return;
    }
    unsupported_type(t, ctx.node().op_type.c_str());
  }

 private:
  Op op_;
  Params p_;
};

KernelFactory act(Op op) {
  return [op](const KernelInit& init) -> std::unique_ptr<OpKernel> { return std::make_unique<ActivationKernel>(init, op); };
}

}  // namespace

void register_kernels_math_activation(KernelRegistry& r) {
  // Versions 1 and 6 differ only in the ignored consumed_inputs attribute;
  // later versions widen the type lists.
  r.add("", "Relu", 1, 5, act(Op::kRelu));
  r.add("", "Relu", 6, 12, act(Op::kRelu));
  r.add("", "Relu", 13, 13, act(Op::kRelu));
  r.add("", "Relu", 14, kOpenEnded, act(Op::kRelu));
  for (const auto& [name, op] : {std::pair{"Sigmoid", Op::kSigmoid}, std::pair{"Tanh", Op::kTanh}}) {
    r.add("", name, 1, 5, act(op));
    r.add("", name, 6, 12, act(op));
    r.add("", name, 13, kOpenEnded, act(op));
  }
  r.add("", "LeakyRelu", 1, 5, act(Op::kLeakyRelu));
  r.add("", "LeakyRelu", 6, 15, act(Op::kLeakyRelu));
  r.add("", "LeakyRelu", 16, kOpenEnded, act(Op::kLeakyRelu));
  for (const auto& [name, op] : {std::pair{"Elu", Op::kElu}, std::pair{"Selu", Op::kSelu},
                                 std::pair{"HardSigmoid", Op::kHardSigmoid}}) {
    r.add("", name, 1, 5, act(op));
    r.add("", name, 6, kOpenEnded, act(op));
  }
  r.add("", "Celu", 12, kOpenEnded, act(Op::kCelu));
  r.add("", "HardSwish", 14, kOpenEnded, act(Op::kHardSwish));
  r.add("", "Softplus", 1, kOpenEnded, act(Op::kSoftplus));
  r.add("", "Softsign", 1, kOpenEnded, act(Op::kSoftsign));
  r.add("", "ThresholdedRelu", 10, kOpenEnded, act(Op::kThresholdedRelu));
  r.add("", "Shrink", 9, kOpenEnded, act(Op::kShrink));
}

}  // namespace pier::kernels
