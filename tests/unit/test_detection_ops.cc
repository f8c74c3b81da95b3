// NonMaxSuppression and RoiAlign against straightforward references.
#include <algorithm>
#include <cmath>
#include <random>

#include "test_control_helpers.h"

using namespace pier;
using namespace pier::test;

namespace {

const DataType F = DataType::kFloat;
const DataType I64 = DataType::kInt64;

// ---- NonMaxSuppression reference: repeatedly take the best remaining box
// (lowest index on ties), then drop the ones overlapping it too much.
struct RefBox {
  float y1, x1, y2, x2;
};

RefBox corners(const float* b, bool center) {
  if (center) return {b[1] - b[3] / 2, b[0] - b[2] / 2, b[1] + b[3] / 2, b[0] + b[2] / 2};
  return {std::min(b[0], b[2]), std::min(b[1], b[3]), std::max(b[0], b[2]), std::max(b[1], b[3])};
}

double iou(const RefBox& a, const RefBox& b) {
  const double aa = double(a.y2 - a.y1) * (a.x2 - a.x1), ab = double(b.y2 - b.y1) * (b.x2 - b.x1);
  if (aa <= 0 || ab <= 0) return 0;
  const double ih = std::max(0.0, double(std::min(a.y2, b.y2)) - std::max(a.y1, b.y1));
  const double iw = std::max(0.0, double(std::min(a.x2, b.x2)) - std::max(a.x1, b.x1));
  const double inter = ih * iw;
  return inter / (aa + ab - inter);
}

std::vector<int64_t> ref_nms(const Tensor& boxes, const Tensor& scores, int64_t max_out, float iou_thr,
                             const float* score_thr, bool center) {
  const int64_t nb = boxes.dim(0), n = boxes.dim(1), nc = scores.dim(1);
  std::vector<int64_t> out;
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t c = 0; c < nc; ++c) {
      const float* s = scores.data<float>() + (b * nc + c) * n;
      std::vector<bool> alive(n);
      for (int64_t i = 0; i < n; ++i) alive[i] = !score_thr || s[i] > *score_thr;
      int64_t taken = 0;
      while (taken < max_out) {
        int64_t best = -1;
        for (int64_t i = 0; i < n; ++i)
          if (alive[i] && (best < 0 || s[i] > s[best])) best = i;
        if (best < 0) break;
        alive[best] = false;
        out.insert(out.end(), {b, c, best});
        ++taken;
        const RefBox kb = corners(boxes.data<float>() + (b * n + best) * 4, center);
        for (int64_t i = 0; i < n; ++i)
          if (alive[i] && iou(kb, corners(boxes.data<float>() + (b * n + i) * 4, center)) > iou_thr) alive[i] = false;
      }
    }
  return out;
}

Tensor run_nms(const Tensor& boxes, const Tensor& scores, int64_t max_out, float iou_thr, const float* score_thr,
               bool center, int threads = 1) {
  std::vector<Tensor> in = {boxes, scores, make<int64_t>({1}, {max_out}), make<float>({1}, {iou_thr})};
  if (score_thr) in.push_back(make<float>({1}, {*score_thr}));
  return run_node("NonMaxSuppression", in, {I64}, {attr("center_point_box", int64_t{center ? 1 : 0})}, 11, "",
                  threads)[0]
      .tensor();
}

}  // namespace

TEST(DetectionNms, MatchesReferenceOnRandomBoxes) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> pos(0, 10), size(0.5f, 4), sc(0, 1);
  for (bool center : {false, true}) {
    const int64_t nb = 2, nc = 3, n = 40;
    Tensor boxes(F, {nb, n, 4}), scores(F, {nb, nc, n});
    for (int64_t i = 0; i < nb * n; ++i) {
      float* b = boxes.data<float>() + 4 * i;
      const float y = pos(rng), x = pos(rng), h = size(rng), w = size(rng);
      if (center) {
        b[0] = x, b[1] = y, b[2] = w, b[3] = h;
      } else if (i % 3 == 0) {  // flipped corners
        b[0] = y + h, b[1] = x + w, b[2] = y, b[3] = x;
      } else {
        b[0] = y, b[1] = x, b[2] = y + h, b[3] = x + w;
      }
    }
    for (int64_t i = 0; i < scores.numel(); ++i) scores.data<float>()[i] = std::round(sc(rng) * 20) / 20;  // ties
    for (float thr : {0.f, 0.3f, 0.7f}) {
      for (int64_t max_out : {1, 5, 100}) {
        const float st = 0.25f;
        for (const float* score_thr : {static_cast<const float*>(nullptr), &st}) {
          auto want = ref_nms(boxes, scores, max_out, thr, score_thr, center);
          Tensor got = run_nms(boxes, scores, max_out, thr, score_thr, center, 3);
          Tensor w = make<int64_t>({static_cast<int64_t>(want.size() / 3), 3}, want);
          EXPECT_TRUE(tensors_near(got, w)) << "center " << center << " thr " << thr << " max " << max_out;
        }
      }
    }
  }
}

