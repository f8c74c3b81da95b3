// Resize and Upsample against a direct transcription of the ONNX reference
// (onnx/backend/test/case/node/resize.py): recursive N-D interpolation
// where each 1-D step picks the n nearest samples of an edge-padded row.
#include <algorithm>
#include <cmath>
#include <functional>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

struct RefOpts {
  std::string mode = "nearest";  // nearest, linear, cubic
  std::string coord = "half_pixel";
  std::string nearest = "round_prefer_floor";
  double a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0;
};

std::vector<double> coeffs(double ratio, const RefOpts& o) {
  if (o.mode == "linear") return {1 - ratio, ratio};
  if (o.mode == "cubic") {
    const double A = o.a, r = ratio, s = 1 - ratio;
    return {((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A, ((A + 2) * r - (A + 3)) * r * r + 1,
            ((A + 2) * s - (A + 3)) * s * s + 1, ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A};
  }
  if (ratio == 1 || ratio == 0) return {0, 1};
  if (o.nearest == "round_prefer_floor") return {ratio <= 0.5 ? 1.0 : 0.0, ratio > 0.5 ? 1.0 : 0.0};
  if (o.nearest == "round_prefer_ceil") return {ratio < 0.5 ? 1.0 : 0.0, ratio >= 0.5 ? 1.0 : 0.0};
  if (o.nearest == "floor") return {1, 0};
  return {0, 1};  // ceil
}

double interp_1d(const std::vector<double>& data, double scale, double x, const double* roi, const RefOpts& o) {
  const double in = static_cast<double>(data.size()), out_w = scale * in;
  double xo = 0;
  if (o.coord == "align_corners") {
    xo = out_w == 1 ? 0 : x * (in - 1) / (out_w - 1);
  } else if (o.coord == "asymmetric") {
    xo = x / scale;
  } else if (o.coord == "tf_crop_and_resize") {
    xo = out_w == 1 ? (roi[1] - roi[0]) * (in - 1) / 2 : x * (roi[1] - roi[0]) * (in - 1) / (out_w - 1);
    xo += roi[0] * (in - 1);
    if (xo < 0 || xo > in - 1) return o.extrapolation;
  } else if (o.coord == "pytorch_half_pixel") {
    xo = out_w == 1 ? 0 : (x + 0.5) / scale - 0.5;  // the spec's 0 for a length-1 output
  } else if (o.coord == "tf_half_pixel_for_nn") {
    xo = (x + 0.5) / scale;
  } else {
    xo = (x + 0.5) / scale - 0.5;
  }
  const double fl = std::floor(xo);
  const double ratio = xo == fl ? 1 : xo - fl;
  std::vector<double> c = coeffs(ratio, o);
  const int64_t n = static_cast<int64_t>(c.size());
  const int64_t pad = (n + 1) / 2, len = static_cast<int64_t>(data.size());
  // n nearest indexes of the padded row to xo + pad, smaller first on ties.
  std::vector<int64_t> idx(len + 2 * pad);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  const double xp = xo + pad;
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return std::abs(xp - a) < std::abs(xp - b); });
  idx.resize(n);
  std::sort(idx.begin(), idx.end());
  double sum = 0, acc = 0;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = idx[k] - pad;
    if (o.exclude_outside && (i < 0 || i >= len)) c[k] = 0;
    sum += c[k];
  }
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = std::clamp<int64_t>(idx[k] - pad, 0, len - 1);
    acc += (o.exclude_outside ? c[k] / sum : c[k]) * data[i];
  }
  return acc;
}

// data: flat row-major over shape; x: output coordinate per axis.
double interp_nd(const std::vector<double>& data, const Shape& shape, const std::vector<double>& scales,
                 const std::vector<int64_t>& x, const std::vector<double>& roi, size_t axis, const RefOpts& o) {
  const size_t r = shape.size();
  if (axis + 1 == r) {
    const double rr[2] = {roi.empty() ? 0 : roi[axis], roi.empty() ? 1 : roi[r + axis]};
    return interp_1d(data, scales[axis], static_cast<double>(x[axis]), rr, o);
  }
  int64_t inner = 1;
  for (size_t d = axis + 1; d < r; ++d) inner *= shape[d];
  std::vector<double> vals(shape[axis]);
  for (int64_t i = 0; i < shape[axis]; ++i) {
    std::vector<double> sub(data.begin() + i * inner, data.begin() + (i + 1) * inner);
    vals[i] = interp_nd(sub, shape, scales, x, roi, axis + 1, o);
  }
  const double rr[2] = {roi.empty() ? 0 : roi[axis], roi.empty() ? 1 : roi[r + axis]};
  return interp_1d(vals, scales[axis], static_cast<double>(x[axis]), rr, o);
}

