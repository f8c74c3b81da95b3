// CumSum (inclusive/exclusive, forward/reverse) along one axis.
#include <algorithm>
#include <type_traits>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

// Accumulator type: float for half types, unsigned for integers (wraps
// instead of overflowing), the type itself otherwise.
template <typename T, bool = std::is_integral_v<T>>
struct Acc {
  using type = compute_t<T>;
};
template <typename T>
struct Acc<T, true> {
  using type = std::make_unsigned_t<T>;
};

class CumSumKernel final : public OpKernel {
 public:
  explicit CumSumKernel(const KernelInit& init)
      : exclusive_(init.node.attr_int("exclusive", 0) != 0), reverse_(init.node.attr_int("reverse", 0) != 0) {}

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const std::vector<int64_t> av = to_int64_vector(ctx.input(1));
    if (av.size() != 1 || ctx.input(1).rank() > 1)
      throw Error(ErrorCode::kInvalidArgument, "CumSum: axis must be a scalar");
    if (x.rank() == 0) throw Error(ErrorCode::kInvalidArgument, "CumSum: input must have rank >= 1");
    const int64_t axis = normalize_axis(av[0], x.rank(), "CumSum axis");
    int64_t outer = 1, inner = 1;
    const int64_t dim = x.shape()[axis];
    for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
    for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
    Tensor& y = ctx.allocate(0, x.dtype(), x.shape());
    if (y.numel() == 0) return;
    switch (x.dtype()) {
      case DataType::kFloat: run<float>(ctx, x, y, outer, dim, inner); break;
      case DataType::kDouble: run<double>(ctx, x, y, outer, dim, inner); break;
      case DataType::kFloat16: run<Float16>(ctx, x, y, outer, dim, inner); break;
      case DataType::kBFloat16: run<BFloat16>(ctx, x, y, outer, dim, inner); break;
      case DataType::kInt32: run<int32_t>(ctx, x, y, outer, dim, inner); break;
      case DataType::kInt64: run<int64_t>(ctx, x, y, outer, dim, inner); break;
      case DataType::kUInt32: run<uint32_t>(ctx, x, y, outer, dim, inner); break;
      case DataType::kUInt64: run<uint64_t>(ctx, x, y, outer, dim, inner); break;
      default: unsupported_type(x.dtype(), "CumSum");
    }
  }

 private:
  template <typename T>
  void run(KernelContext& ctx, const Tensor& x, Tensor& y, int64_t outer, int64_t dim, int64_t inner) const {
    using A = typename Acc<T>::type;
    const T* src = x.data<T>();
    T* dst = y.data<T>();
    // Tasks: (outer index, chunk of the inner run).
    constexpr int64_t kChunk = 1024;
    const int64_t chunks = (inner + kChunk - 1) / kChunk;
    const bool excl = exclusive_, rev = reverse_;
    parallel_for(ctx.threads(), outer * chunks, std::max<int64_t>(1, 16384 / std::max<int64_t>(dim * std::min(inner, kChunk), 1)),
                 [&](int64_t b, int64_t e) {
                   std::vector<A> acc(static_cast<size_t>(std::min(inner, kChunk)));
                   for (int64_t t = b; t < e; ++t) {
                     const int64_t o = t / chunks, c0 = (t % chunks) * kChunk;
                     const int64_t len = std::min(kChunk, inner - c0);
                     std::fill(acc.begin(), acc.begin() + len, A{});
                     for (int64_t step = 0; step < dim; ++step) {
                       const int64_t j = rev ? dim - 1 - step : step;
                       const T* s = src + (o * dim + j) * inner + c0;
                       T* d = dst + (o * dim + j) * inner + c0;
                       for (int64_t i = 0; i < len; ++i) {
                         const A v = static_cast<A>(load(s[i]));
                         if (excl) {
                           d[i] = static_cast<T>(store<T>(static_cast<compute_t<T>>(acc[i])));
                           acc[i] += v;
                         } else {
                           acc[i] += v;
                           d[i] = static_cast<T>(store<T>(static_cast<compute_t<T>>(acc[i])));
                         }
                       }
                     }
                   }
                 });
  }

  bool exclusive_, reverse_;
};

}  // namespace

void register_kernels_tensor_cumsum(KernelRegistry& r) {
  r.add("", "CumSum", 11, 13, make_factory<CumSumKernel>());
  r.add("", "CumSum", 14, kOpenEnded, make_factory<CumSumKernel>());
}

}  // namespace pier::kernels
