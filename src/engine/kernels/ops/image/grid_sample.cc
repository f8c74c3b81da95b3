// GridSample (opset 16), 4-D: samples X [N, C, H, W] at the normalized
// (x, y) locations of grid [N, H_out, W_out, 2] -> Y [N, C, H_out, W_out],
// with PyTorch's grid_sample semantics (which onnxruntime follows).
//
// Grid values in [-1, 1] span the input: with align_corners=1 the extremes
// are the centers of the corner pixels, otherwise their outer edges.
// Modes: bilinear, nearest (ties to even) and bicubic (A = -0.75, 4x4
// taps). Padding: zeros (outside taps read 0), border (coordinates clamp to
// the edge) and reflection (coordinates reflect off the edges until inside,
// then clamp). For bilinear/nearest the sampling point is padded; for
// bicubic each tap is (as in PyTorch).
//
// Taps and weights are computed once per output pixel, in double, and then
// applied to every channel.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

enum class Mode { kBilinear, kNearest, kBicubic };
enum class Padding { kZeros, kBorder, kReflection };

struct Taps {
  int64_t off[16];
  double w[16];
  int n = 0;
  void add(int64_t o, double weight) {
    off[n] = o;
    w[n] = weight;
    ++n;
  }
};

class GridSampleKernel final : public OpKernel {
 public:
  explicit GridSampleKernel(const KernelInit& init) {
    const auto& n = init.node;
    const std::string mode = n.attr_string("mode", "bilinear");
    if (mode == "bilinear") mode_ = Mode::kBilinear;
    else if (mode == "nearest") mode_ = Mode::kNearest;
    else if (mode == "bicubic") mode_ = Mode::kBicubic;
    else throw Error(ErrorCode::kInvalidModel, "GridSample mode must be bilinear, nearest or bicubic, got \"" + mode + "\"");
    const std::string pad = n.attr_string("padding_mode", "zeros");
    if (pad == "zeros") pad_ = Padding::kZeros;
    else if (pad == "border") pad_ = Padding::kBorder;
    else if (pad == "reflection") pad_ = Padding::kReflection;
    else
      throw Error(ErrorCode::kInvalidModel,
                  "GridSample padding_mode must be zeros, border or reflection, got \"" + pad + "\"");
    align_ = n.attr_int("align_corners", 0) != 0;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& grid_in = ctx.input(1);
    if (x.rank() != 4)
      throw Error(ErrorCode::kInvalidArgument, "GridSample: X must be 4-D [N, C, H, W], got " + shape_str(x.shape()));
    if (grid_in.rank() != 4 || grid_in.dim(0) != x.dim(0) || grid_in.dim(3) != 2)
      throw Error(ErrorCode::kInvalidArgument, "GridSample: grid must be [N, H_out, W_out, 2] with N = " +
                                                   std::to_string(x.dim(0)) + ", got " + shape_str(grid_in.shape()));
    const DataType gt = grid_in.dtype();
    if (gt != DataType::kFloat && gt != DataType::kDouble && gt != DataType::kFloat16 && gt != DataType::kBFloat16)
      throw Error(ErrorCode::kInvalidArgument, std::string("GridSample: grid must be a float type, got ") +
                                                   dtype_name(gt));
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    const int64_t Ho = grid_in.dim(1), Wo = grid_in.dim(2);
    Tensor& y = ctx.allocate(0, x.dtype(), {N, C, Ho, Wo});
    if (y.numel() == 0) return;
    if (H == 0 || W == 0) throw Error(ErrorCode::kInvalidArgument, "GridSample: X has an empty spatial dimension");
    const Tensor grid = cast_tensor(grid_in, DataType::kDouble);
    const double* pg = grid.data<double>();
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* px = x.data<T>();
      T* py = y.data<T>();
      const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(Wo * C, 1));
      parallel_for(ctx.threads(), N * Ho, grain, [&](int64_t b, int64_t e) {
        std::vector<Taps> taps(static_cast<size_t>(Wo));
        for (int64_t row = b; row < e; ++row) {
          const int64_t n = row / Ho, ho = row % Ho;
          const double* g = pg + row * Wo * 2;
          for (int64_t wo = 0; wo < Wo; ++wo) taps[wo] = make_taps(g[2 * wo], g[2 * wo + 1], H, W);
          for (int64_t c = 0; c < C; ++c) {
            const T* src = px + (n * C + c) * H * W;
            T* dst = py + ((n * C + c) * Ho + ho) * Wo;
            for (int64_t wo = 0; wo < Wo; ++wo) {
              const Taps& t = taps[wo];
              double s = 0;
              for (int k = 0; k < t.n; ++k) s += t.w[k] * static_cast<double>(load(src[t.off[k]]));
              dst[wo] = store<T>(static_cast<compute_t<T>>(s));
            }
          }
        }
      });
    });
  }

 private:
  double unnormalize(double g, int64_t size) const {
    return align_ ? (g + 1) / 2 * static_cast<double>(size - 1) : ((g + 1) * static_cast<double>(size) - 1) / 2;
  }

  // Clamps into [0, size-1]; NaN goes to 0.
  static double clip(double v, int64_t size) {
    if (!(v > 0)) return 0;
    const double hi = static_cast<double>(size - 1);
    return v > hi ? hi : v;
  }

  // Reflects v into [twice_low/2, twice_high/2] (bounds doubled so that
  // half-pixel bounds stay integers).
  static double reflect(double v, double twice_low, double twice_high) {
    if (twice_low == twice_high) return 0;
    const double lo = twice_low / 2, span = (twice_high - twice_low) / 2;
    v = std::fabs(v - lo);
    const double extra = std::fmod(v, span);
    const double flips = std::floor(v / span);
    return std::fmod(flips, 2.0) == 0 ? extra + lo : span - extra + lo;
  }

  double pad_coord(double v, int64_t size) const {
    switch (pad_) {
      case Padding::kZeros: return v;
      case Padding::kBorder: return clip(v, size);
      case Padding::kReflection: {
        const double s = static_cast<double>(size);
        v = align_ ? reflect(v, 0, 2 * (s - 1)) : reflect(v, -1, 2 * s - 1);
        return clip(v, size);
      }
    }
    return v;
  }

  // Cubic convolution weights for taps at -1, 0, 1, 2 from floor(t).
  static void cubic_weights(double t, double w[4]) {
    constexpr double A = -0.75;
    auto near = [](double d) { return ((A + 2) * d - (A + 3)) * d * d + 1; };
    auto far = [](double d) { return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A; };
    w[0] = far(t + 1);
    w[1] = near(t);
    w[2] = near(1 - t);
    w[3] = far(2 - t);
  }

  Taps make_taps(double gx, double gy, int64_t H, int64_t W) const {
    Taps t;
    double xs = unnormalize(gx, W), ys = unnormalize(gy, H);
    // Integral coordinates are checked in double before any conversion, so
    // huge or NaN grid values cannot overflow.
    auto inside = [](double v, int64_t size) { return v >= 0 && v <= static_cast<double>(size - 1); };
    switch (mode_) {
      case Mode::kNearest: {
        const double xi = std::nearbyint(pad_coord(xs, W)), yi = std::nearbyint(pad_coord(ys, H));
        if (inside(xi, W) && inside(yi, H)) t.add(static_cast<int64_t>(yi) * W + static_cast<int64_t>(xi), 1.0);
        break;
      }
      case Mode::kBilinear: {
        xs = pad_coord(xs, W);
        ys = pad_coord(ys, H);
        const double x0 = std::floor(xs), y0 = std::floor(ys);
        const double fx = xs - x0, fy = ys - y0;
        for (int j = 0; j < 2; ++j)
          for (int i = 0; i < 2; ++i) {
            const double xx = x0 + i, yy = y0 + j;
            const double w = (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
            if (inside(xx, W) && inside(yy, H)) t.add(static_cast<int64_t>(yy) * W + static_cast<int64_t>(xx), w);
          }
        break;
      }
      case Mode::kBicubic: {
        const double x0 = std::floor(xs), y0 = std::floor(ys);
        double wx[4], wy[4];
        cubic_weights(xs - x0, wx);
        cubic_weights(ys - y0, wy);
        for (int j = 0; j < 4; ++j)
          for (int i = 0; i < 4; ++i) {
            const double xx = pad_coord(x0 - 1 + i, W), yy = pad_coord(y0 - 1 + j, H);
            if (inside(xx, W) && inside(yy, H))
              t.add(static_cast<int64_t>(yy) * W + static_cast<int64_t>(xx), wx[i] * wy[j]);
          }
        break;
      }
    }
    return t;
  }

  Mode mode_ = Mode::kBilinear;
  Padding pad_ = Padding::kZeros;
  bool align_ = false;
};

}  // namespace

void register_kernels_image_grid_sample(KernelRegistry& r) {
  r.add("", "GridSample", 16, kOpenEnded, make_factory<GridSampleKernel>());
}

}  // namespace pier::kernels
