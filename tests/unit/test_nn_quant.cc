// MatMulInteger, QLinearMatMul, ConvInteger and QLinearConv against
// integer references computed here.
#include <cmath>
#include <random>

#include "test_nn_ref.h"

using namespace pier;
using namespace pier::test;

namespace {

using V = std::vector<int64_t>;

Tensor random_q8(DataType t, Shape s, uint32_t seed) {
  Tensor r(t, s);
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < r.numel(); ++i) {
    const int v = static_cast<int>(rng() % 256);
    if (t == DataType::kUInt8) static_cast<uint8_t*>(r.raw())[i] = static_cast<uint8_t>(v);
    else static_cast<int8_t*>(r.raw())[i] = static_cast<int8_t>(v - 128);
  }
  return r;
}

int32_t at(const Tensor& t, int64_t i) {
  return t.dtype() == DataType::kUInt8 ? static_cast<const uint8_t*>(t.raw())[i] : static_cast<const int8_t*>(t.raw())[i];
}

Tensor q8_scalar(DataType t, int v) { return t == DataType::kUInt8 ? make<uint8_t>({}, {uint8_t(v)}) : make<int8_t>({}, {int8_t(v)}); }

// 2-D (A - za)(B - zb); za per row or scalar, zb per column or scalar.
std::vector<int32_t> imatmul_ref(const Tensor& a, const Tensor& b, const Tensor* za, const Tensor* zb, int64_t M,
                                 int64_t K, int64_t N, int64_t a_off = 0, int64_t b_off = 0) {
  std::vector<int32_t> c(M * N, 0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      const int32_t zai = za ? at(*za, za->numel() == 1 ? 0 : i) : 0;
      const int32_t zbj = zb ? at(*zb, zb->numel() == 1 ? 0 : j) : 0;
      for (int64_t k = 0; k < K; ++k) c[i * N + j] += (at(a, a_off + i * K + k) - zai) * (at(b, b_off + k * N + j) - zbj);
    }
  return c;
}

::testing::AssertionResult q8_near(const Tensor& got, const std::vector<int32_t>& want, int tol) {
  if (got.numel() != static_cast<int64_t>(want.size())) return ::testing::AssertionFailure() << "size differs";
  for (int64_t i = 0; i < got.numel(); ++i)
    if (std::abs(at(got, i) - want[i]) > tol)
      return ::testing::AssertionFailure() << "at " << i << ": got " << at(got, i) << ", want " << want[i];
  return ::testing::AssertionSuccess();
}

int32_t requant(int64_t acc, float scale, int32_t zp, DataType t) {
  const float v = std::nearbyint(static_cast<float>(acc) * scale) + static_cast<float>(zp);
  const float lo = t == DataType::kUInt8 ? 0.f : -128.f, hi = t == DataType::kUInt8 ? 255.f : 127.f;
  return static_cast<int32_t>(std::max(lo, std::min(hi, v)));
}

}  // namespace

TEST(NnQuant, MatMulIntegerTypesAndZeroPoints) {
  const DataType u8 = DataType::kUInt8, s8 = DataType::kInt8;
  uint32_t seed = 1;
  for (DataType ta : {u8, s8})
    for (DataType tb : {u8, s8}) {
      const int64_t M = 5, K = 19, N = 7;
      Tensor a = random_q8(ta, {M, K}, seed++), b = random_q8(tb, {K, N}, seed++);
      Tensor za = q8_scalar(ta, ta == u8 ? 131 : -3), zb = q8_scalar(tb, tb == u8 ? 120 : 5);
      auto got = run_node("MatMulInteger", {a, b, za, zb}, {DataType::kInt32}, {}, 10);
      EXPECT_TRUE(tensors_near(got[0].tensor(), Tensor::from_vector(imatmul_ref(a, b, &za, &zb, M, K, N), {M, N})));
      // Per-row / per-column zero points.
      Tensor zr = random_q8(ta, {M}, seed++), zc = random_q8(tb, {N}, seed++);
      auto pr = run_node("MatMulInteger", {a, b, zr, zc}, {DataType::kInt32}, {}, 10);
      EXPECT_TRUE(tensors_near(pr[0].tensor(), Tensor::from_vector(imatmul_ref(a, b, &zr, &zc, M, K, N), {M, N})));
      // No zero points.
      auto nz = run_node("MatMulInteger", {a, b}, {DataType::kInt32}, {}, 10);
      EXPECT_TRUE(tensors_near(nz[0].tensor(), Tensor::from_vector(imatmul_ref(a, b, nullptr, nullptr, M, K, N), {M, N})));
    }
}

