// ConvInteger and QLinearConv (uint8/int8 activations and weights, groups,
// strides, dilations, pads, auto_pad; per-tensor or per-output-channel
// weight zero points and scales).
//
// The int32 convolution runs on oneDNN's int8 convolution (VNNI/AMX JIT;
// its plain-layout path is a slow reference, so activations are always
// reordered into the layout it picks). The activation zero point is a
// oneDNN runtime zero point (padding then contributes zero, as ONNX
// requires). oneDNN takes int8 weights without a zero point, so the kernel
// feeds it w - w_zero_point; when that does not fit int8 (range -255..255)
// it is split into two int8 halves whose convolutions are added.
// QLinearConv adds the int32 bias and requantizes per output channel:
//   y = sat(round_half_even((acc + B) * x_scale * w_scale / y_scale) + y_zp).
#include <cmath>
#include <optional>

#include "kernels/kernel.h"
#include "kernels/util/dnnl_util.h"
#include "kernels/util/nn_geometry.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

namespace du = dnnl_util;

bool is_q8(DataType t) { return t == DataType::kUInt8 || t == DataType::kInt8; }

int32_t q8_at(const Tensor& t, int64_t i) {
  return t.dtype() == DataType::kUInt8 ? static_cast<const uint8_t*>(t.raw())[i]
                                       : static_cast<const int8_t*>(t.raw())[i];
}

// w - zp split into int8 halves (hi is empty when lo alone is exact).
struct SplitWeights {
  Tensor lo, hi;
};

SplitWeights split_weights(const Tensor& w, const Tensor* zp) {
  if (!is_q8(w.dtype())) throw Error(ErrorCode::kInvalidArgument, "weights must be uint8 or int8");
  const int64_t M = w.dim(0), per = M ? w.numel() / M : 0;
  if (zp && zp->numel() != 1 && zp->numel() != M)
    throw Error(ErrorCode::kInvalidArgument, "weight zero point must be a scalar or have one value per output channel");
  if (zp && !is_q8(zp->dtype())) throw Error(ErrorCode::kInvalidArgument, "zero point must be uint8 or int8");
  SplitWeights s;
  s.lo = Tensor(DataType::kInt8, w.shape());
  Tensor hi(DataType::kInt8, w.shape());
  bool need_hi = false;
  int8_t* lo = static_cast<int8_t*>(s.lo.raw());
  int8_t* h = static_cast<int8_t*>(hi.raw());
  for (int64_t m = 0; m < M; ++m) {
    const int32_t z = zp ? q8_at(*zp, zp->numel() == 1 ? 0 : m) : 0;
    for (int64_t i = 0; i < per; ++i) {
      const int32_t v = q8_at(w, m * per + i) - z;
      const int32_t l = std::max(-128, std::min(127, v));
      lo[m * per + i] = static_cast<int8_t>(l);
      h[m * per + i] = static_cast<int8_t>(v - l);
      need_hi = need_hi || v != l;
    }
  }
  if (need_hi) s.hi = hi;
  return s;
}

struct QConvEntry {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  Shape out_shape;
  dnnl::memory::desc src_plain, dst_plain, w_plain;
  std::optional<du::Reorder> src_in, dst_out;
};

class QConvKernel final : public OpKernel {
 public:
  QConvKernel(const KernelInit& init, bool qlinear) : qlinear_(qlinear), attrs_(WindowAttrs::parse(init.node)) {
    group_ = init.node.attr_int("group", 1);
    if (group_ < 1) throw Error(ErrorCode::kInvalidModel, "group must be positive");
    const int wi = qlinear ? 3 : 1, wzi = qlinear ? 5 : 3;
    const Tensor* w = init.constant_input(wi);
    const bool zp_known = !init.node.has_input(wzi) || init.constant_input(wzi);
    if (w && zp_known && w->rank() >= 3 && is_q8(w->dtype())) {
      try {
        const Tensor* zp = init.constant_input(wzi);
        w_orig_ = *w;
        if (zp) wzp_orig_ = *zp;
        split_ = split_weights(*w, zp);
        lo_.set_source(w_md(w->shape()), split_.lo);
        if (split_.hi.defined()) hi_.set_source(w_md(w->shape()), split_.hi);
      } catch (const Error&) {
        w_orig_ = Tensor();
      }
    }
  }

