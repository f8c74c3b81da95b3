// ConvTranspose (1-D/2-D/3-D, groups, dilations, strides, pads, auto_pad,
// output_padding, output_shape, optional bias) on oneDNN's
// deconvolution_forward. Primitives are cached per input shape; constant
// weights are packed once. ONNX's weights [C_in, C_out/group, k...] are
// described to oneDNN with strides (no copy). output_padding and an
// output_shape larger than the natural size become negative end padding,
// which oneDNN fills with the bias alone, as ONNX defines.
#include <optional>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/dnnl_util.h"
#include "kernels/util/nn_geometry.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

namespace du = dnnl_util;

struct DeconvEntry {
  dnnl::deconvolution_forward::primitive_desc pd;
  dnnl::deconvolution_forward prim;
  Shape out_shape;
  dnnl::memory::desc src_plain, dst_plain, w_plain;
  // Negative leading padding (outputs before the first one any input
  // reaches) is not accepted by oneDNN: the primitive then computes the
  // trailing block, which is copied into dst_view (a view of the output)
  // after the output is filled with the bias.
  bool shifted = false;
  bool bias_only = false;  // no output is reached by any input
  dnnl::memory::desc dst_view;
  std::optional<du::Reorder> src_in, dst_out, w_in;
};

class ConvTransposeKernel final : public OpKernel {
 public:
  explicit ConvTransposeKernel(const KernelInit& init) : attrs_(WindowAttrs::parse(init.node)) {
    group_ = init.node.attr_int("group", 1);
    if (group_ < 1) throw Error(ErrorCode::kInvalidModel, "group must be positive");
    output_padding_ = init.node.attr_ints("output_padding");
    output_shape_ = init.node.attr_ints("output_shape");
    for (int64_t p : output_padding_)
      if (p < 0) throw Error(ErrorCode::kInvalidModel, "output_padding must be non-negative");
    w_ = du::ConstantInput(init.constant_input(1));
    b_ = du::ConstantInput(init.constant_input(2));
    if (w_.f32.defined() && w_.f32.rank() >= 3) {
      packed_.set_source(w_md(w_.f32.shape()), w_.f32);
      const ValueInfo* xi = init.input_info(0);
      if (xi && xi->has_shape && !xi->dims.empty()) {
        bool known = true;
        for (int64_t d : xi->dims) known = known && d >= 0;
        if (known) {
          try {
            const int threads = du::resolve_threads(init.options.threads);
            du::ThreadScope ts(threads);
            auto e = entry(xi->dims, w_.f32.shape(), init.node.has_input(2), threads);
            if (!e->bias_only) packed_.get(e->pd.weights_desc());
          } catch (const Error&) {
          }
        }
      }
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x_in = ctx.input(0);
    const DataType dtype = x_in.dtype();
    if (dtype != DataType::kFloat && dtype != DataType::kDouble && dtype != DataType::kFloat16 &&
        dtype != DataType::kBFloat16)
      unsupported_type(dtype, "ConvTranspose");
    if (ctx.input(1).dtype() != dtype || (ctx.has_input(2) && ctx.input(2).dtype() != dtype))
      throw Error(ErrorCode::kInvalidArgument, "ConvTranspose inputs must all have the input's type");
    const Tensor x = du::as_float(x_in);
    const bool w_is_const = packed_.has_source() && w_.matches(ctx.input(1));
    const Tensor w = w_is_const ? w_.f32 : du::as_float(ctx.input(1));
    const bool has_b = ctx.has_input(2);
    Tensor b;
    if (has_b) b = b_.matches(ctx.input(2)) && b_.f32.defined() ? b_.f32 : du::as_float(ctx.input(2));
    validate(x.shape(), w.shape());
    if (has_b && (b.rank() != 1 || b.dim(0) != w.dim(1) * group_))
      throw Error(ErrorCode::kInvalidArgument, "ConvTranspose bias must be 1-D of size " +
                                                   std::to_string(w.dim(1) * group_) + ", got " + shape_str(b.shape()));

    du::ThreadScope ts(ctx.threads());
    auto e = entry(x.shape(), w.shape(), has_b, ctx.threads());
    Tensor y = dtype == DataType::kFloat ? ctx.allocate(0, dtype, e->out_shape) : Tensor(DataType::kFloat, e->out_shape);
    if (y.numel() > 0) {
      if (x.numel() == 0 || e->bias_only) {
        fill_bias(y, has_b ? &b : nullptr);
      } else {
        execute(*e, x, w, w_is_const, has_b ? &b : nullptr, y);
      }
    }
    if (dtype != DataType::kFloat) ctx.allocate(0, dtype, e->out_shape) = du::from_float(y, dtype);
  }

 private:
  // oneDNN deconvolution weights are (g, oc/g, ic/g, k...); ONNX stores
  // (g*ic/g, oc/g, k...), so oc and ic swap strides.
  dnnl::memory::desc w_md(const Shape& ws) const {
    const int64_t icg = ws[0] / group_, ocg = ws[1];
    int64_t kprod = 1;
    for (size_t i = 2; i < ws.size(); ++i) kprod *= ws[i];
    du::dims d, st;
    if (group_ > 1) {
      d.push_back(group_);
      st.push_back(icg * ocg * kprod);
    }
    d.push_back(ocg);
    st.push_back(kprod);
    d.push_back(icg);
    st.push_back(ocg * kprod);
    int64_t inner = kprod;
    for (size_t i = 2; i < ws.size(); ++i) {
      inner /= ws[i];
      d.push_back(ws[i]);
      st.push_back(inner);
    }
    return du::strided_md(d, du::dt::f32, st);
  }

  void validate(const Shape& xs, const Shape& ws) const {
    if (xs.size() < 3 || xs.size() > 5)
      throw Error(ErrorCode::kInvalidArgument,
                  "ConvTranspose input must be 3-D to 5-D (N, C, spatial...), got " + shape_str(xs));
    if (ws.size() != xs.size())
      throw Error(ErrorCode::kInvalidArgument,
                  "ConvTranspose weights " + shape_str(ws) + " do not match input rank " + shape_str(xs));
    if (xs[1] != ws[0] || ws[0] % group_ != 0)
      throw Error(ErrorCode::kInvalidArgument, "ConvTranspose input channels " + std::to_string(xs[1]) +
                                                   " must equal weights dim 0 of " + shape_str(ws) +
                                                   " and be a multiple of group " + std::to_string(group_));
    if (ws[1] < 1) throw Error(ErrorCode::kInvalidArgument, "ConvTranspose weights have no output channels");
    if (!attrs_.kernel.empty() && !std::equal(attrs_.kernel.begin(), attrs_.kernel.end(), ws.begin() + 2, ws.end()))
      throw Error(ErrorCode::kInvalidArgument, "ConvTranspose kernel_shape " + dims_str(attrs_.kernel) +
                                                   " does not match weights " + shape_str(ws));
  }

  std::shared_ptr<const DeconvEntry> entry(const Shape& xs, const Shape& ws, bool has_b, int threads) const {
    std::vector<int64_t> key{threads, has_b};
    key.insert(key.end(), xs.begin(), xs.end());
    key.insert(key.end(), ws.begin(), ws.end());
    return cache_.get(key, [&] { return build(xs, ws, has_b); });
  }

  static int64_t floor_div2(int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

  DeconvEntry build(const Shape& xs, const Shape& ws, bool has_b) const {
    validate(xs, ws);
    const size_t n = xs.size() - 2;
    auto per_dim = [&](const std::vector<int64_t>& v, int64_t def, const char* what) {
      if (v.empty()) return std::vector<int64_t>(n, def);
      if (v.size() != n)
        throw Error(ErrorCode::kInvalidArgument, std::string("ConvTranspose ") + what + " has " +
                                                     std::to_string(v.size()) + " entries, expected " +
                                                     std::to_string(n));
      return v;
    };
    const auto strides = per_dim(attrs_.strides, 1, "strides");
    const auto dil = per_dim(attrs_.dilations, 1, "dilations");
    const auto opad = per_dim(output_padding_, 0, "output_padding");
    if (!attrs_.pads.empty() && attrs_.pads.size() != 2 * n)
      throw Error(ErrorCode::kInvalidArgument, "ConvTranspose pads has " + std::to_string(attrs_.pads.size()) +
                                                   " entries, expected " + std::to_string(2 * n));
    if (!output_shape_.empty() && output_shape_.size() < n)
      throw Error(ErrorCode::kInvalidArgument, "ConvTranspose output_shape " + dims_str(output_shape_) +
                                                   " has fewer entries than spatial dims");
    du::dims pl(n), pr(n), dnnl_dil(n);
    Shape ys{xs[0], ws[1] * group_};
    for (size_t i = 0; i < n; ++i) {
      const int64_t in = xs[i + 2], k_eff = (ws[i + 2] - 1) * dil[i] + 1;
      const int64_t natural = strides[i] * (in - 1) + k_eff;  // no padding, no output_padding
      const int64_t full = natural + opad[i];
      int64_t out, begin;
      const bool upper = attrs_.auto_pad == AutoPad::kSameUpper;
      if (!output_shape_.empty()) {
        out = output_shape_[output_shape_.size() - n + i];
        const int64_t total = full - out;
        begin = upper ? floor_div2(total) : total - floor_div2(total);
      } else if (attrs_.auto_pad == AutoPad::kSameUpper || attrs_.auto_pad == AutoPad::kSameLower) {
        out = in * strides[i];
        const int64_t total = full - out;
        begin = upper ? floor_div2(total) : total - floor_div2(total);
      } else if (attrs_.auto_pad == AutoPad::kValid || attrs_.pads.empty()) {
        out = full;
        begin = 0;
      } else {
        begin = attrs_.pads[i];
        out = full - attrs_.pads[i] - attrs_.pads[i + n];
      }
      if (out < 1)
        throw Error(ErrorCode::kInvalidArgument, "ConvTranspose output size " + std::to_string(out) +
                                                     " in spatial dim " + std::to_string(i) + " is not positive");
      pl[i] = begin;
      pr[i] = natural - begin - out;  // negative: outputs no input reaches (bias only)
      dnnl_dil[i] = dil[i] - 1;
      ys.push_back(out);
    }
    checked_numel(ys, "ConvTranspose output");
    DeconvEntry e;
    e.out_shape = ys;
    Shape prim_ys = ys;
    du::dims offsets(ys.size(), 0);
    for (size_t i = 0; i < n; ++i) {
      if (pl[i] >= 0) continue;
      e.shifted = true;
      offsets[i + 2] = -pl[i];
      prim_ys[i + 2] = ys[i + 2] + pl[i];
      pl[i] = 0;
      if (prim_ys[i + 2] <= 0) e.bias_only = true;
    }
    if (e.bias_only) return e;
    e.src_plain = du::plain_md(xs, du::dt::f32);
    e.dst_plain = du::plain_md(prim_ys, du::dt::f32);
    if (e.shifted) e.dst_view = du::plain_md(ys, du::dt::f32).submemory_desc(du::to_dims(prim_ys), offsets);
    e.w_plain = w_md(ws);
    const std::vector<int64_t> kernel(ws.begin() + 2, ws.end()), out_sp(ys.begin() + 2, ys.end());
    // A transposed convolution does icg*k work per input element; treat it
    // like the forward convolution it is the gradient of.
    const bool blocked = prefer_blocked_conv(ws[1], ws[0] / group_, group_, kernel, {}, out_sp);
    const auto any = du::tag::any;
    const auto src_md = blocked ? dnnl::memory::desc(du::to_dims(xs), du::dt::f32, any) : e.src_plain;
    const auto dst_md = blocked ? dnnl::memory::desc(du::to_dims(prim_ys), du::dt::f32, any) : e.dst_plain;
    const auto w_any = dnnl::memory::desc(e.w_plain.dims(), du::dt::f32, any);
    const auto b_md = has_b ? du::plain_md(du::dims{ys[1]}, du::dt::f32) : dnnl::memory::desc();
    e.pd = du::create_pd("ConvTranspose", [&] {
      dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                          dnnl::algorithm::deconvolution_direct, src_md, w_any, b_md, dst_md,
                                          du::dims(strides.begin(), strides.end()), dnnl_dil, pl, pr);
      return dnnl::deconvolution_forward::primitive_desc(d, du::attr(), du::engine());
    });
    e.prim = dnnl::deconvolution_forward(e.pd);
    if (e.pd.src_desc() != e.src_plain) e.src_in.emplace(e.src_plain, e.pd.src_desc());
    if (e.shifted) e.dst_out.emplace(e.pd.dst_desc(), e.dst_view);
    else if (e.pd.dst_desc() != e.dst_plain) e.dst_out.emplace(e.pd.dst_desc(), e.dst_plain);
    if (e.pd.weights_desc() != e.w_plain) e.w_in.emplace(e.w_plain, e.pd.weights_desc());
    return e;
  }

  void execute(const DeconvEntry& e, const Tensor& x, const Tensor& w, bool w_is_const, const Tensor* b,
               Tensor& y) const {
    du::TempBuffer src_buf, dst_buf, w_buf;
    dnnl::memory src = du::wrap(e.src_plain, x.raw());
    if (e.src_in) {
      dnnl::memory blocked = du::temp_memory(e.pd.src_desc(), src_buf);
      (*e.src_in)(src, blocked);
      src = blocked;
    }
    dnnl::memory wm;
    if (w_is_const) {
      wm = packed_.get(e.pd.weights_desc());
    } else {
      wm = du::wrap(e.w_plain, w.raw());
      if (e.w_in) {
        dnnl::memory packed = du::temp_memory(e.pd.weights_desc(), w_buf);
        (*e.w_in)(wm, packed);
        wm = packed;
      }
    }
    if (e.shifted) fill_bias(y, b);
    dnnl::memory dst_final = du::wrap(e.shifted ? e.dst_view : e.dst_plain, y.raw());
    dnnl::memory dst = e.dst_out ? du::temp_memory(e.pd.dst_desc(), dst_buf) : dst_final;
    du::Args args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, dst}};
    if (b) args.emplace(DNNL_ARG_BIAS, du::wrap(e.pd.bias_desc(), b->raw()));
    du::run(e.prim, e.pd, std::move(args));
    if (e.dst_out) (*e.dst_out)(dst, dst_final);
  }

  static void fill_bias(Tensor& y, const Tensor* b) {
    float* p = static_cast<float*>(y.raw());
    const int64_t n = y.dim(0), c = y.dim(1), inner = y.numel() / std::max<int64_t>(1, n * c);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < c; ++j) {
        const float v = b ? static_cast<const float*>(b->raw())[j] : 0.f;
        std::fill_n(p + (i * c + j) * inner, inner, v);
      }
  }

  WindowAttrs attrs_;
  int64_t group_ = 1;
  std::vector<int64_t> output_padding_, output_shape_;
  du::ConstantInput w_, b_;
  du::PackedWeights packed_;
  du::PrimitiveCache<DeconvEntry> cache_;
};

}  // namespace

void register_kernels_nn_conv_transpose(KernelRegistry& r) {
  r.add("", "ConvTranspose", 1, 10, make_factory<ConvTransposeKernel>());
  r.add("", "ConvTranspose", 11, kOpenEnded, make_factory<ConvTransposeKernel>());
}

}  // namespace pier::kernels
