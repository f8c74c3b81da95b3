// Pier's internal fused kernels run directly (graphs built by hand, as the
// passes build them): Gelu, FusedMatMul edge cases, Attention views.
#include <cmath>

#include "exec/program.h"
#include "passes/pass_util.h"
#include "test_util.h"

namespace pier::test {
namespace {

// Runs a one-node graph of pier.internal::`n` on `inputs` (named in0..).
std::vector<Value> run_internal(ir::Node n, const std::vector<Tensor>& inputs, const Tensor* init1 = nullptr,
                                int threads = 1) {
  ir::Graph g;
  g.name = "fused";
  for (size_t i = 0; i < inputs.size(); ++i) {
    ValueInfo vi;
    vi.name = "in" + std::to_string(i);
    vi.dtype = inputs[i].dtype();
    vi.has_shape = true;
    vi.dims = inputs[i].shape();
    g.inputs.push_back(vi);
    g.value_info[vi.name] = vi;
  }
  if (init1) g.initializers["in1"] = *init1;
  n.outputs = {"out"};
  ValueInfo o;
  o.name = "out";
  g.outputs.push_back(o);
  g.nodes.push_back(n);
  SessionOptions opts;
  opts.threads = threads;
  exec::Program prog(g, nullptr, opts);
  std::vector<Value> in;
  for (const auto& t : inputs) in.emplace_back(t);
  return prog.execute(nullptr, in, threads);
}

TEST(FusedGelu, MatchesTheFormula) {
  std::vector<float> xs;
  for (float x = -12.f; x <= 12.f; x += 0.0137f) xs.push_back(x);
  const Tensor x = Tensor::from_vector(xs, {static_cast<int64_t>(xs.size())});
  for (const char* approx : {"none", "tanh"}) {
    ir::Node n = passes::internal_node("Gelu", "g", {"in0"}, {});
    n.attrs.push_back(passes::string_attr("approximate", approx));
    const Tensor y = run_internal(n, {x})[0].tensor();
    std::vector<float> want;
    for (float v : xs) {
      const double d = v;
      const double w = std::string(approx) == "none"
                           ? 0.5 * d * (1 + std::erf(d / std::sqrt(2.0)))
                           : 0.5 * d * (1 + std::tanh(std::sqrt(2 / M_PI) * (d + 0.044715 * d * d * d)));
      want.push_back(static_cast<float>(w));
    }
    EXPECT_TRUE(tensors_near(y, Tensor::from_vector(want, x.shape()), 1e-6, 1e-7)) << approx;
    // Infinities behave as the decomposed graph: +inf -> inf, -inf -> inf * 0 = NaN.
    const Tensor inf = run_internal(n, {make<float>({2}, {INFINITY, -INFINITY})})[0].tensor();
    EXPECT_EQ(inf.data<float>()[0], INFINITY);
    EXPECT_TRUE(std::isnan(inf.data<float>()[1]));
  }
}

TEST(FusedMatMul, EmptyInnerDimGivesActivationOfBias) {
  ir::Node n = passes::internal_node("FusedMatMul", "m", {"in0", "in1", "in2"}, {});
  n.attrs.push_back(passes::string_attr("activation", "Relu"));
  const Tensor a(DataType::kFloat, {3, 0}), b(DataType::kFloat, {0, 4});
  const Tensor bias = make<float>({4}, {1.f, -2.f, 3.f, -4.f});
  const Tensor y = run_internal(n, {a, b, bias})[0].tensor();
  EXPECT_TRUE(tensors_near(y, make<float>({3, 4}, {1, 0, 3, 0, 1, 0, 3, 0, 1, 0, 3, 0})));
}

TEST(FusedMatMul, BadBiasIsAnError) {
  ir::Node n = passes::internal_node("FusedMatMul", "m", {"in0", "in1", "in2"}, {});
  EXPECT_THROW(run_internal(n, {random_float({2, 3}, 1), random_float({3, 4}, 2), random_float({3}, 3)}), Error);
}

// Reference attention on dense Q [B,S,D], K [B,T,D], V [B,T,E].
Tensor attention_ref(const Tensor& q, const Tensor& k, const Tensor& v, float scale, const Tensor* mask,
                     float mask_scale) {
  const int64_t B = q.dim(0), S = q.dim(1), D = q.dim(2), T = k.dim(1), E = v.dim(2);
  Tensor y(DataType::kFloat, {B, S, E});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < S; ++i) {
      std::vector<double> s(T);
      double mx = -1e300;
      for (int64_t j = 0; j < T; ++j) {
        double acc = 0;
        for (int64_t d = 0; d < D; ++d) acc += q.data<float>()[(b * S + i) * D + d] * k.data<float>()[(b * T + j) * D + d];
        s[j] = scale * acc + (mask ? mask_scale * mask->data<float>()[i * T + j] : 0.0);
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (auto& e : s) sum += (e = std::exp(e - mx));
      for (int64_t e = 0; e < E; ++e) {
        double acc = 0;
        for (int64_t j = 0; j < T; ++j) acc += s[j] / sum * v.data<float>()[(b * T + j) * E + e];
        y.data<float>()[(b * S + i) * E + e] = static_cast<float>(acc);
      }
    }
  return y;
}

TEST(FusedAttention, DenseViewsWithMaskScale) {
  const int64_t B = 3, S = 5, T = 7, D = 4, E = 6;
  const Tensor q = random_float({B, S, D}, 10, -2.f, 2.f), k = random_float({B, T, D}, 11, -2.f, 2.f);
  const Tensor v = random_float({B, T, E}, 12), mask = random_float({S, T}, 13, -3.f, 0.f);
  ir::Node n = passes::internal_node("Attention", "a", {"in0", "in1", "in2", "in3"}, {});
  n.attrs.push_back(passes::float_attr("scale", 0.3f));
  n.attrs.push_back(passes::float_attr("mask_scale", 0.5f));
  auto view = [&](const std::string& p, int64_t off, std::vector<int64_t> shape, std::vector<int64_t> st,
                  std::vector<int64_t> src) {
    n.attrs.push_back(passes::int_attr(p + "_offset", off));
    n.attrs.push_back(passes::ints_attr(p + "_shape", shape));
    n.attrs.push_back(passes::ints_attr(p + "_strides", st));
    n.attrs.push_back(passes::ints_attr(p + "_src_shape", src));
  };
  view("q", 0, {B, S, D}, {S * D, D, 1}, {B, S, D});
  view("k", 0, {B, D, T}, {T * D, 1, D}, {B, T, D});  // K transposed through strides
  view("v", 0, {B, T, E}, {T * E, E, 1}, {B, T, E});
  n.attrs.push_back(passes::ints_attr("out_shape", {S, B, E}));  // heads merged: [S, B, E]
  n.attrs.push_back(passes::ints_attr("out_strides", {E, B * E, 1}));
  for (int threads : {1, 2}) {
    const Tensor y = run_internal(n, {q, k, v, mask}, nullptr, threads)[0].tensor();
    const Tensor want = attention_ref(q, k, v, 0.3f, &mask, 0.5f);
    Tensor want_t(DataType::kFloat, {S, B, E});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < S; ++i)
        for (int64_t e = 0; e < E; ++e)
          want_t.data<float>()[(i * B + b) * E + e] = want.data<float>()[(b * S + i) * E + e];
    EXPECT_TRUE(tensors_near(y, want_t, 1e-5, 1e-6)) << threads;
  }
}

TEST(FusedAttention, ViewsOutsideTheirSourceAreRejected) {
  ir::Node n = passes::internal_node("Attention", "a", {"in0", "in1", "in2"}, {});
  for (const char* p : {"q", "k", "v"}) {
    n.attrs.push_back(passes::int_attr(std::string(p) + "_offset", 1));
    n.attrs.push_back(passes::ints_attr(std::string(p) + "_shape", {1, 2, 2}));
    n.attrs.push_back(passes::ints_attr(std::string(p) + "_strides", {4, 2, 1}));
    n.attrs.push_back(passes::ints_attr(std::string(p) + "_src_shape", {1, 2, 2}));
  }
  n.attrs.push_back(passes::ints_attr("out_shape", {1, 2, 2}));
  n.attrs.push_back(passes::ints_attr("out_strides", {4, 2, 1}));
  const Tensor t = random_float({1, 2, 2}, 14);
  EXPECT_THROW(run_internal(n, {t, t, t}), Error);
}

}  // namespace
}  // namespace pier::test