  void compute(KernelContext& ctx) const override {
    const int wi = qlinear_ ? 3 : 1, xzi = 2, wzi = qlinear_ ? 5 : 3;
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(wi);
    if (!is_q8(x.dtype()) || !is_q8(w.dtype()))
      throw Error(ErrorCode::kUnsupported, "integer convolution inputs must be uint8 or int8");
    const Tensor* xz = ctx.has_input(xzi) ? &ctx.input(xzi) : nullptr;
    const Tensor* wz = ctx.has_input(wzi) ? &ctx.input(wzi) : nullptr;
    if (xz && (xz->numel() != 1 || xz->dtype() != x.dtype()))
      throw Error(ErrorCode::kInvalidArgument, "x zero point must be a scalar of x's type");
    const int32_t xzp = xz ? q8_at(*xz, 0) : 0;
    validate(x.shape(), w.shape());
    const bool w_const = w_orig_.defined() && w.storage_id() == w_orig_.storage_id() && w.shape() == w_orig_.shape() &&
                         (wz ? wzp_orig_.defined() && wz->storage_id() == wzp_orig_.storage_id() : !wzp_orig_.defined());
    SplitWeights local;
    if (!w_const) local = split_weights(w, wz);
    const SplitWeights& sw = w_const ? split_ : local;

    du::ThreadScope ts(ctx.threads());
    std::vector<int64_t> key{ctx.threads(), static_cast<int64_t>(x.dtype()), xzp != 0};
    key.insert(key.end(), x.shape().begin(), x.shape().end());
    key.insert(key.end(), w.shape().begin(), w.shape().end());
    auto e = cache_.get(key, [&] { return build(x.shape(), w.shape(), x.dtype(), xzp != 0); });
    Tensor acc = qlinear_ ? Tensor(DataType::kInt32, e->out_shape) : ctx.allocate(0, DataType::kInt32, e->out_shape);
    if (acc.numel() == 0) {
      if (qlinear_) requantize(ctx, acc, e->out_shape);
      return;
    }
    run_conv(*e, x, xzp, w_const ? lo_.get(e->pd.weights_desc()) : pack(*e, sw.lo), acc, false);
    if (sw.hi.defined()) run_conv(*e, x, xzp, w_const ? hi_.get(e->pd.weights_desc()) : pack(*e, sw.hi), acc, true);
    if (qlinear_) requantize(ctx, acc, e->out_shape);
  }

 private:
  dnnl::memory::desc w_md(const Shape& ws) const {
    du::dims d;
    if (group_ > 1) {
      d = {group_, ws[0] / group_};
      d.insert(d.end(), ws.begin() + 1, ws.end());
    } else {
      d = du::to_dims(ws);
    }
    return du::plain_md(d, du::dt::s8);
  }

  void validate(const Shape& xs, const Shape& ws) const {
    if (xs.size() < 3 || xs.size() > 5 || ws.size() != xs.size())
      throw Error(ErrorCode::kInvalidArgument, "integer convolution input " + shape_str(xs) + " and weights " +
                                                   shape_str(ws) + " must both be 3-D to 5-D");
    if (xs[1] != ws[1] * group_ || ws[0] % group_ != 0 || ws[0] == 0)
      throw Error(ErrorCode::kInvalidArgument, "integer convolution channels do not match: input " + shape_str(xs) +
                                                   ", weights " + shape_str(ws) + ", group " + std::to_string(group_));
    if (!attrs_.kernel.empty() && !std::equal(attrs_.kernel.begin(), attrs_.kernel.end(), ws.begin() + 2, ws.end()))
      throw Error(ErrorCode::kInvalidArgument, "kernel_shape does not match weights " + shape_str(ws));
  }

  QConvEntry build(const Shape& xs, const Shape& ws, DataType xt, bool zp) const {
    const std::vector<int64_t> in(xs.begin() + 2, xs.end()), k(ws.begin() + 2, ws.end());
    const WindowGeometry g = window_geometry(attrs_, in, k);
    Shape ys{xs[0], ws[0]};
    ys.insert(ys.end(), g.out.begin(), g.out.end());
    checked_numel(ys, "integer convolution output");
    QConvEntry e;
    e.out_shape = ys;
    const auto sdt = du::to_dnnl(xt);
    e.src_plain = du::plain_md(xs, sdt);
    e.dst_plain = du::plain_md(ys, du::dt::s32);
    e.w_plain = w_md(ws);
    if (shape_numel(ys) == 0) return e;
    du::dims dil(g.dilations.size());
    for (size_t i = 0; i < dil.size(); ++i) dil[i] = g.dilations[i] - 1;
    dnnl::primitive_attr at = du::attr();
    if (zp) at.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    e.pd = du::create_pd("integer convolution", [&] {
      dnnl::convolution_forward::desc d(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
          dnnl::memory::desc(du::to_dims(xs), sdt, du::tag::any), dnnl::memory::desc(e.w_plain.dims(), du::dt::s8, du::tag::any),
          dnnl::memory::desc(du::to_dims(ys), du::dt::s32, du::tag::any), du::dims(g.strides.begin(), g.strides.end()), dil,
          du::dims(g.pad_begin.begin(), g.pad_begin.end()), du::dims(g.pad_end.begin(), g.pad_end.end()));
      return dnnl::convolution_forward::primitive_desc(d, at, du::engine());
    });
    e.prim = dnnl::convolution_forward(e.pd);
    if (e.pd.src_desc() != e.src_plain) e.src_in.emplace(e.src_plain, e.pd.src_desc());
    if (e.pd.dst_desc() != e.dst_plain) e.dst_out.emplace(e.pd.dst_desc(), e.dst_plain);
    return e;
  }

  dnnl::memory pack(const QConvEntry& e, const Tensor& w) const {
    return du::reorder_to(du::wrap(e.w_plain, w.raw()), e.pd.weights_desc());
  }

