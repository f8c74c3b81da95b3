// MatMul and Gemm against a naive reference.
#include <thread>

#include "test_nn_ref.h"

using namespace pier;
using namespace pier::test;

namespace {

using V = std::vector<int64_t>;

// numpy matmul reference for float tensors.
Tensor matmul_ref(const Tensor& a, const Tensor& b) {
  Shape as = a.rank() == 1 ? Shape{1, a.dim(0)} : a.shape();
  Shape bs = b.rank() == 1 ? Shape{b.dim(0), 1} : b.shape();
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  Shape ba(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  const size_t r = std::max(ba.size(), bb.size());
  ba.insert(ba.begin(), r - ba.size(), 1);
  bb.insert(bb.begin(), r - bb.size(), 1);
  Shape batch(r);
  for (size_t i = 0; i < r; ++i) batch[i] = std::max(ba[i], bb[i]);
  const auto A = to_floats(a), B = to_floats(b);
  std::vector<float> Y;
  const int64_t nb = shape_numel(batch);
  for (int64_t i = 0; i < nb; ++i) {
    int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
    for (size_t d = r; d-- > 0;) {
      const int64_t v = rem % batch[d];
      rem /= batch[d];
      ia += (ba[d] == 1 ? 0 : v) * sa;
      ib += (bb[d] == 1 ? 0 : v) * sb;
      sa *= ba[d];
      sb *= bb[d];
    }
    std::vector<float> sub_a(A.begin() + ia * M * K, A.begin() + (ia + 1) * M * K);
    std::vector<float> sub_b(B.begin() + ib * K * N, B.begin() + (ib + 1) * K * N);
    for (double v : nnref::matmul(sub_a, sub_b, M, K, N)) Y.push_back(static_cast<float>(v));
  }
  Shape out = batch;
  if (a.rank() > 1) out.push_back(M);
  if (b.rank() > 1) out.push_back(N);
  return Tensor::from_vector(Y, out);
}

Tensor transpose2(const Tensor& t) {
  const int64_t r = t.dim(0), c = t.dim(1);
  Tensor o(DataType::kFloat, {c, r});
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) o.data<float>()[j * r + i] = t.data<float>()[i * c + j];
  return o;
}

Tensor gemm_ref(const Tensor& a, const Tensor& b, const Tensor* c, bool ta, bool tb, float alpha, float beta) {
  Tensor ab = matmul_ref(ta ? transpose2(a) : a, tb ? transpose2(b) : b);
  const int64_t M = ab.dim(0), N = ab.dim(1);
  if (c) {
    const Shape& cs = c->shape();
    Shape c2 = cs;
    c2.insert(c2.begin(), 2 - cs.size(), 1);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const float cv = c->data<float>()[(c2[0] == 1 ? 0 : i) * c2[1] + (c2[1] == 1 ? 0 : j)];
        ab.data<float>()[i * N + j] = alpha * ab.data<float>()[i * N + j] + beta * cv;
      }
  } else {
    for (int64_t i = 0; i < M * N; ++i) ab.data<float>()[i] *= alpha;
  }
  return ab;
}

}  // namespace

TEST(NnMatMul, ShapesAndBroadcasting) {
  const std::vector<std::pair<V, V>> cases = {
      {{3, 4}, {4, 5}},       {{4}, {4, 5}},          {{3, 4}, {4}},         {{4}, {4}},
      {{2, 3, 4}, {4, 5}},    {{4}, {2, 4, 5}},       {{2, 1, 3, 4}, {5, 4, 6}}, {{1, 3, 4}, {2, 4, 5}},
      {{2, 3, 4}, {2, 4, 5}}, {{3, 4}, {1, 1, 4, 5}}, {{7, 64}, {64, 33}}};
  uint32_t seed = 1;
  for (const auto& [as, bs] : cases) {
    Tensor a = random_float(as, seed++), b = random_float(bs, seed++);
    auto got = run_node("MatMul", {a, b}, {DataType::kFloat});
    EXPECT_TRUE(tensors_near(got[0].tensor(), matmul_ref(a, b), 1e-5, 1e-5))
        << shape_str(as) << " x " << shape_str(bs);
  }
}

