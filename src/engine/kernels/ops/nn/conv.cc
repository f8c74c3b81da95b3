// Conv (1-D/2-D/3-D, groups incl. depthwise, dilations, strides, pads,
// auto_pad, optional bias) on oneDNN's convolution_forward, and the
// internal pier.internal::FusedConv made by the convolution passes:
//   - post_ops/post_alpha/post_beta: activations and a residual sum (input
//     3) run as oneDNN post-ops (see passes/fuse_conv_activation.cc);
//   - channels_last=1: input, residual and output are channels-last
//     tensors ([N, spatial..., C], see passes/layout_channels_last.cc),
//     convolved in that layout with no reorder;
//   - sum_inplace=1: nothing reads the residual afterwards, so when its
//     buffer is not shared the output accumulates into it.
//
// One primitive per input shape (and thread count), cached. Constant
// weights are reordered once into the layout the primitive prefers.
// Plain NCHW activations are reordered in and out of oneDNN's preferred
// layout when that is faster than convolving the plain layout (see
// prefer_blocked_conv()). A post-op chain a primitive cannot take is
// applied after the convolution instead.
#include <cstring>
#include <mutex>
#include <optional>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/dnnl_util.h"
#include "kernels/util/nn_geometry.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/winograd.h"

namespace pier::kernels {

namespace {

namespace du = dnnl_util;

struct ConvEntry {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  Shape out_shape;                                    // logical [N, C, spatial...]
  dnnl::memory::desc src_user, dst_user, w_plain;     // layouts of Pier's tensors
  std::optional<du::Reorder> src_in, dst_out, w_in;  // set when layouts differ
  std::optional<du::Reorder> sum_in;                 // residual into dst (sum post-op)
  bool fused = true;  // post-ops run inside the primitive
  // Set instead of pd/prim for Pier's Winograd; fused then means the
  // post-ops are a lone relu, applied by its output transform.
  std::shared_ptr<const WinogradConv> wino;
};

class ConvKernel final : public OpKernel {
 public:
  ConvKernel(const KernelInit& init, bool internal) : attrs_(WindowAttrs::parse(init.node)) {
    group_ = init.node.attr_int("group", 1);
    if (group_ < 1) throw Error(ErrorCode::kInvalidModel, "group must be positive");
    if (internal) {
      post_ = du::parse_post_ops(init.node);
      channels_last_ = init.node.attr_int("channels_last", 0) != 0;
      sum_inplace_ = init.node.attr_int("sum_inplace", 0) != 0;
      has_sum_ = du::has_sum(post_);
      if (has_sum_ && !init.node.has_input(3))
        throw Error(ErrorCode::kInvalidModel, "FusedConv with a sum post-op needs input 3");
    }
    w_ = du::ConstantInput(init.constant_input(1));
    b_ = du::ConstantInput(init.constant_input(2));
    if (w_.f32.defined() && w_.f32.rank() >= 3) {
      packed_.set_source(w_md(w_.f32.shape()), w_.f32);
      // Build the primitive and pack the weights now when the input shape
      // is fully known.
      const ValueInfo* xi = init.input_info(0);
      if (xi && xi->has_shape && xi->dims.size() >= 3) {
        bool known = true;
        for (int64_t d : xi->dims) known = known && d >= 0;
        if (known) {
          try {
            const int threads = du::resolve_threads(init.options.threads);
            du::ThreadScope ts(threads);
            const Shape xs = channels_last_ ? du::from_channels_last(xi->dims) : Shape(xi->dims);
            auto e = entry(xs, w_.f32.shape(), init.node.has_input(2), true, threads);
            if (!e->wino) packed_.get(e->pd.weights_desc());
          } catch (const Error&) {
            // Bad shapes are reported when the node runs.
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
      unsupported_type(dtype, "Conv");
    if (ctx.input(1).dtype() != dtype || (ctx.has_input(2) && ctx.input(2).dtype() != dtype))
      throw Error(ErrorCode::kInvalidArgument, "Conv inputs must all have the input's type");
    if (channels_last_ && (x_in.rank() < 3 || x_in.rank() > 5))
      throw Error(ErrorCode::kInvalidArgument, "channels-last Conv input must be 3-D to 5-D");
    const Tensor x = du::as_float(x_in);
    const Shape xs = channels_last_ ? du::from_channels_last(x.shape()) : x.shape();
    const bool w_is_const = packed_.has_source() && w_.matches(ctx.input(1));
    const Tensor w = w_is_const ? w_.f32 : du::as_float(ctx.input(1));
    const bool has_b = ctx.has_input(2);
    Tensor b;
    if (has_b) b = b_.matches(ctx.input(2)) && b_.f32.defined() ? b_.f32 : du::as_float(ctx.input(2));
    validate(xs, w.shape(), has_b ? &b : nullptr);

    const int threads = team_size(xs, w.shape(), ctx.threads());
    du::ThreadScope ts(threads);
    auto e = entry(xs, w.shape(), has_b, w_is_const, threads);
    const Shape ys = channels_last_ ? du::to_channels_last(e->out_shape) : e->out_shape;
    Tensor z;  // the residual of a sum post-op, in Pier's layout
    const bool z_unique = has_sum_ && ctx.input(3).unique();  // before z shares it
    if (has_sum_) {
      const Tensor& zi = ctx.input(3);
      if (zi.dtype() != dtype || zi.shape() != ys)
        throw Error(ErrorCode::kInvalidArgument, "FusedConv residual " + shape_str(zi.shape()) +
                                                     " does not match the output " + shape_str(ys));
      z = du::as_float(zi);
    }
    // Accumulate into the residual's own buffer when nothing else reads it.
    const bool reuse = has_sum_ && e->fused && sum_inplace_ && dtype == DataType::kFloat &&
                       z_unique && !e->dst_out && x.numel() > 0;
    Tensor y;
    if (reuse) {
      y = z;
      ctx.set_output(0, y);
    } else {
      y = dtype == DataType::kFloat ? ctx.allocate(0, dtype, ys) : Tensor(DataType::kFloat, ys);
    }
    if (y.numel() > 0) {
      if (x.numel() == 0) {
        std::fill_n(static_cast<float*>(y.raw()), y.numel(), 0.f);
        if (has_b) add_bias(y, b);
        if (!post_.empty()) du::apply_post_ops(post_, y.data<float>(), has_sum_ ? z.data<float>() : nullptr, y.numel(), 1);
      } else {
        execute(*e, x, w, w_is_const, has_b ? &b : nullptr, has_sum_ ? &z : nullptr, reuse, y, threads);
      }
    }
    if (dtype != DataType::kFloat) ctx.allocate(0, dtype, ys) = du::from_float(y, dtype);
  }

 private:
  dnnl::memory::desc w_md(const Shape& ws) const {
    du::dims d;
    if (group_ > 1) {
      d.push_back(group_);
      d.push_back(ws[0] / group_);
      for (size_t i = 1; i < ws.size(); ++i) d.push_back(ws[i]);
    } else {
      d = du::to_dims(ws);
    }
    return du::plain_md(d, du::dt::f32);
  }

  void validate(const Shape& xs, const Shape& ws, const Tensor* b) const {
    if (xs.size() < 3 || xs.size() > 5)
      throw Error(ErrorCode::kInvalidArgument, "Conv input must be 3-D to 5-D (N, C, spatial...), got " + shape_str(xs));
    if (ws.size() != xs.size())
      throw Error(ErrorCode::kInvalidArgument, "Conv weights " + shape_str(ws) + " do not match input rank " +
                                                   shape_str(xs));
    if (xs[1] != ws[1] * group_)
      throw Error(ErrorCode::kInvalidArgument, "Conv input channels " + std::to_string(xs[1]) + " != weights " +
                                                   shape_str(ws) + " x group " + std::to_string(group_));
    if (ws[0] % group_ != 0 || ws[0] == 0)
      throw Error(ErrorCode::kInvalidArgument, "Conv output channels " + std::to_string(ws[0]) +
                                                   " are not a positive multiple of group " + std::to_string(group_));
    if (!attrs_.kernel.empty() && !std::equal(attrs_.kernel.begin(), attrs_.kernel.end(), ws.begin() + 2, ws.end()))
      throw Error(ErrorCode::kInvalidArgument, "Conv kernel_shape " + dims_str(attrs_.kernel) +
                                                   " does not match weights " + shape_str(ws));
    if (b && (b->rank() != 1 || b->dim(0) != ws[0]))
      throw Error(ErrorCode::kInvalidArgument, "Conv bias must be 1-D of size " + std::to_string(ws[0]) + ", got " +
                                                   shape_str(b->shape()));
  }

  // Threads to run on: one for convolutions too small to repay waking a
  // team (EfficientNet's squeeze-excitation 1x1 convs on 1x1 images take
  // ~5 us alone and ~11 us on two threads).
  int team_size(const Shape& xs, const Shape& ws, int threads) const {
    if (threads <= 1 || xs.size() < 3 || ws.size() != xs.size()) return threads;
    int64_t macs = xs[0] * ws[0] * ws[1];  // N * Cout * Cin/group
    for (size_t i = 2; i < ws.size(); ++i) macs *= ws[i];
    const auto& st = attrs_.strides;
    for (size_t i = 2; i < xs.size(); ++i) macs *= xs[i] / (i - 2 < st.size() ? std::max<int64_t>(st[i - 2], 1) : 1);
    return macs < (int64_t{1} << 19) ? 1 : threads;
  }

  // w_const: the weights are the constant initializer (w_.f32).
  std::shared_ptr<const ConvEntry> entry(const Shape& xs, const Shape& ws, bool has_b, bool w_const,
                                         int threads) const {
    std::vector<int64_t> key{threads, has_b, w_const};
    key.insert(key.end(), xs.begin(), xs.end());
    key.insert(key.end(), ws.begin(), ws.end());
    return cache_.get(key, [&] { return build(xs, ws, has_b, w_const, threads); });
  }

  ConvEntry build(const Shape& xs, const Shape& ws, bool has_b, bool w_const, int threads) const {
    validate(xs, ws, nullptr);
    const std::vector<int64_t> in(xs.begin() + 2, xs.end()), k(ws.begin() + 2, ws.end());
    const WindowGeometry g = window_geometry(attrs_, in, k);
    Shape ys{xs[0], ws[0]};
    ys.insert(ys.end(), g.out.begin(), g.out.end());
    checked_numel(ys, "Conv output");
    ConvEntry e;
    e.out_shape = ys;
    e.src_user = channels_last_ ? du::channels_last_md(xs, du::dt::f32) : du::plain_md(xs, du::dt::f32);
    e.dst_user = channels_last_ ? du::channels_last_md(ys, du::dt::f32) : du::plain_md(ys, du::dt::f32);
    e.w_plain = w_md(ws);
    const auto any = du::tag::any;
    const auto src_any = dnnl::memory::desc(du::to_dims(xs), du::dt::f32, any);
    const auto dst_any = dnnl::memory::desc(du::to_dims(ys), du::dt::f32, any);
    const auto w_any = dnnl::memory::desc(e.w_plain.dims(), du::dt::f32, any);
    const auto b_md = has_b ? du::plain_md(du::dims{ws[0]}, du::dt::f32) : dnnl::memory::desc();
    du::dims dil(g.dilations.size());
    for (size_t i = 0; i < dil.size(); ++i) dil[i] = g.dilations[i] - 1;  // oneDNN counts gaps
    auto make = [&](const dnnl::memory::desc& src_md, const dnnl::memory::desc& dst_md, bool fused,
                    dnnl::algorithm alg = dnnl::algorithm::convolution_direct) {
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, alg,
                                        src_md, w_any, b_md, dst_md, du::dims(g.strides.begin(), g.strides.end()),
                                        dil, du::dims(g.pad_begin.begin(), g.pad_begin.end()),
                                        du::dims(g.pad_end.begin(), g.pad_end.end()));
      dnnl::primitive_attr a = du::attr();
      if (fused && !post_.empty()) a.set_post_ops(du::to_dnnl(post_));
      return dnnl::convolution_forward::primitive_desc(d, a, du::engine());
    };
    // Channels-last tensors go to oneDNN as they are; plain ones are
    // reordered to oneDNN's choice where that pays (prefer_blocked_conv).
    const bool own_layout = channels_last_ || !prefer_blocked_conv(ws[1], ws[0] / group_, group_, k, g.strides, g.out);
    const auto src_md = own_layout ? e.src_user : src_any;
    const auto dst_md = own_layout ? e.dst_user : dst_any;
    // Fall back to oneDNN's layout, then to post-ops applied afterwards,
    // when a primitive cannot take the combination.
    struct Try {
      dnnl::memory::desc src, dst;
      bool fused;
    };
    // A lone swish runs faster after the convolution while the output still
    // fits in the threads' L2 (EfficientNet-B0: 3x3 dw 32ch 112x112 0.23 ->
    // 0.21 ms, 1x1 24->144 56x56 0.28 -> 0.23 ms); larger outputs keep it
    // fused.
    const bool swish_after = channels_last_ && post_.size() == 1 && post_[0].kind == du::PostOp::kSwish &&
                             du::fast_swish_available() && shape_numel(ys) * 4 <= (int64_t{3} << 20) * threads;
    std::vector<Try> tries{{src_md, dst_md, !swish_after}};
    if (own_layout) tries.push_back({src_any, dst_any, !swish_after});
    if (!post_.empty()) {
      tries.push_back({src_md, dst_md, false});
      if (own_layout) tries.push_back({src_any, dst_any, false});
    }
    const Winograd wino =
        channels_last_ ? prefer_winograd_conv(ws[1], ws[0], group_, k, g.strides, g.dilations, g.out,
                                              w_const && winograd_available())
                       : Winograd::kNone;
    if (wino == Winograd::kF2 || wino == Winograd::kF4) {
      WinogradConv::Geometry wg;
      wg.n = xs[0];
      wg.ic = ws[1];
      wg.oc = ws[0];
      wg.ih = in[0];
      wg.iw = in[1];
      wg.oh = g.out[0];
      wg.ow = g.out[1];
      wg.pad_top = g.pad_begin[0];
      wg.pad_left = g.pad_begin[1];
      e.wino = std::make_shared<const WinogradConv>(wg, winograd_weights(wino == Winograd::kF4 ? 4 : 2));
      e.fused = post_.empty() || (post_.size() == 1 && post_[0].kind == du::PostOp::kRelu);
      return e;
    }
    if (wino == Winograd::kOneDnnF2) {
      try {
        e.pd = make(src_any, dst_any, true, dnnl::algorithm::convolution_winograd);
        tries.clear();
      } catch (const dnnl::error&) {
      }
    }
    if (tries.empty()) e.fused = true;
    for (size_t i = 0; i < tries.size(); ++i) {
      const Try& t = tries[i];
      if (i + 1 == tries.size()) {
        e.pd = du::create_pd("Conv", [&] { return make(t.src, t.dst, t.fused); });
      } else {
        try {
          e.pd = make(t.src, t.dst, t.fused);
        } catch (const dnnl::error&) {
          continue;
        }
      }
      e.fused = t.fused || post_.empty();
      // GEMM-based convolution applies post-ops slowly (relu on 64->256
      // 56x56: +0.4 ms); the reference loop afterwards is cheaper.
      if (e.fused && !post_.empty() && std::string(e.pd.impl_info_str()).find("gemm") != std::string::npos) {
        try {
          e.pd = make(t.src, t.dst, false);
          e.fused = false;
        } catch (const dnnl::error&) {
        }
      }
      break;
    }
    e.prim = dnnl::convolution_forward(e.pd);
    if (e.pd.src_desc() != e.src_user) e.src_in.emplace(e.src_user, e.pd.src_desc());
    if (e.pd.dst_desc() != e.dst_user) e.dst_out.emplace(e.pd.dst_desc(), e.dst_user);
    if (e.pd.weights_desc() != e.w_plain) e.w_in.emplace(e.w_plain, e.pd.weights_desc());
    if (e.dst_out && e.fused && has_sum_) e.sum_in.emplace(e.dst_user, e.pd.dst_desc());
    return e;
  }

  void execute(const ConvEntry& e, const Tensor& x, const Tensor& w, bool w_is_const, const Tensor* b,
               const Tensor* z, bool prefilled, Tensor& y, int threads) const {
    if (e.wino) {
      const bool relu = e.fused && !post_.empty();  // fused: the post-ops are a lone relu
      e.wino->run(x.data<float>(), b ? b->data<float>() : nullptr, relu, y.data<float>(), threads);
    } else {
      execute_onednn(e, x, w, w_is_const, b, z, prefilled, y);
    }
    if (!e.fused) du::apply_post_ops(post_, y.data<float>(), z ? z->data<float>() : nullptr, y.numel(), threads);
  }

  void execute_onednn(const ConvEntry& e, const Tensor& x, const Tensor& w, bool w_is_const, const Tensor* b,
                      const Tensor* z, bool prefilled, Tensor& y) const {
    du::TempBuffer src_buf, dst_buf, w_buf;
    dnnl::memory src = du::wrap(e.src_user, x.raw());
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
    dnnl::memory dst_user = du::wrap(e.dst_user, y.raw());
    dnnl::memory dst = e.dst_out ? du::temp_memory(e.pd.dst_desc(), dst_buf) : dst_user;
    if (z && e.fused) {
      // The sum post-op adds the destination's prior contents.
      if (e.sum_in) (*e.sum_in)(du::wrap(e.dst_user, z->raw()), dst);
      else if (!prefilled) std::memcpy(y.raw(), z->raw(), y.nbytes());
    }
    du::Args args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, dst}};
    if (b) args.emplace(DNNL_ARG_BIAS, du::wrap(e.pd.bias_desc(), b->raw()));
    du::run(e.prim, e.pd, std::move(args));
    if (e.dst_out) (*e.dst_out)(dst, dst_user);
  }

  // The constant weights transformed for F(tile x tile), made once and
  // shared by the entries of all input shapes.
  std::shared_ptr<const WinogradWeights> winograd_weights(int tile) const {
    std::lock_guard<std::mutex> lock(wino_mu_);
    auto& u = wino_weights_[tile == 4];
    if (!u) u = std::make_shared<const WinogradWeights>(w_.f32.data<float>(), w_.f32.dim(0), w_.f32.dim(1), tile);
    return u;
  }

  void add_bias(Tensor& y, const Tensor& b) const {
    float* p = static_cast<float*>(y.raw());
    const float* pb = static_cast<const float*>(b.raw());
    const int64_t c = b.numel();
    if (channels_last_) {
      for (int64_t i = 0; i < y.numel(); ++i) p[i] += pb[i % c];
      return;
    }
    const int64_t n = y.dim(0), inner = y.numel() / std::max<int64_t>(1, n * c);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < c; ++j)
        for (int64_t k = 0; k < inner; ++k) p[(i * c + j) * inner + k] += pb[j];
  }

  WindowAttrs attrs_;
  int64_t group_ = 1;
  std::vector<du::PostOp> post_;
  bool channels_last_ = false, sum_inplace_ = false, has_sum_ = false;
  du::ConstantInput w_, b_;
  du::PackedWeights packed_;
  du::PrimitiveCache<ConvEntry> cache_;
  mutable std::mutex wino_mu_;
  mutable std::shared_ptr<const WinogradWeights> wino_weights_[2];  // F(2x2), F(4x4)
};

KernelFactory conv_factory(bool internal) {
  return [internal](const KernelInit& init) -> std::unique_ptr<OpKernel> {
    return std::make_unique<ConvKernel>(init, internal);
  };
}

}  // namespace

void register_kernels_nn_conv(KernelRegistry& r) {
  r.add("", "Conv", 1, 10, conv_factory(false));
  r.add("", "Conv", 11, kOpenEnded, conv_factory(false));
  r.add("pier.internal", "FusedConv", 1, kOpenEnded, conv_factory(true));
}

}  // namespace pier::kernels
