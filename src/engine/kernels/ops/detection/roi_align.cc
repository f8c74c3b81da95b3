// RoiAlign (opsets 10 and 16).
//
// Each output bin averages (mode avg) or takes the maximum (mode max) of
// sampling_ratio x sampling_ratio bilinearly interpolated points of its
// region (adaptive: ceil(roi size / output size) points per side when
// sampling_ratio is 0). Opset 16's coordinate_transformation_mode
// "half_pixel" (its default) shifts RoI coordinates by -0.5 pixel;
// "output_half_pixel" and opset 10 do not, and enlarge RoIs smaller than a
// pixel to one pixel.
//
// Max mode takes the maximum of the interpolated sample values (as in
// mmcv). onnxruntime instead takes the maximum of the four weighted corner
// terms of each sample, so its max-mode results are smaller than Pier's.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace {

struct Sample {
  int64_t pos[4];
  float w[4];
};

class RoiAlignKernel final : public OpKernel {
 public:
  explicit RoiAlignKernel(const KernelInit& init) {
    const auto& n = init.node;
    const std::string mode = n.attr_string("mode", "avg");
    if (mode == "max") max_ = true;
    else if (mode != "avg") throw Error(ErrorCode::kInvalidModel, "RoiAlign mode must be avg or max, got \"" + mode + "\"");
    out_h_ = n.attr_int("output_height", 1);
    out_w_ = n.attr_int("output_width", 1);
    if (out_h_ <= 0 || out_w_ <= 0 || out_h_ > (1 << 20) || out_w_ > (1 << 20))
      throw Error(ErrorCode::kInvalidModel, "RoiAlign output size must be in [1, 2^20], got " +
                                                std::to_string(out_h_) + "x" + std::to_string(out_w_));
    sampling_ = n.attr_int("sampling_ratio", 0);
    if (sampling_ < 0) throw Error(ErrorCode::kInvalidModel, "RoiAlign sampling_ratio must be >= 0");
    scale_ = n.attr_float("spatial_scale", 1.f);
    if (n.since_version >= 16) {
      const std::string ctm = n.attr_string("coordinate_transformation_mode", "half_pixel");
      if (ctm == "half_pixel") half_pixel_ = true;
      else if (ctm != "output_half_pixel")
        throw Error(ErrorCode::kInvalidModel, "RoiAlign coordinate_transformation_mode must be half_pixel or "
                                              "output_half_pixel, got \"" + ctm + "\"");
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& rois = ctx.input(1);
    const Tensor& bi = ctx.input(2);
    if (x.rank() != 4)
      throw Error(ErrorCode::kInvalidArgument, "RoiAlign: X must be 4-D (N, C, H, W), got " + shape_str(x.shape()));
    if (rois.rank() != 2 || rois.dim(1) != 4)
      throw Error(ErrorCode::kInvalidArgument, "RoiAlign: rois must have shape [num_rois, 4], got " +
                                                   shape_str(rois.shape()));
    if (rois.dtype() != x.dtype())
      throw Error(ErrorCode::kInvalidArgument, "RoiAlign: rois and X must have the same type");
    if (bi.rank() != 1 || bi.dim(0) != rois.dim(0))
      throw Error(ErrorCode::kInvalidArgument, "RoiAlign: batch_indices must have shape [" +
                                                   std::to_string(rois.dim(0)) + "], got " + shape_str(bi.shape()));
    const std::vector<int64_t> batch = to_int64(bi);
    for (int64_t b : batch)
      if (b < 0 || b >= x.dim(0))
        throw Error(ErrorCode::kInvalidArgument, "RoiAlign: batch index " + std::to_string(b) + " out of range [0, " +
                                                     std::to_string(x.dim(0)) + ")");
    Tensor& y = ctx.allocate(0, x.dtype(), {rois.dim(0), x.dim(1), out_h_, out_w_});
    dispatch_float(x.dtype(), [&](auto tag) { run<decltype(tag)>(ctx, x, rois, batch, y); });
  }

 private:
  static std::vector<int64_t> to_int64(const Tensor& t) {
    std::vector<int64_t> v(static_cast<size_t>(t.numel()));
    if (t.dtype() == DataType::kInt64) std::copy(t.data<int64_t>(), t.data<int64_t>() + t.numel(), v.begin());
    else if (t.dtype() == DataType::kInt32) std::copy(t.data<int32_t>(), t.data<int32_t>() + t.numel(), v.begin());
    else throw Error(ErrorCode::kInvalidArgument, "RoiAlign: batch_indices must be int64");
    return v;
  }

  // Sampling points of every output bin of one RoI; returns points per bin.
  int64_t plan(const float* roi, int64_t height, int64_t width, std::vector<Sample>& out) const {
    const float off = half_pixel_ ? 0.5f : 0.f;
    const float sx = roi[0] * scale_ - off, sy = roi[1] * scale_ - off;
    const float ex = roi[2] * scale_ - off, ey = roi[3] * scale_ - off;
    float rw = ex - sx, rh = ey - sy;
    if (!half_pixel_) {
      rw = std::max(rw, 1.f);
      rh = std::max(rh, 1.f);
    }
    if (!std::isfinite(rw) || !std::isfinite(rh))
      throw Error(ErrorCode::kInvalidArgument, "RoiAlign: RoI coordinates are not finite");
    const float bh = rh / static_cast<float>(out_h_), bw = rw / static_cast<float>(out_w_);
    const int64_t gh = sampling_ > 0 ? sampling_ : std::max<int64_t>(1, static_cast<int64_t>(std::ceil(rh / out_h_)));
    const int64_t gw = sampling_ > 0 ? sampling_ : std::max<int64_t>(1, static_cast<int64_t>(std::ceil(rw / out_w_)));
    if (static_cast<double>(gh) * static_cast<double>(gw) * static_cast<double>(out_h_ * out_w_) > double(1 << 26))
      throw Error(ErrorCode::kInvalidArgument, "RoiAlign: RoI too large for adaptive sampling (" +
                                                   std::to_string(gh) + "x" + std::to_string(gw) + " points per bin)");
    out.resize(static_cast<size_t>(out_h_ * out_w_ * gh * gw));
    size_t k = 0;
    for (int64_t ph = 0; ph < out_h_; ++ph)
      for (int64_t pw = 0; pw < out_w_; ++pw)
        for (int64_t iy = 0; iy < gh; ++iy) {
          float y = sy + ph * bh + (static_cast<float>(iy) + .5f) * bh / static_cast<float>(gh);
          for (int64_t ix = 0; ix < gw; ++ix) {
            float xx = sx + pw * bw + (static_cast<float>(ix) + .5f) * bw / static_cast<float>(gw);
            Sample& s = out[k++];
            if (y < -1.f || y > static_cast<float>(height) || xx < -1.f || xx > static_cast<float>(width)) {
              s = Sample{{0, 0, 0, 0}, {0, 0, 0, 0}};
              continue;
            }
            float yy = std::max(y, 0.f), xv = std::max(xx, 0.f);
            int64_t yl = static_cast<int64_t>(yy), xl = static_cast<int64_t>(xv), yh, xh;
            if (yl >= height - 1) {
              yh = yl = height - 1;
              yy = static_cast<float>(yl);
            } else {
              yh = yl + 1;
            }
            if (xl >= width - 1) {
              xh = xl = width - 1;
              xv = static_cast<float>(xl);
            } else {
              xh = xl + 1;
            }
            const float ly = yy - static_cast<float>(yl), lx = xv - static_cast<float>(xl);
            const float hy = 1.f - ly, hx = 1.f - lx;
            s = Sample{{yl * width + xl, yl * width + xh, yh * width + xl, yh * width + xh},
                       {hy * hx, hy * lx, ly * hx, ly * lx}};
          }
        }
    return gh * gw;
  }

  template <typename T>
  void run(KernelContext& ctx, const Tensor& x, const Tensor& rois, const std::vector<int64_t>& batch, Tensor& y) const {
    using C = compute_t<T>;
    const int64_t nr = rois.dim(0), ch = x.dim(1), h = x.dim(2), w = x.dim(3);
    const int64_t bins = out_h_ * out_w_;
    const T* px = static_cast<const T*>(x.raw());
    const T* pr = static_cast<const T*>(rois.raw());
    T* py = static_cast<T*>(y.raw());
    if (nr == 0 || ch == 0) return;
    if (h == 0 || w == 0) {
      for (int64_t i = 0; i < y.numel(); ++i) py[i] = store<T>(C(0));
      return;
    }
    parallel_for(ctx.threads(), nr * ch, std::max<int64_t>(1, 4096 / std::max<int64_t>(bins, 1)), [&](int64_t b,
                                                                                                        int64_t e) {
      std::vector<Sample> samples;
      int64_t cur = -1, per_bin = 1;
      for (int64_t rc = b; rc < e; ++rc) {
        const int64_t r = rc / ch, c = rc % ch;
        if (r != cur) {
          float roi[4];
          for (int k = 0; k < 4; ++k) roi[k] = static_cast<float>(load(pr[r * 4 + k]));
          per_bin = plan(roi, h, w, samples);
          cur = r;
        }
        const T* plane = px + (batch[static_cast<size_t>(r)] * ch + c) * h * w;
        T* out = py + rc * bins;
        for (int64_t bin = 0; bin < bins; ++bin) {
          const Sample* s = samples.data() + bin * per_bin;
          C acc = max_ ? -std::numeric_limits<C>::infinity() : C(0);
          for (int64_t i = 0; i < per_bin; ++i) {
            const Sample& p = s[i];
            const C v = p.w[0] * load(plane[p.pos[0]]) + p.w[1] * load(plane[p.pos[1]]) +
                        p.w[2] * load(plane[p.pos[2]]) + p.w[3] * load(plane[p.pos[3]]);
            if (max_) acc = std::max(acc, v);
            else acc += v;
          }
          out[bin] = store<T>(max_ ? acc : acc / static_cast<C>(per_bin));
        }
      }
    });
  }

  bool max_ = false, half_pixel_ = false;
  int64_t out_h_ = 1, out_w_ = 1, sampling_ = 0;
  float scale_ = 1.f;
};

}  // namespace

void register_kernels_detection_roi_align(KernelRegistry& r) {
  r.add("", "RoiAlign", 10, 15, make_factory<RoiAlignKernel>());
  r.add("", "RoiAlign", 16, kOpenEnded, make_factory<RoiAlignKernel>());
}

}  // namespace pier::kernels
