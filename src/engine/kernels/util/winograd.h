// Winograd convolution F(m x m, 3x3), m = 2 or 4, for channels-last float
// activations.
//
// A 3x3 stride-1 convolution computes each m x m output tile from an
// (m+2) x (m+2) input tile: inputs and weights are transformed
// (V = B^T d B, U = G g G^T), the (m+2)^2 transformed positions become as
// many independent matrix products M[k] = V[k] x U[k] over channels, and
// Y = A^T M A turns each tile back into outputs. That is 36 multiplications
// per output tile and channel pair for F(4x4) instead of 144 (16 instead of
// 36 for F(2x2)). Tiles go in blocks of at most 64 so that V and M stay in
// L2. The products run on gemm_packed() (gemm_stream.h) rather than
// oneDNN's matmul, because it prefetches the weights ahead while it
// computes: these weights (2 to 4 times the direct ones) are usually not
// cached, and oneDNN left their latency exposed.
//
// Pier uses this for ResNet-style 3x3 convolutions on 14x14 and larger
// images (see prefer_winograd_conv() in nn_geometry.h); oneDNN 2.6's own
// Winograd is F(2x2, 3x3) on blocked layouts only. The transforms need
// AVX-512. The error, measured on random convolutions (16-80 channels,
// batches, pads), is up to 1e-5 of the output's largest magnitude for
// F(4x4) and 1.3e-6 for F(2x2), against about 1e-7 for direct convolution;
// PIER_CONV_WINOGRAD=0 turns it off. An infinite or NaN input
// makes its whole output tile NaN (the transforms subtract), where direct
// convolution confines it to the outputs whose window covers it.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/util/gemm_stream.h"

namespace pier::kernels {

// True when the CPU runs the AVX-512 transforms.
bool winograd_available();

// A convolution's weights transformed for F(tile x tile, 3x3), tile 2 or
// 4, and packed for gemm_packed(). They do not depend on the image size:
// share them among the WinogradConvs of all input shapes.
class WinogradWeights {
 public:
  // `w` holds the [oc, ic, 3, 3] weights (the caller may free them); ic and
  // oc must be multiples of 16.
  WinogradWeights(const float* w, int64_t oc, int64_t ic, int tile);
  int tile() const { return tile_; }
  int64_t oc() const { return oc_; }
  int64_t ic() const { return ic_; }
  const float* data() const { return u_.get(); }  // (tile + 2)^2 positions of ic x oc

 private:
  int tile_;
  int64_t oc_, ic_;
  AlignedFloats u_;
};

class WinogradConv {
 public:
  struct Geometry {
    int64_t n = 1, ih = 0, iw = 0, ic = 0, oc = 0;
    int64_t oh = 0, ow = 0, pad_top = 0, pad_left = 0;
  };

  // `g.ic` and `g.oc` must be the weights'.
  WinogradConv(const Geometry& g, std::shared_ptr<const WinogradWeights> w);

  // y = conv(x) + bias (bias may be null), then max(y, 0) when `relu`.
  // x is [n, ih, iw, ic] and y is [n, oh, ow, oc].
  void run(const float* x, const float* bias, bool relu, float* y, int threads) const;

 private:
  template <typename F>
  void run_tiles(const float* x, const float* bias, bool relu, float* y, int threads) const;

  Geometry g_;
  std::shared_ptr<const WinogradWeights> w_;
  int64_t positions_ = 0;  // (tile + 2)^2
  int64_t tiles_y_ = 0, tiles_x_ = 0, tiles_ = 0, block_ = 0;
};

}  // namespace pier::kernels
