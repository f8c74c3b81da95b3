// Pooling ops against a naive reference written from the ONNX definitions.
#include <cmath>
#include <limits>

#include "test_nn_ref.h"

using namespace pier;
using namespace pier::test;

namespace {

using V = std::vector<int64_t>;

struct PoolSpec {
  V kernel = {}, strides = {}, dil = {}, pads = {};  // pads: begins then ends (explicit)
  bool ceil = false;
  bool count_pad = false;
  double p = 2;  // LpPool
};

enum class K { kMax, kAvg, kLp };

// Returns Y and (for kMax) row-major flat indices.
std::pair<Tensor, std::vector<int64_t>> pool_ref(K kind, const Tensor& x, const PoolSpec& s) {
  const size_t n = x.rank() - 2;
  const nnref::Dims3 in = nnref::spatial3(x.shape());
  const nnref::Dims3 k = nnref::attr3(s.kernel, 1, n), st = nnref::attr3(s.strides, 1, n), d = nnref::attr3(s.dil, 1, n);
  V pads = s.pads.empty() ? V(2 * n, 0) : s.pads;
  const nnref::Dims3 pb = nnref::attr3(V(pads.begin(), pads.begin() + n), 0, n);
  const nnref::Dims3 pe = nnref::attr3(V(pads.begin() + n, pads.end()), 0, n);
  nnref::Dims3 out;
  Shape ys{x.dim(0), x.dim(1)};
  for (int i = 0; i < 3; ++i) {
    const double span = double(in.d[i] + pb.d[i] + pe.d[i] - ((k.d[i] - 1) * d.d[i] + 1)) / st.d[i];
    out.d[i] = static_cast<int64_t>(s.ceil ? std::ceil(span) : std::floor(span)) + 1;
  }
  for (size_t i = 0; i < n; ++i) ys.push_back(out.d[3 - n + i]);
  const auto X = to_floats(x);
  std::vector<float> Y;
  std::vector<int64_t> I;
  const int64_t plane = in.d[0] * in.d[1] * in.d[2];
  for (int64_t pc = 0; pc < x.dim(0) * x.dim(1); ++pc)
    for (int64_t o0 = 0; o0 < out.d[0]; ++o0)
      for (int64_t o1 = 0; o1 < out.d[1]; ++o1)
        for (int64_t o2 = 0; o2 < out.d[2]; ++o2) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t best_i = -1, count = 0, padded_count = 0;
          for (int64_t k0 = 0; k0 < k.d[0]; ++k0)
            for (int64_t k1 = 0; k1 < k.d[1]; ++k1)
              for (int64_t k2 = 0; k2 < k.d[2]; ++k2) {
                const int64_t i[3] = {o0 * st.d[0] - pb.d[0] + k0 * d.d[0], o1 * st.d[1] - pb.d[1] + k1 * d.d[1],
                                      o2 * st.d[2] - pb.d[2] + k2 * d.d[2]};
                bool inside_pads = true, inside = true;
                for (int a = 0; a < 3; ++a) {
                  inside = inside && i[a] >= 0 && i[a] < in.d[a];
                  inside_pads = inside_pads && i[a] >= -pb.d[a] && i[a] < in.d[a] + pe.d[a];
                }
                padded_count += inside_pads;
                if (!inside) continue;
                const int64_t off = (i[0] * in.d[1] + i[1]) * in.d[2] + i[2];
                const double v = X[pc * plane + off];
                ++count;
                if (v > best) {
                  best = v;
                  best_i = pc * plane + off;
                }
                sum += kind == K::kLp ? std::pow(std::fabs(v), s.p) : v;
              }
          if (kind == K::kMax) {
            Y.push_back(static_cast<float>(best));
            I.push_back(best_i);
          } else if (kind == K::kAvg) {
            Y.push_back(static_cast<float>(sum / (s.count_pad ? padded_count : count)));
          } else {
            Y.push_back(static_cast<float>(std::pow(sum, 1.0 / s.p)));
          }
        }
  return {Tensor::from_vector(Y, ys), I};
}

std::vector<onnx::AttributeProto> pool_attrs(const PoolSpec& s) {
  std::vector<onnx::AttributeProto> a{attr("kernel_shape", s.kernel)};
  if (!s.strides.empty()) a.push_back(attr("strides", s.strides));
  if (!s.dil.empty()) a.push_back(attr("dilations", s.dil));
  if (!s.pads.empty()) a.push_back(attr("pads", s.pads));
  if (s.ceil) a.push_back(attr("ceil_mode", int64_t{1}));
  if (s.count_pad) a.push_back(attr("count_include_pad", int64_t{1}));
  return a;
}

