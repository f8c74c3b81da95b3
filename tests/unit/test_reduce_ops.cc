// Reduce* and ArgMax/ArgMin against a naive reference over every axis
// pattern of a 4-D tensor, with one and several threads.
#include <cmath>
#include <limits>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

// Naive reduction in double; `axes` sorted and non-negative (empty = all).
Tensor reduce_ref(const std::string& op, const Tensor& x, std::vector<int64_t> axes, bool keepdims) {
  const Shape& s = x.shape();
  const int64_t rank = static_cast<int64_t>(s.size());
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  std::vector<bool> red(static_cast<size_t>(rank), false);
  for (int64_t a : axes) red[a] = true;
  Shape ks, os;
  for (int64_t d = 0; d < rank; ++d) {
    ks.push_back(red[d] ? 1 : s[d]);
    if (!red[d] || keepdims) os.push_back(red[d] ? 1 : s[d]);
  }
  const int64_t on = shape_numel(ks);
  std::vector<double> acc(static_cast<size_t>(on)), mx(static_cast<size_t>(on), -INFINITY);
  std::vector<int64_t> cnt(static_cast<size_t>(on), 0);
  double init = 0;
  if (op == "ReduceProd") init = 1;
  if (op == "ReduceMax") init = -INFINITY;
  if (op == "ReduceMin") init = INFINITY;
  std::fill(acc.begin(), acc.end(), init);
  auto out_index = [&](int64_t i) {
    int64_t o = 0, mul = 1;
    for (int64_t d = rank - 1; d >= 0; --d) {
      const int64_t idx = i % s[d];
      i /= s[d];
      if (!red[d]) o += idx * mul;
      mul *= ks[d];
    }
    return o;
  };
  const float* px = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) mx[out_index(i)] = std::max(mx[out_index(i)], double{px[i]});
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t o = out_index(i);
    const double v = px[i];
    ++cnt[o];
    if (op == "ReduceSum" || op == "ReduceMean" || op == "ReduceLogSum") acc[o] += v;
    else if (op == "ReduceProd") acc[o] *= v;
    else if (op == "ReduceMax") acc[o] = std::max(acc[o], v);
    else if (op == "ReduceMin") acc[o] = std::min(acc[o], v);
    else if (op == "ReduceL1") acc[o] += std::fabs(v);
    else if (op == "ReduceL2" || op == "ReduceSumSquare") acc[o] += v * v;
    else if (op == "ReduceLogSumExp") acc[o] += std::exp(v - mx[o]);
  }
  Tensor out(DataType::kFloat, os);
  for (int64_t o = 0; o < on; ++o) {
    double r = acc[o];
    if (op == "ReduceMean") r /= static_cast<double>(cnt[o]);
    if (op == "ReduceL2") r = std::sqrt(r);
    if (op == "ReduceLogSum") r = std::log(r);
    if (op == "ReduceLogSumExp") r = std::log(r) + mx[o];
    out.data<float>()[o] = static_cast<float>(r);
  }
  return out;
}

const char* kOps[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                      "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};

std::vector<Value> run_reduce(const std::string& op, const Tensor& x, const std::vector<int64_t>& axes, bool keep,
                              int threads) {
  std::vector<onnx::AttributeProto> attrs = {attr("keepdims", keep ? 1 : 0)};
  if (op == "ReduceSum") {
    std::vector<Tensor> in = {x};
    if (!axes.empty()) in.push_back(make<int64_t>({static_cast<int64_t>(axes.size())}, axes));
    return run_node(op, in, {DataType::kFloat}, attrs, 13, "", threads);
  }
  if (!axes.empty()) attrs.push_back(attr("axes", axes));
  return run_node(op, {x}, {DataType::kFloat}, attrs, 13, "", threads);
}

}  // namespace

TEST(ReduceOps, EveryAxisPatternMatchesReference) {
  // Values in [0.5, 1.5) keep products and logs well conditioned.
  const Tensor x = random_float({3, 4, 5, 6}, 21, 0.5f, 1.5f);
  for (const char* op : kOps) {
    for (int mask = 0; mask < 16; ++mask) {
      std::vector<int64_t> axes;
      for (int d = 0; d < 4; ++d)
        if (mask & (1 << d)) axes.push_back(d);
      for (bool keep : {true, false}) {
        auto y = run_reduce(op, x, axes, keep, 1);
        EXPECT_TRUE(tensors_near(y[0].tensor(), reduce_ref(op, x, axes, keep), 1e-5, 1e-6))
            << op << " mask " << mask << " keepdims " << keep;
      }
    }
  }
}

