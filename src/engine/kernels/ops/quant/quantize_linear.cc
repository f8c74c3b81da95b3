// Linear quantization: QuantizeLinear and DequantizeLinear (opsets 10 and
// 13) and DynamicQuantizeLinear (opset 11).
//
//   QuantizeLinear:   y = saturate(round_half_even(x / scale) + zero_point)
//   DequantizeLinear: y = (x - zero_point) * scale
//
// Opset 10 takes a scalar scale and zero point (per-tensor). Opset 13 also
// accepts 1-D ones of length x.shape[axis] (per-axis, `axis` default 1).
// Without a zero point QuantizeLinear produces uint8 with zero point 0.
// x / scale is computed in float for float inputs, as the reference does;
// int32 inputs go through double so large values keep their precision.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

constexpr int64_t kGrain = 1 << 14;

// x viewed as [outer, channels, inner]; channels == 1 for per-tensor.
struct QuantLayout {
  int64_t outer = 1, channels = 1, inner = 1;
};

// Validates scale/zero point against x and returns the layout.
QuantLayout quant_layout(const char* op, const Tensor& x, const Tensor& scale, const Tensor* zp, bool per_axis_ok,
                         int64_t axis_attr) {
  if (scale.dtype() != DataType::kFloat)
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": scale must be float, got " +
                                                 dtype_name(scale.dtype()));
  if (zp && zp->shape() != scale.shape())
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": zero point shape " + shape_str(zp->shape()) +
                                                 " does not match scale shape " + shape_str(scale.shape()));
  QuantLayout l;
  l.inner = x.numel();
  if (scale.rank() == 0 || (scale.rank() == 1 && scale.numel() == 1 && !per_axis_ok)) {
    if (scale.numel() != 1) throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": empty scale");
    return l;
  }
  if (!per_axis_ok)
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": scale must be a scalar before opset 13, got shape " +
                                                 shape_str(scale.shape()));
  if (scale.rank() != 1)
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": scale must be a scalar or 1-D, got shape " +
                                                 shape_str(scale.shape()));
  const int64_t axis = normalize_axis(axis_attr, x.rank(), "axis");
  const int64_t c = x.dim(static_cast<int>(axis));
  if (scale.dim(0) != c) {
    if (scale.dim(0) == 1) return l;  // a 1-element 1-D scale is per-tensor
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": scale has " + std::to_string(scale.dim(0)) +
                                                 " elements but x has " + std::to_string(c) + " along axis " +
                                                 std::to_string(axis));
  }
  l.channels = c;
  l.outer = 1;
  for (int64_t i = 0; i < axis; ++i) l.outer *= x.dim(static_cast<int>(i));
  l.inner = 1;
  for (int64_t i = axis + 1; i < x.rank(); ++i) l.inner *= x.dim(static_cast<int>(i));
  return l;
}

// Runs fn(value_offset, count, channel) over every contiguous run of one
// channel, splitting the work across threads.
template <typename F>
void for_each_channel_run(int threads, const QuantLayout& l, F&& fn) {
  const int64_t rows = l.outer * l.channels;
  if (rows == 1) {
    parallel_for(threads, l.inner, kGrain, [&](int64_t b, int64_t e) { fn(b, e - b, int64_t{0}); });
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(l.inner, 1));
  parallel_for(threads, rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) fn(r * l.inner, l.inner, r % l.channels);
  });
}

template <typename Q>
inline Q saturate_round(double v) {
  // v is already rounded; NaN (0/0 style inputs) maps to 0 before saturation.
  constexpr double lo = std::numeric_limits<Q>::min(), hi = std::numeric_limits<Q>::max();
  if (std::isnan(v)) v = 0;
  return static_cast<Q>(std::clamp(v, lo, hi));
}

class QuantizeLinearKernel final : public OpKernel {
 public:
  explicit QuantizeLinearKernel(const KernelInit& init) {
    per_axis_ = init.node.since_version >= 13;
    axis_ = init.node.attr_int("axis", 1);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& scale = ctx.input(1);
    const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const QuantLayout l = quant_layout("QuantizeLinear", x, scale, zp, per_axis_, axis_);
    const DataType qt = zp ? zp->dtype() : DataType::kUInt8;
    if (qt != DataType::kUInt8 && qt != DataType::kInt8)
      throw Error(ErrorCode::kInvalidArgument,
                  std::string("QuantizeLinear: zero point must be int8 or uint8, got ") + dtype_name(qt));
    if (x.dtype() != DataType::kFloat && x.dtype() != DataType::kInt32)
      throw Error(ErrorCode::kInvalidArgument,
                  std::string("QuantizeLinear: x must be float or int32, got ") + dtype_name(x.dtype()));
    const float* s = scale.data<float>();
    for (int64_t i = 0; i < scale.numel(); ++i)
      if (!(s[i] != 0) || !std::isfinite(s[i]))
        throw Error(ErrorCode::kInvalidArgument, "QuantizeLinear: scale must be finite and non-zero, got " +
                                                     std::to_string(s[i]));
    Tensor& y = ctx.allocate(0, qt, x.shape());
    if (qt == DataType::kUInt8) run<uint8_t>(ctx, x, s, zp, l, y);
    else run<int8_t>(ctx, x, s, zp, l, y);
  }