void check_pool(K kind, const V& xs, const PoolSpec& s, uint32_t seed) {
  Tensor x = random_float(xs, seed);
  const char* op = kind == K::kMax ? "MaxPool" : kind == K::kAvg ? "AveragePool" : "LpPool";
  auto attrs = pool_attrs(s);
  if (kind == K::kLp) attrs.push_back(attr("p", static_cast<int64_t>(s.p)));
  auto got = run_node(op, {x}, {DataType::kFloat}, attrs, kind == K::kLp ? 11 : 12);
  EXPECT_TRUE(tensors_near(got[0].tensor(), pool_ref(kind, x, s).first, 1e-5, 1e-5)) << op << " " << shape_str(xs);
}

}  // namespace

TEST(NnPool, MaxPoolAttributes) {
  check_pool(K::kMax, {1, 2, 7, 7}, {{3, 3}}, 1);
  check_pool(K::kMax, {2, 3, 9, 8}, {{3, 2}, {2, 2}, {}, {1, 0, 1, 1}}, 2);
  check_pool(K::kMax, {1, 2, 10, 10}, {{3, 3}, {2, 2}, {2, 2}, {1, 1, 1, 1}}, 3);
  check_pool(K::kMax, {1, 2, 8, 8}, {{3, 3}, {2, 2}, {}, {}, true}, 4);                 // ceil_mode
  check_pool(K::kMax, {1, 16, 11, 11}, {{2, 2}, {2, 2}, {1, 1}, {0, 0, 1, 1}, true}, 5);  // more channels
  check_pool(K::kMax, {2, 3, 13}, {{4}, {3}, {2}, {1, 2}}, 6);                          // 1-D
  check_pool(K::kMax, {1, 2, 5, 6, 7}, {{2, 3, 2}, {2, 1, 2}, {}, {0, 1, 0, 1, 1, 1}}, 7);  // 3-D
}

TEST(NnPool, AveragePoolPaddingCounts) {
  check_pool(K::kAvg, {1, 2, 7, 7}, {{3, 3}, {2, 2}, {}, {1, 1, 1, 1}}, 10);
  check_pool(K::kAvg, {1, 2, 7, 7}, {{3, 3}, {2, 2}, {}, {1, 1, 1, 1}, false, true}, 11);
  check_pool(K::kAvg, {1, 2, 8, 8}, {{3, 3}, {2, 2}, {}, {}, true}, 12);  // ceil, exclude pad
  // ceil_mode extends windows past the pads: only the real pads are counted.
  check_pool(K::kAvg, {1, 2, 8, 8}, {{3, 3}, {2, 2}, {}, {1, 1, 1, 1}, true, true}, 13);
  check_pool(K::kAvg, {2, 3, 17}, {{5}, {2}, {}, {2, 1}}, 14);
  check_pool(K::kAvg, {1, 2, 6, 5, 4}, {{3, 2, 2}, {1, 2, 1}, {}, {1, 0, 1, 1, 1, 0}, false, true}, 15);
}

TEST(NnPool, LpPool) {
  PoolSpec s{{3, 3}, {2, 2}, {}, {1, 1, 1, 1}};
  check_pool(K::kLp, {1, 2, 7, 7}, s, 20);
  s.p = 3;
  check_pool(K::kLp, {1, 2, 7, 7}, s, 21);
  // Opset 1: p is a float attribute.
  Tensor x = random_float({1, 1, 4, 4}, 22);
  auto got = run_node("LpPool", {x}, {DataType::kFloat}, {attr("kernel_shape", V{2, 2}), attr("p", 1.f)}, 1);
  EXPECT_TRUE(tensors_near(got[0].tensor(), pool_ref(K::kLp, x, {{2, 2}, {}, {}, {}, false, false, 1.0}).first, 1e-5,
                           1e-5));
}

