// Window pooling: MaxPool (ceil_mode, dilations, pads, auto_pad,
// storage_order, optional Indices, int8/uint8), AveragePool
// (count_include_pad, ceil_mode) and LpPool, 1-D to 3-D.
//
// MaxPool and AveragePool run on oneDNN's pooling_v2 primitive (cached per
// shape) on the plain layout. A direct window loop handles what oneDNN
// cannot express: MaxPool's Indices output, LpPool, and average pooling
// that counts padding when ceil_mode extends windows past the pads (ONNX
// counts only the real pads there; oneDNN counts the whole kernel).
//
// pier.internal::{MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool}
// with channels_last=1 (made by passes/layout_channels_last.cc) take and
// give float channels-last tensors ([N, spatial..., C]); oneDNN pools them
// in that layout, the direct loop on a plain copy.
#include <cmath>
#include <limits>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/dnnl_util.h"
#include "kernels/util/nn_geometry.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace {

namespace du = dnnl_util;

enum class Kind { kMax, kAvg, kLp };

// Geometry normalised to three spatial dims (leading dims of size 1).
struct Plane {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
  int64_t pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0};
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
};

Plane make_plane(const std::vector<int64_t>& in, const WindowGeometry& g) {
  Plane p;
  const size_t n = in.size(), o = 3 - n;
  for (size_t i = 0; i < n; ++i) {
    p.in[o + i] = in[i];
    p.out[o + i] = g.out[i];
    p.k[o + i] = g.kernel[i];
    p.s[o + i] = g.strides[i];
    p.d[o + i] = g.dilations[i];
    p.pb[o + i] = g.pad_begin[i];
    p.pe[o + i] = g.pad_end[i];
  }
  return p;
}

// The direct loop over one (n, c) plane. For kMax also writes the flat
// index of the maximum (row-major, or column-major over the spatial dims
// when `col_major`) plus `index_base`.
template <typename T>
void pool_plane(Kind kind, const Plane& p, const T* x, T* y, int64_t* idx, int64_t index_base, bool col_major,
                bool count_pad, float lp) {
  using C = compute_t<T>;
  for (int64_t o0 = 0; o0 < p.out[0]; ++o0)
    for (int64_t o1 = 0; o1 < p.out[1]; ++o1)
      for (int64_t o2 = 0; o2 < p.out[2]; ++o2) {
        const int64_t st[3] = {o0 * p.s[0] - p.pb[0], o1 * p.s[1] - p.pb[1], o2 * p.s[2] - p.pb[2]};
        double acc = 0;
        C best = std::numeric_limits<C>::lowest();
        int64_t best_i = -1, count = 0;
        for (int64_t k0 = 0; k0 < p.k[0]; ++k0) {
          const int64_t i0 = st[0] + k0 * p.d[0];
          if (i0 < 0 || i0 >= p.in[0]) continue;
          for (int64_t k1 = 0; k1 < p.k[1]; ++k1) {
            const int64_t i1 = st[1] + k1 * p.d[1];
            if (i1 < 0 || i1 >= p.in[1]) continue;
            for (int64_t k2 = 0; k2 < p.k[2]; ++k2) {
              const int64_t i2 = st[2] + k2 * p.d[2];
              if (i2 < 0 || i2 >= p.in[2]) continue;
              const int64_t off = (i0 * p.in[1] + i1) * p.in[2] + i2;
              const C v = load(x[off]);
              ++count;
              if (kind == Kind::kMax) {
                if (v > best || best_i < 0) {
                  best = v;
                  best_i = col_major ? (i2 * p.in[1] + i1) * p.in[0] + i0 : off;
                }
              } else if (kind == Kind::kAvg) {
                acc += static_cast<double>(v);
              } else {
                acc += std::pow(std::fabs(static_cast<double>(v)), static_cast<double>(lp));
              }
            }
          }
        }
        const int64_t o = (o0 * p.out[1] + o1) * p.out[2] + o2;
        if (kind == Kind::kMax) {
          y[o] = store<T>(best);
          if (idx) idx[o] = best_i < 0 ? -1 : index_base + best_i;
        } else if (kind == Kind::kAvg) {
          if (count_pad) {
            // Window clipped to the padded input (not the ceil_mode extension).
            int64_t n = 1;
            for (int a = 0; a < 3; ++a) {
              const int64_t lo = std::max<int64_t>(st[a], -p.pb[a]);
              const int64_t hi = std::min<int64_t>(st[a] + (p.k[a] - 1) * p.d[a], p.in[a] + p.pe[a] - 1);
              n *= hi < lo ? 0 : (hi - lo) / p.d[a] + 1;
            }
            count = n;
          }
          y[o] = store<T>(static_cast<C>(count ? acc / count : 0.0));
        } else {
          y[o] = store<T>(static_cast<C>(std::pow(acc, 1.0 / lp)));
        }
      }
}