TEST(NnQuant, MatMulIntegerBatchesAndConstantB) {
  Tensor a = random_q8(DataType::kUInt8, {2, 3, 4}, 10), b = random_q8(DataType::kInt8, {4, 5}, 11);
  Tensor za = q8_scalar(DataType::kUInt8, 7);
  auto s = ModelBuilder(13)
               .input("a", DataType::kUInt8, {2, 3, 4})
               .initializer("b", b)
               .initializer("za", za)
               .node("MatMulInteger", {"a", "b", "za"}, {"y"})
               .output("y", DataType::kInt32)
               .session();
  auto got = s->run({Value(a)})[0].tensor();
  std::vector<int32_t> want;
  for (int64_t i = 0; i < 2; ++i)
    for (int32_t v : imatmul_ref(a, b, &za, nullptr, 3, 4, 5, i * 12, 0)) want.push_back(v);
  EXPECT_TRUE(tensors_near(got, Tensor::from_vector(want, {2, 3, 5})));
  // Broadcast B's batch against A's.
  Tensor b3 = random_q8(DataType::kUInt8, {2, 1, 4, 5}, 12), a3 = random_q8(DataType::kUInt8, {3, 2, 4}, 13);
  auto g3 = run_node("MatMulInteger", {a3, b3}, {DataType::kInt32}, {}, 10);
  std::vector<int32_t> w3;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int32_t v : imatmul_ref(a3, b3, nullptr, nullptr, 2, 4, 5, j * 8, i * 20)) w3.push_back(v);
  EXPECT_TRUE(tensors_near(g3[0].tensor(), Tensor::from_vector(w3, {2, 3, 2, 5})));
}

TEST(NnQuant, QLinearMatMul) {
  for (DataType t : {DataType::kUInt8, DataType::kInt8}) {
    const int64_t M = 4, K = 9, N = 6;
    Tensor a = random_q8(t, {M, K}, 20), b = random_q8(t, {K, N}, 21);
    Tensor za = q8_scalar(t, 3), zb = q8_scalar(t, t == DataType::kUInt8 ? 128 : -2), zy = q8_scalar(t, 10);
    const float sa = 0.02f, sy = 0.3f;
    Tensor sb = make<float>({N}, {0.01f, 0.02f, 0.03f, 0.015f, 0.05f, 0.001f});
    auto got = run_node("QLinearMatMul", {a, make<float>({}, {sa}), za, b, sb, zb, make<float>({}, {sy}), zy}, {t}, {}, 10);
    auto acc = imatmul_ref(a, b, &za, &zb, M, K, N);
    std::vector<int32_t> want;
    for (int64_t i = 0; i < M * N; ++i) want.push_back(requant(acc[i], sa * sb.data<float>()[i % N] / sy, at(zy, 0), t));
    EXPECT_TRUE(q8_near(got[0].tensor(), want, 1));
  }
}

namespace {

// Integer convolution reference on int32 values (zero points subtracted).
std::vector<int32_t> iconv_ref(const Tensor& x, const Tensor& w, int32_t xzp, const Tensor* wz, V strides, V pads,
                               int64_t group, Shape& ys) {
  Tensor xf(DataType::kFloat, x.shape()), wf(DataType::kFloat, w.shape());
  for (int64_t i = 0; i < x.numel(); ++i) xf.data<float>()[i] = static_cast<float>(at(x, i) - xzp);
  const int64_t M = w.dim(0), per = w.numel() / M;
  for (int64_t i = 0; i < w.numel(); ++i)
    wf.data<float>()[i] = static_cast<float>(at(w, i) - (wz ? at(*wz, wz->numel() == 1 ? 0 : i / per) : 0));
  // Padding must contribute (x_zp - x_zp) = 0: the float reference pads with 0.
  Tensor y = nnref::conv(xf, wf, nullptr, strides, {}, pads, group);  // exact: small sums of small integers
  ys = y.shape();
  std::vector<int32_t> r;
  for (float v : to_floats(y)) r.push_back(static_cast<int32_t>(std::lround(v)));
  return r;
}

}  // namespace

