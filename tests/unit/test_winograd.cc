// Pier's Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution (kernels/util/
// winograd.h) against the naive reference convolution, on image sizes that
// are not multiples of the tile, with asymmetric pads, batches and threads;
// and in a model through the channels-last layout pass.
#include "kernels/util/winograd.h"
#include "test_nn_ref.h"
#include "test_pass_cnn_util.h"

using namespace pier;
using namespace pier::test;
using pier::kernels::WinogradConv;
using pier::kernels::WinogradWeights;
using pier::kernels::winograd_available;

namespace {

using V = std::vector<int64_t>;

// [N, C, H, W] <-> [N, H, W, C]
std::vector<float> to_nhwc(const Tensor& t) {
  const int64_t n = t.dim(0), c = t.dim(1), h = t.dim(2), w = t.dim(3);
  const float* p = t.data<float>();
  std::vector<float> out(t.numel());
  for (int64_t a = 0; a < n; ++a)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h * w; ++y) out[(a * h * w + y) * c + ch] = p[(a * c + ch) * h * w + y];
  return out;
}

struct Case {
  int tile;
  int64_t n, ic, oc, h, w;
  V pads;  // top, left, bottom, right
  bool bias, relu;
  int threads;
};

void check(const Case& c, uint32_t seed) {
  SCOPED_TRACE("F(" + std::to_string(c.tile) + ") n" + std::to_string(c.n) + " " + std::to_string(c.ic) + "->" +
               std::to_string(c.oc) + " " + std::to_string(c.h) + "x" + std::to_string(c.w) + " pads " +
               shape_str(c.pads) + " threads " + std::to_string(c.threads));
  const Tensor x = random_float({c.n, c.ic, c.h, c.w}, seed), w = random_float({c.oc, c.ic, 3, 3}, seed + 1);
  const Tensor b = random_float({c.oc}, seed + 2);
  const Tensor want = nnref::conv(x, w, c.bias ? &b : nullptr, {1, 1}, {1, 1}, c.pads, 1);
  WinogradConv::Geometry g;
  g.n = c.n;
  g.ic = c.ic;
  g.oc = c.oc;
  g.ih = c.h;
  g.iw = c.w;
  g.oh = want.dim(2);
  g.ow = want.dim(3);
  g.pad_top = c.pads[0];
  g.pad_left = c.pads[1];
  const WinogradConv conv(g, std::make_shared<const WinogradWeights>(w.data<float>(), c.oc, c.ic, c.tile));
  const std::vector<float> xin = to_nhwc(x);
  std::vector<float> got(want.numel(), std::nanf(""));
  conv.run(xin.data(), c.bias ? b.data<float>() : nullptr, c.relu, got.data(), c.threads);
  const std::vector<float> ref = to_nhwc(want);
  double worst = 0, scale = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = c.relu ? std::max(0.f, ref[i]) : ref[i];
    worst = std::max(worst, std::fabs(got[i] - r));  // NaN (an unwritten output) fails below
    if (std::isnan(got[i])) worst = INFINITY;
    scale = std::max(scale, std::fabs(r));
  }
  EXPECT_LE(worst, 2e-5 * std::max(1.0, scale)) << "largest |output| " << scale;
}

TEST(Winograd, MatchesDirectConvolution) {
  if (!winograd_available()) GTEST_SKIP() << "needs AVX-512";
  uint32_t seed = 10;
  for (int tile : {2, 4}) {
    check({tile, 1, 16, 16, 8, 8, {1, 1, 1, 1}, true, false, 1}, seed += 3);     // tiles fit exactly
    check({tile, 1, 32, 16, 15, 17, {1, 1, 1, 1}, true, true, 1}, seed += 3);    // partial tiles
    check({tile, 2, 16, 48, 13, 9, {0, 2, 2, 0}, false, false, 2}, seed += 3);   // asymmetric pads, batch
    check({tile, 1, 16, 16, 3, 3, {0, 0, 0, 0}, true, false, 1}, seed += 3);     // one output pixel
    check({tile, 3, 64, 32, 29, 30, {1, 1, 1, 1}, true, true, 2}, seed += 3);    // more tiles than a block
  }
}

TEST(Winograd, UnsupportedGeometryIsAnError) {
  const std::vector<float> w(32 * 16 * 9, 0.f);
  EXPECT_THROW(WinogradWeights(w.data(), 16, 16, 3), Error);   // no F(3x3) transforms
  EXPECT_THROW(WinogradWeights(w.data(), 24, 16, 4), Error);   // the kernels take 16 channels at a time
  auto u = std::make_shared<const WinogradWeights>(w.data(), 32, 16, 4);
  WinogradConv::Geometry g;
  g.ic = 16;
  g.oc = 32;
  g.ih = g.iw = g.oh = g.ow = 4;
  EXPECT_NO_THROW(WinogradConv(g, u));
  g.oc = 16;
  EXPECT_THROW(WinogradConv(g, u), Error);  // not the weights' channels
}

// One transformed copy of the weights serves every input shape.
TEST(Winograd, WeightsAreSharedAcrossInputShapes) {
  if (!winograd_available()) GTEST_SKIP() << "needs AVX-512";
  const Tensor w = random_float({16, 16, 3, 3}, 7);
  auto u = std::make_shared<const WinogradWeights>(w.data<float>(), 16, 16, 2);
  for (int64_t size : {14, 20}) {
    const Tensor x = random_float({1, 16, size, size}, 8);
    const Tensor want = nnref::conv(x, w, nullptr, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1);
    WinogradConv::Geometry g;
    g.ic = g.oc = 16;
    g.ih = g.iw = g.oh = g.ow = size;
    g.pad_top = g.pad_left = 1;
    const WinogradConv conv(g, u);
    const std::vector<float> xin = to_nhwc(x), ref = to_nhwc(want);
    std::vector<float> got(ref.size());
    conv.run(xin.data(), nullptr, false, got.data(), 1);
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(got[i], ref[i], 1e-4) << "size " << size << " at " << i;
  }
  EXPECT_EQ(u.use_count(), 1);  // the convolutions released it
}

// 3x3 convolutions on 28x28 (F(4x4)) and 14x14 (F(2x2)) images inside a
// residual block: relu fused into the transform, and a residual sum
// applied after it.
TEST(Winograd, ResidualBlocksInAModelMatchUnoptimized) {
  for (int64_t size : {28, 14}) {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 16, size, size});
    b.initializer("w1", random_float({32, 16, 3, 3}, 1, -0.3f, 0.3f));
    b.initializer("b1", random_float({32}, 2));
    b.initializer("w2", random_float({16, 32, 3, 3}, 3, -0.3f, 0.3f));
    b.node("Conv", {"x", "w1", "b1"}, {"c1"}, {attr("pads", V{1, 1, 1, 1})});
    b.node("Relu", {"c1"}, {"r1"});
    b.node("Conv", {"r1", "w2"}, {"c2"}, {attr("pads", V{1, 1, 1, 1})});
    b.node("Add", {"c2", "x"}, {"s"});
    b.node("Relu", {"s"}, {"y"});
    b.output("y", DataType::kFloat);
    expect_same_as_unoptimized(b, {Value(random_float({1, 16, size, size}, 4))}, 1e-4, 1e-4);
  }
}

}  // namespace