struct PoolEntry {
  dnnl::pooling_v2_forward::primitive_desc pd;
  dnnl::pooling_v2_forward prim;
};

class PoolKernel final : public OpKernel {
 public:
  PoolKernel(const KernelInit& init, Kind kind) : kind_(kind), attrs_(WindowAttrs::parse(init.node)) {
    if (attrs_.kernel.empty()) throw Error(ErrorCode::kInvalidModel, "pooling requires kernel_shape");
    channels_last_ = init.node.domain == "pier.internal" && init.node.attr_int("channels_last", 0) != 0;
    count_include_pad_ = init.node.attr_int("count_include_pad", 0) != 0;
    storage_order_ = init.node.attr_int("storage_order", 0);
    if (storage_order_ != 0 && storage_order_ != 1)
      throw Error(ErrorCode::kInvalidModel, "storage_order must be 0 or 1");
    if (kind == Kind::kLp) {
      // p is a float before opset 2, an int after.
      const ir::Attribute* pa = init.node.find_attr("p");
      if (pa && pa->type == ir::Attribute::Type::kFloat) p_ = pa->f;
      else p_ = static_cast<float>(init.node.attr_int("p", 2));
      if (!(p_ > 0)) throw Error(ErrorCode::kInvalidModel, "LpPool p must be positive");
    }
    // Build the primitive now when the input shape is known.
    const ValueInfo* xi = init.input_info(0);
    if (kind != Kind::kLp && !(kind == Kind::kMax && init.node.has_output(1)) && xi && xi->has_shape &&
        xi->dims.size() >= 3 && xi->dims.size() <= 5) {
      bool known = true;
      for (int64_t d : xi->dims) known = known && d > 0;
      const DataType t = xi->dtype == DataType::kInt8 || xi->dtype == DataType::kUInt8 ? xi->dtype : DataType::kFloat;
      if (known && (kind == Kind::kMax || t == DataType::kFloat)) {
        try {
          const Shape xs = channels_last_ ? du::from_channels_last(xi->dims) : Shape(xi->dims);
          const std::vector<int64_t> in(xs.begin() + 2, xs.end());
          const WindowGeometry g = window_geometry(attrs_, in, attrs_.kernel);
          if (!needs_direct(g, in)) {
            const int threads = du::resolve_threads(init.options.threads);
            du::ThreadScope ts(threads);
            entry(xs, t, g, threads);
          }
        } catch (const Error&) {
        }
      }
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 3 || x.rank() > 5)
      throw Error(ErrorCode::kInvalidArgument, "pooling input must be 3-D to 5-D (N, C, spatial...), got " +
                                                   shape_str(x.shape()));
    if (channels_last_) {
      compute_channels_last(ctx, x);
      return;
    }
    const DataType dtype = x.dtype();
    const bool int8 = dtype == DataType::kInt8 || dtype == DataType::kUInt8;
    if (int8 ? kind_ != Kind::kMax
             : (dtype != DataType::kFloat && dtype != DataType::kDouble && dtype != DataType::kFloat16 &&
                dtype != DataType::kBFloat16))
      unsupported_type(dtype, kind_ == Kind::kMax ? "MaxPool" : kind_ == Kind::kAvg ? "AveragePool" : "LpPool");
    const std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
    const WindowGeometry g = window_geometry(attrs_, in, attrs_.kernel);
    Shape ys{x.dim(0), x.dim(1)};
    ys.insert(ys.end(), g.out.begin(), g.out.end());
    checked_numel(ys, "pooling output");
    Tensor& y = ctx.allocate(0, dtype, ys);
    const bool want_idx = kind_ == Kind::kMax && ctx.wants_output(1);
    Tensor* idx = want_idx ? &ctx.allocate(1, DataType::kInt64, ys) : nullptr;
    if (y.numel() == 0) return;

    if (want_idx || needs_direct(g, in)) {
      run_direct(ctx, x, g, in, y, idx);
      return;
    }
    const Tensor xf = int8 ? x : du::as_float(x);
    Tensor yf = (int8 || dtype == DataType::kFloat) ? y : Tensor(DataType::kFloat, ys);
    du::ThreadScope ts(ctx.threads());
    auto e = entry(xf.shape(), xf.dtype(), g, ctx.threads());
    du::run(e->prim, e->pd,
            {{DNNL_ARG_SRC, du::wrap(e->pd.src_desc(), xf.raw())}, {DNNL_ARG_DST, du::wrap(e->pd.dst_desc(), yf.raw())}});
    if (!int8 && dtype != DataType::kFloat) y = du::from_float(yf, dtype);
  }