TEST(NnMatMul, ConstantWeightsArePackedForAnyBatch) {
  Tensor w = random_float({48, 40}, 10);
  auto s = ModelBuilder(13)
               .input("a", DataType::kFloat, {-1, -1, 48})
               .initializer("w", w)
               .node("MatMul", {"a", "w"}, {"y"})
               .output("y", DataType::kFloat)
               .session();
  for (V shape : {V{2, 3, 48}, V{1, 1, 48}, V{5, 17, 48}, V{2, 3, 48}}) {
    Tensor a = random_float(shape, 11);
    EXPECT_TRUE(tensors_near(s->run({Value(a)})[0].tensor(), matmul_ref(a, w), 1e-5, 1e-5)) << shape_str(shape);
  }
  // Static shape: the primitive is built and the weights packed at load.
  auto s2 = ModelBuilder(13)
                .input("a", DataType::kFloat, {4, 48})
                .initializer("w", w)
                .node("MatMul", {"a", "w"}, {"y"})
                .output("y", DataType::kFloat)
                .session(2);
  Tensor a = random_float({4, 48}, 12);
  EXPECT_TRUE(tensors_near(s2->run({Value(a)})[0].tensor(), matmul_ref(a, w), 1e-5, 1e-5));
}

TEST(NnMatMul, IntegerAndOtherFloatTypes) {
  auto i32 = run_node("MatMul", {make<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6}), make<int32_t>({3, 2}, {1, -1, 2, 0, 0, 3})},
                      {DataType::kInt32});
  EXPECT_TRUE(tensors_near(i32[0].tensor(), make<int32_t>({2, 2}, {5, 8, 14, 14})));
  auto i64 = run_node("MatMul", {make<int64_t>({2, 1, 2}, {1, 2, 3, 4}), make<int64_t>({2, 1}, {10, 100})},
                      {DataType::kInt64});
  EXPECT_TRUE(tensors_near(i64[0].tensor(), make<int64_t>({2, 1, 1}, {210, 430})));
  auto d = run_node("MatMul", {make<double>({1, 2}, {0.5, 0.25}), make<double>({2, 1}, {2, 4})}, {DataType::kDouble});
  EXPECT_TRUE(tensors_near(d[0].tensor(), make<double>({1, 1}, {2.0})));
  auto h = run_node("MatMul", {make<Float16>({1, 2}, {Float16(1.5f), Float16(2.f)}),
                               make<Float16>({2, 1}, {Float16(2.f), Float16(0.5f)})},
                    {DataType::kFloat16});
  EXPECT_TRUE(tensors_near(h[0].tensor(), make<Float16>({1, 1}, {Float16(4.f)})));
}

TEST(NnMatMul, EmptyAndErrors) {
  auto e = run_node("MatMul", {random_float({0, 3}, 1), random_float({3, 4}, 2)}, {DataType::kFloat});
  EXPECT_EQ(e[0].tensor().shape(), (Shape{0, 4}));
  auto z = run_node("MatMul", {random_float({2, 0}, 1), random_float({0, 3}, 2)}, {DataType::kFloat});
  EXPECT_TRUE(tensors_near(z[0].tensor(), Tensor::zeros(DataType::kFloat, {2, 3})));
  ModelBuilder mb(13);
  mb.input("a", DataType::kFloat, {-1, -1}).input("b", DataType::kFloat, {-1, -1});
  mb.node("MatMul", {"a", "b"}, {"y"}).output("y", DataType::kFloat);
  auto s = mb.session();
  EXPECT_THROW(s->run({Value(random_float({2, 3}, 1)), Value(random_float({4, 2}, 2))}), Error);
  ModelBuilder mb3(13);
  mb3.input("a", DataType::kFloat, {-1, -1, -1}).input("b", DataType::kFloat, {-1, -1, -1});
  mb3.node("MatMul", {"a", "b"}, {"y"}).output("y", DataType::kFloat);
  auto s3 = mb3.session();
  EXPECT_THROW(s3->run({Value(random_float({2, 2, 3}, 1)), Value(random_float({3, 3, 2}, 2))}), Error);
}

TEST(NnGemm, TransposesAlphaBetaAndCShapes) {
  const int64_t M = 5, K = 7, N = 6;
  uint32_t seed = 100;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (V cs : {V{N}, V{1, N}, V{M, 1}, V{M, N}, V{}, V{1}})
        for (bool const_b : {false, true}) {
          Tensor a = random_float(ta ? V{K, M} : V{M, K}, seed++), b = random_float(tb ? V{N, K} : V{K, N}, seed++);
          Tensor c = random_float(cs, seed++);
          const float alpha = 0.5f, beta = cs.size() == 1 ? 1.f : -2.f;
          ModelBuilder mb(13);
          mb.input("a", DataType::kFloat, a.shape());
          if (const_b) mb.initializer("b", b).initializer("c", c);
          else mb.input("b", DataType::kFloat, b.shape()).input("c", DataType::kFloat, c.shape());
          mb.node("Gemm", {"a", "b", "c"}, {"y"},
                  {attr("transA", int64_t{ta}), attr("transB", int64_t{tb}), attr("alpha", alpha), attr("beta", beta)});
          mb.output("y", DataType::kFloat);
          auto s = mb.session();
          std::vector<Value> feeds{Value(a)};
          if (!const_b) feeds.insert(feeds.end(), {Value(b), Value(c)});
          Tensor got = s->run(feeds)[0].tensor();
          EXPECT_TRUE(tensors_near(got, gemm_ref(a, b, &c, ta, tb, alpha, beta), 1e-5, 1e-5))
              << "transA " << ta << " transB " << tb << " C " << shape_str(cs) << " const " << const_b;
        }
}