  // acc = conv (or acc += conv when `add`).
  void run_conv(const QConvEntry& e, const Tensor& x, int32_t xzp, const dnnl::memory& wm, Tensor& acc,
                bool add) const {
    du::TempBuffer src_buf, dst_buf;
    dnnl::memory src = du::wrap(e.src_plain, x.raw());
    if (e.src_in) {
      dnnl::memory blocked = du::temp_memory(e.pd.src_desc(), src_buf);
      (*e.src_in)(src, blocked);
      src = blocked;
    }
    Tensor tmp = add ? Tensor(DataType::kInt32, acc.shape()) : acc;
    dnnl::memory dst_plain = du::wrap(e.dst_plain, tmp.raw());
    dnnl::memory dst = e.dst_out ? du::temp_memory(e.pd.dst_desc(), dst_buf) : dst_plain;
    du::Args args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, dst}};
    int32_t zp = xzp;
    if (xzp != 0)
      args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, du::wrap(du::plain_md(du::dims{1}, du::dt::s32), &zp));
    du::run(e.prim, e.pd, std::move(args));
    if (e.dst_out) (*e.dst_out)(dst, dst_plain);
    if (add) {
      int32_t* a = acc.data<int32_t>();
      const int32_t* t = tmp.data<int32_t>();
      for (int64_t i = 0; i < acc.numel(); ++i) a[i] += t[i];
    }
  }

  void requantize(KernelContext& ctx, const Tensor& acc, const Shape& ys) const {
    const Tensor& xs = ctx.input(1);
    const Tensor& ws = ctx.input(4);
    const Tensor& ysc = ctx.input(6);
    const int64_t M = ys[1];
    for (const Tensor* s : {&xs, &ws, &ysc})
      if (s->dtype() != DataType::kFloat) throw Error(ErrorCode::kInvalidArgument, "QLinearConv scales must be float");
    if (xs.numel() != 1 || ysc.numel() != 1 || (ws.numel() != 1 && ws.numel() != M))
      throw Error(ErrorCode::kInvalidArgument,
                  "QLinearConv x_scale and y_scale must be scalars, w_scale a scalar or one per output channel");
    const Tensor* yz = ctx.has_input(7) ? &ctx.input(7) : nullptr;
    const DataType yt = yz ? yz->dtype() : DataType::kUInt8;
    if (!is_q8(yt)) throw Error(ErrorCode::kInvalidArgument, "y zero point must be uint8 or int8");
    const int32_t yzp = yz ? q8_at(*yz, 0) : 0;
    const Tensor* b = ctx.has_input(8) ? &ctx.input(8) : nullptr;
    if (b && (b->dtype() != DataType::kInt32 || b->numel() != M))
      throw Error(ErrorCode::kInvalidArgument, "QLinearConv bias must be int32 with one value per output channel");
    Tensor& y = ctx.allocate(0, yt, ys);
    if (y.numel() == 0) return;
    const int64_t inner = acc.numel() / (ys[0] * M);
    const int32_t lo = yt == DataType::kUInt8 ? 0 : -128, hi = yt == DataType::kUInt8 ? 255 : 127;
    const int32_t* pa = acc.data<int32_t>();
    const float xsv = xs.data<float>()[0], ysv = ysc.data<float>()[0];
    parallel_for(ctx.threads(), ys[0] * M, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
                 [&](int64_t p0, int64_t p1) {
                   for (int64_t p = p0; p < p1; ++p) {
                     const int64_t m = p % M;
                     const float scale = xsv * ws.data<float>()[ws.numel() == 1 ? 0 : m] / ysv;
                     const int32_t bias = b ? b->data<int32_t>()[m] : 0;
                     for (int64_t i = 0; i < inner; ++i) {
                       const float v = std::nearbyint(static_cast<float>(pa[p * inner + i] + bias) * scale) +
                                       static_cast<float>(yzp);
                       const int32_t q = static_cast<int32_t>(std::max<float>(lo, std::min<float>(hi, v)));
                       if (yt == DataType::kUInt8) static_cast<uint8_t*>(y.raw())[p * inner + i] = static_cast<uint8_t>(q);
                       else static_cast<int8_t*>(y.raw())[p * inner + i] = static_cast<int8_t>(q);
                     }
                   }
                 });
  }

  bool qlinear_;
  WindowAttrs attrs_;
  int64_t group_ = 1;
  Tensor w_orig_, wzp_orig_;
  SplitWeights split_;
  du::PackedWeights lo_, hi_;
  du::PrimitiveCache<QConvEntry> cache_;
};

KernelFactory qconv(bool qlinear) {
  return [qlinear](const KernelInit& init) -> std::unique_ptr<OpKernel> {
    return std::make_unique<QConvKernel>(init, qlinear);
  };
}

}  // namespace

void register_kernels_nn_quant_conv(KernelRegistry& r) {
  r.add("", "ConvInteger", 10, kOpenEnded, qconv(false));
  r.add("", "QLinearConv", 10, kOpenEnded, qconv(true));
}

}  // namespace pier::kernels