TEST(NnPool, AutoPad) {
  Tensor x = random_float({1, 2, 7, 6}, 30);
  // in 7, s 2 -> out 4, total 3*2+3-7 = 2 (1/1); in 6 -> out 3, total 2*2+3-6 = 1.
  auto up = run_node("MaxPool", {x}, {DataType::kFloat},
                     {attr("kernel_shape", V{3, 3}), attr("strides", V{2, 2}), attr("auto_pad", "SAME_UPPER")});
  EXPECT_TRUE(tensors_near(up[0].tensor(), pool_ref(K::kMax, x, {{3, 3}, {2, 2}, {}, {1, 0, 1, 1}}).first));
  auto lo = run_node("AveragePool", {x}, {DataType::kFloat},
                     {attr("kernel_shape", V{3, 3}), attr("strides", V{2, 2}), attr("auto_pad", "SAME_LOWER")});
  EXPECT_TRUE(tensors_near(lo[0].tensor(), pool_ref(K::kAvg, x, {{3, 3}, {2, 2}, {}, {1, 1, 1, 0}}).first, 1e-5, 1e-5));
  auto va = run_node("MaxPool", {x}, {DataType::kFloat},
                     {attr("kernel_shape", V{2, 2}), attr("strides", V{2, 2}), attr("auto_pad", "VALID")});
  EXPECT_TRUE(tensors_near(va[0].tensor(), pool_ref(K::kMax, x, {{2, 2}, {2, 2}}).first));
}

TEST(NnPool, MaxPoolIndicesAndStorageOrder) {
  Tensor x = random_float({2, 3, 6, 5}, 40);
  PoolSpec s{{3, 2}, {2, 2}, {}, {1, 0, 1, 1}};
  auto attrs = pool_attrs(s);
  auto got = run_node("MaxPool", {x}, {DataType::kFloat, DataType::kInt64}, attrs, 12);
  auto [want, idx] = pool_ref(K::kMax, x, s);
  EXPECT_TRUE(tensors_near(got[0].tensor(), want));
  EXPECT_TRUE(tensors_near(got[1].tensor(), Tensor::from_vector(idx, want.shape())));
  // Column-major: (n, c) offset + w * H + h.
  attrs.push_back(attr("storage_order", int64_t{1}));
  auto col = run_node("MaxPool", {x}, {DataType::kFloat, DataType::kInt64}, attrs, 12);
  std::vector<int64_t> cidx;
  for (int64_t i : idx) {
    const int64_t plane = 6 * 5, base = i / plane * plane, h = i % plane / 5, w = i % 5;
    cidx.push_back(base + w * 6 + h);
  }
  EXPECT_TRUE(tensors_near(col[1].tensor(), Tensor::from_vector(cidx, want.shape())));
}

TEST(NnPool, Int8AndHalfTypes) {
  Tensor u = make<uint8_t>({1, 1, 3, 3}, {1, 200, 3, 4, 5, 6, 255, 8, 0});
  auto mu = run_node("MaxPool", {u}, {DataType::kUInt8}, {attr("kernel_shape", V{2, 2})}, 12);
  EXPECT_TRUE(tensors_near(mu[0].tensor(), make<uint8_t>({1, 1, 2, 2}, {200, 200, 255, 8})));
  Tensor s8 = make<int8_t>({1, 1, 2, 3}, {-5, -3, -128, 7, -1, 2});
  auto ms = run_node("MaxPool", {s8}, {DataType::kInt8, DataType::kInt64}, {attr("kernel_shape", V{2, 2})}, 12);
  EXPECT_TRUE(tensors_near(ms[0].tensor(), make<int8_t>({1, 1, 1, 2}, {7, 2})));
  EXPECT_TRUE(tensors_near(ms[1].tensor(), make<int64_t>({1, 1, 1, 2}, {3, 5})));
  Tensor h = make<Float16>({1, 1, 2, 2}, {Float16(1.f), Float16(2.f), Float16(3.f), Float16(6.f)});
  auto ah = run_node("AveragePool", {h}, {DataType::kFloat16}, {attr("kernel_shape", V{2, 2})}, 11);
  EXPECT_TRUE(tensors_near(ah[0].tensor(), make<Float16>({1, 1, 1, 1}, {Float16(3.f)})));
  Tensor d = make<double>({1, 1, 1, 3}, {1.0, -2.0, 0.5});
  auto md = run_node("MaxPool", {d}, {DataType::kDouble}, {attr("kernel_shape", V{1, 2})}, 12);
  EXPECT_TRUE(tensors_near(md[0].tensor(), make<double>({1, 1, 1, 2}, {1.0, 0.5})));
}

