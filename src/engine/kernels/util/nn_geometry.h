// Window geometry shared by the NN kernels (Conv, ConvTranspose, pooling):
// the window attributes (kernel_shape, strides, dilations, pads, auto_pad)
// and the output size / padding they give for an input.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "pier/engine.h"

namespace pier::kernels {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

struct WindowAttrs {
  AutoPad auto_pad = AutoPad::kNotSet;
  std::vector<int64_t> kernel;     // empty: inferred (Conv: from W)
  std::vector<int64_t> strides;    // empty: all 1
  std::vector<int64_t> dilations;  // empty: all 1
  std::vector<int64_t> pads;       // empty: all 0; else begins then ends
  bool ceil_mode = false;

  // Reads the attributes of `node`; validates what can be checked without
  // the input (positive strides/dilations/kernel, non-negative pads).
  static WindowAttrs parse(const ir::Node& node);
};

struct WindowGeometry {
  std::vector<int64_t> kernel, strides, dilations;  // per spatial dim
  std::vector<int64_t> pad_begin, pad_end;
  std::vector<int64_t> out;                         // output spatial dims
};

// Geometry for a forward window op (Conv, pooling) over `in` spatial dims
// with kernel `kernel` (one per spatial dim). Raises kInvalidArgument when
// the attributes do not fit the input (rank mismatch, output size < 1).
WindowGeometry window_geometry(const WindowAttrs& a, const std::vector<int64_t>& in,
                               const std::vector<int64_t>& kernel);

// Layout policy for oneDNN (de)convolutions whose activations arrive and
// leave in plain NCHW: true when letting oneDNN pick its layout
// (format_tag::any: blocked or NHWC, convolved by its JIT/brgemm kernels)
// plus a reorder in and out is faster than convolving the plain layout
// (GEMM-based). icg/ocg: channels per group; out: output spatial dims.
// PIER_CONV_LAYOUT=plain|blocked in the environment forces one choice.
bool prefer_blocked_conv(int64_t icg, int64_t ocg, int64_t group, const std::vector<int64_t>& kernel,
                         const std::vector<int64_t>& strides, const std::vector<int64_t>& out);

// Which Winograd algorithm, if any, a 3x3 stride-1 convolution of a
// channels-last tensor should run as (ResNet-50 at 1 thread, in the model):
//   - kF4: Pier's F(4x4, 3x3) (winograd.h) on 28x28 and larger images
//     (64->64 56x56 0.6-0.75 ms, 128->128 28x28 0.55-0.75 ms, against
//     1.0-1.2 and 1.0-1.1 ms as oneDNN's F(2x2));
//   - kF2: Pier's F(2x2, 3x3) on 14x14 to 28x28 images (256->256 14x14
//     0.95-1.05 ms against 1.35-1.4 direct), where F(4x4)'s weights (4x
//     the direct ones) cost more to stream than it saves (1.4-1.6 ms);
//   - kOneDnnF2: oneDNN's jit_fp32_wino_2x3 (blocked layout, reordered in
//     and out) on 28x28 and larger images where Pier's cannot run
//     (pier_possible: AVX-512 and constant weights);
//   - kNone: direct convolution, as on 7x7 images, whose large weights
//     are the cost.
// PIER_CONV_WINOGRAD=0 turns Winograd off; =onednn keeps to oneDNN's; =f2
// or =f4 picks that one of Pier's for every image size; =1 allows Winograd
// on every image size (F(2x2) below 28x28).
enum class Winograd { kNone, kOneDnnF2, kF2, kF4 };
Winograd prefer_winograd_conv(int64_t ic, int64_t oc, int64_t group, const std::vector<int64_t>& kernel,
                              const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                              const std::vector<int64_t>& out, bool pier_possible);

// "[1,2,3]" for messages.
std::string dims_str(const std::vector<int64_t>& v);

// Checked element count: raises kInvalidArgument when the product of `s`
// overflows or exceeds a sane limit (2^40 elements).
int64_t checked_numel(const Shape& s, const char* what);

}  // namespace pier::kernels