TEST(DetectionNms, EdgeCasesAndErrors) {
  Tensor boxes = make<float>({1, 2, 4}, {0, 0, 1, 1, 0, 0, 1, 1});
  Tensor scores = make<float>({1, 1, 2}, {0.5f, 0.5f});
  // Identical boxes with equal scores: the first one wins.
  EXPECT_TRUE(tensors_near(run_nms(boxes, scores, 5, 0.5f, nullptr, false), make<int64_t>({1, 3}, {0, 0, 0})));
  // max_output_boxes_per_class 0 (the default) selects nothing.
  auto none = run_nms(boxes, scores, 0, 0.5f, nullptr, false);
  EXPECT_EQ(none.shape(), (Shape{0, 3}));
  auto dflt = run_node("NonMaxSuppression", {boxes, scores}, {I64}, {}, 11)[0].tensor();
  EXPECT_EQ(dflt.shape(), (Shape{0, 3}));
  // Mismatched shapes and a bad IOU threshold are errors.
  EXPECT_THROW(run_nms(boxes, make<float>({1, 1, 3}, {1, 1, 1}), 1, 0.5f, nullptr, false), Error);
  EXPECT_THROW(run_nms(boxes, scores, 1, 1.5f, nullptr, false), Error);
}

namespace {

// ---- RoiAlign reference, one output value at a time.
double bilinear(const float* plane, int64_t h, int64_t w, double y, double x) {
  if (y < -1.0 || y > h || x < -1.0 || x > w) return 0;
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  int64_t y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x), y1, x1;
  if (y0 >= h - 1) y1 = y0 = h - 1, y = static_cast<double>(y0);
  else y1 = y0 + 1;
  if (x0 >= w - 1) x1 = x0 = w - 1, x = static_cast<double>(x0);
  else x1 = x0 + 1;
  const double ly = y - y0, lx = x - x0;
  return (1 - ly) * (1 - lx) * plane[y0 * w + x0] + (1 - ly) * lx * plane[y0 * w + x1] +
         ly * (1 - lx) * plane[y1 * w + x0] + ly * lx * plane[y1 * w + x1];
}

Tensor ref_roi_align(const Tensor& x, const Tensor& rois, const std::vector<int64_t>& bi, int64_t oh, int64_t ow,
                     int64_t ratio, float scale, bool half_pixel, bool max_mode) {
  const int64_t c = x.dim(1), h = x.dim(2), w = x.dim(3), nr = rois.dim(0);
  Tensor y(F, {nr, c, oh, ow});
  for (int64_t r = 0; r < nr; ++r) {
    const float* roi = rois.data<float>() + 4 * r;
    const double off = half_pixel ? 0.5 : 0.0;
    const double sx = roi[0] * scale - off, sy = roi[1] * scale - off;
    double rw = roi[2] * scale - off - sx, rh = roi[3] * scale - off - sy;
    if (!half_pixel) rw = std::max(rw, 1.0), rh = std::max(rh, 1.0);
    const double bh = rh / oh, bw = rw / ow;
    const int64_t gh = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rh / oh));
    const int64_t gw = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rw / ow));
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* plane = x.data<float>() + (bi[r] * c + ch) * h * w;
      for (int64_t ph = 0; ph < oh; ++ph)
        for (int64_t pw = 0; pw < ow; ++pw) {
          double acc = max_mode ? -1e300 : 0;
          for (int64_t iy = 0; iy < gh; ++iy)
            for (int64_t ix = 0; ix < gw; ++ix) {
              const double v = bilinear(plane, h, w, sy + ph * bh + (iy + .5) * bh / gh, sx + pw * bw + (ix + .5) * bw / gw);
              acc = max_mode ? std::max(acc, v) : acc + v;
            }
          const int64_t cnt = std::max<int64_t>(gh * gw, 1);
          y.data<float>()[((r * c + ch) * oh + ph) * ow + pw] = static_cast<float>(max_mode ? acc : acc / cnt);
        }
    }
  }
  return y;
}

}  // namespace