 private:
  template <typename Q>
  static void run(KernelContext& ctx, const Tensor& x, const float* s, const Tensor* zp, const QuantLayout& l,
                  Tensor& y) {
    const Q* z = zp ? zp->data<Q>() : nullptr;
    Q* py = y.data<Q>();
    if (x.dtype() == DataType::kFloat) {
      const float* px = x.data<float>();
      for_each_channel_run(ctx.threads(), l, [&](int64_t off, int64_t n, int64_t c) {
        const float sc = s[c];
        const double zc = z ? z[c] : 0;
        for (int64_t i = off; i < off + n; ++i) py[i] = saturate_round<Q>(std::nearbyint(px[i] / sc) + zc);
      });
    } else {
      const int32_t* px = x.data<int32_t>();
      for_each_channel_run(ctx.threads(), l, [&](int64_t off, int64_t n, int64_t c) {
        const double sc = s[c];
        const double zc = z ? z[c] : 0;
        for (int64_t i = off; i < off + n; ++i) py[i] = saturate_round<Q>(std::nearbyint(px[i] / sc) + zc);
      });
    }
  }

  bool per_axis_ = false;
  int64_t axis_ = 1;
};

class DequantizeLinearKernel final : public OpKernel {
 public:
  explicit DequantizeLinearKernel(const KernelInit& init) {
    per_axis_ = init.node.since_version >= 13;
    axis_ = init.node.attr_int("axis", 1);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& scale = ctx.input(1);
    const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const QuantLayout l = quant_layout("DequantizeLinear", x, scale, zp, per_axis_, axis_);
    if (zp && zp->dtype() != x.dtype())
      throw Error(ErrorCode::kInvalidArgument, std::string("DequantizeLinear: zero point type ") +
                                                   dtype_name(zp->dtype()) + " differs from x type " +
                                                   dtype_name(x.dtype()));
    Tensor& y = ctx.allocate(0, DataType::kFloat, x.shape());
    switch (x.dtype()) {
      case DataType::kUInt8: run<uint8_t>(ctx, x, scale, zp, l, y); break;
      case DataType::kInt8: run<int8_t>(ctx, x, scale, zp, l, y); break;
      case DataType::kInt32:
        if (zp) {
          const int32_t* z = zp->data<int32_t>();
          for (int64_t i = 0; i < zp->numel(); ++i)
            if (z[i] != 0)
              throw Error(ErrorCode::kInvalidArgument, "DequantizeLinear: an int32 zero point must be 0");
        }
        run<int32_t>(ctx, x, scale, zp, l, y);
        break;
      default:
        throw Error(ErrorCode::kInvalidArgument,
                    std::string("DequantizeLinear: x must be int8, uint8 or int32, got ") + dtype_name(x.dtype()));
    }
  }

 private:
  template <typename Q>
  static void run(KernelContext& ctx, const Tensor& x, const Tensor& scale, const Tensor* zp, const QuantLayout& l,
                  Tensor& y) {
    const Q* px = x.data<Q>();
    const Q* z = zp ? zp->data<Q>() : nullptr;
    const float* s = scale.data<float>();
    float* py = y.data<float>();
    for_each_channel_run(ctx.threads(), l, [&](int64_t off, int64_t n, int64_t c) {
      const float sc = s[c];
      const int64_t zc = z ? z[c] : 0;
      for (int64_t i = off; i < off + n; ++i) py[i] = static_cast<float>(static_cast<int64_t>(px[i]) - zc) * sc;
    });
  }

  bool per_axis_ = false;
  int64_t axis_ = 1;
};

// uint8 only (the one type the schema allows). The range is widened to
// include 0; a constant-zero input gets scale 1/255 (as onnxruntime and the
// ONNX reference do) instead of dividing by zero.
class DynamicQuantizeLinearKernel final : public OpKernel {
 public:
  explicit DynamicQuantizeLinearKernel(const KernelInit&) {}

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DataType::kFloat)
      throw Error(ErrorCode::kInvalidArgument,
                  std::string("DynamicQuantizeLinear: x must be float, got ") + dtype_name(x.dtype()));
    const float* px = x.data<float>();
    const int64_t n = x.numel();
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(px[i]))
        throw Error(ErrorCode::kInvalidArgument, "DynamicQuantizeLinear: x contains NaN");
      lo = std::min(lo, px[i]);
      hi = std::max(hi, px[i]);
    }
    if (!std::isfinite(lo) || !std::isfinite(hi))
      throw Error(ErrorCode::kInvalidArgument, "DynamicQuantizeLinear: x contains an infinite value");
    const float scale = (hi == lo ? 1.0f : hi - lo) / 255.0f;
    const uint8_t zp = saturate_round<uint8_t>(std::nearbyint(0.0f - lo / scale));
    Tensor& y = ctx.allocate(0, DataType::kUInt8, x.shape());
    uint8_t* py = y.data<uint8_t>();
    parallel_for(ctx.threads(), n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) py[i] = saturate_round<uint8_t>(std::nearbyint(px[i] / scale) + zp);
    });
    if (ctx.wants_output(1)) ctx.allocate(1, DataType::kFloat, {}).data<float>()[0] = scale;
    if (ctx.wants_output(2)) ctx.allocate(2, DataType::kUInt8, {}).data<uint8_t>()[0] = zp;
  }
};

}  // namespace

void register_kernels_quant_quantize_linear(KernelRegistry& r) {
  r.add("", "QuantizeLinear", 10, 12, make_factory<QuantizeLinearKernel>());
  r.add("", "QuantizeLinear", 13, kOpenEnded, make_factory<QuantizeLinearKernel>());
  r.add("", "DequantizeLinear", 10, 12, make_factory<DequantizeLinearKernel>());
  r.add("", "DequantizeLinear", 13, kOpenEnded, make_factory<DequantizeLinearKernel>());
  r.add("", "DynamicQuantizeLinear", 11, kOpenEnded, make_factory<DynamicQuantizeLinearKernel>());
}

}  // namespace pier::kernels
