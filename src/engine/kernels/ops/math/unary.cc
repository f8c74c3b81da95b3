// Element-wise unary math: Abs, Neg, Reciprocal, Floor, Ceil, Round, Sign,
// Sqrt, Exp, Log, Erf, trigonometric and hyperbolic functions, Not, IsNaN
// and IsInf. The op is chosen once per call, outside the element loop.
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
  kAbs, kNeg, kReciprocal, kFloor, kCeil, kRound, kSign, kSqrt, kExp, kLog, kErf,
  kSin, kCos, kTan, kAsin, kAcos, kAtan, kSinh, kCosh, kAsinh, kAcosh, kAtanh,
  kNot, kIsNaN, kIsInf,
};

// Ops defined for integer inputs as well as floating-point ones.
bool allows_int(Op op) { return op == Op::kAbs || op == Op::kNeg || op == Op::kSign || op == Op::kErf; }

// Float-type ops whose libm calls are costly enough for a smaller grain.
bool costly(Op op) { return op >= Op::kSqrt && op <= Op::kAtanh; }

template <typename T>
void run_float(Op op, int threads, const T* x, T* y, int64_t n) {
  using C = compute_t<T>;
  const int64_t g = costly(op) ? kGrainCostly : kGrainCheap;
  auto go = [&](auto f) { map_unary<T>(threads, x, y, n, f, g); };
  switch (op) {
    case Op::kAbs: go([](C v) { return std::fabs(v); }); break;
    case Op::kNeg: go([](C v) { return -v; }); break;
    case Op::kReciprocal: go([](C v) { return C(1) / v; }); break;
    case Op::kFloor: go([](C v) { return vmath::floor_v(v); }); break;
    case Op::kCeil: go([](C v) { return vmath::ceil_v(v); }); break;
    case Op::kRound: go([](C v) { return vmath::round_even(v); }); break;
    case Op::kSign:
      go([](C v) { return sel(v > C(0), C(1), sel(v < C(0), C(-1), sel(v == v, C(0), v))); });
      break;
    case Op::kSqrt: go([](C v) { return std::sqrt(v); }); break;
    case Op::kExp: go([](C v) { return vmath::vexp(v); }); break;
    case Op::kLog: go([](C v) { return vmath::vlog(v); }); break;
    case Op::kErf: go([](C v) { return vmath::verf(v); }); break;
    case Op::kSin: go([](C v) { return std::sin(v); }); break;
    case Op::kCos: go([](C v) { return std::cos(v); }); break;
    case Op::kTan: go([](C v) { return std::tan(v); }); break;
    case Op::kAsin: go([](C v) { return std::asin(v); }); break;
    case Op::kAcos: go([](C v) { return std::acos(v); }); break;
    case Op::kAtan: go([](C v) { return std::atan(v); }); break;
    case Op::kSinh: go([](C v) { return std::sinh(v); }); break;
    case Op::kCosh: go([](C v) { return std::cosh(v); }); break;
    case Op::kAsinh: go([](C v) { return std::asinh(v); }); break;
    case Op::kAcosh: go([](C v) { return std::acosh(v); }); break;
    case Op::kAtanh: go([](C v) { return std::atanh(v); }); break;
    default: break;
  }
}

template <typename T>
void run_int(Op op, int threads, const T* x, T* y, int64_t n) {
  // Negation in the unsigned type: the most negative value wraps to itself
  // (as in numpy) instead of overflowing.
  using U = std::make_unsigned_t<T>;
  switch (op) {
    case Op::kAbs:
      if constexpr (std::is_signed_v<T>)
        map_unary<T>(threads, x, y, n, [](T v) { return static_cast<T>(v < 0 ? U(0) - static_cast<U>(v) : static_cast<U>(v)); });
      else map_unary<T>(threads, x, y, n, [](T v) { return v; });
      break;
    case Op::kNeg:
      map_unary<T>(threads, x, y, n, [](T v) { return static_cast<T>(U(0) - static_cast<U>(v)); });
      break;
    case Op::kSign:
      if constexpr (std::is_signed_v<T>)
        map_unary<T>(threads, x, y, n, [](T v) { return static_cast<T>((v > 0) - (v < 0)); });
      else map_unary<T>(threads, x, y, n, [](T v) { return static_cast<T>(v > 0); });
      break;
    case Op::kErf:
      // erf of an integer, truncated back to the integer type (numpy's astype).
      map_unary<T>(threads, x, y, n, [](T v) { return static_cast<T>(std::erf(static_cast<double>(v))); }, kGrainCostly);
      break;
    default: break;
  }
}

