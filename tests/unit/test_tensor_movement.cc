// Data-movement tensor ops: Transpose, DepthToSpace, SpaceToDepth, Concat,
// Split, Slice, Expand, Tile, Pad, Where, ReverseSequence. Each result is
// checked against a straightforward index-by-index reference.
#include <algorithm>
#include <numeric>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

// "s<i>" (built by appending: GCC 12 warns falsely on "s" + std::string).
std::string sname(int64_t i) {
  std::string s = "s";
  s.append(std::to_string(i));
  return s;
}

Tensor iota(DataType t, Shape s) {
  Tensor x(t, s);
  for (int64_t i = 0; i < x.numel(); ++i) {
    switch (t) {
      case DataType::kFloat: x.data<float>()[i] = static_cast<float>(i); break;
      case DataType::kInt64: x.data<int64_t>()[i] = i; break;
      case DataType::kInt8: x.data<int8_t>()[i] = static_cast<int8_t>(i); break;
      case DataType::kDouble: x.data<double>()[i] = static_cast<double>(i); break;
      case DataType::kString: x.data<std::string>()[i] = sname(i); break;
      default: throw std::runtime_error("iota: type");
    }
  }
  return x;
}

std::vector<int64_t> strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

// Multi-index of flat position i in shape s.
std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = i % s[d];
    i /= s[d];
  }
  return idx;
}

// Reference transpose of a float tensor.
Tensor ref_transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  Shape os(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) os[i] = x.shape()[perm[i]];
  Tensor y(x.dtype(), os);
  const auto xs = strides(x.shape());
  for (int64_t i = 0; i < y.numel(); ++i) {
    auto o = unravel(i, os);
    int64_t src = 0;
    for (size_t d = 0; d < perm.size(); ++d) src += o[d] * xs[perm[d]];
    y.data<float>()[i] = x.data<float>()[src];
  }
  return y;
}

}  // namespace

TEST(TensorTranspose, AllPermutationsOf4D) {
  Tensor x = random_float({2, 3, 4, 5}, 7);
  std::vector<int64_t> perm{0, 1, 2, 3};
  do {
    auto out = run_node("Transpose", {x}, {DataType::kFloat}, {attr("perm", perm)});
    EXPECT_TRUE(tensors_near(out[0].tensor(), ref_transpose(x, perm), 0, 0));
  } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST(TensorTranspose, DefaultReversesAndLargeTiledCasesMatchThreaded) {
  Tensor x = random_float({3, 4, 5}, 3);
  auto d = run_node("Transpose", {x}, {DataType::kFloat});
  EXPECT_TRUE(tensors_near(d[0].tensor(), ref_transpose(x, {2, 1, 0}), 0, 0));
  // NCHW -> NHWC and back on sizes that are not tile multiples.
  Tensor big = random_float({2, 37, 29, 43}, 11);
  for (auto perm : {std::vector<int64_t>{0, 2, 3, 1}, std::vector<int64_t>{0, 3, 1, 2}, std::vector<int64_t>{1, 0, 3, 2}}) {
    auto one = run_node("Transpose", {big}, {DataType::kFloat}, {attr("perm", perm)}, 17, "", 1);
    auto four = run_node("Transpose", {big}, {DataType::kFloat}, {attr("perm", perm)}, 17, "", 4);
    EXPECT_TRUE(tensors_near(one[0].tensor(), ref_transpose(big, perm), 0, 0));
    EXPECT_TRUE(tensors_near(four[0].tensor(), one[0].tensor(), 0, 0));
  }
}

TEST(TensorTranspose, OtherElementSizesAndStrings) {
  Tensor s = iota(DataType::kString, {2, 3});
  auto out = run_node("Transpose", {s}, {DataType::kString});
  const Tensor& y = out[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{3, 2}));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) EXPECT_EQ(y.data<std::string>()[i * 2 + j], sname(j * 3 + i));
  Tensor b = iota(DataType::kInt8, {40, 50});
  auto bo = run_node("Transpose", {b}, {DataType::kInt8});
  for (int i = 0; i < 50; ++i)
    for (int j = 0; j < 40; ++j) ASSERT_EQ(bo[0].tensor().data<int8_t>()[i * 40 + j], static_cast<int8_t>(j * 50 + i));
  EXPECT_THROW(run_node("Transpose", {b}, {DataType::kInt8}, {attr("perm", std::vector<int64_t>{0, 0})}), Error);
}

