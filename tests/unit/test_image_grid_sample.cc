// GridSample against a direct evaluation: interpolation kernels written as
// functions of distance (tent, Keys cubic) summed over all pixels near the
// sampling point, with padding done by explicit mirroring / clamping.
#include <cmath>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

struct Opts {
  std::string mode = "bilinear", padding = "zeros";
  int align = 0;
};

double unnorm(double g, int64_t size, bool align) {
  return align ? (g + 1) / 2 * (size - 1) : ((g + 1) * size - 1) / 2;
}

// Mirror images: reflection is periodic with period 2(size-1) about pixel
// centers (align_corners) or 2*size about pixel edges.
double mirror(double v, int64_t size, bool align) {
  if (align) {
    if (size == 1) return 0;
    const double p = 2.0 * (size - 1);
    double m = std::fmod(std::fabs(v), p);
    return m > size - 1 ? p - m : m;
  }
  const double p = 2.0 * size;
  double m = std::fmod(std::fabs(v + 0.5), p);
  if (m > size) m = p - m;
  return m - 0.5;
}

double clampd(double v, int64_t size) { return std::min(std::max(v, 0.0), double(size - 1)); }

double keys(double d) {
  const double a = -0.75;
  d = std::fabs(d);
  if (d <= 1) return (a + 2) * d * d * d - (a + 3) * d * d + 1;
  if (d < 2) return a * d * d * d - 5 * a * d * d + 8 * a * d - 4 * a;
  return 0;
}

Tensor reference(const Tensor& x, const Tensor& grid, const Opts& o) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), Ho = grid.dim(1), Wo = grid.dim(2);
  Tensor y(DataType::kFloat, {N, C, Ho, Wo});
  const float* px = x.data<float>();
  const float* pg = grid.data<float>();
  auto pad = [&](double v, int64_t size) {
    if (o.padding == "border") return clampd(v, size);
    if (o.padding == "reflection") return clampd(mirror(v, size, o.align), size);
    return v;
  };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float* img = px + (n * C + c) * H * W;
      auto pixel = [&](double xi, double yi) -> double {  // integral coordinates; 0 outside
        if (xi < 0 || yi < 0 || xi > W - 1 || yi > H - 1) return 0;
        return img[static_cast<int64_t>(yi) * W + static_cast<int64_t>(xi)];
      };
      for (int64_t i = 0; i < Ho * Wo; ++i) {
        double xs = unnorm(pg[(n * Ho * Wo + i) * 2], W, o.align);
        double ys = unnorm(pg[(n * Ho * Wo + i) * 2 + 1], H, o.align);
        double v = 0;
        if (o.mode == "nearest") {
          v = pixel(std::nearbyint(pad(xs, W)), std::nearbyint(pad(ys, H)));
        } else if (o.mode == "bilinear") {
          xs = pad(xs, W), ys = pad(ys, H);
          // Tent kernel over every pixel within distance 1.
          for (double yi = std::floor(ys) - 1; yi <= std::floor(ys) + 2; ++yi)
            for (double xi = std::floor(xs) - 1; xi <= std::floor(xs) + 2; ++xi)
              v += std::max(0.0, 1 - std::fabs(xs - xi)) * std::max(0.0, 1 - std::fabs(ys - yi)) * pixel(xi, yi);
        } else {
          for (double yi = std::floor(ys) - 1; yi <= std::floor(ys) + 2; ++yi)
            for (double xi = std::floor(xs) - 1; xi <= std::floor(xs) + 2; ++xi)
              v += keys(xs - xi) * keys(ys - yi) * pixel(pad(xi, W), pad(yi, H));
        }
        y.data<float>()[(n * C + c) * Ho * Wo + i] = static_cast<float>(v);
      }
    }
  return y;
}

std::vector<onnx::AttributeProto> attrs(const Opts& o) {
  return {attr("mode", o.mode), attr("padding_mode", o.padding), attr("align_corners", o.align)};
}

}  // namespace

