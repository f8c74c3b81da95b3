#include "kernels/util/winograd.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/util/dnnl_util.h"
#include "kernels/util/gemm_stream.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace du = dnnl_util;

namespace {

struct Tiling {
  const WinogradConv::Geometry& g;
  int64_t tiles_y, tiles_x;
};

#pragma GCC push_options
#pragma GCC target("avx512f")

// F(4x4, 3x3): 6x6 input tiles.
struct F4 {
  static constexpr int kOut = 4, kIn = 6;
  // r = B^T d, where
  //   B^T = [4  0 -5  0 1 0; 0 -4 -4  1 1 0; 0 4 -4 -1 1 0;
  //          0 -2 -1  2 1 0; 0  2 -1 -2 1 0; 0 4  0 -5 0 1].
  static void input_1d(const __m512* d, __m512* r) {
    const __m512 two = _mm512_set1_ps(2.f), four = _mm512_set1_ps(4.f), five = _mm512_set1_ps(5.f);
    const __m512 s34 = _mm512_add_ps(d[3], d[4]), s12 = _mm512_add_ps(d[1], d[2]);
    const __m512 d43 = _mm512_sub_ps(d[4], d[3]), d12 = _mm512_sub_ps(d[1], d[2]);
    const __m512 d31 = _mm512_sub_ps(d[3], d[1]), d42 = _mm512_sub_ps(d[4], d[2]);
    r[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
    r[1] = _mm512_fnmadd_ps(four, s12, s34);
    r[2] = _mm512_fmadd_ps(four, d12, d43);
    r[3] = _mm512_fmadd_ps(two, d31, d42);
    r[4] = _mm512_fnmadd_ps(two, d31, d42);
    r[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
  }
  // o = A^T m, where A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
  static void output_1d(const __m512* m, __m512* o) {
    const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.f), d34, d12);
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.f), s34, s12);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.f), d34, d12), m[5]);
  }
};

// F(2x2, 3x3): 4x4 input tiles.
struct F2 {
  static constexpr int kOut = 2, kIn = 4;
  // B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
  static void input_1d(const __m512* d, __m512* r) {
    r[0] = _mm512_sub_ps(d[0], d[2]);
    r[1] = _mm512_add_ps(d[1], d[2]);
    r[2] = _mm512_sub_ps(d[2], d[1]);
    r[3] = _mm512_sub_ps(d[1], d[3]);
  }
  // A^T = [1 1 1 0; 0 1 -1 -1].
  static void output_1d(const __m512* m, __m512* o) {
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], m[1]), m[2]);
    o[1] = _mm512_sub_ps(_mm512_sub_ps(m[1], m[2]), m[3]);
  }
};

// Transforms the input tiles [t0, t1) into v: position k of tile t, channel
// c goes to v[k * plane + (t - t0) * ic + c]. Outside the image reads zero.
template <typename F>
void input_tiles(const Tiling& tl, const float* x, int64_t t0, int64_t t1, float* v, int64_t plane) {
  constexpr int A = F::kIn;
  const auto& g = tl.g;
  const int64_t per_image = tl.tiles_y * tl.tiles_x;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, r = t % per_image;
    const int64_t y0 = r / tl.tiles_x * F::kOut - g.pad_top, x0 = r % tl.tiles_x * F::kOut - g.pad_left;
    const bool inside = y0 >= 0 && x0 >= 0 && y0 + A <= g.ih && x0 + A <= g.iw;
    const float* xn = x + n * g.ih * g.iw * g.ic;
    float* vt = v + (t - t0) * g.ic;
    for (int64_t c = 0; c < g.ic; c += 16) {
      __m512 cols[A][A];  // cols[i][j] = (B^T d)[i][j]
      for (int j = 0; j < A; ++j) {
        const int64_t xx = x0 + j;
        __m512 d[A], tr[A];
        for (int i = 0; i < A; ++i) {
          const int64_t yy = y0 + i;
          d[i] = inside || (yy >= 0 && yy < g.ih && xx >= 0 && xx < g.iw)
                     ? _mm512_loadu_ps(xn + (yy * g.iw + xx) * g.ic + c)
                     : zero;
        }
        F::input_1d(d, tr);
        for (int i = 0; i < A; ++i) cols[i][j] = tr[i];
      }
      for (int i = 0; i < A; ++i) {
        __m512 tr[A];
        F::input_1d(cols[i], tr);
        for (int j = 0; j < A; ++j) _mm512_storeu_ps(vt + (i * A + j) * plane + c, tr[j]);
      }
    }
  }
}