TEST(TensorDepthToSpace, ModesMatchDefinitionAndInvertSpaceToDepth) {
  const int64_t n = 2, c = 8, h = 3, w = 2, b = 2;
  Tensor x = random_float({n, c, h, w}, 5);
  for (const char* mode : {"DCR", "CRD"}) {
    auto out = run_node("DepthToSpace", {x}, {DataType::kFloat}, {attr("blocksize", b), attr("mode", mode)});
    const Tensor& y = out[0].tensor();
    ASSERT_EQ(y.shape(), (Shape{n, c / 4, h * b, w * b}));
    const bool dcr = std::string(mode) == "DCR";
    for (int64_t i = 0; i < y.numel(); ++i) {
      auto o = unravel(i, y.shape());
      const int64_t oc = o[1], bh = o[2] % b, bw = o[3] % b;
      const int64_t ic = dcr ? (bh * b + bw) * (c / 4) + oc : oc * b * b + bh * b + bw;
      const int64_t src = ((o[0] * c + ic) * h + o[2] / b) * w + o[3] / b;
      ASSERT_EQ(y.data<float>()[i], x.data<float>()[src]) << mode << " " << i;
    }
  }
  auto d = run_node("DepthToSpace", {x}, {DataType::kFloat}, {attr("blocksize", b)});
  auto back = run_node("SpaceToDepth", {d[0].tensor()}, {DataType::kFloat}, {attr("blocksize", b)});
  EXPECT_TRUE(tensors_near(back[0].tensor(), x, 0, 0));
  EXPECT_THROW(run_node("DepthToSpace", {random_float({1, 6, 2, 2}, 1)}, {DataType::kFloat}, {attr("blocksize", 2)}),
               Error);
}

TEST(TensorConcat, AxesAndEmptyInputs) {
  Tensor a = iota(DataType::kFloat, {2, 3}), b = iota(DataType::kFloat, {2, 1}), e(DataType::kFloat, {2, 0});
  auto out = run_node("Concat", {a, e, b}, {DataType::kFloat}, {attr("axis", -1)});
  const Tensor& y = out[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{2, 4}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      EXPECT_EQ(y.data<float>()[i * 4 + j], j < 3 ? a.data<float>()[i * 3 + j] : b.data<float>()[i]);
  auto s = run_node("Concat", {iota(DataType::kString, {1, 2}), iota(DataType::kString, {1, 2})}, {DataType::kString},
                    {attr("axis", 0)});
  EXPECT_EQ(s[0].tensor().data<std::string>()[3], "s1");
  EXPECT_THROW(run_node("Concat", {a, iota(DataType::kFloat, {3, 3})}, {DataType::kFloat}, {attr("axis", 1)}), Error);
}

TEST(TensorSplit, EqualAndExplicitSizesAcrossOpsets) {
  Tensor x = iota(DataType::kFloat, {2, 6});
  auto eq = run_node("Split", {x}, {DataType::kFloat, DataType::kFloat, DataType::kFloat}, {attr("axis", 1)}, 13);
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) EXPECT_EQ(eq[k].tensor().data<float>()[i * 2 + j], i * 6 + k * 2 + j);
  auto in13 = run_node("Split", {x, make<int64_t>({2}, {1, 5})}, {DataType::kFloat, DataType::kFloat}, {attr("axis", -1)},
                       13);
  EXPECT_EQ(in13[1].tensor().shape(), (Shape{2, 5}));
  EXPECT_EQ(in13[1].tensor().data<float>()[5], 7.f);
  auto at11 = run_node("Split", {x}, {DataType::kFloat, DataType::kFloat},
                       {attr("axis", 1), attr("split", std::vector<int64_t>{4, 2})}, 11);
  EXPECT_EQ(at11[0].tensor().shape(), (Shape{2, 4}));
  EXPECT_THROW(run_node("Split", {x, make<int64_t>({2}, {1, 1})}, {DataType::kFloat, DataType::kFloat}, {attr("axis", 1)}),
               Error);
  EXPECT_THROW(run_node("Split", {x}, {DataType::kFloat, DataType::kFloat, DataType::kFloat, DataType::kFloat},
                        {attr("axis", 1)}),
               Error);
}