Tensor ref_resize(const Tensor& x, const Shape& out, const std::vector<double>& scales, const std::vector<double>& roi,
                  const RefOpts& o) {
  std::vector<double> data(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i) data[i] = x.data<float>()[i];
  Tensor y(DataType::kFloat, out);
  std::vector<int64_t> pos(out.size(), 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t rem = i;
    for (size_t d = out.size(); d-- > 0;) {
      pos[d] = rem % out[d];
      rem /= out[d];
    }
    y.data<float>()[i] = static_cast<float>(interp_nd(data, x.shape(), scales, pos, roi, 0, o));
  }
  return y;
}

std::vector<onnx::AttributeProto> attrs_of(const RefOpts& o) {
  return {attr("mode", o.mode), attr("coordinate_transformation_mode", o.coord), attr("nearest_mode", o.nearest),
          attr("cubic_coeff_a", static_cast<float>(o.a)), attr("exclude_outside", o.exclude_outside ? 1 : 0),
          attr("extrapolation_value", static_cast<float>(o.extrapolation))};
}

}  // namespace

TEST(TensorResize, ModesAndCoordinateTransformsMatchReference) {
  Tensor x = random_float({1, 2, 4, 5}, 21, -2.f, 2.f);
  const std::vector<float> scales{1.f, 1.f, 1.75f, 0.6f};
  const Shape by_scales{1, 2, 7, 3};
  const std::vector<int64_t> sizes{1, 2, 3, 8};
  for (const char* mode : {"nearest", "linear", "cubic"})
    for (const char* coord : {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"}) {
      RefOpts o;
      o.mode = mode;
      o.coord = coord;
      auto a = run_node("Resize", {x, Tensor(), make<float>({4}, scales)}, {DataType::kFloat}, attrs_of(o), 13);
      std::vector<double> sd(scales.begin(), scales.end());
      EXPECT_TRUE(tensors_near(a[0].tensor(), ref_resize(x, by_scales, sd, {}, o), 1e-4, 1e-5)) << mode << " " << coord;
      auto b = run_node("Resize", {x, Tensor(), Tensor(), make<int64_t>({4}, sizes)}, {DataType::kFloat}, attrs_of(o), 13);
      std::vector<double> ss{1, 1, 3.0 / 4, 8.0 / 5};
      EXPECT_TRUE(tensors_near(b[0].tensor(), ref_resize(x, Shape(sizes.begin(), sizes.end()), ss, {}, o), 1e-4, 1e-5))
          << mode << " " << coord << " sizes";
    }
}

TEST(TensorResize, NearestModesCubicOptionsAndCropAndResize) {
  Tensor x = random_float({1, 1, 5, 6}, 3);
  const std::vector<int64_t> sizes{1, 1, 9, 4};
  const std::vector<double> ss{1, 1, 9.0 / 5, 4.0 / 6};
  for (const char* nm : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
    RefOpts o;
    o.nearest = nm;
    o.coord = "asymmetric";
    auto y = run_node("Resize", {x, Tensor(), Tensor(), make<int64_t>({4}, sizes)}, {DataType::kFloat}, attrs_of(o), 13);
    EXPECT_TRUE(tensors_near(y[0].tensor(), ref_resize(x, Shape(sizes.begin(), sizes.end()), ss, {}, o), 0, 0)) << nm;
  }
  RefOpts c;
  c.mode = "cubic";
  c.a = -0.5;
  c.exclude_outside = true;
  auto y = run_node("Resize", {x, Tensor(), Tensor(), make<int64_t>({4}, sizes)}, {DataType::kFloat}, attrs_of(c), 13);
  EXPECT_TRUE(tensors_near(y[0].tensor(), ref_resize(x, Shape(sizes.begin(), sizes.end()), ss, {}, c), 1e-4, 1e-5));
  for (const char* mode : {"nearest", "linear"}) {
    RefOpts t;
    t.mode = mode;
    t.coord = "tf_crop_and_resize";
    t.extrapolation = 7;
    const std::vector<float> roi{0, 0, 0.2f, -0.3f, 1, 1, 1.1f, 0.8f};
    auto z = run_node("Resize", {x, make<float>({8}, roi), Tensor(), make<int64_t>({4}, sizes)}, {DataType::kFloat},
                      attrs_of(t), 13);
    EXPECT_TRUE(tensors_near(z[0].tensor(),
                             ref_resize(x, Shape(sizes.begin(), sizes.end()), ss, {roi.begin(), roi.end()}, t), 1e-4,
                             1e-5))
        << mode;
  }
}

TEST(TensorResize, LinearOnEveryAxisOfA3DTensor) {
  Tensor x = random_float({3, 4, 5}, 8);
  RefOpts o;
  o.mode = "linear";
  const std::vector<int64_t> sizes{5, 2, 7};
  auto y = run_node("Resize", {x, Tensor(), Tensor(), make<int64_t>({3}, sizes)}, {DataType::kFloat}, attrs_of(o), 13);
  EXPECT_TRUE(tensors_near(y[0].tensor(), ref_resize(x, {5, 2, 7}, {5.0 / 3, 2.0 / 4, 7.0 / 5}, {}, o), 1e-4, 1e-5));
}

TEST(TensorResize, BilinearThreadedMatchesSingleThreadAndOtherTypes) {
  Tensor x = random_float({2, 3, 33, 47}, 5);
  RefOpts o;
  o.mode = "linear";
  std::vector<onnx::AttributeProto> at = attrs_of(o);
  Tensor sizes = make<int64_t>({4}, {2, 3, 70, 91});
  auto one = run_node("Resize", {x, Tensor(), Tensor(), sizes}, {DataType::kFloat}, at, 13, "", 1);
  auto four = run_node("Resize", {x, Tensor(), Tensor(), sizes}, {DataType::kFloat}, at, 13, "", 4);
  EXPECT_TRUE(tensors_near(one[0].tensor(), four[0].tensor(), 0, 0));
  // Spot-check one plane against the reference.
  Tensor plane = x.reshaped({6, 33, 47}).clone();
  Tensor p0(DataType::kFloat, {33, 47});
  std::copy_n(plane.data<float>(), 33 * 47, p0.data<float>());
  Tensor want = ref_resize(p0, {70, 91}, {70.0 / 33, 91.0 / 47}, {}, o);
  Tensor got(DataType::kFloat, {70, 91});
  std::copy_n(one[0].tensor().data<float>(), 70 * 91, got.data<float>());
  EXPECT_TRUE(tensors_near(got, want, 1e-4, 1e-5));
  // Double input computes in double; uint8 rounds to nearest.
  Tensor d(DataType::kDouble, {1, 1, 2, 2});
  for (int i = 0; i < 4; ++i) d.data<double>()[i] = i;
  auto dy = run_node("Resize", {d, Tensor(), make<float>({4}, {1, 1, 2, 2})}, {DataType::kDouble}, at, 13);
  EXPECT_DOUBLE_EQ(dy[0].tensor().data<double>()[1], 0.25);
  Tensor u = make<uint8_t>({1, 2}, {0, 255});
  auto uy = run_node("Resize", {u, Tensor(), make<float>({2}, {1, 2})}, {DataType::kUInt8}, at, 13);
  EXPECT_TRUE(tensors_near(uy[0].tensor(), make<uint8_t>({1, 4}, {0, 64, 191, 255})));
}

TEST(TensorResize, UpsampleAndOpset10UseAsymmetricCoordinates) {
  Tensor x = make<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  auto up9 = run_node("Upsample", {x, make<float>({4}, {1, 1, 2, 3})}, {DataType::kFloat}, {}, 9);
  EXPECT_TRUE(tensors_near(up9[0].tensor(), make<float>({1, 1, 4, 6}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,  //
                                                                     3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4})));
  RefOpts o;
  o.mode = "linear";
  o.coord = "asymmetric";
  auto up7 = run_node("Upsample", {x}, {DataType::kFloat},
                      {attr("mode", "linear"), attr("scales", std::vector<float>{1, 1, 2, 2})}, 7);
  EXPECT_TRUE(tensors_near(up7[0].tensor(), ref_resize(x, {1, 1, 4, 4}, {1, 1, 2, 2}, {}, o), 1e-6, 1e-6));
  auto r10 = run_node("Resize", {x, make<float>({4}, {1, 1, 2, 2})}, {DataType::kFloat}, {attr("mode", "linear")}, 10);
  EXPECT_TRUE(tensors_near(r10[0].tensor(), up7[0].tensor(), 0, 0));
}

TEST(TensorResize, BadArgumentsAreErrors) {
  Tensor x = random_float({1, 1, 2, 2}, 1);
  EXPECT_THROW(run_node("Resize", {x, Tensor(), make<float>({3}, {1, 1, 2})}, {DataType::kFloat}, {}, 13), Error);
  EXPECT_THROW(run_node("Resize", {x, Tensor(), make<float>({4}, {1, 1, 2, 2}), make<int64_t>({4}, {1, 1, 4, 4})},
                        {DataType::kFloat}, {}, 13),
               Error);
  EXPECT_THROW(run_node("Resize", {x, Tensor(), make<float>({4}, {1, 1, -2, 2})}, {DataType::kFloat}, {}, 13), Error);
  EXPECT_THROW(run_node("Resize", {x, Tensor(), Tensor(), Tensor()}, {DataType::kFloat}, {}, 13), Error);
}