TEST(DetectionRoiAlign, MatchesReference) {
  Tensor x = random_float({2, 3, 9, 11}, 5);
  Tensor rois = make<float>({5, 4}, {0, 0, 8, 8,          // whole-ish
                                     2.3f, 1.1f, 6.7f, 7.9f,  // fractional
                                     -3, -2, 4, 5,        // partly outside
                                     10, 8, 14, 12,       // mostly outside
                                     5, 5, 5.2f, 5.1f});  // tiny
  const std::vector<int64_t> bi = {0, 1, 1, 0, 1};
  Tensor bit = make<int64_t>({5}, bi);
  for (int opset : {10, 16})
    for (const char* ctm : {"half_pixel", "output_half_pixel"})
      for (const char* mode : {"avg", "max"})
        for (int64_t ratio : {0, 2}) {
          if (opset == 10 && std::string(ctm) == "half_pixel") continue;  // opset 10 has no such attribute
          std::vector<onnx::AttributeProto> attrs = {attr("output_height", int64_t{3}), attr("output_width", int64_t{4}),
                                                     attr("sampling_ratio", ratio), attr("spatial_scale", 0.8f),
                                                     attr("mode", mode)};
          if (opset == 16) attrs.push_back(attr("coordinate_transformation_mode", ctm));
          Tensor got = run_node("RoiAlign", {x, rois, bit}, {F}, attrs, opset, "", 2)[0].tensor();
          Tensor want = ref_roi_align(x, rois, bi, 3, 4, ratio, 0.8f, std::string(ctm) == "half_pixel",
                                      std::string(mode) == "max");
          EXPECT_TRUE(tensors_near(got, want, 1e-4, 1e-5)) << opset << " " << ctm << " " << mode << " " << ratio;
        }
  // Opset 16 defaults to half_pixel.
  Tensor d = run_node("RoiAlign", {x, rois, bit}, {F}, {}, 16)[0].tensor();
  EXPECT_TRUE(tensors_near(d, ref_roi_align(x, rois, bi, 1, 1, 0, 1.f, true, false), 1e-4, 1e-5));
}

TEST(DetectionRoiAlign, DoubleAndErrors) {
  Tensor x = random_float({1, 2, 5, 5}, 9);
  Tensor rois = make<float>({1, 4}, {0.5f, 1, 3, 4.5f});
  auto to_double = [](const Tensor& t) {
    Tensor d(DataType::kDouble, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) d.data<double>()[i] = t.data<float>()[i];
    return d;
  };
  Tensor bi = make<int64_t>({1}, {0});
  std::vector<onnx::AttributeProto> attrs = {attr("output_height", int64_t{2}), attr("output_width", int64_t{2})};
  Tensor got = run_node("RoiAlign", {to_double(x), to_double(rois), bi}, {DataType::kDouble}, attrs, 16)[0].tensor();
  Tensor want = to_double(ref_roi_align(x, rois, {0}, 2, 2, 0, 1.f, true, false));
  EXPECT_TRUE(tensors_near(got, want, 1e-5, 1e-6));
  // A batch index outside X and malformed rois are errors.
  EXPECT_THROW(run_node("RoiAlign", {x, rois, make<int64_t>({1}, {1})}, {F}, attrs, 16), Error);
  EXPECT_THROW(run_node("RoiAlign", {x, make<float>({1, 3}, {0, 0, 1}), bi}, {F}, attrs, 16), Error);
  EXPECT_THROW(run_node("RoiAlign", {x, rois, make<int64_t>({2}, {0, 0})}, {F}, attrs, 16), Error);
}