TEST(TensorSlice, StepsNegativeStepsAndClamping) {
  Tensor x = iota(DataType::kFloat, {5, 7});
  struct Case {
    int64_t s0, e0, st0, s1, e1, st1;
  };
  const int64_t big = INT64_MAX, small = INT64_MIN;
  for (const Case& c : {Case{0, 5, 1, 0, 7, 1}, Case{1, -1, 2, -1, small, -1}, Case{big, small, -2, 2, big, 3},
                        Case{-100, 100, 1, 6, 0, -2}, Case{3, 3, 1, 0, 7, 1}, Case{4, 0, 1, -8, 8, 4}}) {
    auto out = run_node("Slice",
                        {x, make<int64_t>({2}, {c.s0, c.s1}), make<int64_t>({2}, {c.e0, c.e1}),
                         make<int64_t>({2}, {0, 1}), make<int64_t>({2}, {c.st0, c.st1})},
                        {DataType::kFloat});
    // Reference: walk the python-style slice per axis.
    auto walk = [](int64_t s, int64_t e, int64_t st, int64_t n) {
      std::vector<int64_t> v;
      auto fix = [n](int64_t i, bool neg) {
        if (i < 0) i = i < -n ? (neg ? -1 : 0) : i + n;
        return neg ? std::min(i, n - 1) : std::min(i, n);
      };
      s = fix(s, st < 0);
      e = fix(e, st < 0);
      for (int64_t i = s; st > 0 ? i < e : i > e; i += st) v.push_back(i);
      return v;
    };
    auto rows = walk(c.s0, c.e0, c.st0, 5), cols = walk(c.s1, c.e1, c.st1, 7);
    const Tensor& y = out[0].tensor();
    ASSERT_EQ(y.shape(), (Shape{static_cast<int64_t>(rows.size()), static_cast<int64_t>(cols.size())}));
    for (size_t i = 0; i < rows.size(); ++i)
      for (size_t j = 0; j < cols.size(); ++j)
        EXPECT_EQ(y.data<float>()[i * cols.size() + j], rows[i] * 7 + cols[j]);
  }
  EXPECT_THROW(run_node("Slice", {x, make<int64_t>({1}, {0}), make<int64_t>({1}, {2}), make<int64_t>({1}, {0}),
                                  make<int64_t>({1}, {0})},
                        {DataType::kFloat}),
               Error);
}

TEST(TensorSlice, Opset1AttributesAndInt32Inputs) {
  Tensor x = iota(DataType::kFloat, {4, 4});
  auto a = run_node("Slice", {x}, {DataType::kFloat},
                    {attr("starts", std::vector<int64_t>{1}), attr("ends", std::vector<int64_t>{3}),
                     attr("axes", std::vector<int64_t>{1})},
                    9);
  EXPECT_EQ(a[0].tensor().shape(), (Shape{4, 2}));
  EXPECT_EQ(a[0].tensor().data<float>()[2], 5.f);
  auto b = run_node("Slice", {x, make<int32_t>({1}, {-2}), make<int32_t>({1}, {1000})}, {DataType::kFloat}, {}, 10);
  EXPECT_EQ(b[0].tensor().shape(), (Shape{2, 4}));
  EXPECT_EQ(b[0].tensor().data<float>()[0], 8.f);
}

TEST(TensorExpand, BroadcastsBothWays) {
  Tensor x = iota(DataType::kFloat, {3, 1});
  auto out = run_node("Expand", {x, make<int64_t>({3}, {2, 1, 4})}, {DataType::kFloat});
  const Tensor& y = out[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_EQ(y.data<float>()[i], (i / 4) % 3);
  EXPECT_THROW(run_node("Expand", {x, make<int64_t>({2}, {2, 2})}, {DataType::kFloat}), Error);
}

TEST(TensorTile, RepeatsEachAxisAndLegacyForm) {
  Tensor x = iota(DataType::kInt64, {2, 3});
  auto out = run_node("Tile", {x, make<int64_t>({2}, {2, 3})}, {DataType::kInt64});
  const Tensor& y = out[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{4, 9}));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 9; ++j) EXPECT_EQ(y.data<int64_t>()[i * 9 + j], (i % 2) * 3 + j % 3);
  auto legacy = run_node("Tile", {x, make<int64_t>({}, {3}), make<int64_t>({}, {0})}, {DataType::kInt64}, {}, 1);
  EXPECT_EQ(legacy[0].tensor().shape(), (Shape{6, 3}));
  EXPECT_THROW(run_node("Tile", {x, make<int64_t>({1}, {2})}, {DataType::kInt64}), Error);
}

namespace {
// Reference Pad of a 2-D float tensor.
Tensor ref_pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode, float v) {
  const int64_t h = x.dim(0), w = x.dim(1);
  const int64_t oh = h + pads[0] + pads[2], ow = w + pads[1] + pads[3];
  Tensor y(DataType::kFloat, {oh, ow});
  auto src = [&](int64_t i, int64_t n) -> int64_t {
    if (i >= 0 && i < n) return i;
    if (mode == "edge") return i < 0 ? 0 : n - 1;
    if (mode == "reflect") {
      while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
      return i;
    }
    return -1;
  };
  for (int64_t i = 0; i < oh; ++i)
    for (int64_t j = 0; j < ow; ++j) {
      const int64_t si = src(i - pads[0], h), sj = src(j - pads[1], w);
      y.data<float>()[i * ow + j] = si < 0 || sj < 0 ? v : x.data<float>()[si * w + sj];
    }
  return y;
}
}  // namespace

