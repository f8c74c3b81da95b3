// TopK: the k largest (or smallest) values along an axis and their indices.
// Equal values keep index order (lower index first); NaN counts as larger
// than every number.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

template <typename C>
inline bool is_nan(C v) {
  if constexpr (std::is_floating_point_v<C>) return std::isnan(v);
  else return false;
}

// a before b when looking for the largest values.
template <typename C>
inline bool larger(C a, int64_t ia, C b, int64_t ib) {
  const bool na = is_nan(a), nb = is_nan(b);
  if (na || nb) return na && !nb ? true : (na && nb ? ia < ib : false);
  return a > b || (a == b && ia < ib);
}
template <typename C>
inline bool smaller(C a, int64_t ia, C b, int64_t ib) {
  const bool na = is_nan(a), nb = is_nan(b);
  if (na || nb) return nb && !na ? true : (na && nb ? ia < ib : false);
  return a < b || (a == b && ia < ib);
}

class TopKKernel final : public OpKernel {
 public:
  explicit TopKKernel(const KernelInit& init) {
    axis_ = init.node.attr_int("axis", -1);
    largest_ = init.node.attr_int("largest", 1) != 0;
    // sorted=0 leaves the order unspecified; the sorted order is returned.
    k_from_attr_ = init.node.since_version < 10;
    if (k_from_attr_) k_attr_ = init.node.req_int("k");
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.rank() == 0) throw Error(ErrorCode::kInvalidArgument, "TopK: input must have rank >= 1");
    int64_t k = k_attr_;
    if (!k_from_attr_) {
      const auto kv = to_int64_vector(ctx.input(1));
      if (kv.size() != 1) throw Error(ErrorCode::kInvalidArgument, "TopK: K must hold one value");
      k = kv[0];
    }
    const int64_t axis = normalize_axis(axis_, x.rank(), "TopK axis");
    const int64_t dim = x.shape()[axis];
    if (k < 0 || k > dim)
      throw Error(ErrorCode::kInvalidArgument,
                  "TopK: k = " + std::to_string(k) + " is outside [0, " + std::to_string(dim) + "]");
    Shape out_shape = x.shape();
    out_shape[axis] = k;
    Tensor& vals = ctx.allocate(0, x.dtype(), out_shape);
    // A Tensor copy shares storage: writing `idxs` fills output 1.
    Tensor idxs = ctx.wants_output(1) ? ctx.allocate(1, DataType::kInt64, out_shape) : Tensor(DataType::kInt64, out_shape);
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
    for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
    if (vals.numel() == 0) return;
    dispatch_numeric(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      run<T>(ctx, x.data<T>(), vals.data<T>(), idxs.data<int64_t>(), outer, dim, inner, k);
    });
  }

 private:
  template <typename T>
  void run(KernelContext& ctx, const T* src, T* vals, int64_t* idxs, int64_t outer, int64_t dim, int64_t inner,
           int64_t k) const {
    using C = compute_t<T>;
    const bool largest = largest_;
    parallel_for(ctx.threads(), outer * inner, std::max<int64_t>(1, 8192 / std::max<int64_t>(dim, 1)),
                 [&](int64_t b, int64_t e) {
                   std::vector<C> keys(static_cast<size_t>(dim));
                   std::vector<int64_t> order(static_cast<size_t>(dim));
                   for (int64_t s = b; s < e; ++s) {
                     const int64_t o = s / inner, i = s % inner;
                     const T* in = src + o * dim * inner + i;
                     for (int64_t j = 0; j < dim; ++j) keys[j] = load(in[j * inner]);
                     std::iota(order.begin(), order.end(), int64_t{0});
                     auto cmp = [&](int64_t a, int64_t c) {
                       return largest ? larger(keys[a], a, keys[c], c) : smaller(keys[a], a, keys[c], c);
                     };
                     if (k < dim) std::partial_sort(order.begin(), order.begin() + k, order.end(), cmp);
                     else std::sort(order.begin(), order.end(), cmp);
                     T* vo = vals + o * k * inner + i;
                     int64_t* io = idxs + o * k * inner + i;
                     for (int64_t j = 0; j < k; ++j) {
                       vo[j * inner] = in[order[j] * inner];
                       io[j * inner] = order[j];
                     }
                   }
                 });
  }

  int64_t axis_ = -1, k_attr_ = 0;
  bool largest_ = true, k_from_attr_ = false;
};

}  // namespace

void register_kernels_tensor_topk(KernelRegistry& r) {
  r.add("", "TopK", 1, 9, make_factory<TopKKernel>());
  r.add("", "TopK", 10, 10, make_factory<TopKKernel>());
  r.add("", "TopK", 11, kOpenEnded, make_factory<TopKKernel>());
}

}  // namespace pier::kernels