TEST(NnGemm, OptionalCAndOldOpsets) {
  Tensor a = random_float({3, 4}, 1), b = random_float({4, 2}, 2), c = random_float({3, 2}, 3);
  auto y11 = run_node("Gemm", {a, b}, {DataType::kFloat}, {attr("alpha", 2.f)}, 11);
  EXPECT_TRUE(tensors_near(y11[0].tensor(), gemm_ref(a, b, nullptr, false, false, 2.f, 1.f), 1e-5, 1e-5));
  auto y7 = run_node("Gemm", {a, b, c}, {DataType::kFloat}, {attr("beta", 0.f)}, 7);
  EXPECT_TRUE(tensors_near(y7[0].tensor(), gemm_ref(a, b, &c, false, false, 1.f, 0.f), 1e-5, 1e-5));
  auto y6 = run_node("Gemm", {a, b, c}, {DataType::kFloat}, {attr("broadcast", int64_t{1})}, 6);
  EXPECT_TRUE(tensors_near(y6[0].tensor(), gemm_ref(a, b, &c, false, false, 1.f, 1.f), 1e-5, 1e-5));
  auto y0 = run_node("Gemm", {a, b, c}, {DataType::kFloat}, {attr("alpha", 0.f), attr("beta", 3.f)}, 13);
  EXPECT_TRUE(tensors_near(y0[0].tensor(), gemm_ref(a, b, &c, false, false, 0.f, 3.f), 1e-5, 1e-5));
}

TEST(NnGemm, IntegerGemm) {
  auto y = run_node("Gemm", {make<int32_t>({2, 2}, {1, 2, 3, 4}), make<int32_t>({2, 2}, {1, 0, 0, 1}),
                             make<int32_t>({2}, {10, 20})},
                    {DataType::kInt32}, {attr("transA", int64_t{1})}, 13);
  EXPECT_TRUE(tensors_near(y[0].tensor(), make<int32_t>({2, 2}, {11, 23, 12, 24})));
}

TEST(NnGemm, BadShapesAreErrors) {
  EXPECT_THROW(run_node("Gemm", {random_float({3, 4}, 1), random_float({5, 2}, 2)}, {DataType::kFloat}, {}, 13), Error);
  EXPECT_THROW(run_node("Gemm", {random_float({3, 4}, 1), random_float({4, 2}, 2), random_float({3, 3}, 3)},
                        {DataType::kFloat}, {}, 13),
               Error);
}

TEST(NnGemm, ConcurrentRunsWithDifferentBatch) {
  Tensor b = random_float({32, 16}, 5), c = random_float({16}, 6);
  auto s = ModelBuilder(13)
               .input("a", DataType::kFloat, {-1, 32})
               .initializer("b", b)
               .initializer("c", c)
               .node("Gemm", {"a", "b", "c"}, {"y"})
               .output("y", DataType::kFloat)
               .session();
  std::vector<int> ok(6, 0);
  std::vector<std::thread> ts;
  for (int i = 0; i < 6; ++i)
    ts.emplace_back([&, i] {
      Tensor a = random_float({1 + i, 32}, 10 + i);
      bool all = true;
      for (int r = 0; r < 5; ++r)
        all = all && tensors_near(s->run({Value(a)})[0].tensor(), gemm_ref(a, b, &c, false, false, 1, 1), 1e-5, 1e-5);
      ok[i] = all;
    });
  for (auto& t : ts) t.join();
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(ok[i]) << i;
}

TEST(NnMatMul, OverriddenInitializerIsUsed) {
  Tensor w = random_float({16, 24}, 80), w2 = random_float({16, 24}, 81), a = random_float({3, 16}, 82);
  for (const char* op : {"MatMul", "Gemm"}) {
    ModelBuilder mb(13);
    mb.input("a", DataType::kFloat, a.shape()).input("w", DataType::kFloat, w.shape()).initializer("w", w);
    mb.node(op, {"a", "w"}, {"y"}).output("y", DataType::kFloat);
    auto s = mb.session();
    EXPECT_TRUE(tensors_near(s->run({{"a", Value(a)}})[0].tensor(), matmul_ref(a, w), 1e-5, 1e-5)) << op;
    EXPECT_TRUE(tensors_near(s->run({{"a", Value(a)}, {"w", Value(w2)}})[0].tensor(), matmul_ref(a, w2), 1e-5, 1e-5))
        << op;
  }
}