TEST(TensorPad, ModesNegativePadsAndOpsets) {
  Tensor x = random_float({4, 5}, 9);
  for (const char* mode : {"constant", "reflect", "edge"})
    for (auto pads : {std::vector<int64_t>{1, 2, 3, 4}, std::vector<int64_t>{0, 7, 2, 0}, std::vector<int64_t>{-1, 2, 1, -2}}) {
      auto out = run_node("Pad", {x, make<int64_t>({4}, pads), make<float>({}, {2.5f})}, {DataType::kFloat},
                          {attr("mode", mode)}, 13);
      EXPECT_TRUE(tensors_near(out[0].tensor(), ref_pad(x, pads, mode, 2.5f), 0, 0)) << mode;
      auto old = run_node("Pad", {x}, {DataType::kFloat}, {attr("mode", mode), attr("pads", pads), attr("value", 2.5f)}, 2);
      EXPECT_TRUE(tensors_near(old[0].tensor(), ref_pad(x, pads, mode, 2.5f), 0, 0)) << mode;
    }
  EXPECT_THROW(run_node("Pad", {x, make<int64_t>({2}, {1, 1})}, {DataType::kFloat}, {}, 13), Error);
  EXPECT_THROW(run_node("Pad", {x, make<int64_t>({4}, {-5, 0, 0, 0})}, {DataType::kFloat}, {}, 13), Error);
}

TEST(TensorWhere, BroadcastsAllThreeInputs) {
  Tensor c = make_bool({2, 1}, {1, 0});
  Tensor a = iota(DataType::kInt64, {1, 3});
  Tensor b = make<int64_t>({}, {-1});
  auto out = run_node("Where", {c, a, b}, {DataType::kInt64});
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<int64_t>({2, 3}, {0, 1, 2, -1, -1, -1})));
  auto s = run_node("Where", {make_bool({2}, {0, 1}), iota(DataType::kString, {2}), iota(DataType::kString, {1})},
                    {DataType::kString});
  EXPECT_EQ(s[0].tensor().data<std::string>()[0], "s0");
  EXPECT_EQ(s[0].tensor().data<std::string>()[1], "s1");
}

TEST(TensorReverseSequence, ReversesEachBatchPrefix) {
  Tensor x = iota(DataType::kFloat, {4, 3});  // time-major: [time, batch]
  auto out = run_node("ReverseSequence", {x, make<int64_t>({3}, {4, 1, 2})}, {DataType::kFloat},
                      {attr("time_axis", 0), attr("batch_axis", 1)});
  const Tensor& y = out[0].tensor();
  const int64_t lens[3] = {4, 1, 2};
  for (int t = 0; t < 4; ++t)
    for (int b = 0; b < 3; ++b) {
      const int src = t < lens[b] ? lens[b] - 1 - t : t;
      EXPECT_EQ(y.data<float>()[t * 3 + b], src * 3 + b);
    }
  EXPECT_THROW(run_node("ReverseSequence", {x, make<int64_t>({3}, {5, 1, 1})}, {DataType::kFloat}), Error);
}

TEST(TensorMovement, LongRowsSplitAcrossThreads) {
  // One contiguous 300k-element run: copies split it into pieces per thread.
  Tensor x = random_float({2, 150001}, 12);
  auto sl = run_node("Slice", {x, make<int64_t>({1}, {1}), make<int64_t>({1}, {150001}), make<int64_t>({1}, {1})},
                     {DataType::kFloat}, {}, 17, "", 4);
  const Tensor& y = sl[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{2, 150000}));
  for (int r = 0; r < 2; ++r)
    for (int j = 0; j < 150000; j += 997) ASSERT_EQ(y.data<float>()[r * 150000 + j], x.data<float>()[r * 150001 + j + 1]);
  auto cc = run_node("Concat", {x, x}, {DataType::kFloat}, {attr("axis", 0)}, 17, "", 4);
  ASSERT_EQ(cc[0].tensor().shape(), (Shape{4, 150001}));
  const float* c = cc[0].tensor().data<float>();
  for (int64_t i = 0; i < 300002; i += 1013) {
    ASSERT_EQ(c[i], x.data<float>()[i]);
    ASSERT_EQ(c[300002 + i], x.data<float>()[i]);
  }
}
