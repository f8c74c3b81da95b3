// Resize (opset 10, 11, 13) and Upsample (opset 1, 7, 9): argument parsing;
// the interpolation itself lives in kernels/util/resize.
#include <cmath>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/resize.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

std::vector<double> to_doubles(const Tensor& t, const char* what) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DataType::kInt64 || t.dtype() == DataType::kInt32) {
    const auto iv = to_int64_vector(t);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(iv[i]);
    return v;
  }
  if (t.dtype() != DataType::kFloat && t.dtype() != DataType::kDouble && t.dtype() != DataType::kFloat16 &&
      t.dtype() != DataType::kBFloat16)
    bad(std::string("Resize: ") + what + " must be a float tensor, got " + dtype_name(t.dtype()));
  dispatch_float(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(t.raw());
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(load(p[i]));
  });
  return v;
}

class ResizeKernel final : public OpKernel {
 public:
  explicit ResizeKernel(const KernelInit& init) {
    const ir::Node& n = init.node;
    upsample_ = n.op_type == "Upsample";
    version_ = n.since_version;
    p_.mode = parse_resize_mode(n.attr_string("mode", "nearest"));
    if (!upsample_ && version_ >= 11) {
      p_.coord = parse_coord_mode(n.attr_string("coordinate_transformation_mode", "half_pixel"));
      p_.nearest = parse_nearest_mode(n.attr_string("nearest_mode", "round_prefer_floor"));
      p_.cubic_a = n.attr_float("cubic_coeff_a", -0.75f);
      p_.exclude_outside = n.attr_int("exclude_outside", 0) != 0;
      p_.extrapolation = n.attr_float("extrapolation_value", 0.f);
    } else {
      // Upsample and Resize-10: asymmetric coordinates, no cubic.
      if (p_.mode == ResizeMode::kCubic)
        throw Error(ErrorCode::kInvalidModel, n.op_type + ": cubic mode needs Resize opset 11 or later");
      p_.coord = CoordMode::kAsymmetric;
      p_.nearest = NearestMode::kLegacy;
    }
    if (upsample_ && version_ < 7) {
      scales_attr_ = {1.0, 1.0, n.attr_float("height_scale", 1.f), n.attr_float("width_scale", 1.f)};
      has_scales_attr_ = true;
    } else if (upsample_ && version_ < 9) {
      if (!n.has_attr("scales")) throw Error(ErrorCode::kInvalidModel, "Upsample: attribute 'scales' is required");
      for (float f : n.attr_floats("scales")) scales_attr_.push_back(f);
      has_scales_attr_ = true;
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t r = x.rank();
    std::vector<double> scales, roi;
    Shape out(r);
    bool have_sizes = false;
    if (has_scales_attr_) {
      scales = scales_attr_;
    } else if (upsample_ || version_ < 11) {
      scales = to_doubles(ctx.input(1), "scales");
    } else {
      if (ctx.has_input(1) && p_.coord == CoordMode::kTfCropAndResize) roi = to_doubles(ctx.input(1), "roi");
      if (ctx.has_input(2) && ctx.input(2).numel() > 0) scales = to_doubles(ctx.input(2), "scales");
      if (ctx.has_input(3) && ctx.input(3).numel() > 0) {
        if (!scales.empty()) bad("Resize: only one of scales and sizes may be given");
        const Tensor& s = ctx.input(3);
        if (s.dtype() != DataType::kInt64) bad("Resize: sizes must be int64");
        const auto sizes = to_int64_vector(s);
        if (static_cast<int64_t>(sizes.size()) != r)
          bad("Resize: sizes has " + std::to_string(sizes.size()) + " values for an input of rank " + std::to_string(r));
        scales.resize(r);
        for (int64_t d = 0; d < r; ++d) {
          if (sizes[d] < 0) bad("Resize: negative output size " + std::to_string(sizes[d]));
          out[d] = sizes[d];
          scales[d] = x.shape()[d] > 0 ? static_cast<double>(sizes[d]) / static_cast<double>(x.shape()[d]) : 1.0;
        }
        have_sizes = true;
      } else if (scales.empty()) {
        bad("Resize: either scales or sizes must be given");
      }
    }
    if (static_cast<int64_t>(scales.size()) != r)
      bad("Resize: scales has " + std::to_string(scales.size()) + " values for an input of rank " + std::to_string(r));
    if (p_.coord == CoordMode::kTfCropAndResize) {
      if (roi.empty()) {
        roi.assign(2 * r, 0.0);
        for (int64_t d = 0; d < r; ++d) roi[r + d] = 1.0;
      }
      if (static_cast<int64_t>(roi.size()) != 2 * r)
        bad("Resize: roi has " + std::to_string(roi.size()) + " values, need " + std::to_string(2 * r));
    } else {
      roi.clear();
    }
    if (!have_sizes) {
      for (int64_t d = 0; d < r; ++d) {
        if (!(scales[d] > 0) || !std::isfinite(scales[d])) bad("Resize: scales must be positive and finite");
        double len = static_cast<double>(x.shape()[d]) * scales[d];
        if (!roi.empty()) len *= roi[r + d] - roi[d];
        if (!(len < 9.0e15)) bad("Resize: output would be too large");
        out[d] = static_cast<int64_t>(std::floor(len));
        if (out[d] < 0) out[d] = 0;
      }
    }
    Tensor& y = ctx.allocate(0, x.dtype(), out);
    resize_tensor(x, y, scales, roi, p_, ctx.threads());
  }

 private:
  ResizeParams p_;
  bool upsample_ = false, has_scales_attr_ = false;
  int version_ = 0;
  std::vector<double> scales_attr_;
};

}  // namespace

void register_kernels_tensor_resize(KernelRegistry& r) {
  r.add("", "Resize", 10, 10, make_factory<ResizeKernel>());
  r.add("", "Resize", 11, 12, make_factory<ResizeKernel>());
  r.add("", "Resize", 13, kOpenEnded, make_factory<ResizeKernel>());
  r.add("", "Upsample", 1, 6, make_factory<ResizeKernel>());
  r.add("", "Upsample", 7, 8, make_factory<ResizeKernel>());
  r.add("", "Upsample", 9, kOpenEnded, make_factory<ResizeKernel>());
}

}  // namespace pier::kernels
