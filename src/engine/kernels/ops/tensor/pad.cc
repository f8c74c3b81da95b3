// Pad: constant, reflect and edge modes; negative pads crop. Pads come from
// the attribute (opset < 11: 'paddings' in opset 1, 'pads' in 2) or input 1.
#include <algorithm>

#include "kernels/kernel.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/strided_copy.h"

namespace pier::kernels {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

enum class Mode { kConstant, kReflect, kEdge };

// Source index along one axis for output index o (before = leading pad),
// or -1 for "constant".
int64_t source_index(int64_t o, int64_t before, int64_t n, Mode mode) {
  int64_t i = o - before;
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case Mode::kConstant: return -1;
    case Mode::kEdge: return i < 0 ? 0 : n - 1;
    case Mode::kReflect: {
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      i %= period;
      if (i < 0) i += period;
      return i < n ? i : period - i;
    }
  }
  return -1;
}

class PadKernel final : public OpKernel {
 public:
  explicit PadKernel(const KernelInit& init) {
    const int v = init.node.since_version;
    const std::string mode = init.node.attr_string("mode", "constant");
    if (mode == "constant") mode_ = Mode::kConstant;
    else if (mode == "reflect") mode_ = Mode::kReflect;
    else if (mode == "edge") mode_ = Mode::kEdge;
    else throw Error(ErrorCode::kInvalidModel, "Pad: unknown mode \"" + mode + "\"");
    if (v < 11) {
      from_attr_ = true;
      const char* name = v < 2 ? "paddings" : "pads";
      if (!init.node.has_attr(name))
        throw Error(ErrorCode::kInvalidModel, std::string("Pad: attribute '") + name + "' is required");
      pads_ = init.node.attr_ints(name);
      value_ = init.node.attr_float("value", 0.f);
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t r = x.rank();
    const std::vector<int64_t> pads = from_attr_ ? pads_ : to_int64_vector(ctx.input(1));
    if (static_cast<int64_t>(pads.size()) != 2 * r)
      bad("Pad: " + std::to_string(pads.size()) + " pads for an input of rank " + std::to_string(r) + " (need " +
          std::to_string(2 * r) + ")");
    Shape out_shape(r);
    for (int64_t d = 0; d < r; ++d) {
      out_shape[d] = x.shape()[d] + pads[d] + pads[d + r];
      if (out_shape[d] < 0)
        bad("Pad: pads " + std::to_string(pads[d]) + "," + std::to_string(pads[d + r]) + " crop more than dimension " +
            std::to_string(d) + " of " + shape_str(x.shape()));
      if (mode_ != Mode::kConstant && x.shape()[d] == 0 && out_shape[d] > 0)
        bad("Pad: cannot pad an empty dimension in reflect or edge mode");
    }
    Tensor& y = ctx.allocate(0, x.dtype(), out_shape);
    if (y.numel() == 0) return;

    // Constant value as a one-element tensor of x's type.
    Tensor cval(x.dtype(), {});
    if (x.dtype() == DataType::kString) {
      if (!from_attr_ && ctx.has_input(2)) {
        const Tensor& c = ctx.input(2);
        if (c.dtype() != DataType::kString || c.numel() != 1) bad("Pad: constant_value must be one string");
        cval.data<std::string>()[0] = c.data<std::string>()[0];
      }
    } else {
      Tensor f = Tensor::from_vector<double>({from_attr_ ? static_cast<double>(value_) : 0.0}, {});
      if (!from_attr_ && ctx.has_input(2)) {
        const Tensor& c = ctx.input(2);
        if (c.numel() != 1) bad("Pad: constant_value must be a single value, got " + shape_str(c.shape()));
        if (c.dtype() != x.dtype())
          bad(std::string("Pad: constant_value type ") + dtype_name(c.dtype()) + " differs from input type " +
              dtype_name(x.dtype()));
        cval = c.reshaped({});
      } else {
        cval = cast_tensor(f, x.dtype());
      }
    }

    // Per-dim maps from output index to source index (-1: constant).
    std::vector<std::vector<int64_t>> maps(r);
    for (int64_t d = 0; d < r; ++d) {
      maps[d].resize(out_shape[d]);
      for (int64_t o = 0; o < out_shape[d]; ++o) maps[d][o] = source_index(o, pads[d], x.shape()[d], mode_);
    }
    const auto in_st = strides_of(x.shape());
    const int64_t inner = r ? out_shape[r - 1] : 1;
    const int64_t rows = y.numel() / std::max<int64_t>(inner, 1);
    // Inner dim: the run of outputs that copy contiguous input.
    const int64_t lo = r ? std::clamp<int64_t>(pads[r - 1], 0, inner) : 0;
    const int64_t hi = r ? std::clamp<int64_t>(pads[r - 1] + x.shape()[r - 1], lo, inner) : 1;
    dispatch_elements(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = static_cast<const T*>(x.raw());
      T* dst = static_cast<T*>(y.raw());
      const T c = *static_cast<const T*>(cval.raw());
      if (r == 0) {
        dst[0] = src[0];
        return;
      }
      const std::vector<int64_t>& im = maps[r - 1];
      parallel_for(ctx.threads(), rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t row = b; row < e; ++row) {
                       T* out = dst + row * inner;
                       int64_t rem = row, base = 0;
                       bool constant = false;
                       for (int64_t d = r - 2; d >= 0; --d) {
                         const int64_t o = rem % out_shape[d];
                         rem /= out_shape[d];
                         const int64_t s = maps[d][o];
                         if (s < 0) constant = true;
                         else base += s * in_st[d];
                       }
                       if (constant) {
                         std::fill_n(out, inner, c);
                         continue;
                       }
                       const T* in = src + base;
                       for (int64_t i = 0; i < lo; ++i) out[i] = im[i] < 0 ? c : in[im[i]];
                       if (hi > lo) std::copy_n(in + im[lo], hi - lo, out + lo);
                       for (int64_t i = hi; i < inner; ++i) out[i] = im[i] < 0 ? c : in[im[i]];
                     }
                   });
    });
  }

 private:
  Mode mode_ = Mode::kConstant;
  bool from_attr_ = false;
  std::vector<int64_t> pads_;
  float value_ = 0.f;
};

}  // namespace

void register_kernels_tensor_pad(KernelRegistry& r) {
  r.add("", "Pad", 1, 1, make_factory<PadKernel>());
  r.add("", "Pad", 2, 10, make_factory<PadKernel>());
  r.add("", "Pad", 11, 12, make_factory<PadKernel>());
  r.add("", "Pad", 13, kOpenEnded, make_factory<PadKernel>());
}

}  // namespace pier::kernels