 private:
  // LpPool, and average pooling that counts padding where ceil_mode
  // extends windows past the pads (ONNX counts only the real pads, oneDNN
  // the whole kernel), run on the direct loop.
  bool needs_direct(const WindowGeometry& g, const std::vector<int64_t>& in) const {
    if (kind_ == Kind::kLp) return true;
    if (kind_ != Kind::kAvg || !count_include_pad_) return false;
    for (size_t i = 0; i < in.size(); ++i)
      if ((g.out[i] - 1) * g.strides[i] + (g.kernel[i] - 1) * g.dilations[i] + 1 > in[i] + g.pad_begin[i] + g.pad_end[i])
        return true;
    return false;
  }

  // Channels-last float input: oneDNN pools in place of layout; the direct
  // loop runs on a plain copy.
  void compute_channels_last(KernelContext& ctx, const Tensor& x) const {
    if (x.dtype() != DataType::kFloat) unsupported_type(x.dtype(), "channels-last pooling");
    const Shape xs = du::from_channels_last(x.shape());
    const std::vector<int64_t> in(xs.begin() + 2, xs.end());
    const WindowGeometry g = window_geometry(attrs_, in, attrs_.kernel);
    Shape ys{xs[0], xs[1]};
    ys.insert(ys.end(), g.out.begin(), g.out.end());
    checked_numel(ys, "pooling output");
    Tensor& y = ctx.allocate(0, DataType::kFloat, du::to_channels_last(ys));
    if (y.numel() == 0) return;
    du::ThreadScope ts(ctx.threads());
    if (needs_direct(g, in)) {
      Tensor xp(DataType::kFloat, xs), yp(DataType::kFloat, ys);
      du::reorder(du::wrap(du::channels_last_md(xs, du::dt::f32), x.raw()), du::wrap(du::plain_md(xs, du::dt::f32), xp.raw()));
      run_direct(ctx, xp, g, in, yp, nullptr);
      du::reorder(du::wrap(du::plain_md(ys, du::dt::f32), yp.raw()), du::wrap(du::channels_last_md(ys, du::dt::f32), y.raw()));
      return;
    }
    if (kind_ == Kind::kMax && in.size() == 2) {
      max_pool_2d_channels_last(ctx, x.data<float>(), y.data<float>(), xs, g);
      return;
    }
    auto e = entry(xs, DataType::kFloat, g, ctx.threads());
    du::run(e->prim, e->pd,
            {{DNNL_ARG_SRC, du::wrap(e->pd.src_desc(), x.raw())}, {DNNL_ARG_DST, du::wrap(e->pd.dst_desc(), y.raw())}});
  }