TEST(ReduceOps, LargeShapesUseThreadsConsistently) {
  // Inner reductions ([B,S,D] over D), outer ones (over B*S), NCHW over C, and
  // a full reduction, which splits one output over the threads.
  struct Case {
    Shape shape;
    std::vector<int64_t> axes;
  };
  const Case cases[] = {{{4, 128, 768}, {2}}, {{4, 128, 768}, {0, 1}}, {{2, 64, 32, 32}, {1}},
                        {{2, 64, 32, 32}, {0, 2, 3}}, {{300000}, {}}, {{3, 100000}, {1}}, {{100000, 3}, {0}}};
  for (const auto& c : cases) {
    const Tensor x = random_float(c.shape, 5, -1, 1);
    for (const char* op : {"ReduceSum", "ReduceMax", "ReduceLogSumExp", "ReduceL2"}) {
      auto one = run_reduce(op, x, c.axes, true, 1);
      auto four = run_reduce(op, x, c.axes, true, 4);
      const Tensor want = reduce_ref(op, x, c.axes, true);
      EXPECT_TRUE(tensors_near(one[0].tensor(), want, 1e-4, 1e-4)) << op << " " << shape_str(c.shape);
      EXPECT_TRUE(tensors_near(four[0].tensor(), want, 1e-4, 1e-4)) << op << " " << shape_str(c.shape);
    }
  }
}

TEST(ReduceOps, NegativeAxesOldOpsetsAndNoop) {
  const Tensor x = random_float({2, 3, 4}, 3);
  auto a = run_node("ReduceMean", {x}, {DataType::kFloat}, {attr("axes", std::vector<int64_t>{-1})}, 11);
  EXPECT_TRUE(tensors_near(a[0].tensor(), reduce_ref("ReduceMean", x, {2}, true)));
  auto b = run_node("ReduceSum", {x}, {DataType::kFloat}, {attr("axes", std::vector<int64_t>{0, 2}), attr("keepdims", 0)},
                    1);
  EXPECT_TRUE(tensors_near(b[0].tensor(), reduce_ref("ReduceSum", x, {0, 2}, false)));
  auto noop = run_node("ReduceSum", {x, make<int64_t>({0}, {})}, {DataType::kFloat},
                       {attr("noop_with_empty_axes", 1)}, 13);
  EXPECT_TRUE(tensors_near(noop[0].tensor(), x, 0, 0));
  auto all = run_node("ReduceSum", {x, make<int64_t>({0}, {})}, {DataType::kFloat}, {}, 13);
  EXPECT_TRUE(tensors_near(all[0].tensor(), reduce_ref("ReduceSum", x, {}, true)));
}

TEST(ReduceOps, EmptyReductionGivesIdentity) {
  const Tensor x(DataType::kFloat, {2, 0, 3});
  auto s = run_node("ReduceSum", {x, make<int64_t>({1}, {1})}, {DataType::kFloat}, {}, 13);
  EXPECT_EQ(s[0].tensor().shape(), (Shape{2, 1, 3}));
  for (float v : to_floats(s[0].tensor())) EXPECT_EQ(v, 0.f);
  auto p = run_node("ReduceProd", {x}, {DataType::kFloat}, {attr("axes", std::vector<int64_t>{1})}, 13);
  for (float v : to_floats(p[0].tensor())) EXPECT_EQ(v, 1.f);
  auto m = run_node("ReduceMax", {x}, {DataType::kFloat}, {attr("axes", std::vector<int64_t>{1})}, 13);
  for (float v : to_floats(m[0].tensor())) EXPECT_EQ(v, -std::numeric_limits<float>::infinity());
  auto k = run_node("ReduceSum", {x, make<int64_t>({1}, {2})}, {DataType::kFloat}, {}, 13);
  EXPECT_EQ(k[0].tensor().shape(), (Shape{2, 0, 1}));
}

