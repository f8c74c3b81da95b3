// ArgMax and ArgMin along one axis (keepdims, select_last_index). The input
// is viewed as [outer, n, inner]: with inner == 1 each output scans a
// contiguous row; otherwise a row of `inner` outputs is updated
// element-wise for each of the n positions. The first NaN wins (numpy).
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

// True when v should replace the current best b (strictly better, or equal
// with select_last_index; NaN beats everything and keeps its place).
template <typename C, bool kMax, bool kLast>
inline bool better(C v, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (b != b) return false;
    if (v != v) return true;
  }
  if constexpr (kLast) return kMax ? v >= b : v <= b;
  else return kMax ? v > b : v < b;
}

template <typename T, bool kMax, bool kLast>
void run(int threads, const T* x, int64_t* y, int64_t outer, int64_t n, int64_t inner) {
  using C = compute_t<T>;
  if (inner == 1) {
    const int64_t grain = std::max<int64_t>(1, 32768 / n);
    parallel_for(threads, outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* row = x + o * n;
        C best = load(row[0]);
        int64_t bi = 0;
        for (int64_t i = 1; i < n; ++i) {
          const C v = load(row[i]);
          if (better<C, kMax, kLast>(v, best)) {
            best = v;
            bi = i;
          }
        }
        y[o] = bi;
      }
    });
    return;
  }
  const int64_t grain = std::max<int64_t>(1, 32768 / (n * inner));
  parallel_for(threads, outer, grain, [&](int64_t b, int64_t e) {
    std::vector<C> best(static_cast<size_t>(inner));
    for (int64_t o = b; o < e; ++o) {
      const T* base = x + o * n * inner;
      int64_t* yo = y + o * inner;
      for (int64_t j = 0; j < inner; ++j) {
        best[j] = load(base[j]);
        yo[j] = 0;
      }
      for (int64_t i = 1; i < n; ++i) {
        const T* row = base + i * inner;
        for (int64_t j = 0; j < inner; ++j) {
          const C v = load(row[j]);
          if (better<C, kMax, kLast>(v, best[j])) {
            best[j] = v;
            yo[j] = i;
          }
        }
      }
    }
  });
}

class ArgKernel final : public OpKernel {
 public:
  ArgKernel(const KernelInit& init, bool is_max) : max_(is_max) {
    axis_ = init.node.attr_int("axis", 0);
    keepdims_ = init.node.attr_int("keepdims", 1) != 0;
    last_ = init.node.attr_int("select_last_index", 0) != 0;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t rank = x.rank();
    const int64_t axis = normalize_axis(axis_, std::max<int64_t>(rank, 1), "axis");
    const Shape& s = x.shape();
    const int64_t n = rank == 0 ? 1 : s[axis];
    Shape out_shape;
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) outer *= s[d];
      if (d > axis) inner *= s[d];
      if (d != axis) out_shape.push_back(s[d]);
      else if (keepdims_) out_shape.push_back(1);
    }
    if (n == 0 && outer * inner > 0)
      throw Error(ErrorCode::kInvalidArgument, std::string(max_ ? "ArgMax" : "ArgMin") + " over an empty axis");
    Tensor& y = ctx.allocate(0, DataType::kInt64, out_shape);
    if (y.numel() == 0) return;
    int64_t* py = y.data<int64_t>();
    dispatch_numeric(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* px = static_cast<const T*>(x.raw());
      const int t = ctx.threads();
      if (max_) {
        if (last_) run<T, true, true>(t, px, py, outer, n, inner);
        else run<T, true, false>(t, px, py, outer, n, inner);
      } else {
        if (last_) run<T, false, true>(t, px, py, outer, n, inner);
        else run<T, false, false>(t, px, py, outer, n, inner);
      }
    });
  }

 private:
  bool max_;
  int64_t axis_ = 0;
  bool keepdims_ = true;
  bool last_ = false;
};

KernelFactory arg(bool is_max) {
  return [is_max](const KernelInit& init) -> std::unique_ptr<OpKernel> {
    return std::make_unique<ArgKernel>(init, is_max);
  };
}

}  // namespace

void register_kernels_reduce_argminmax(KernelRegistry& r) {
  // 1: axis, keepdims; 11: negative axis; 12: select_last_index; 13: bfloat16.
  for (const auto& [name, is_max] : {std::pair{"ArgMax", true}, std::pair{"ArgMin", false}}) {
    r.add("", name, 1, 10, arg(is_max));
    r.add("", name, 11, 11, arg(is_max));
    r.add("", name, 12, 12, arg(is_max));
    r.add("", name, 13, kOpenEnded, arg(is_max));
  }
}

}  // namespace pier::kernels