  // 2-D max pooling of [N, H, W, C]: each output pixel is the running max
  // of its window's C-vectors (contiguous, vectorized); padding never wins.
  // 0.2 vs 0.3 ms for oneDNN's nhwc pooling on ResNet-50's 3x3/2 pool.
  static void max_pool_2d_channels_last(KernelContext& ctx, const float* x, float* y, const Shape& xs,
                                        const WindowGeometry& g) {
    const int64_t N = xs[0], C = xs[1], IH = xs[2], IW = xs[3], OH = g.out[0], OW = g.out[1];
    parallel_for(ctx.threads(), N * OH, std::max<int64_t>(1, 8192 / std::max<int64_t>(OW * C, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t row = b; row < e; ++row) {
                     const int64_t n = row / OH, oh = row % OH;
                     for (int64_t ow = 0; ow < OW; ++ow) {
                       float* out = y + (row * OW + ow) * C;
                       std::fill(out, out + C, std::numeric_limits<float>::lowest());
                       for (int64_t kh = 0; kh < g.kernel[0]; ++kh) {
                         const int64_t ih = oh * g.strides[0] - g.pad_begin[0] + kh * g.dilations[0];
                         if (ih < 0 || ih >= IH) continue;
                         for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
                           const int64_t iw = ow * g.strides[1] - g.pad_begin[1] + kw * g.dilations[1];
                           if (iw < 0 || iw >= IW) continue;
                           const float* in = x + ((n * IH + ih) * IW + iw) * C;
                           for (int64_t c = 0; c < C; ++c) out[c] = std::max(out[c], in[c]);
                         }
                       }
                     }
                   }
                 });
  }

  std::shared_ptr<const PoolEntry> entry(const Shape& xs, DataType t, const WindowGeometry& g, int threads) const {
    std::vector<int64_t> key{threads, static_cast<int64_t>(t)};
    key.insert(key.end(), xs.begin(), xs.end());
    return cache_.get(key, [&] {
      Shape ys{xs[0], xs[1]};
      ys.insert(ys.end(), g.out.begin(), g.out.end());
      return build(xs, ys, g, t);
    });
  }

  PoolEntry build(const Shape& xs, const Shape& ys, const WindowGeometry& g, DataType t) const {
    const size_t n = g.out.size();
    du::dims pl(n), pr(n), dil(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t k_eff = (g.kernel[i] - 1) * g.dilations[i] + 1;
      pl[i] = g.pad_begin[i];
      // Right padding that makes the last (ceil_mode) window fit.
      pr[i] = std::max<int64_t>(g.pad_end[i], (g.out[i] - 1) * g.strides[i] + k_eff - xs[i + 2] - pl[i]);
      dil[i] = g.dilations[i] - 1;
    }
    const auto alg = kind_ == Kind::kMax ? dnnl::algorithm::pooling_max
                     : count_include_pad_ ? dnnl::algorithm::pooling_avg_include_padding
                                          : dnnl::algorithm::pooling_avg_exclude_padding;
    const auto dt = du::to_dnnl(t);
    PoolEntry e;
    e.pd = du::create_pd("pooling", [&] {
      const auto src = channels_last_ ? du::channels_last_md(xs, dt) : du::plain_md(xs, dt);
      const auto dst = channels_last_ ? du::channels_last_md(ys, dt) : du::plain_md(ys, dt);
      dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, alg, src, dst,
                                       du::dims(g.strides.begin(), g.strides.end()),
                                       du::dims(g.kernel.begin(), g.kernel.end()), dil, pl, pr);
      return dnnl::pooling_v2_forward::primitive_desc(d, du::attr(), du::engine());
    });
    e.prim = dnnl::pooling_v2_forward(e.pd);
    return e;
  }

  void run_direct(KernelContext& ctx, const Tensor& x, const WindowGeometry& g, const std::vector<int64_t>& in,
                  Tensor& y, Tensor* idx) const {
    const Plane p = make_plane(in, g);
    const int64_t planes = x.dim(0) * x.dim(1);
    const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, p.out_size() * p.k[0] * p.k[1] * p.k[2]));
    auto body = [&](auto tag) {
      using T = decltype(tag);
      const T* px = static_cast<const T*>(x.raw());
      T* py = static_cast<T*>(y.raw());
      int64_t* pi = idx ? idx->data<int64_t>() : nullptr;
      parallel_for(ctx.threads(), planes, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          pool_plane<T>(kind_, p, px + i * p.in_size(), py + i * p.out_size(), pi ? pi + i * p.out_size() : nullptr,
                        i * p.in_size(), storage_order_ == 1, count_include_pad_, p_);
      });
    };
    switch (x.dtype()) {
      case DataType::kInt8: body(int8_t{}); break;
      case DataType::kUInt8: body(uint8_t{}); break;
      default: dispatch_float(x.dtype(), body);
    }
  }

  Kind kind_;
  WindowAttrs attrs_;
  bool channels_last_ = false;
  bool count_include_pad_ = false;
  int64_t storage_order_ = 0;
  float p_ = 2.f;
  du::PrimitiveCache<PoolEntry> cache_;
};

// ---- global pooling ---------------------------------------------------------

