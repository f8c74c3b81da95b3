// Broadcasting binary ops: arithmetic (Add, Sub, Mul, Div, Pow, Mod),
// comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual), logic
// (And, Or, Xor) and BitShift.
#include <cmath>
#include <type_traits>

#include "kernels/kernel.h"
#include "kernels/util/broadcast.h"
#include "kernels/util/dispatch.h"

namespace pier::kernels {

namespace {

enum class Op { kAdd, kSub, kMul, kDiv, kPow, kMod, kFMod, kEq, kLt, kGt, kLe, kGe, kAnd, kOr, kXor, kShl, kShr };

// min / -1 overflows (x86 raises SIGFPE): it wraps to min, as in numpy.
template <typename C>
inline C int_div(C a, C b) {
  if (b == 0) throw Error(ErrorCode::kInvalidArgument, "integer division by zero");
  if constexpr (std::is_signed_v<C>) {
    if (b == -1) return static_cast<C>(C{0} - static_cast<std::make_unsigned_t<C>>(a));
  }
  return a / b;
}

// Mod with fmod=0 takes the divisor's sign (Python %), fmod=1 the dividend's.
template <typename C>
inline C mod_op(C a, C b, bool fmod) {
  if constexpr (std::is_floating_point_v<C>) {
    C r = std::fmod(a, b);
    if (!fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  } else {
    if (b == 0) throw Error(ErrorCode::kInvalidArgument, "integer modulo by zero");
    if constexpr (std::is_signed_v<C>) {
      if (b == -1) return C{0};  // min % -1 would trap like min / -1
    }
    C r = a % b;
    if constexpr (std::is_signed_v<C>) {
      if (!fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
    }
    return r;
  }
}

template <Op kOp, typename C>
inline C arith(C a, C b) {
  if constexpr (kOp == Op::kAdd) return static_cast<C>(a + b);
  else if constexpr (kOp == Op::kSub) return static_cast<C>(a - b);
  else if constexpr (kOp == Op::kMul) return static_cast<C>(a * b);
  else if constexpr (std::is_integral_v<C>) return int_div(a, b);
  else return a / b;
}

template <Op kOp, typename C>
inline bool compare(C a, C b) {
  if constexpr (kOp == Op::kEq) return a == b;
  else if constexpr (kOp == Op::kLt) return a < b;
  else if constexpr (kOp == Op::kGt) return a > b;
  else if constexpr (kOp == Op::kLe) return a <= b;
  else return a >= b;
}

bool is_compare(Op op) { return op >= Op::kEq && op <= Op::kGe; }
bool is_logic(Op op) { return op >= Op::kAnd && op <= Op::kXor; }

class BinaryKernel final : public OpKernel {
 public:
  BinaryKernel(const KernelInit& init, Op op) : op_(op) {
    if (op_ == Op::kMod) {
      if (init.node.attr_int("fmod", 0)) op_ = Op::kFMod;
    }
    if (init.node.op_type == "BitShift") {
      const std::string dir = init.node.attr_string("direction", "");
      if (dir == "LEFT") op_ = Op::kShl;
      else if (dir == "RIGHT") op_ = Op::kShr;
      else throw Error(ErrorCode::kInvalidModel, "BitShift direction must be LEFT or RIGHT, got \"" + dir + "\"");
    }
    // Opset < 7 Add/Mul/... with explicit broadcast attributes.
    legacy_ = init.node.attr_int("broadcast", 0) != 0;
    legacy_axis_ = init.node.has_attr("axis") ? init.node.attr_int("axis", 0) : kNoLegacy;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    // b by reference (a copy would share its storage and block in-place use).
    Tensor legacy_b;
    if (legacy_) legacy_b = legacy_broadcast(a, ctx.input(1));
    const Tensor& b = legacy_ ? legacy_b : ctx.input(1);
    if (a.dtype() != b.dtype() && op_ != Op::kPow)
      throw Error(ErrorCode::kInvalidArgument, std::string("input types differ: ") + dtype_name(a.dtype()) + " and " +
                                                   dtype_name(b.dtype()));
    const Shape out_shape = broadcast_shapes(a.shape(), b.shape());
    const BroadcastPlan plan = plan_broadcast({a.shape(), b.shape()}, out_shape);
    // An input that already has the output's shape is read at the output's
    // own indices, so the output may be written over it.
    const int reuse = ctx.can_reuse(0, a.dtype(), out_shape) ? 0 : 1;
    if (is_compare(op_) || is_logic(op_)) {
      Tensor& out = ctx.allocate_or_reuse(0, reuse, DataType::kBool, out_shape);
      if (is_logic(op_)) {
        if (a.dtype() != DataType::kBool) unsupported_type(a.dtype(), "logical op");
        run_loop<bool, bool>(ctx, plan, a, b, out);
      } else if (a.dtype() == DataType::kBool) {
        run_loop<bool, bool>(ctx, plan, a, b, out);
      } else if (a.dtype() == DataType::kString) {
        if (op_ != Op::kEq) unsupported_type(a.dtype(), "comparison");
        run_loop<std::string, bool>(ctx, plan, a, b, out);
      } else {
        dispatch_numeric(a.dtype(), [&](auto tag) { run_loop<decltype(tag), bool>(ctx, plan, a, b, out); });
      }
      return;
    }
    Tensor& out = ctx.allocate_or_reuse(0, reuse, a.dtype(), out_shape);
    if (op_ == Op::kShl || op_ == Op::kShr) {
      dispatch_int(a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_unsigned_v<T>) run_loop<T, T>(ctx, plan, a, b, out);
        else unsupported_type(a.dtype(), "BitShift");
      });
      return;
    }
    if (op_ == Op::kPow && a.dtype() != b.dtype()) {
      // Pow allows a different exponent type; compute it in the base's type.
      Tensor bc = cast_tensor(b, a.dtype());
      dispatch_numeric(a.dtype(), [&](auto tag) { run_loop<decltype(tag), decltype(tag)>(ctx, plan, a, bc, out); });
      return;
    }
    dispatch_numeric(a.dtype(), [&](auto tag) { run_loop<decltype(tag), decltype(tag)>(ctx, plan, a, b, out); });
  }

 private:
  static constexpr int64_t kNoLegacy = INT64_MIN;

  // Opset 1-6 broadcasting: b's shape matches a contiguous run of a's dims
  // starting at `axis` (default: aligned to the end).
  Tensor legacy_broadcast(const Tensor& a, const Tensor& b) const {
    const int64_t ra = a.rank(), rb = b.rank();
    int64_t axis = legacy_axis_ == kNoLegacy ? ra - rb : legacy_axis_;
    if (axis < 0) axis += ra;
    if (axis < 0 || axis + rb > ra) throw Error(ErrorCode::kInvalidArgument, "legacy broadcast axis out of range");
    Shape s(b.shape());
    for (int64_t i = axis + rb; i < ra; ++i) s.push_back(1);
    return b.reshaped(s);
  }

  template <typename T, typename O>
  void run_loop(KernelContext& ctx, const BroadcastPlan& plan, const Tensor& a, const Tensor& b, Tensor& out) const {
    const T* pa = static_cast<const T*>(a.raw());
    const T* pb = static_cast<const T*>(b.raw());
    O* po = static_cast<O*>(out.raw());
    const int64_t sa = plan.inner_step[0], sb = plan.inner_step[1];
    const Op op = op_;
    for_each_row(plan, ctx.threads(), [&](int64_t o, const int64_t* off, int64_t n) {
      const T* x = pa + off[0];
      const T* y = pb + off[1];
      O* z = po + o;
      row<T, O>(op, x, sa, y, sb, z, n);
    });
  }

  template <typename T, typename O>
  static void row(Op op, const T* x, int64_t sx, const T* y, int64_t sy, O* z, int64_t n) {
    if constexpr (std::is_same_v<T, std::string>) {
      for (int64_t i = 0; i < n; ++i) z[i] = x[i * sx] == y[i * sy];
    } else if constexpr (std::is_same_v<O, bool> && !std::is_same_v<T, bool>) {
      switch (op) {
        case Op::kEq: cmp_row<Op::kEq>(x, sx, y, sy, z, n); break;
        case Op::kLt: cmp_row<Op::kLt>(x, sx, y, sy, z, n); break;
        case Op::kGt: cmp_row<Op::kGt>(x, sx, y, sy, z, n); break;
        case Op::kLe: cmp_row<Op::kLe>(x, sx, y, sy, z, n); break;
        case Op::kGe: cmp_row<Op::kGe>(x, sx, y, sy, z, n); break;
        default:
          for (int64_t i = 0; i < n; ++i) z[i] = false;
      }
    } else if constexpr (std::is_same_v<T, bool>) {
      for (int64_t i = 0; i < n; ++i) {
        const bool u = x[i * sx], v = y[i * sy];
        switch (op) {
          case Op::kAnd: z[i] = u && v; break;
          case Op::kOr: z[i] = u || v; break;
          case Op::kXor: z[i] = u != v; break;
          case Op::kEq: z[i] = u == v; break;
          case Op::kLt: z[i] = u < v; break;
          case Op::kGt: z[i] = u > v; break;
          case Op::kLe: z[i] = u <= v; break;
          case Op::kGe: z[i] = u >= v; break;
          default: z[i] = false;
        }
      }
    } else {
      using C = compute_t<T>;
      switch (op) {
        case Op::kPow:
          pow_row<T>(x, sx, y, sy, z, n);
          break;
        case Op::kMod:
        case Op::kFMod:
          for (int64_t i = 0; i < n; ++i) z[i] = store<T>(mod_op<C>(load(x[i * sx]), load(y[i * sy]), op == Op::kFMod));
          break;
        case Op::kShl:
        case Op::kShr:
          if constexpr (std::is_integral_v<C>) {
            for (int64_t i = 0; i < n; ++i) {
              const C s = y[i * sy];
              const C bits = static_cast<C>(sizeof(C) * 8);
              z[i] = s >= bits ? C{0} : (op == Op::kShl ? static_cast<C>(x[i * sx] << s) : static_cast<C>(x[i * sx] >> s));
            }
          }
          break;
        case Op::kAdd: arith_row<Op::kAdd>(x, sx, y, sy, z, n); break;
        case Op::kSub: arith_row<Op::kSub>(x, sx, y, sy, z, n); break;
        case Op::kMul: arith_row<Op::kMul>(x, sx, y, sy, z, n); break;
        case Op::kDiv: arith_row<Op::kDiv>(x, sx, y, sy, z, n); break;
        default: break;
      }
    }
  }

  // One loop per (op, operand layout) so each is a straight vectorizable
  // loop: the op is a template argument, not a switch inside the loop.
  template <Op kOp, typename T>
  static void arith_row(const T* x, int64_t sx, const T* y, int64_t sy, T* z, int64_t n) {
    using C = compute_t<T>;
    if (sx == 1 && sy == 1) {
      for (int64_t i = 0; i < n; ++i) z[i] = store<T>(arith<kOp, C>(load(x[i]), load(y[i])));
    } else if (sx == 1) {
      const C v = load(y[0]);
      for (int64_t i = 0; i < n; ++i) z[i] = store<T>(arith<kOp, C>(load(x[i]), v));
    } else if (sy == 1) {
      const C u = load(x[0]);
      for (int64_t i = 0; i < n; ++i) z[i] = store<T>(arith<kOp, C>(u, load(y[i])));
    } else {
      const T r = store<T>(arith<kOp, C>(load(x[0]), load(y[0])));
      for (int64_t i = 0; i < n; ++i) z[i] = r;
    }
  }

  template <Op kOp, typename T>
  static void cmp_row(const T* x, int64_t sx, const T* y, int64_t sy, bool* z, int64_t n) {
    if (sx == 1 && sy == 1) {
      for (int64_t i = 0; i < n; ++i) z[i] = compare<kOp>(load(x[i]), load(y[i]));
    } else if (sx == 1) {
      const auto v = load(y[0]);
      for (int64_t i = 0; i < n; ++i) z[i] = compare<kOp>(load(x[i]), v);
    } else if (sy == 1) {
      const auto u = load(x[0]);
      for (int64_t i = 0; i < n; ++i) z[i] = compare<kOp>(u, load(y[i]));
    } else {
      const bool r = compare<kOp>(load(x[0]), load(y[0]));
      for (int64_t i = 0; i < n; ++i) z[i] = r;
    }
  }

  // Pow with a row-constant exponent of 2, 3, 1, 0.5 or -1 (the common cases
  // in exported models) avoids a libm call per element; otherwise pow is
  // computed in double.
  template <typename T>
  static void pow_row(const T* x, int64_t sx, const T* y, int64_t sy, T* z, int64_t n) {
    using C = compute_t<T>;
    if (sy == 0 && sx == 1) {
      const C e = load(y[0]);
      if (e == C(2)) {
        for (int64_t i = 0; i < n; ++i) z[i] = store<T>(static_cast<C>(load(x[i]) * load(x[i])));
        return;
      }
      if (e == C(1)) {
        for (int64_t i = 0; i < n; ++i) z[i] = x[i];
        return;
      }
      if constexpr (std::is_floating_point_v<C>) {
        if (e == C(3)) {
          for (int64_t i = 0; i < n; ++i) {
            const double v = load(x[i]);
            z[i] = store<T>(static_cast<C>(v * v * v));
          }
          return;
        }
        if (e == C(0.5)) {
          for (int64_t i = 0; i < n; ++i) z[i] = store<T>(std::sqrt(load(x[i])));
          return;
        }
        if (e == C(-1)) {
          for (int64_t i = 0; i < n; ++i) z[i] = store<T>(C(1) / load(x[i]));
          return;
        }
      }
    }
    for (int64_t i = 0; i < n; ++i)
      z[i] = store<T>(static_cast<C>(std::pow(static_cast<double>(load(x[i * sx])), static_cast<double>(load(y[i * sy])))));
  }

  Op op_;
  int64_t legacy_axis_ = kNoLegacy;
  bool legacy_ = false;
};

KernelFactory binary(Op op) {
  return [op](const KernelInit& init) -> std::unique_ptr<OpKernel> { return std::make_unique<BinaryKernel>(init, op); };
}

}  // namespace

void register_kernels_math_binary(KernelRegistry& r) {
  r.add("", "Add", 1, kOpenEnded, binary(Op::kAdd));
  r.add("", "Sub", 1, kOpenEnded, binary(Op::kSub));
  r.add("", "Mul", 1, kOpenEnded, binary(Op::kMul));
  r.add("", "Div", 1, kOpenEnded, binary(Op::kDiv));
  r.add("", "Pow", 1, kOpenEnded, binary(Op::kPow));
  r.add("", "Mod", 10, kOpenEnded, binary(Op::kMod));
  r.add("", "Equal", 1, kOpenEnded, binary(Op::kEq));
  r.add("", "Less", 1, kOpenEnded, binary(Op::kLt));
  r.add("", "Greater", 1, kOpenEnded, binary(Op::kGt));
  r.add("", "LessOrEqual", 12, kOpenEnded, binary(Op::kLe));
  r.add("", "GreaterOrEqual", 12, kOpenEnded, binary(Op::kGe));
  r.add("", "And", 1, kOpenEnded, binary(Op::kAnd));
  r.add("", "Or", 1, kOpenEnded, binary(Op::kOr));
  r.add("", "Xor", 1, kOpenEnded, binary(Op::kXor));
  r.add("", "BitShift", 11, kOpenEnded, binary(Op::kShl));
}

}  // namespace pier::kernels
