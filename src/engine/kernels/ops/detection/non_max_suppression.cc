// NonMaxSuppression (opsets 10 and 11).
//
// Per batch and class: boxes whose score exceeds score_threshold (when
// given) are visited in decreasing score order (ties: lower box index
// first); a box is selected unless its IOU with an already selected box is
// greater than iou_threshold, until max_output_boxes_per_class are chosen.
// Output rows [batch, class, box] are ordered by batch, then class, then
// selection order, as onnxruntime and ONNX's reference produce them.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/kernel.h"
#include "kernels/util/control_util.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

struct Box {
  float y1, x1, y2, x2;  // y1 <= y2, x1 <= x2
  float area() const { return (y2 - y1) * (x2 - x1); }
};

// Whether `a` and `b` overlap by more than `threshold` (IOU).
bool suppresses(const Box& a, const Box& b, float threshold) {
  const float area_a = a.area(), area_b = b.area();
  if (area_a <= 0.f || area_b <= 0.f) return false;
  const float ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  const float iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  if (ih <= 0.f || iw <= 0.f) return false;
  const float inter = ih * iw;
  const float uni = area_a + area_b - inter;
  if (uni <= 0.f) return false;
  return inter / uni > threshold;
}

float scalar_float(const Tensor& t, const char* what) {
  if (t.numel() != 1)
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + " must hold one value, got shape " + shape_str(t.shape()));
  return static_cast<float>(scalar_as_double(t));
}

class NonMaxSuppressionKernel final : public OpKernel {
 public:
  explicit NonMaxSuppressionKernel(const KernelInit& init) {
    const int64_t c = init.node.attr_int("center_point_box", 0);
    if (c != 0 && c != 1)
      throw Error(ErrorCode::kInvalidModel, "center_point_box must be 0 or 1, got " + std::to_string(c));
    center_ = c == 1;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& boxes = ctx.input(0);
    const Tensor& scores = ctx.input(1);
    if (boxes.dtype() != DataType::kFloat || scores.dtype() != DataType::kFloat)
      throw Error(ErrorCode::kInvalidArgument, "NonMaxSuppression: boxes and scores must be float");
    if (boxes.rank() != 3 || boxes.dim(2) != 4)
      throw Error(ErrorCode::kInvalidArgument, "NonMaxSuppression: boxes must have shape [batches, boxes, 4], got " +
                                                   shape_str(boxes.shape()));
    if (scores.rank() != 3 || scores.dim(0) != boxes.dim(0) || scores.dim(2) != boxes.dim(1))
      throw Error(ErrorCode::kInvalidArgument, "NonMaxSuppression: scores shape " + shape_str(scores.shape()) +
                                                   " does not match boxes shape " + shape_str(boxes.shape()));
    const int64_t batches = boxes.dim(0), n = boxes.dim(1), classes = scores.dim(1);
    int64_t max_out = ctx.has_input(2) ? control::scalar_int(ctx.input(2), "max_output_boxes_per_class") : 0;
    const float iou = ctx.has_input(3) ? scalar_float(ctx.input(3), "iou_threshold") : 0.f;
    if (!(iou >= 0.f && iou <= 1.f))
      throw Error(ErrorCode::kInvalidArgument, "NonMaxSuppression: iou_threshold must be in [0, 1]");
    const bool has_score = ctx.has_input(4);
    const float score_thr = has_score ? scalar_float(ctx.input(4), "score_threshold") : 0.f;
    if (max_out <= 0 || n == 0) {
      ctx.allocate(0, DataType::kInt64, {0, 3});
      return;
    }
    max_out = std::min(max_out, n);

    // Corners of every box, ordered.
    std::vector<Box> bx(static_cast<size_t>(batches * n));
    const float* pb = boxes.data<float>();
    for (int64_t i = 0; i < batches * n; ++i) {
      const float* b = pb + 4 * i;
      Box& o = bx[static_cast<size_t>(i)];
      if (center_) {
        const float xc = b[0], yc = b[1], w2 = b[2] / 2, h2 = b[3] / 2;
        o = {yc - h2, xc - w2, yc + h2, xc + w2};
      } else {
        o = {std::min(b[0], b[2]), std::min(b[1], b[3]), std::max(b[0], b[2]), std::max(b[1], b[3])};
      }
      if (o.y1 > o.y2) std::swap(o.y1, o.y2);  // negative width/height in center form
      if (o.x1 > o.x2) std::swap(o.x1, o.x2);
    }

    const float* ps = scores.data<float>();
    std::vector<std::vector<int64_t>> picked(static_cast<size_t>(batches * classes));
    parallel_for(ctx.threads(), batches * classes, 1, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> order;
      for (int64_t bc = begin; bc < end; ++bc) {
        const int64_t b = bc / classes;
        const float* s = ps + bc * n;
        order.clear();
        for (int64_t i = 0; i < n; ++i)  // NaN scores are never selected
          if (!std::isnan(s[i]) && (!has_score || s[i] > score_thr)) order.push_back(i);
        std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return s[x] > s[y]; });
        auto& sel = picked[static_cast<size_t>(bc)];
        const Box* base = bx.data() + b * n;
        for (int64_t i : order) {
          if (static_cast<int64_t>(sel.size()) >= max_out) break;
          bool keep = true;
          for (int64_t j : sel)
            if (suppresses(base[i], base[j], iou)) {
              keep = false;
              break;
            }
          if (keep) sel.push_back(i);
        }
      }
    });

    int64_t total = 0;
    for (const auto& p : picked) total += static_cast<int64_t>(p.size());
    Tensor& out = ctx.allocate(0, DataType::kInt64, {total, 3});
    int64_t* o = out.data<int64_t>();
    for (int64_t bc = 0; bc < batches * classes; ++bc)
      for (int64_t i : picked[static_cast<size_t>(bc)]) {
        *o++ = bc / classes;
        *o++ = bc % classes;
        *o++ = i;
      }
  }

 private:
  bool center_ = false;
};

}  // namespace

void register_kernels_detection_non_max_suppression(KernelRegistry& r) {
  // 10 and 11 differ only in how shape inference treats the optional inputs.
  r.add("", "NonMaxSuppression", 10, 10, make_factory<NonMaxSuppressionKernel>());
  r.add("", "NonMaxSuppression", 11, kOpenEnded, make_factory<NonMaxSuppressionKernel>());
}

}  // namespace pier::kernels