// Reduces each (n, c) plane to one value; contiguous and vectorizable.
class GlobalPoolKernel final : public OpKernel {
 public:
  GlobalPoolKernel(const KernelInit& init, Kind kind) : kind_(kind) {
    if (kind == Kind::kLp) {
      const ir::Attribute* pa = init.node.find_attr("p");
      if (pa && pa->type == ir::Attribute::Type::kFloat) p_ = pa->f;
      else p_ = static_cast<float>(init.node.attr_int("p", 2));
      if (!(p_ > 0)) throw Error(ErrorCode::kInvalidModel, "GlobalLpPool p must be positive");
    }
    channels_last_ = init.node.domain == "pier.internal" && init.node.attr_int("channels_last", 0) != 0;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (channels_last_) {
      compute_channels_last(ctx, x);
      return;
    }
    if (x.rank() < 2)
      throw Error(ErrorCode::kInvalidArgument, "global pooling input must have rank >= 2, got " + shape_str(x.shape()));
    Shape ys(x.shape().size(), 1);
    ys[0] = x.dim(0);
    ys[1] = x.dim(1);
    Tensor& y = ctx.allocate(0, x.dtype(), ys);
    const int64_t planes = x.dim(0) * x.dim(1);
    const int64_t inner = planes ? x.numel() / planes : 0;
    if (planes == 0) return;
    if (inner == 0 && kind_ == Kind::kMax)
      throw Error(ErrorCode::kInvalidArgument, "GlobalMaxPool over an empty spatial extent");
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* px = static_cast<const T*>(x.raw());
      T* py = static_cast<T*>(y.raw());
      parallel_for(ctx.threads(), planes, std::max<int64_t>(1, 65536 / std::max<int64_t>(inner, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t i = b; i < e; ++i) py[i] = store<T>(reduce<T>(px + i * inner, inner));
                   });
    });
  }

 private:
  // [N, spatial..., C] -> [N, 1..., C]: per-channel running max/sum over
  // the spatial rows (contiguous in C).
  void compute_channels_last(KernelContext& ctx, const Tensor& x) const {
    if (x.dtype() != DataType::kFloat || kind_ == Kind::kLp) unsupported_type(x.dtype(), "channels-last global pooling");
    if (x.rank() < 3) throw Error(ErrorCode::kInvalidArgument, "channels-last global pooling needs rank >= 3");
    Shape ys(x.shape().size(), 1);
    ys[0] = x.dim(0);
    ys.back() = x.dim(-1);
    Tensor& y = ctx.allocate(0, DataType::kFloat, ys);
    const int64_t N = x.dim(0), C = x.dim(-1);
    const int64_t S = N * C != 0 ? x.numel() / (N * C) : 0;
    if (N * C == 0) return;
    if (S == 0 && kind_ == Kind::kMax)
      throw Error(ErrorCode::kInvalidArgument, "GlobalMaxPool over an empty spatial extent");
    const float* px = x.data<float>();
    float* py = y.data<float>();
    // Rows of C channels are reduced into per-task partial rows (the
    // spatial extent split in up to `threads` chunks), then combined.
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(ctx.threads(), S * C / (int64_t{1} << 16)));
    std::vector<float> part(static_cast<size_t>(N * chunks * C));
    const bool is_max = kind_ == Kind::kMax;
    parallel_for(ctx.threads(), N * chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t n = t / chunks, k = t % chunks;
        const int64_t s0 = S * k / chunks, s1 = S * (k + 1) / chunks;
        const float* in = px + n * S * C;
        float* acc = part.data() + t * C;
        if (is_max) {
          std::copy(in + s0 * C, in + (s0 + 1) * C, acc);
          for (int64_t s = s0 + 1; s < s1; ++s)
            for (int64_t c = 0; c < C; ++c) acc[c] = std::max(acc[c], in[s * C + c]);
        } else {
          std::fill(acc, acc + C, 0.f);
          for (int64_t s = s0; s < s1; ++s)
            for (int64_t c = 0; c < C; ++c) acc[c] += in[s * C + c];
        }
      }
    });
    for (int64_t n = 0; n < N; ++n) {
      float* out = py + n * C;
      const float* p0 = part.data() + n * chunks * C;
      std::copy(p0, p0 + C, out);
      for (int64_t k = 1; k < chunks; ++k)
        for (int64_t c = 0; c < C; ++c) out[c] = is_max ? std::max(out[c], p0[k * C + c]) : out[c] + p0[k * C + c];
      if (!is_max)
        for (int64_t c = 0; c < C; ++c) out[c] = S ? out[c] / static_cast<float>(S) : 0.f;
    }
  }

  template <typename T>
  compute_t<T> reduce(const T* v, int64_t n) const {
    using C = compute_t<T>;
    constexpr int kLanes = 16;
    if (kind_ == Kind::kMax) {
      C m[kLanes];
      for (int l = 0; l < kLanes; ++l) m[l] = load(v[0]);
      int64_t i = 0;
      for (; i + kLanes <= n; i += kLanes)
        for (int l = 0; l < kLanes; ++l) m[l] = std::max(m[l], load(v[i + l]));
      for (; i < n; ++i) m[0] = std::max(m[0], load(v[i]));
      C r = m[0];
      for (int l = 1; l < kLanes; ++l) r = std::max(r, m[l]);
      return r;
    }
    if (kind_ == Kind::kAvg) {
      C s[kLanes] = {};
      int64_t i = 0;
      for (; i + kLanes <= n; i += kLanes)
        for (int l = 0; l < kLanes; ++l) s[l] += load(v[i + l]);
      for (; i < n; ++i) s[0] += load(v[i]);
      C r = 0;
      for (int l = 0; l < kLanes; ++l) r += s[l];
      return n ? r / static_cast<C>(n) : C(0);
    }
    double s = 0;
    if (p_ == 2.f) {
      for (int64_t i = 0; i < n; ++i) s += static_cast<double>(load(v[i])) * static_cast<double>(load(v[i]));
      return static_cast<C>(std::sqrt(s));
    }
    for (int64_t i = 0; i < n; ++i) s += std::pow(std::fabs(static_cast<double>(load(v[i]))), static_cast<double>(p_));
    return static_cast<C>(std::pow(s, 1.0 / p_));
  }

  Kind kind_;
  float p_ = 2.f;
  bool channels_last_ = false;
};

