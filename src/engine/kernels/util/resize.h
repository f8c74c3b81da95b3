// N-D interpolation for Resize and Upsample: nearest (any dtype), linear
// and cubic (separable, computed in float; double for double inputs).
//
// Each resized axis gets a table of taps (source indices and weights per
// output index). Linear/cubic run one 1-D pass per resized outer axis and
// a fused pass over the last two axes, which covers the hot case, bilinear
// NCHW float, without intermediate copies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pier/engine.h"

namespace pier::kernels {

enum class ResizeMode { kNearest, kLinear, kCubic };
enum class CoordMode { kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNN, kTfCropAndResize };
// kLegacy is Upsample / Resize-10 nearest: floor when upsampling, ceil when
// downsampling (what ONNX Runtime does for those opsets).
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kLegacy };

struct ResizeParams {
  ResizeMode mode = ResizeMode::kNearest;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
};

// Parsers for the attribute strings; raise kInvalidModel on unknown names.
ResizeMode parse_resize_mode(const std::string& s);
CoordMode parse_coord_mode(const std::string& s);
NearestMode parse_nearest_mode(const std::string& s);

// Taps of one axis: for output index o, K source indices idx[o*K + k]
// with weights w[o*K + k]; extrap[o] marks outputs that take the
// extrapolation value (tf_crop_and_resize outside the input).
struct AxisTaps {
  int K = 1;
  std::vector<int64_t> idx;
  std::vector<float> w;
  std::vector<uint8_t> extrap;
  bool identity = false;  // output == input along this axis
};

// Taps for an axis of `in` elements resized to `out` with scale `scale`
// (out / in when sizes were given) and roi [roi_start, roi_end].
AxisTaps make_axis_taps(int64_t in, int64_t out, double scale, double roi_start, double roi_end, const ResizeParams& p);

// Resizes x into y (allocated with the output shape, same dtype).
// `scales` has one entry per axis; `roi` is empty or [starts..., ends...].
void resize_tensor(const Tensor& x, Tensor& y, const std::vector<double>& scales, const std::vector<double>& roi,
                   const ResizeParams& p, int threads);

}  // namespace pier::kernels