class UnaryKernel final : public OpKernel {
 public:
  UnaryKernel(const KernelInit& init, Op op) : op_(op) {
    if (op_ == Op::kIsInf) {
      detect_pos_ = init.node.attr_int("detect_positive", 1) != 0;
      detect_neg_ = init.node.attr_int("detect_negative", 1) != 0;
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t n = x.numel();
    const int threads = ctx.threads();
    const DataType t = x.dtype();
    if (op_ == Op::kNot) {
      if (t != DataType::kBool) unsupported_type(t, "Not");
      Tensor& y = ctx.allocate_or_reuse(0, 0, DataType::kBool, x.shape());
      map_unary<bool>(threads, x.data<bool>(), y.data<bool>(), n, [](bool v) { return !v; });
      return;
    }
    if (op_ == Op::kIsNaN || op_ == Op::kIsInf) {
      Tensor& y = ctx.allocate(0, DataType::kBool, x.shape());
      bool* py = y.data<bool>();
      const bool pos = detect_pos_, neg = detect_neg_;
      dispatch_float(t, [&](auto tag) {
        using T = decltype(tag);
        using C = compute_t<T>;
        const T* px = static_cast<const T*>(x.raw());
        if (op_ == Op::kIsNaN) {
          map_unary<T, bool>(threads, px, py, n, [](C v) { return v != v; });
        } else {
          const C inf = std::numeric_limits<C>::infinity();
          map_unary<T, bool>(threads, px, py, n, [=](C v) { return (pos && v == inf) || (neg && v == -inf); });
        }
      });
      return;
    }
    Tensor& y = ctx.allocate_or_reuse(0, 0, t, x.shape());  // element-wise: may write over x
    if (t == DataType::kFloat || t == DataType::kDouble || t == DataType::kFloat16 || t == DataType::kBFloat16) {
      dispatch_float(t, [&](auto tag) {
        using T = decltype(tag);
        run_float<T>(op_, threads, static_cast<const T*>(x.raw()), static_cast<T*>(y.raw()), n);
      });
      return;
    }
    if (!allows_int(op_)) unsupported_type(t, ctx.node().op_type.c_str());
    dispatch_int(t, [&](auto tag) {
      using T = decltype(tag);
      run_int<T>(op_, threads, static_cast<const T*>(x.raw()), static_cast<T*>(y.raw()), n);
    });
  }

 private:
  Op op_;
  bool detect_pos_ = true, detect_neg_ = true;
};

KernelFactory unary(Op op) {
  return [op](const KernelInit& init) -> std::unique_ptr<OpKernel> { return std::make_unique<UnaryKernel>(init, op); };
}

}  // namespace

void register_kernels_math_unary(KernelRegistry& r) {
  // Versions 1 and 6 differ only in the (ignored) consumed_inputs attribute
  // and 13 in the type list; one kernel covers them.
  const std::pair<const char*, Op> since1[] = {
      {"Abs", Op::kAbs},   {"Neg", Op::kNeg},   {"Reciprocal", Op::kReciprocal}, {"Floor", Op::kFloor},
      {"Ceil", Op::kCeil}, {"Sqrt", Op::kSqrt}, {"Exp", Op::kExp},               {"Log", Op::kLog},
  };
  for (const auto& [name, op] : since1) {
    r.add("", name, 1, 5, unary(op));
    r.add("", name, 6, 12, unary(op));
    r.add("", name, 13, kOpenEnded, unary(op));
  }
  r.add("", "Round", 11, kOpenEnded, unary(Op::kRound));
  r.add("", "Sign", 9, 12, unary(Op::kSign));
  r.add("", "Sign", 13, kOpenEnded, unary(Op::kSign));
  r.add("", "Erf", 9, 12, unary(Op::kErf));
  r.add("", "Erf", 13, kOpenEnded, unary(Op::kErf));
  r.add("", "Sin", 7, kOpenEnded, unary(Op::kSin));
  r.add("", "Cos", 7, kOpenEnded, unary(Op::kCos));
  r.add("", "Tan", 7, kOpenEnded, unary(Op::kTan));
  r.add("", "Asin", 7, kOpenEnded, unary(Op::kAsin));
  r.add("", "Acos", 7, kOpenEnded, unary(Op::kAcos));
  r.add("", "Atan", 7, kOpenEnded, unary(Op::kAtan));
  r.add("", "Sinh", 9, kOpenEnded, unary(Op::kSinh));
  r.add("", "Cosh", 9, kOpenEnded, unary(Op::kCosh));
  r.add("", "Asinh", 9, kOpenEnded, unary(Op::kAsinh));
  r.add("", "Acosh", 9, kOpenEnded, unary(Op::kAcosh));
  r.add("", "Atanh", 9, kOpenEnded, unary(Op::kAtanh));
  r.add("", "Not", 1, kOpenEnded, unary(Op::kNot));
  r.add("", "IsNaN", 9, 12, unary(Op::kIsNaN));
  r.add("", "IsNaN", 13, kOpenEnded, unary(Op::kIsNaN));
  r.add("", "IsInf", 10, kOpenEnded, unary(Op::kIsInf));
}

}  // namespace pier::kernels