KernelFactory pool(Kind k) {
  return [k](const KernelInit& init) -> std::unique_ptr<OpKernel> { return std::make_unique<PoolKernel>(init, k); };
}
KernelFactory global_pool(Kind k) {
  return [k](const KernelInit& init) -> std::unique_ptr<OpKernel> {
    return std::make_unique<GlobalPoolKernel>(init, k);
  };
}

}  // namespace

void register_kernels_nn_pool(KernelRegistry& r) {
  r.add("", "MaxPool", 1, 7, pool(Kind::kMax));
  r.add("", "MaxPool", 8, 9, pool(Kind::kMax));
  r.add("", "MaxPool", 10, 10, pool(Kind::kMax));
  r.add("", "MaxPool", 11, 11, pool(Kind::kMax));
  r.add("", "MaxPool", 12, kOpenEnded, pool(Kind::kMax));
  r.add("", "AveragePool", 1, 6, pool(Kind::kAvg));
  r.add("", "AveragePool", 7, 9, pool(Kind::kAvg));
  r.add("", "AveragePool", 10, 10, pool(Kind::kAvg));
  r.add("", "AveragePool", 11, kOpenEnded, pool(Kind::kAvg));
  r.add("", "LpPool", 1, 1, pool(Kind::kLp));
  r.add("", "LpPool", 2, 10, pool(Kind::kLp));
  r.add("", "LpPool", 11, kOpenEnded, pool(Kind::kLp));
  r.add("", "GlobalAveragePool", 1, kOpenEnded, global_pool(Kind::kAvg));
  r.add("", "GlobalMaxPool", 1, kOpenEnded, global_pool(Kind::kMax));
  r.add("", "GlobalLpPool", 1, 1, global_pool(Kind::kLp));
  r.add("", "GlobalLpPool", 2, kOpenEnded, global_pool(Kind::kLp));
  // Channels-last variants (attribute channels_last=1).
  r.add("pier.internal", "MaxPool", 1, kOpenEnded, pool(Kind::kMax));
  r.add("pier.internal", "AveragePool", 1, kOpenEnded, pool(Kind::kAvg));
  r.add("pier.internal", "GlobalAveragePool", 1, kOpenEnded, global_pool(Kind::kAvg));
  r.add("pier.internal", "GlobalMaxPool", 1, kOpenEnded, global_pool(Kind::kMax));
}

}  // namespace pier::kernels
