// Broadcasting data movement: Expand, Tile and Where.
#include <algorithm>

#include "kernels/kernel.h"
#include "kernels/util/broadcast.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/strided_copy.h"

namespace pier::kernels {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

class ExpandKernel final : public OpKernel {
 public:
  explicit ExpandKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& s = ctx.input(1);
    if (s.rank() != 1) bad("Expand: shape input must be 1-D, got " + shape_str(s.shape()));
    const Shape target = to_int64_vector(s);
    for (int64_t d : target)
      if (d < 0) bad("Expand: negative dimension in shape " + shape_str(target));
    const Shape out_shape = broadcast_shapes(x.shape(), target);
    if (out_shape == x.shape()) {
      ctx.set_output(0, x);
      return;
    }
    Tensor& y = ctx.allocate(0, x.dtype(), out_shape);
    strided_copy(x, 0, out_shape, broadcast_strides(x.shape(), out_shape), y, ctx.threads());
  }
};

class TileKernel final : public OpKernel {
 public:
  explicit TileKernel(const KernelInit& init) : legacy_(init.node.since_version < 6) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t r = x.rank();
    std::vector<int64_t> reps;
    if (legacy_) {
      // Tile-1: a scalar count of copies along one scalar axis.
      const std::vector<int64_t> tiles = to_int64_vector(ctx.input(1));
      const std::vector<int64_t> axis = to_int64_vector(ctx.input(2));
      if (tiles.size() != 1 || axis.size() != 1) bad("Tile: tiles and axis must be scalars");
      reps.assign(r, 1);
      reps[normalize_axis(axis[0], r, "Tile axis")] = tiles[0];
    } else {
      reps = to_int64_vector(ctx.input(1));
    }
    if (static_cast<int64_t>(reps.size()) != r)
      bad("Tile: repeats has " + std::to_string(reps.size()) + " values for an input of rank " + std::to_string(r));
    // View the output as [rep0, in0, rep1, in1, ...]: the row-major layout of
    // the tiled result, reading the input with stride 0 over the repeats.
    const auto in_st = strides_of(x.shape());
    Shape view, out_shape(r);
    std::vector<int64_t> st;
    for (int64_t d = 0; d < r; ++d) {
      if (reps[d] < 0) bad("Tile: negative repeat " + std::to_string(reps[d]));
      view.push_back(reps[d]);
      st.push_back(0);
      view.push_back(x.shape()[d]);
      st.push_back(in_st[d]);
      out_shape[d] = x.shape()[d] * reps[d];
    }
    Tensor& y = ctx.allocate(0, x.dtype(), out_shape);
    strided_copy(x, 0, view, st, y, ctx.threads());
  }

 private:
  bool legacy_;
};

class WhereKernel final : public OpKernel {
 public:
  explicit WhereKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& c = ctx.input(0);
    const Tensor& a = ctx.input(1);
    const Tensor& b = ctx.input(2);
    if (c.dtype() != DataType::kBool) bad(std::string("Where: condition must be bool, got ") + dtype_name(c.dtype()));
    if (a.dtype() != b.dtype())
      bad(std::string("Where: X and Y types differ: ") + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()));
    const Shape out_shape = broadcast_shapes(broadcast_shapes(c.shape(), a.shape()), b.shape());
    const BroadcastPlan plan = plan_broadcast({c.shape(), a.shape(), b.shape()}, out_shape);
    Tensor& y = ctx.allocate(0, a.dtype(), out_shape);
    const bool* pc = c.data<bool>();
    const int64_t sc = plan.inner_step[0], sa = plan.inner_step[1], sb = plan.inner_step[2];
    dispatch_elements(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pa = static_cast<const T*>(a.raw());
      const T* pb = static_cast<const T*>(b.raw());
      T* po = static_cast<T*>(y.raw());
      for_each_row(plan, ctx.threads(), [&](int64_t o, const int64_t* off, int64_t n) {
        const bool* cc = pc + off[0];
        const T* x = pa + off[1];
        const T* z = pb + off[2];
        T* out = po + o;
        if (sc == 1 && sa == 1 && sb == 1) {
          for (int64_t i = 0; i < n; ++i) out[i] = cc[i] ? x[i] : z[i];
        } else {
          for (int64_t i = 0; i < n; ++i) out[i] = cc[i * sc] ? x[i * sa] : z[i * sb];
        }
      });
    });
  }
};

}  // namespace

void register_kernels_tensor_expand(KernelRegistry& r) {
  r.add("", "Expand", 8, 12, make_factory<ExpandKernel>());
  r.add("", "Expand", 13, kOpenEnded, make_factory<ExpandKernel>());
  r.add("", "Tile", 1, 5, make_factory<TileKernel>());
  r.add("", "Tile", 6, 12, make_factory<TileKernel>());
  r.add("", "Tile", 13, kOpenEnded, make_factory<TileKernel>());
  r.add("", "Where", 9, 15, make_factory<WhereKernel>());
  r.add("", "Where", 16, kOpenEnded, make_factory<WhereKernel>());
}

}  // namespace pier::kernels
