// Indexed reads: Gather, GatherElements and GatherND. Negative indices count
// from the end; an index outside [-n, n-1] raises kInvalidArgument.
#include <algorithm>

#include "kernels/kernel.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/strided_copy.h"

namespace pier::kernels {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

int64_t fix_index(int64_t i, int64_t dim, const char* op) {
  if (i < -dim || i >= dim)
    bad(std::string(op) + ": index " + std::to_string(i) + " is out of range for a dimension of size " +
        std::to_string(dim));
  return i < 0 ? i + dim : i;
}

std::vector<int64_t> read_indices(const Tensor& t, const char* op) {
  if (t.dtype() != DataType::kInt32 && t.dtype() != DataType::kInt64)
    bad(std::string(op) + ": indices must be int32 or int64, got " + dtype_name(t.dtype()));
  return to_int64_vector(t);
}

class GatherKernel final : public OpKernel {
 public:
  explicit GatherKernel(const KernelInit& init) : axis_(init.node.attr_int("axis", 0)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& ind = ctx.input(1);
    if (x.rank() == 0) bad("Gather: data must have rank >= 1");
    const int64_t axis = normalize_axis(axis_, x.rank(), "Gather axis");
    const int64_t dim = x.shape()[axis];
    std::vector<int64_t> idx = read_indices(ind, "Gather");
    for (auto& i : idx) i = fix_index(i, dim, "Gather");
    Shape out_shape(x.shape().begin(), x.shape().begin() + axis);
    out_shape.insert(out_shape.end(), ind.shape().begin(), ind.shape().end());
    out_shape.insert(out_shape.end(), x.shape().begin() + axis + 1, x.shape().end());
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
    for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
    const int64_t n = static_cast<int64_t>(idx.size());
    Tensor& y = ctx.allocate(0, x.dtype(), out_shape);
    if (y.numel() == 0) return;
    dispatch_elements(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = static_cast<const T*>(x.raw());
      T* dst = static_cast<T*>(y.raw());
      parallel_for(ctx.threads(), outer * n, std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t k = b; k < e; ++k) {
                       const int64_t o = k / n, j = k % n;
                       const T* s = src + (o * dim + idx[j]) * inner;
                       T* d = dst + k * inner;
                       if (inner == 1) *d = *s;
                       else std::copy_n(s, inner, d);
                     }
                   });
    });
  }

 private:
  int64_t axis_;
};

class GatherElementsKernel final : public OpKernel {
 public:
  explicit GatherElementsKernel(const KernelInit& init) : axis_(init.node.attr_int("axis", 0)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& ind = ctx.input(1);
    const int64_t r = x.rank();
    if (r == 0) bad("GatherElements: data must have rank >= 1");
    if (ind.rank() != r)
      bad("GatherElements: indices rank " + std::to_string(ind.rank()) + " differs from data rank " + std::to_string(r));
    const int64_t axis = normalize_axis(axis_, r, "GatherElements axis");
    for (int64_t d = 0; d < r; ++d)
      if (d != axis && ind.shape()[d] > x.shape()[d])
        bad("GatherElements: indices shape " + shape_str(ind.shape()) + " exceeds data shape " + shape_str(x.shape()) +
            " outside the axis");
    std::vector<int64_t> idx = read_indices(ind, "GatherElements");
    const int64_t dim = x.shape()[axis];
    for (auto& i : idx) i = fix_index(i, dim, "GatherElements");
    Tensor& y = ctx.allocate(0, x.dtype(), ind.shape());
    const auto xs = strides_of(x.shape());
    const Shape& is = ind.shape();
    const int64_t n = ind.numel();
    dispatch_elements(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = static_cast<const T*>(x.raw());
      T* dst = static_cast<T*>(y.raw());
      parallel_for(ctx.threads(), n, 16384, [&](int64_t b, int64_t e) {
        std::vector<int64_t> pos(r, 0);
        int64_t rem = b, base = 0;
        for (int64_t d = r - 1; d >= 0; --d) {
          pos[d] = rem % is[d];
          rem /= is[d];
          if (d != axis) base += pos[d] * xs[d];
        }
        for (int64_t k = b; k < e; ++k) {
          dst[k] = src[base + idx[k] * xs[axis]];
          for (int64_t d = r - 1; d >= 0; --d) {
            if (d != axis) base += xs[d];
            if (++pos[d] < is[d]) break;
            if (d != axis) base -= xs[d] * is[d];
            pos[d] = 0;
          }
        }
      });
    });
  }

 private:
  int64_t axis_;
};

