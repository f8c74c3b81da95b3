// Variadic element-wise ops with multidirectional broadcasting: Min, Max,
// Sum, Mean. The inputs are folded pairwise into the output buffer; each
// step is a broadcast row loop (contiguous or constant operands). Half
// types are computed in float and rounded once at the end.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/kernel.h"
#include "kernels/util/broadcast.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/math_map.h"
#include "kernels/util/math_vec.h"

namespace pier::kernels {

namespace {

using namespace math_util;

enum class Op { kMin, kMax, kSum, kMean };

template <typename C>
inline C combine(Op op, C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    // NaN in either operand propagates (numpy's minimum/maximum).
    switch (op) {
      case Op::kMin: return vmath::sel((b < a) | (b != b), b, a);
      case Op::kMax: return vmath::sel((b > a) | (b != b), b, a);
      default: return a + b;
    }
  } else {
    switch (op) {
      case Op::kMin: return b < a ? b : a;
      case Op::kMax: return b > a ? b : a;
      default: return static_cast<C>(a + b);
    }
  }
}

// z[i] = combine(x[i*sx], y[i*sy]); the op is fixed per loop so it vectorizes.
template <typename C>
void combine_row(Op op, const C* x, int64_t sx, const C* y, int64_t sy, C* z, int64_t n) {
  auto run = [&](auto opc) {
    constexpr Op o = decltype(opc)::value;
    if (sx == 1 && sy == 1) {
      for (int64_t i = 0; i < n; ++i) z[i] = combine<C>(o, x[i], y[i]);
    } else if (sx == 1) {
      const C b = y[0];
      for (int64_t i = 0; i < n; ++i) z[i] = combine<C>(o, x[i], b);
    } else if (sy == 1) {
      const C a = x[0];
      for (int64_t i = 0; i < n; ++i) z[i] = combine<C>(o, a, y[i]);
    } else {
      const C r = combine<C>(o, x[0], y[0]);
      for (int64_t i = 0; i < n; ++i) z[i] = r;
    }
  };
  switch (op) {
    case Op::kMin: run(std::integral_constant<Op, Op::kMin>{}); break;
    case Op::kMax: run(std::integral_constant<Op, Op::kMax>{}); break;
    default: run(std::integral_constant<Op, Op::kSum>{}); break;
  }
}

template <typename C>
void fold(Op op, int threads, const std::vector<Tensor>& in, Tensor& out) {
  const Shape& shape = out.shape();
  C* po = static_cast<C*>(out.raw());
  if (out.numel() == 0) return;
  if (in.size() == 1) {
    std::memcpy(po, in[0].raw(), out.nbytes());
  } else {
    const BroadcastPlan p = plan_broadcast({in[0].shape(), in[1].shape()}, shape);
    const C* a = static_cast<const C*>(in[0].raw());
    const C* b = static_cast<const C*>(in[1].raw());
    for_each_row(p, threads, [&](int64_t o, const int64_t* off, int64_t n) {
      combine_row<C>(op, a + off[0], p.inner_step[0], b + off[1], p.inner_step[1], po + o, n);
    });
  }
  for (size_t k = 2; k < in.size(); ++k) {
    const BroadcastPlan p = plan_broadcast({shape, in[k].shape()}, shape);
    const C* b = static_cast<const C*>(in[k].raw());
    for_each_row(p, threads, [&](int64_t o, const int64_t* off, int64_t n) {
      combine_row<C>(op, po + off[0], p.inner_step[0], b + off[1], p.inner_step[1], po + o, n);
    });
  }
  if (op == Op::kMean) {
    if constexpr (std::is_floating_point_v<C>) {
      const C scale = C(1) / static_cast<C>(in.size());
      map_unary<C>(threads, po, po, out.numel(), [=](C v) { return v * scale; });
    }
  }
}

class VariadicKernel final : public OpKernel {
 public:
  VariadicKernel(const KernelInit&, Op op) : op_(op) {}

  void compute(KernelContext& ctx) const override {
    const int n_in = ctx.num_inputs();
    if (n_in < 1) throw Error(ErrorCode::kInvalidArgument, "needs at least one input");
    std::vector<Tensor> in;
    for (int i = 0; i < n_in; ++i) in.push_back(ctx.input(i));
    const DataType t = in[0].dtype();
    Shape shape = in[0].shape();
    for (int i = 1; i < n_in; ++i) {
      if (in[i].dtype() != t)
        throw Error(ErrorCode::kInvalidArgument, std::string("input types differ: ") + dtype_name(t) + " and " +
                                                     dtype_name(in[i].dtype()));
      shape = broadcast_shapes(shape, in[i].shape());
    }
    const bool float_only = op_ == Op::kSum || op_ == Op::kMean;
    if (float_only && t != DataType::kFloat && t != DataType::kDouble && t != DataType::kFloat16 &&
        t != DataType::kBFloat16)
      unsupported_type(t, ctx.node().op_type.c_str());
    if (t == DataType::kFloat16 || t == DataType::kBFloat16) {
      for (auto& x : in) x = cast_tensor(x, DataType::kFloat);
      Tensor acc(DataType::kFloat, shape);
      fold<float>(op_, ctx.threads(), in, acc);
      ctx.set_output(0, Value(cast_tensor(acc, t)));
      return;
    }
    Tensor& out = ctx.allocate(0, t, shape);
    if (out.numel() == 0) return;
    dispatch_numeric(t, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (!is_half_v<T>) fold<T>(op_, ctx.threads(), in, out);
    });
  }

 private:
  Op op_;
};

KernelFactory variadic(Op op) {
  return [op](const KernelInit& init) -> std::unique_ptr<OpKernel> { return std::make_unique<VariadicKernel>(init, op); };
}

}  // namespace

void register_kernels_math_variadic(KernelRegistry& r) {
  // 1 and 6 require equal shapes (a special case of broadcasting); 8 adds
  // broadcasting, 12 and 13 widen the type lists.
  for (const auto& [name, op] : {std::pair{"Min", Op::kMin}, std::pair{"Max", Op::kMax}}) {
    r.add("", name, 1, 5, variadic(op));
    r.add("", name, 6, 7, variadic(op));
    r.add("", name, 8, 11, variadic(op));
    r.add("", name, 12, 12, variadic(op));
    r.add("", name, 13, kOpenEnded, variadic(op));
  }
  for (const auto& [name, op] : {std::pair{"Sum", Op::kSum}, std::pair{"Mean", Op::kMean}}) {
    r.add("", name, 1, 5, variadic(op));
    r.add("", name, 6, 7, variadic(op));
    r.add("", name, 8, 12, variadic(op));
    r.add("", name, 13, kOpenEnded, variadic(op));
  }
}

}  // namespace pier::kernels