// Transforms the products of tiles [t0, t1) (laid out like input_tiles'
// v, with oc channels) into outputs, adding the bias and applying relu.
template <typename F>
void output_tiles(const Tiling& tl, const float* m, int64_t plane, int64_t t0, int64_t t1, const float* bias,
                  bool relu, float* y) {
  constexpr int A = F::kIn, O = F::kOut;
  const auto& g = tl.g;
  const int64_t per_image = tl.tiles_y * tl.tiles_x;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, r = t % per_image;
    const int64_t oy0 = r / tl.tiles_x * O, ox0 = r % tl.tiles_x * O;
    const int64_t rows = std::min<int64_t>(O, g.oh - oy0), cols = std::min<int64_t>(O, g.ow - ox0);
    const float* mt = m + (t - t0) * g.oc;
    float* yn = y + n * g.oh * g.ow * g.oc;
    for (int64_t c = 0; c < g.oc; c += 16) {
      __m512 half[O][A];  // half[i][j] = (A^T m)[i][j]
      for (int j = 0; j < A; ++j) {
        __m512 mk[A], ov[O];
        for (int i = 0; i < A; ++i) mk[i] = _mm512_loadu_ps(mt + (i * A + j) * plane + c);
        F::output_1d(mk, ov);
        for (int i = 0; i < O; ++i) half[i][j] = ov[i];
      }
      const __m512 b = bias ? _mm512_loadu_ps(bias + c) : zero;
      for (int i = 0; i < rows; ++i) {
        __m512 ov[O];
        F::output_1d(half[i], ov);
        float* row = yn + ((oy0 + i) * g.ow + ox0) * g.oc + c;
        for (int j = 0; j < cols; ++j) {
          __m512 val = _mm512_add_ps(ov[j], b);
          if (relu) val = _mm512_maskz_max_ps(0xffff, val, zero);  // maskz: GCC 12 warns on max_ps
          _mm512_storeu_ps(row + j * g.oc, val);
        }
      }
    }
  }
}


#pragma GCC pop_options