TEST(NnPool, GlobalPools) {
  Tensor x = random_float({2, 3, 5, 7}, 50);
  const auto X = to_floats(x);
  std::vector<float> avg, mx, lp;
  for (int64_t pc = 0; pc < 6; ++pc) {
    double s = 0, m = -1e30, l = 0;
    for (int64_t i = 0; i < 35; ++i) {
      const double v = X[pc * 35 + i];
      s += v;
      m = std::max(m, v);
      l += v * v;
    }
    avg.push_back(static_cast<float>(s / 35));
    mx.push_back(static_cast<float>(m));
    lp.push_back(static_cast<float>(std::sqrt(l)));
  }
  const Shape ys{2, 3, 1, 1};
  EXPECT_TRUE(tensors_near(run_node("GlobalAveragePool", {x}, {DataType::kFloat})[0].tensor(),
                           Tensor::from_vector(avg, ys), 1e-5, 1e-6));
  EXPECT_TRUE(tensors_near(run_node("GlobalMaxPool", {x}, {DataType::kFloat})[0].tensor(), Tensor::from_vector(mx, ys)));
  EXPECT_TRUE(tensors_near(run_node("GlobalLpPool", {x}, {DataType::kFloat})[0].tensor(), Tensor::from_vector(lp, ys),
                           1e-5, 1e-6));
  Tensor x3 = random_float({1, 2, 40}, 51);
  auto g3 = run_node("GlobalAveragePool", {x3}, {DataType::kFloat});
  EXPECT_EQ(g3[0].tensor().shape(), (Shape{1, 2, 1}));
}

TEST(NnPool, MaxUnpoolInvertsMaxPool) {
  Tensor x = random_float({1, 2, 4, 4}, 60);
  auto mp = run_node("MaxPool", {x}, {DataType::kFloat, DataType::kInt64},
                     {attr("kernel_shape", V{2, 2}), attr("strides", V{2, 2})}, 12);
  auto up = run_node("MaxUnpool", {mp[0].tensor(), mp[1].tensor()}, {DataType::kFloat},
                     {attr("kernel_shape", V{2, 2}), attr("strides", V{2, 2})}, 11);
  const Tensor& y = up[0].tensor();
  ASSERT_EQ(y.shape(), x.shape());
  // Every pooled maximum sits where it came from; everything else is zero.
  std::vector<float> want(32, 0.f);
  for (int64_t i = 0; i < 8; ++i) want[mp[1].tensor().data<int64_t>()[i]] = mp[0].tensor().data<float>()[i];
  EXPECT_TRUE(tensors_near(y, Tensor::from_vector(want, x.shape())));
  // Explicit output_shape (an odd-sized original): indices are flat in it.
  Tensor x5 = random_float({1, 1, 5, 5}, 61);
  auto mp5 = run_node("MaxPool", {x5}, {DataType::kFloat, DataType::kInt64},
                      {attr("kernel_shape", V{2, 2}), attr("strides", V{2, 2})}, 12);
  auto up5 = run_node("MaxUnpool", {mp5[0].tensor(), mp5[1].tensor(), make<int64_t>({4}, {1, 1, 5, 5})},
                      {DataType::kFloat}, {attr("kernel_shape", V{2, 2}), attr("strides", V{2, 2})}, 11);
  std::vector<float> want5(25, 0.f);
  for (int64_t i = 0; i < 4; ++i) want5[mp5[1].tensor().data<int64_t>()[i]] = mp5[0].tensor().data<float>()[i];
  EXPECT_TRUE(tensors_near(up5[0].tensor(), Tensor::from_vector(want5, {1, 1, 5, 5})));
  // Indices out of range are an error.
  EXPECT_THROW(run_node("MaxUnpool", {mp[0].tensor(), Tensor::from_vector(std::vector<int64_t>(8, 99), {1, 2, 2, 2})},
                        {DataType::kFloat}, {attr("kernel_shape", V{2, 2}), attr("strides", V{2, 2})}, 11),
               Error);
}

TEST(NnPool, BadInputsAreErrors) {
  EXPECT_THROW(run_node("MaxPool", {random_float({1, 1, 2, 2}, 1)}, {DataType::kFloat}, {attr("kernel_shape", V{3, 3})}),
               Error);
  ModelBuilder mb(12);
  mb.input("x", DataType::kFloat, {-1, -1, -1, -1});
  mb.node("MaxPool", {"x"}, {"y"}, {attr("kernel_shape", V{2, 2})}).output("y", DataType::kFloat);
  auto s = mb.session();
  EXPECT_THROW(s->run({Value(random_float({1, 1, 1, 5}, 2))}), Error);
  ModelBuilder mb2(12);
  mb2.input("x", DataType::kFloat, {-1, -1, -1});
  mb2.node("AveragePool", {"x"}, {"y"}, {attr("kernel_shape", V{2, 2})}).output("y", DataType::kFloat);
  auto s2 = mb2.session();
  EXPECT_THROW(s2->run({Value(random_float({1, 1, 5}, 2))}), Error);  // kernel rank != spatial rank
}