TEST(ReduceOps, IntegerTypes) {
  const Tensor x = make<int32_t>({2, 3}, {1, -2, 3, 4, 5, -6});
  auto s = run_node("ReduceSum", {x, make<int64_t>({1}, {1})}, {DataType::kInt32}, {attr("keepdims", 0)}, 13);
  EXPECT_TRUE(tensors_near(s[0].tensor(), make<int32_t>({2}, {2, 3})));
  auto m = run_node("ReduceMean", {x}, {DataType::kInt32}, {attr("axes", std::vector<int64_t>{1})}, 13);
  EXPECT_TRUE(tensors_near(m[0].tensor(), make<int32_t>({2, 1}, {0, 1})));
  auto l = run_node("ReduceL1", {x}, {DataType::kInt32}, {attr("axes", std::vector<int64_t>{0})}, 13);
  EXPECT_TRUE(tensors_near(l[0].tensor(), make<int32_t>({1, 3}, {5, 7, 9})));
  auto mx = run_node("ReduceMax", {make<uint8_t>({3}, {7, 250, 3})}, {DataType::kUInt8}, {}, 13);
  EXPECT_TRUE(tensors_near(mx[0].tensor(), make<uint8_t>({1}, {250})));
  auto p = run_node("ReduceProd", {make<int64_t>({3}, {4, -5, 6})}, {DataType::kInt64}, {attr("keepdims", 0)}, 13);
  EXPECT_TRUE(tensors_near(p[0].tensor(), make<int64_t>({}, {-120})));
}

TEST(ReduceOps, NaNPropagatesThroughMaxAndMin) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t n : {5, 40}) {
    for (int64_t pos = 0; pos < n; pos += 3) {  // in the vector lanes and in the scalar tail
      std::vector<float> v(static_cast<size_t>(n), 1.f);
      v[pos] = nan;
      for (const char* op : {"ReduceMax", "ReduceMin"}) {
        auto y = run_node(op, {make<float>({n}, v)}, {DataType::kFloat}, {}, 13);
        EXPECT_TRUE(std::isnan(y[0].tensor().data<float>()[0])) << op << " n " << n << " pos " << pos;
      }
    }
  }
}

TEST(ReduceOps, BadAxesAreErrors) {
  const Tensor x = random_float({2, 3}, 1);
  EXPECT_THROW(run_node("ReduceMax", {x}, {DataType::kFloat}, {attr("axes", std::vector<int64_t>{2})}, 13), Error);
  EXPECT_THROW(run_node("ReduceSum", {x, make<int64_t>({2}, {1, -1})}, {DataType::kFloat}, {}, 13), Error);
}

TEST(ArgMinMax, AxesKeepdimsAndLastIndex) {
  const Tensor x = make<float>({2, 3}, {1, 5, 5, 7, 0, 7});
  auto a = run_node("ArgMax", {x}, {DataType::kInt64}, {attr("axis", 1)}, 13);
  EXPECT_TRUE(tensors_near(a[0].tensor(), make<int64_t>({2, 1}, {1, 0})));
  auto l = run_node("ArgMax", {x}, {DataType::kInt64}, {attr("axis", 1), attr("select_last_index", 1)}, 13);
  EXPECT_TRUE(tensors_near(l[0].tensor(), make<int64_t>({2, 1}, {2, 2})));
  auto m = run_node("ArgMin", {x}, {DataType::kInt64}, {attr("axis", 0), attr("keepdims", 0)}, 13);
  EXPECT_TRUE(tensors_near(m[0].tensor(), make<int64_t>({3}, {0, 1, 0})));
  auto n = run_node("ArgMin", {x}, {DataType::kInt64}, {attr("axis", -2), attr("select_last_index", 1)}, 13);
  EXPECT_TRUE(tensors_near(n[0].tensor(), make<int64_t>({1, 3}, {0, 1, 0})));
  auto i = run_node("ArgMax", {make<int8_t>({4}, {-1, 3, 3, 2})}, {DataType::kInt64}, {}, 11);
  EXPECT_TRUE(tensors_near(i[0].tensor(), make<int64_t>({1}, {1})));
}

TEST(ArgMinMax, RandomAgainstReference) {
  const Tensor x = random_float({8, 50, 9}, 4);
  for (int axis = 0; axis < 3; ++axis) {
    auto y = run_node("ArgMax", {x}, {DataType::kInt64}, {attr("axis", axis), attr("keepdims", 0)}, 13, "", 4);
    const Shape& s = x.shape();
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < 3; ++d) {
      if (d < axis) outer *= s[d];
      if (d > axis) inner *= s[d];
    }
    const float* p = x.data<float>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        int64_t best = 0;
        for (int64_t i = 1; i < s[axis]; ++i)
          if (p[(o * s[axis] + i) * inner + j] > p[(o * s[axis] + best) * inner + j]) best = i;
        EXPECT_EQ(y[0].tensor().data<int64_t>()[o * inner + j], best);
      }
  }
  EXPECT_THROW(run_node("ArgMax", {x}, {DataType::kInt64}, {attr("axis", 3)}, 13), Error);
}