// U = G g G^T per (oc, ic) pair, in double, stored as u[k][ic][oc] for
// the a x a positions k, where G is
//   F(4x4): [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
//   F(2x2): [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
std::vector<float> transform_weights(const float* w, int64_t oc, int64_t ic, int tile) {
  static constexpr double G4[6][3] = {{1.0 / 4, 0, 0},
                                      {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                      {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                      {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                      {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                      {0, 0, 1}};
  static constexpr double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  const int a = tile + 2;
  const double(*G)[3] = tile == 4 ? G4 : G2;
  std::vector<float> u(a * a * ic * oc);
  // Per input channel, with output channels innermost so the loops vectorize.
  std::vector<double> g(9 * oc), gk(6 * 3 * oc);  // g[r][c][o], gk[p][c][o] = (G g)[p][c]
  for (int64_t i = 0; i < ic; ++i) {
    for (int64_t o = 0; o < oc; ++o)
      for (int rc = 0; rc < 9; ++rc) g[rc * oc + o] = w[(o * ic + i) * 9 + rc];
    for (int p = 0; p < a; ++p)
      for (int c = 0; c < 3; ++c)
        for (int64_t o = 0; o < oc; ++o)
          gk[(p * 3 + c) * oc + o] =
              G[p][0] * g[(0 + c) * oc + o] + G[p][1] * g[(3 + c) * oc + o] + G[p][2] * g[(6 + c) * oc + o];
    for (int p = 0; p < a; ++p)
      for (int q = 0; q < a; ++q) {
        float* row = u.data() + ((p * a + q) * ic + i) * oc;
        const double* r = gk.data() + p * 3 * oc;
        for (int64_t o = 0; o < oc; ++o)
          row[o] = static_cast<float>(r[o] * G[q][0] + r[oc + o] * G[q][1] + r[2 * oc + o] * G[q][2]);
      }
  }
  return u;
}

}  // namespace

bool winograd_available() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

WinogradWeights::WinogradWeights(const float* w, int64_t oc, int64_t ic, int tile) : tile_(tile), oc_(oc), ic_(ic) {
  if (tile != 2 && tile != 4) throw Error(ErrorCode::kRuntime, "Winograd tile must be 2 or 4");
  if (ic <= 0 || oc <= 0 || ic % 16 != 0 || oc % 16 != 0)
    throw Error(ErrorCode::kRuntime, "Winograd needs channels in multiples of 16");
  // Each position's weights packed for gemm_packed(), one after another.
  const std::vector<float> u = transform_weights(w, oc, ic, tile);
  const int64_t positions = (tile + 2) * (tile + 2);
  u_ = aligned_floats(static_cast<int64_t>(u.size()));
  for (int64_t k = 0; k < positions; ++k) pack_panels(u.data() + k * ic * oc, oc, ic, oc, u_.get() + k * ic * oc);
}

WinogradConv::WinogradConv(const Geometry& g, std::shared_ptr<const WinogradWeights> w) : g_(g), w_(std::move(w)) {
  if (!w_ || g.ic != w_->ic() || g.oc != w_->oc() || g.n <= 0 || g.oh <= 0 || g.ow <= 0)
    throw Error(ErrorCode::kRuntime, "Winograd geometry does not match its weights or is empty");
  const int tile = w_->tile();
  positions_ = (tile + 2) * (tile + 2);
  tiles_y_ = (g.oh + tile - 1) / tile;
  tiles_x_ = (g.ow + tile - 1) / tile;
  tiles_ = g.n * tiles_y_ * tiles_x_;
  // Blocks of <= 64 tiles, as even as possible (56x56: 4 x 49).
  const int64_t blocks = (tiles_ + 63) / 64;
  block_ = (tiles_ + blocks - 1) / blocks;
}

void WinogradConv::run(const float* x, const float* bias, bool relu, float* y, int threads) const {
  if (w_->tile() == 4)
    run_tiles<F4>(x, bias, relu, y, threads);
  else
    run_tiles<F2>(x, bias, relu, y, threads);
}

template <typename F>
void WinogradConv::run_tiles(const float* x, const float* bias, bool relu, float* y, int threads) const {
  const Tiling tl{g_, tiles_y_, tiles_x_};
  const int64_t v_plane = block_ * g_.ic, m_plane = block_ * g_.oc;
  du::TempBuffer vbuf(positions_ * v_plane * sizeof(float)), mbuf(positions_ * m_plane * sizeof(float));
  float* v = vbuf.as<float>();
  float* m = mbuf.as<float>();
  const int64_t u_plane = g_.ic * g_.oc;
  const float* u = w_->data();
  for (int64_t t0 = 0; t0 < tiles_; t0 += block_) {
    const int64_t rows = std::min(tiles_, t0 + block_) - t0;
    // A chunk [b, e) of the block starts at row b of each plane.
    parallel_for(threads, rows, 8,
                 [&](int64_t b, int64_t e) { input_tiles<F>(tl, x, t0 + b, t0 + e, v + b * g_.ic, v_plane); });
    parallel_for(threads, positions_, 1, [&](int64_t b, int64_t e) {
      // Each position's GEMM prefetches the next one's weights too.
      for (int64_t k = b; k < e; ++k)
        gemm_packed(v + k * v_plane, g_.ic, rows, g_.ic, u + k * u_plane, g_.oc, m + k * m_plane, g_.oc,
                    u + e * u_plane);
    });
    parallel_for(threads, rows, 8, [&](int64_t b, int64_t e) {
      output_tiles<F>(tl, m + b * g_.oc, m_plane, t0 + b, t0 + e, bias, relu, y);
    });
  }
}

}  // namespace pier::kernels
