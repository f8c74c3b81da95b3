// Slice (opset 1 attributes, opset 10+ inputs with steps) and
// ReverseSequence: strided views copied out.
#include <algorithm>
#include <limits>

#include "kernels/kernel.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/strided_copy.h"

namespace pier::kernels {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

class SliceKernel final : public OpKernel {
 public:
  explicit SliceKernel(const KernelInit& init) {
    from_attr_ = init.node.since_version < 10;
    if (from_attr_) {
      starts_ = init.node.attr_ints("starts");
      ends_ = init.node.attr_ints("ends");
      axes_ = init.node.attr_ints("axes");
      has_axes_ = init.node.has_attr("axes");
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t r = x.rank();
    std::vector<int64_t> starts = starts_, ends = ends_, axes = axes_, steps;
    bool has_axes = has_axes_;
    if (!from_attr_) {
      starts = to_int64_vector(ctx.input(1));
      ends = to_int64_vector(ctx.input(2));
      has_axes = ctx.has_input(3);
      if (has_axes) axes = to_int64_vector(ctx.input(3));
      if (ctx.has_input(4)) steps = to_int64_vector(ctx.input(4));
    }
    if (starts.size() != ends.size())
      bad("Slice: starts has " + std::to_string(starts.size()) + " values but ends has " + std::to_string(ends.size()));
    if (!has_axes) {
      axes.resize(starts.size());
      for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
    }
    if (axes.size() != starts.size()) bad("Slice: axes and starts differ in length");
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (steps.size() != starts.size()) bad("Slice: steps and starts differ in length");

    // Per axis: first index, step and count.
    std::vector<int64_t> first(r, 0), step(r, 1);
    Shape out_shape = x.shape();
    std::vector<bool> seen(r, false);
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t a = normalize_axis(axes[i], r, "Slice axis");
      if (seen[a]) bad("Slice: axis " + std::to_string(axes[i]) + " is repeated");
      seen[a] = true;
      const int64_t dim = x.shape()[a], st = steps[i];
      if (st == 0) bad("Slice: step cannot be 0");
      // Negative values count from the end; clamp before any arithmetic
      // (starts/ends may be INT64_MIN/MAX).
      int64_t s = starts[i], e = ends[i];
      s = s < 0 ? (s < -dim ? -1 : s + dim) : s;
      e = e < 0 ? (e < -dim ? -1 : e + dim) : e;
      int64_t count;
      if (st > 0) {
        s = std::clamp<int64_t>(s, 0, dim);
        e = std::clamp<int64_t>(e, 0, dim);
        count = e > s ? (e - s - 1) / st + 1 : 0;
      } else {
        s = std::clamp<int64_t>(s, -1, dim - 1);
        e = std::clamp<int64_t>(e, -1, dim - 1);
        const int64_t neg = st == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -st;
        count = s > e ? (s - e - 1) / neg + 1 : 0;
      }
      first[a] = count > 0 ? s : 0;
      step[a] = st;
      out_shape[a] = count;
    }
    const auto in_st = strides_of(x.shape());
    int64_t offset = 0;
    std::vector<int64_t> view_st(r);
    for (int64_t d = 0; d < r; ++d) {
      offset += first[d] * in_st[d];
      view_st[d] = out_shape[d] > 1 ? step[d] * in_st[d] : in_st[d];
    }
    Tensor& y = ctx.allocate(0, x.dtype(), out_shape);
    strided_copy(x, offset, out_shape, view_st, y, ctx.threads());
  }

 private:
  bool from_attr_ = false, has_axes_ = false;
  std::vector<int64_t> starts_, ends_, axes_;
};

class ReverseSequenceKernel final : public OpKernel {
 public:
  explicit ReverseSequenceKernel(const KernelInit& init) {
    batch_axis_ = init.node.attr_int("batch_axis", 1);
    time_axis_ = init.node.attr_int("time_axis", 0);
    if (!((batch_axis_ == 0 && time_axis_ == 1) || (batch_axis_ == 1 && time_axis_ == 0)))
      throw Error(ErrorCode::kInvalidModel, "ReverseSequence: batch_axis and time_axis must be 0 and 1 (either order)");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 2) bad("ReverseSequence: input must have rank >= 2");
    const std::vector<int64_t> lens = to_int64_vector(ctx.input(1));
    const int64_t batch = x.shape()[batch_axis_], time = x.shape()[time_axis_];
    if (static_cast<int64_t>(lens.size()) != batch)
      bad("ReverseSequence: sequence_lens has " + std::to_string(lens.size()) + " values for batch size " +
          std::to_string(batch));
    for (int64_t l : lens)
      if (l < 0 || l > time)
        bad("ReverseSequence: sequence length " + std::to_string(l) + " is outside [0, " + std::to_string(time) + "]");
    int64_t inner = 1;
    for (int d = 2; d < x.rank(); ++d) inner *= x.shape()[d];
    const int64_t bs = (batch_axis_ == 0 ? time : 1) * inner;  // stride of batch index
    const int64_t ts = (time_axis_ == 0 ? batch : 1) * inner;  // stride of time index
    Tensor& y = ctx.allocate(0, x.dtype(), x.shape());
    dispatch_elements(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = static_cast<const T*>(x.raw());
      T* dst = static_cast<T*>(y.raw());
      parallel_for(ctx.threads(), batch * time, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
                   [&](int64_t b0, int64_t e0) {
                     for (int64_t k = b0; k < e0; ++k) {
                       const int64_t b = k / time, t = k % time;
                       const int64_t st = t < lens[b] ? lens[b] - 1 - t : t;
                       std::copy_n(src + b * bs + st * ts, inner, dst + b * bs + t * ts);
                     }
                   });
    });
  }

 private:
  int64_t batch_axis_, time_axis_;
};

}  // namespace

void register_kernels_tensor_slice(KernelRegistry& r) {
  r.add("", "Slice", 1, 9, make_factory<SliceKernel>());
  r.add("", "Slice", 10, 10, make_factory<SliceKernel>());
  r.add("", "Slice", 11, 12, make_factory<SliceKernel>());
  r.add("", "Slice", 13, kOpenEnded, make_factory<SliceKernel>());
  r.add("", "ReverseSequence", 10, kOpenEnded, make_factory<ReverseSequenceKernel>());
}

}  // namespace pier::kernels