TEST(NnQuant, ConvInteger) {
  struct Case {
    DataType xt, wt;
    V xs, ws, strides, pads;
    int64_t group;
    int xzp, wzp;
  };
  const DataType u8 = DataType::kUInt8, s8 = DataType::kInt8;
  const std::vector<Case> cases = {
      {u8, u8, {1, 1, 5, 5}, {1, 1, 2, 2}, {}, {1, 1, 1, 1}, 1, 1, 0},
      {u8, s8, {2, 16, 7, 7}, {32, 16, 3, 3}, {1, 1}, {1, 1, 1, 1}, 1, 128, 3},
      {s8, u8, {1, 8, 6, 6}, {8, 4, 3, 3}, {2, 2}, {0, 1, 1, 0}, 2, -5, 128},
      {u8, u8, {1, 4, 5, 5}, {6, 4, 1, 1}, {}, {}, 1, 7, 250},  // w - zp outside int8: split weights
  };
  uint32_t seed = 30;
  for (const auto& c : cases) {
    Tensor x = random_q8(c.xt, c.xs, seed++), w = random_q8(c.wt, c.ws, seed++);
    Tensor xz = q8_scalar(c.xt, c.xzp), wz = q8_scalar(c.wt, c.wzp);
    std::vector<onnx::AttributeProto> attrs{attr("group", c.group)};
    if (!c.strides.empty()) attrs.push_back(attr("strides", c.strides));
    if (!c.pads.empty()) attrs.push_back(attr("pads", c.pads));
    Shape ys;
    auto want = iconv_ref(x, w, c.xzp, &wz, c.strides, c.pads, c.group, ys);
    auto got = run_node("ConvInteger", {x, w, xz, wz}, {DataType::kInt32}, attrs, 10);
    EXPECT_TRUE(tensors_near(got[0].tensor(), Tensor::from_vector(want, ys))) << shape_str(c.xs) << " " << shape_str(c.ws);
    // Constant weights (packed once).
    ModelBuilder mb(10);
    mb.input("x", c.xt, c.xs).initializer("w", w).initializer("xz", xz).initializer("wz", wz);
    mb.node("ConvInteger", {"x", "w", "xz", "wz"}, {"y"}, attrs).output("y", DataType::kInt32);
    EXPECT_TRUE(tensors_near(mb.session()->run({Value(x)})[0].tensor(), Tensor::from_vector(want, ys)));
  }
}

TEST(NnQuant, QLinearConvPerChannel) {
  const int64_t M = 4;
  Tensor x = random_q8(DataType::kUInt8, {1, 3, 6, 6}, 50), w = random_q8(DataType::kInt8, {M, 3, 3, 3}, 51);
  Tensor xz = q8_scalar(DataType::kUInt8, 120), wz = make<int8_t>({M}, {0, 1, -1, 2});
  Tensor ws = make<float>({M}, {0.01f, 0.02f, 0.005f, 0.03f}), bias = make<int32_t>({M}, {100, -200, 0, 5000});
  const float xs = 0.05f, ysc = 0.7f;
  Tensor yz = q8_scalar(DataType::kUInt8, 128);
  auto got = run_node("QLinearConv",
                      {x, make<float>({}, {xs}), xz, w, ws, wz, make<float>({}, {ysc}), yz, bias},
                      {DataType::kUInt8}, {attr("pads", V{1, 1, 1, 1})}, 10);
  Shape ys;
  auto acc = iconv_ref(x, w, 120, &wz, {}, {1, 1, 1, 1}, 1, ys);
  const int64_t inner = 36;
  std::vector<int32_t> want;
  for (size_t i = 0; i < acc.size(); ++i) {
    const int64_t m = static_cast<int64_t>(i) / inner % M;
    want.push_back(requant(acc[i] + bias.data<int32_t>()[m], xs * ws.data<float>()[m] / ysc, 128, DataType::kUInt8));
  }
  EXPECT_TRUE(q8_near(got[0].tensor(), want, 1));
}

TEST(NnQuant, BadInputsAreErrors) {
  Tensor a = random_q8(DataType::kUInt8, {2, 3}, 1), b = random_q8(DataType::kUInt8, {3, 4}, 2);
  EXPECT_THROW(run_node("MatMulInteger", {a, b, random_q8(DataType::kUInt8, {3}, 3)}, {DataType::kInt32}, {}, 10),
               Error);
  EXPECT_THROW(run_node("MatMulInteger", {a, random_q8(DataType::kUInt8, {4, 4}, 4)}, {DataType::kInt32}, {}, 10),
               Error);
  EXPECT_THROW(run_node("ConvInteger", {random_q8(DataType::kUInt8, {1, 2, 4, 4}, 5),
                                        random_q8(DataType::kUInt8, {3, 2, 2, 2}, 6), q8_scalar(DataType::kUInt8, 0),
                                        random_q8(DataType::kUInt8, {2}, 7)},
                        {DataType::kInt32}, {}, 10),
               Error);
}
