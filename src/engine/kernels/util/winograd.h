// Winograd F(4x4, 3x3) convolution for channels-last float activations.
//
// A 3x3 stride-1 convolution computes each 4x4 output tile from a 6x6 input
// tile with 36 multiplications per (input, output) channel pair instead of
// 144: inputs and weights are transformed (V = B^T d B, U = G g G^T), the 36
// transformed positions become 36 independent matrix products
// M[k] = V[k] x U[k] over channels (one batched oneDNN matmul with U packed
// once), and Y = A^T M A turns each tile back into outputs. Tiles are
// processed in blocks of at most 64 so that V and M stay in L2.
//
// Pier uses this for ResNet-style 3x3 convolutions on 14x14 and larger
// images (see prefer_winograd_f43() in nn_geometry.h); oneDNN 2.6's own
// Winograd is F(2x2, 3x3) on blocked layouts only. The transforms need
// AVX-512. The error is a few 1e-6 of the output's magnitude, against about
// 1e-7 for direct convolution.
#pragma once

#include <dnnl.hpp>

#include <cstdint>

namespace pier::kernels {

// True when the CPU runs the AVX-512 transforms.
bool winograd_available();

class WinogradConv {
 public:
  struct Geometry {
    int64_t n = 1, ih = 0, iw = 0, ic = 0, oc = 0;  // ic, oc multiples of 16
    int64_t oh = 0, ow = 0, pad_top = 0, pad_left = 0;
  };

  // F(tile x tile, 3x3) with tile 2 or 4. `w` holds the [oc, ic, 3, 3]
  // weights (transformed and packed here). Build for the thread count it
  // will run on (inside a ThreadScope).
  WinogradConv(const Geometry& g, int tile, const float* w);

  // y = conv(x) + bias (bias may be null), then max(y, 0) when `relu`.
  // x is [n, ih, iw, ic] and y is [n, oh, ow, oc].
  void run(const float* x, const float* bias, bool relu, float* y, int threads) const;

 private:
  template <typename F>
  void run_tiles(const float* x, const float* bias, bool relu, float* y, int threads) const;

  Geometry g_;
  int tile_;
  int64_t positions_ = 0;  // (tile + 2)^2
  int64_t tiles_y_ = 0, tiles_x_ = 0, tiles_ = 0, block_ = 0;
  dnnl::matmul::primitive_desc pd_;
  dnnl::matmul prim_;
  dnnl::memory u_;  // transformed weights in the matmul's layout
};

}  // namespace pier::kernels