class GatherNDKernel final : public OpKernel {
 public:
  explicit GatherNDKernel(const KernelInit& init) : batch_dims_(init.node.attr_int("batch_dims", 0)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& ind = ctx.input(1);
    const int64_t r = x.rank(), q = ind.rank(), b = batch_dims_;
    if (r < 1 || q < 1) bad("GatherND: data and indices must have rank >= 1");
    if (b < 0 || b >= std::min(r, q)) bad("GatherND: batch_dims " + std::to_string(b) + " must be below both ranks");
    for (int64_t d = 0; d < b; ++d)
      if (x.shape()[d] != ind.shape()[d])
        bad("GatherND: batch dimensions of data " + shape_str(x.shape()) + " and indices " + shape_str(ind.shape()) +
            " differ");
    const int64_t m = ind.shape()[q - 1];
    if (m < 1 || m > r - b)
      bad("GatherND: last indices dimension " + std::to_string(m) + " must be in [1, " + std::to_string(r - b) + "]");
    const std::vector<int64_t> idx = read_indices(ind, "GatherND");
    Shape out_shape(ind.shape().begin(), ind.shape().end() - 1);
    out_shape.insert(out_shape.end(), x.shape().begin() + b + m, x.shape().end());
    int64_t batches = 1, slice = 1;
    for (int64_t d = 0; d < b; ++d) batches *= x.shape()[d];
    for (int64_t d = b + m; d < r; ++d) slice *= x.shape()[d];
    const int64_t tuples = static_cast<int64_t>(idx.size()) / m;  // over all batches
    const int64_t per_batch = tuples / std::max<int64_t>(batches, 1);
    const auto xs = strides_of(x.shape());
    const int64_t batch_stride = b > 0 ? xs[b - 1] : 0;
    // Source offset of every tuple, validated up front.
    std::vector<int64_t> offs(static_cast<size_t>(tuples));
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t off = (per_batch ? t / per_batch : 0) * batch_stride;
      for (int64_t k = 0; k < m; ++k) off += fix_index(idx[t * m + k], x.shape()[b + k], "GatherND") * xs[b + k];
      offs[t] = off;
    }
    Tensor& y = ctx.allocate(0, x.dtype(), out_shape);
    dispatch_elements(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = static_cast<const T*>(x.raw());
      T* dst = static_cast<T*>(y.raw());
      parallel_for(ctx.threads(), tuples, std::max<int64_t>(1, 32768 / std::max<int64_t>(slice, 1)),
                   [&](int64_t b0, int64_t e0) {
                     for (int64_t t = b0; t < e0; ++t) std::copy_n(src + offs[t], slice, dst + t * slice);
                   });
    });
  }

 private:
  int64_t batch_dims_;
};

}  // namespace

void register_kernels_tensor_gather(KernelRegistry& r) {
  r.add("", "Gather", 1, 10, make_factory<GatherKernel>());
  r.add("", "Gather", 11, 12, make_factory<GatherKernel>());
  r.add("", "Gather", 13, kOpenEnded, make_factory<GatherKernel>());
  r.add("", "GatherElements", 11, 12, make_factory<GatherElementsKernel>());
  r.add("", "GatherElements", 13, kOpenEnded, make_factory<GatherElementsKernel>());
  r.add("", "GatherND", 11, 11, make_factory<GatherNDKernel>());
  r.add("", "GatherND", 12, 12, make_factory<GatherNDKernel>());
  r.add("", "GatherND", 13, kOpenEnded, make_factory<GatherNDKernel>());
}

}  // namespace pier::kernels