TEST(GridSample, AllModesPaddingsAndAlignments) {
  Tensor x = random_float({2, 3, 5, 7}, 21, -2.f, 2.f);
  Tensor grid = random_float({2, 4, 6, 2}, 22, -1.7f, 1.7f);  // some points outside
  for (const char* mode : {"bilinear", "nearest", "bicubic"})
    for (const char* padding : {"zeros", "border", "reflection"})
      for (int align : {0, 1}) {
        Opts o{mode, padding, align};
        auto y = run_node("GridSample", {x, grid}, {DataType::kFloat}, attrs(o), 16);
        EXPECT_TRUE(tensors_near(y[0].tensor(), reference(x, grid, o), 1e-5, 1e-5))
            << mode << " " << padding << " align_corners=" << align;
      }
}

TEST(GridSample, PixelCenterGridReproducesInput) {
  const int64_t H = 4, W = 5;
  Tensor x = random_float({1, 2, H, W}, 23);
  for (int align : {0, 1}) {
    std::vector<float> g;
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < W; ++j) {
        g.push_back(align ? 2.f * j / (W - 1) - 1 : (2.f * j + 1) / W - 1);
        g.push_back(align ? 2.f * i / (H - 1) - 1 : (2.f * i + 1) / H - 1);
      }
    for (const char* mode : {"bilinear", "nearest", "bicubic"}) {
      auto y = run_node("GridSample", {x, make<float>({1, H, W, 2}, g)}, {DataType::kFloat},
                        attrs(Opts{mode, "zeros", align}), 16);
      EXPECT_TRUE(tensors_near(y[0].tensor(), x, 1e-5, 1e-6)) << mode << " align=" << align;
    }
  }
}

TEST(GridSample, ThreadsAgreeAndExtremeGridValuesAreSafe) {
  Tensor x = random_float({2, 8, 16, 16}, 24);
  Tensor grid = random_float({2, 32, 32, 2}, 25, -1.2f, 1.2f);
  grid.data<float>()[0] = 1e30f;
  grid.data<float>()[3] = -1e30f;
  grid.data<float>()[5] = -3e29f;
  for (const char* padding : {"zeros", "border", "reflection"}) {
    Opts o{"bicubic", padding, 0};
    auto one = run_node("GridSample", {x, grid}, {DataType::kFloat}, attrs(o), 16, "", 1);
    auto four = run_node("GridSample", {x, grid}, {DataType::kFloat}, attrs(o), 16, "", 4);
    EXPECT_TRUE(tensors_near(one[0].tensor(), four[0].tensor(), 0, 0)) << padding;
  }
}

TEST(GridSample, DoubleInputAndErrors) {
  Tensor xf = random_float({1, 2, 3, 4}, 26);
  Tensor gf = random_float({1, 2, 5, 2}, 27, -1.1f, 1.1f);
  Tensor xd(DataType::kDouble, xf.shape());
  for (int64_t i = 0; i < xf.numel(); ++i) xd.data<double>()[i] = xf.data<float>()[i];
  auto y = run_node("GridSample", {xd, gf}, {DataType::kDouble}, attrs(Opts{}), 16);
  ASSERT_EQ(y[0].tensor().dtype(), DataType::kDouble);
  const Tensor want = reference(xf, gf, Opts{});
  EXPECT_TRUE(tensors_near(make<float>(want.shape(), to_floats(y[0].tensor())), want, 1e-5, 1e-6));

  EXPECT_THROW(run_node("GridSample", {xf, random_float({2, 2, 5, 2}, 1)}, {DataType::kFloat}, {}, 16), Error);
  EXPECT_THROW(run_node("GridSample", {xf, random_float({1, 2, 5, 3}, 1)}, {DataType::kFloat}, {}, 16), Error);
  EXPECT_THROW(run_node("GridSample", {xf, gf}, {DataType::kFloat}, {attr("mode", "area")}, 16), Error);
  EXPECT_THROW(run_node("GridSample", {xf, gf}, {DataType::kFloat}, {attr("padding_mode", "wrap")}, 16), Error);
}
