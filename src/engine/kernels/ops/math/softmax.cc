// Softmax, LogSoftmax and Hardmax.
// Opsets 1-12 coerce the input to 2-D at `axis` (default 1): each row is the
// flattened dims from axis on. Opset 13+ works along the single axis
// (default -1). The input is viewed as [outer, n, inner]; with inner == 1
// rows are contiguous (the common last-axis case), otherwise the loops run
// across `inner` in blocks. Max-subtraction keeps exp in range. Half types
// are computed in float.
#include <cmath>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/math_map.h"
#include "kernels/util/math_vec.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

using namespace math_util;

enum class Op { kSoftmax, kLogSoftmax, kHardmax };

template <typename C>
void row_op(Op op, const C* x, C* y, int64_t n) {
  if (op == Op::kHardmax) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i)
      if (x[i] > x[best]) best = i;
    for (int64_t i = 0; i < n; ++i) y[i] = C(0);
    y[best] = C(1);
    return;
  }
  const C m = row_max(x, n);
  if (op == Op::kSoftmax) {
    for (int64_t i = 0; i < n; ++i) y[i] = vmath::vexp(x[i] - m);
    const C scale = C(1) / row_sum(y, n);
    for (int64_t i = 0; i < n; ++i) y[i] *= scale;
  } else {
    const C s = row_sum(x, n, [m](C v) { return vmath::vexp(v - m); });
    const C shift = m + std::log(s);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - shift;
  }
}

// Blocks of `inner` positions: x and y point at [n, stride] with `w` columns.
template <typename C>
void block_op(Op op, const C* x, C* y, int64_t n, int64_t stride, int64_t w) {
  constexpr int64_t kBlock = 256;
  C m[kBlock], s[kBlock];
  if (op == Op::kHardmax) {
    int64_t best[kBlock];
    for (int64_t j = 0; j < w; ++j) {
      m[j] = x[j];
      best[j] = 0;
    }
    for (int64_t i = 1; i < n; ++i)
      for (int64_t j = 0; j < w; ++j)
        if (x[i * stride + j] > m[j]) {
          m[j] = x[i * stride + j];
          best[j] = i;
        }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w; ++j) y[i * stride + j] = best[j] == i ? C(1) : C(0);
    return;
  }
  bool nan[kBlock] = {};
  for (int64_t j = 0; j < w; ++j) m[j] = x[j];
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < w; ++j) {
      const C v = x[i * stride + j];
      m[j] = vmath::sel(v > m[j], v, m[j]);
      nan[j] |= v != v;
    }
  for (int64_t j = 0; j < w; ++j) {
    if (nan[j]) m[j] = static_cast<C>(NAN);
    s[j] = C(0);
  }
  if (op == Op::kSoftmax) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const C e = vmath::vexp(x[i * stride + j] - m[j]);
        y[i * stride + j] = e;
        s[j] += e;
      }
    for (int64_t j = 0; j < w; ++j) s[j] = C(1) / s[j];
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w; ++j) y[i * stride + j] *= s[j];
  } else {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w; ++j) s[j] += vmath::vexp(x[i * stride + j] - m[j]);
    for (int64_t j = 0; j < w; ++j) s[j] = m[j] + std::log(s[j]);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w; ++j) y[i * stride + j] = x[i * stride + j] - s[j];
  }
}

template <typename C>
void run(Op op, int threads, const C* x, C* y, int64_t outer, int64_t n, int64_t inner) {
  if (inner == 1) {
    const int64_t grain = std::max<int64_t>(1, 16384 / n);
    parallel_for(threads, outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) row_op<C>(op, x + o * n, y + o * n, n);
    });
    return;
  }
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  const int64_t grain = std::max<int64_t>(1, 16384 / (n * std::min(inner, kBlock)));
  parallel_for(threads, outer * blocks, grain, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / blocks, jb = (t % blocks) * kBlock;
      const int64_t off = o * n * inner + jb;
      block_op<C>(op, x + off, y + off, n, inner, std::min(kBlock, inner - jb));
    }
  });
}

class SoftmaxKernel final : public OpKernel {
 public:
  SoftmaxKernel(const KernelInit& init, Op op) : op_(op) {
    coerce_2d_ = init.node.since_version < 13;
    axis_ = init.node.attr_int("axis", coerce_2d_ ? 1 : -1);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const DataType t = x.dtype();
    const int64_t rank = x.rank();
    const Shape& s = x.shape();
    int64_t outer = 1, n = 1, inner = 1;
    if (coerce_2d_) {
      // Axis may equal rank here (then every row has one element).
      const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
      if (axis < 0 || axis > rank)
        throw Error(ErrorCode::kInvalidArgument,
                    "axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(rank));
      for (int64_t d = 0; d < rank; ++d) (d < axis ? outer : n) *= s[d];
    } else {
      const int64_t axis = normalize_axis(axis_, std::max<int64_t>(rank, 1), "axis");
      for (int64_t d = 0; d < rank; ++d) (d < axis ? outer : d == axis ? n : inner) *= s[d];
    }
    if (t == DataType::kFloat16 || t == DataType::kBFloat16) {
      const Tensor xf = cast_tensor(x, DataType::kFloat);
      Tensor yf(DataType::kFloat, s);
      if (yf.numel() > 0) run<float>(op_, ctx.threads(), xf.data<float>(), yf.data<float>(), outer, n, inner);
      ctx.set_output(0, Value(cast_tensor(yf, t)));
      return;
    }
    // Each row is read before any of its elements is written (see row_op,
    // block_op), so the output may take x's buffer.
    Tensor& y = ctx.allocate_or_reuse(0, 0, t, s);
    if (y.numel() == 0) return;
    if (t == DataType::kFloat) {
      run<float>(op_, ctx.threads(), x.data<float>(), y.data<float>(), outer, n, inner);
    } else if (t == DataType::kDouble) {
      run<double>(op_, ctx.threads(), x.data<double>(), y.data<double>(), outer, n, inner);
    } else {
      unsupported_type(t, ctx.node().op_type.c_str());
    }
  }

 private:
  Op op_;
  bool coerce_2d_ = false;
  int64_t axis_ = -1;
};

KernelFactory softmax(Op op) {
  return [op](const KernelInit& init) -> std::unique_ptr<OpKernel> { return std::make_unique<SoftmaxKernel>(init, op); };
}

}  // namespace

void register_kernels_math_softmax(KernelRegistry& r) {
  // 1: 2-D coercion; 11: negative axis; 13: single axis, default -1.
  for (const auto& [name, op] : {std::pair{"Softmax", Op::kSoftmax}, std::pair{"LogSoftmax", Op::kLogSoftmax},
                                 std::pair{"Hardmax", Op::kHardmax}}) {
    r.add("", name, 1, 10, softmax(op));
    r.add("", name, 11, 12, softmax(op));
    r.add("", name, 13, kOpenEnded, softmax(op));
  }
}

}  // namespace pier::kernels
