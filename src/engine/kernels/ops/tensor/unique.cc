// Unique: distinct elements (or slices along an axis), sorted or in order
// of first occurrence, with first-occurrence indices, inverse indices and
// counts. Slices compare lexicographically; NaNs equal each other and sort
// last.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/transpose.h"

namespace pier::kernels {

namespace {

// Three-way comparison of two values with NaN last.
template <typename T>
inline int cmp3(const T& a, const T& b) {
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) {
    return a < b ? -1 : (b < a ? 1 : 0);
  } else {
    const auto x = load(a), y = load(b);
    if constexpr (std::is_floating_point_v<decltype(x)>) {
      const bool nx = std::isnan(x), ny = std::isnan(y);
      if (nx || ny) return nx == ny ? 0 : (nx ? 1 : -1);
    }
    return x < y ? -1 : (y < x ? 1 : 0);
  }
}

class UniqueKernel final : public OpKernel {
 public:
  explicit UniqueKernel(const KernelInit& init) {
    sorted_ = init.node.attr_int("sorted", 1) != 0;
    has_axis_ = init.node.has_attr("axis");
    axis_ = init.node.attr_int("axis", 0);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    int64_t axis = 0;
    Tensor rows;  // [M, S]: the items to compare, one per row
    if (has_axis_) {
      if (x.rank() == 0) throw Error(ErrorCode::kInvalidArgument, "Unique: axis given for a scalar input");
      axis = normalize_axis(axis_, x.rank(), "Unique axis");
      std::vector<int64_t> perm{axis};
      for (int64_t d = 0; d < x.rank(); ++d)
        if (d != axis) perm.push_back(d);
      const int64_t m = x.shape()[axis];
      rows = transposed(x, perm, ctx.threads());
      rows = rows.reshaped({m, m ? x.numel() / m : 0});
    } else {
      rows = x.reshaped({x.numel(), 1});
    }
    if (x.dtype() == DataType::kString) {
      run<std::string>(ctx, x, rows, axis);
    } else if (x.dtype() == DataType::kBool) {
      run<bool>(ctx, x, rows, axis);
    } else {
      dispatch_numeric(x.dtype(), [&](auto tag) { run<decltype(tag)>(ctx, x, rows, axis); });
    }
  }

 private:
  template <typename T>
  void run(KernelContext& ctx, const Tensor& x, const Tensor& rows, int64_t axis) const {
    const int64_t m = rows.dim(0), s = rows.dim(1);
    const T* p = static_cast<const T*>(rows.raw());
    auto compare = [&](int64_t a, int64_t b) {
      for (int64_t i = 0; i < s; ++i) {
        const int c = cmp3(p[a * s + i], p[b * s + i]);
        if (c) return c;
      }
      return 0;
    };
    std::vector<int64_t> order(static_cast<size_t>(m));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return compare(a, b) < 0; });
    // Groups of equal items, in sorted order; the first of each is its
    // first occurrence (the sort is stable).
    std::vector<int64_t> first, count, group_of(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) {
      if (i == 0 || compare(order[i - 1], order[i]) != 0) {
        first.push_back(order[i]);
        count.push_back(0);
      }
      ++count.back();
      group_of[order[i]] = static_cast<int64_t>(first.size()) - 1;
    }
    const int64_t u = static_cast<int64_t>(first.size());
    std::vector<int64_t> pos(static_cast<size_t>(u));  // output position of each group
    std::iota(pos.begin(), pos.end(), int64_t{0});
    if (!sorted_) {
      std::vector<int64_t> by_first(pos);
      std::sort(by_first.begin(), by_first.end(), [&](int64_t a, int64_t b) { return first[a] < first[b]; });
      for (int64_t k = 0; k < u; ++k) pos[by_first[k]] = k;
    }
    std::vector<int64_t> out_first(u), out_count(u);
    for (int64_t g = 0; g < u; ++g) {
      out_first[pos[g]] = first[g];
      out_count[pos[g]] = count[g];
    }
    // Y: the first-occurrence items, gathered along the axis.
    Shape y_shape = has_axis_ ? x.shape() : Shape{u};
    if (has_axis_) y_shape[axis] = u;
    Tensor& y = ctx.allocate(0, x.dtype(), y_shape);
    {
      int64_t outer = 1, inner = 1;
      const int64_t dim = has_axis_ ? x.shape()[axis] : m;
      if (has_axis_) {
        for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
        for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
      }
      const T* src = static_cast<const T*>(x.raw());
      T* dst = static_cast<T*>(y.raw());
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t g = 0; g < u; ++g)
          std::copy_n(src + (o * dim + out_first[g]) * inner, inner, dst + (o * u + g) * inner);
    }
    auto put = [&](int i, const std::vector<int64_t>& v) {
      if (!ctx.wants_output(i)) return;
      Tensor& t = ctx.allocate(i, DataType::kInt64, {static_cast<int64_t>(v.size())});
      std::copy(v.begin(), v.end(), t.data<int64_t>());
    };
    put(1, out_first);
    if (ctx.wants_output(2)) {
      std::vector<int64_t> inverse(static_cast<size_t>(m));
      for (int64_t i = 0; i < m; ++i) inverse[i] = pos[group_of[i]];
      put(2, inverse);
    }
    put(3, out_count);
  }

  bool sorted_ = true, has_axis_ = false;
  int64_t axis_ = 0;
};

}  // namespace

void register_kernels_tensor_unique(KernelRegistry& r) {
  r.add("", "Unique", 11, kOpenEnded, make_factory<UniqueKernel>());
}

}  // namespace pier::kernels
