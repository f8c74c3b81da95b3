// Conv and ConvTranspose against the naive references in test_nn_ref.h.
#include <thread>

#include "test_nn_ref.h"

using namespace pier;
using namespace pier::test;

namespace {

using V = std::vector<int64_t>;

// A Conv/ConvTranspose model: x is a graph input with `xdims` (-1 = dynamic),
// w/b are initializers when `const_w`, else graph inputs.
std::unique_ptr<Session> conv_session(const std::string& op, const V& xdims, const Tensor& w, const Tensor* b,
                                      std::vector<onnx::AttributeProto> attrs, bool const_w, int threads = 1,
                                      DataType t = DataType::kFloat) {
  ModelBuilder mb(13);
  mb.input("x", t, xdims);
  if (const_w) {
    mb.initializer("w", w);
    if (b) mb.initializer("b", *b);
  } else {
    mb.input("w", t, w.shape());
    if (b) mb.input("b", t, b->shape());
  }
  std::vector<std::string> ins{"x", "w"};
  if (b) ins.push_back("b");
  mb.node(op, ins, {"y"}, std::move(attrs)).output("y", t);
  return mb.session(threads);
}

Tensor run_conv(const std::string& op, const Tensor& x, const Tensor& w, const Tensor* b,
                std::vector<onnx::AttributeProto> attrs, bool const_w, bool dynamic = false) {
  V xd = x.shape();
  if (dynamic)
    for (auto& d : xd) d = -1;
  auto s = conv_session(op, xd, w, b, std::move(attrs), const_w);
  std::vector<Value> feeds{Value(x)};
  if (!const_w) {
    feeds.emplace_back(w);
    if (b) feeds.emplace_back(*b);
  }
  return s->run(feeds)[0].tensor();
}

struct ConvCase {
  V x, w;
  V strides, dil, pads;
  int64_t group;
  bool bias;
};

void check_conv(const ConvCase& c, uint32_t seed) {
  Tensor x = random_float(c.x, seed), w = random_float(c.w, seed + 1), b = random_float({c.w[0]}, seed + 2);
  std::vector<onnx::AttributeProto> attrs{attr("group", c.group)};
  if (!c.strides.empty()) attrs.push_back(attr("strides", c.strides));
  if (!c.dil.empty()) attrs.push_back(attr("dilations", c.dil));
  if (!c.pads.empty()) attrs.push_back(attr("pads", c.pads));
  const Tensor* bp = c.bias ? &b : nullptr;
  Tensor want = nnref::conv(x, w, bp, c.strides, c.dil, c.pads, c.group);
  for (int mode = 0; mode < 3; ++mode) {
    // 0: weights as inputs; 1: constant weights, static shape (built at
    // session creation); 2: constant weights, dynamic input shape.
    Tensor got = run_conv("Conv", x, w, bp, attrs, mode > 0, mode == 2);
    EXPECT_TRUE(tensors_near(got, want, 1e-4, 1e-4)) << "mode " << mode << " x " << shape_str(c.x) << " w "
                                                     << shape_str(c.w);
  }
}

}  // namespace

TEST(NnConv, Basic2DWithPadsStridesBias) {
  check_conv({{1, 1, 5, 5}, {1, 1, 3, 3}, {}, {}, {1, 1, 1, 1}, 1, false}, 1);
  check_conv({{2, 3, 7, 6}, {4, 3, 3, 2}, {2, 1}, {}, {1, 0, 2, 1}, 1, true}, 2);
}

TEST(NnConv, BlockedAndPlainInternalLayouts) {
  // 3x3 with 32 channels goes through oneDNN's preferred layout, 1x1 on a
  // 16x16 image through the plain GEMM path; both must agree with the reference.
  check_conv({{2, 32, 9, 9}, {48, 32, 3, 3}, {}, {}, {1, 1, 1, 1}, 1, true}, 3);
  check_conv({{1, 64, 16, 16}, {32, 64, 1, 1}, {}, {}, {}, 1, true}, 4);
  check_conv({{1, 16, 8, 8}, {16, 16, 1, 1}, {2, 2}, {}, {}, 1, false}, 5);
}

TEST(NnConv, GroupsDepthwiseDilations) {
  check_conv({{1, 8, 9, 9}, {12, 4, 3, 3}, {}, {}, {1, 1, 1, 1}, 2, true}, 6);
  check_conv({{2, 32, 10, 10}, {32, 1, 3, 3}, {1, 1}, {}, {1, 1, 1, 1}, 32, true}, 7);   // depthwise
  check_conv({{1, 16, 12, 12}, {32, 1, 3, 3}, {2, 2}, {}, {1, 1, 1, 1}, 16, true}, 8);  // multiplier 2
  check_conv({{1, 3, 11, 11}, {5, 3, 3, 3}, {}, {2, 3}, {2, 1, 0, 3}, 1, true}, 9);
}

TEST(NnConv, OneAndThreeDimensional) {
  check_conv({{2, 4, 17}, {6, 4, 3}, {2}, {2}, {1, 2}, 1, true}, 10);
  check_conv({{1, 4, 5, 6, 7}, {8, 2, 3, 2, 3}, {1, 2, 1}, {1, 1, 2}, {1, 0, 1, 0, 1, 1}, 2, true}, 11);
}

TEST(NnConv, AutoPad) {
  Tensor x = random_float({1, 2, 7, 8}, 20), w = random_float({3, 2, 3, 4}, 21);
  // SAME_*: out = ceil(in / stride); total pad = (out-1)*s + k - in.
  // H: in 7, s 2 -> out 4, total 2 -> 1/1. W: in 8, s 2, k 4 -> out 4, total 2 -> 1/1.
  // With stride 1 on W: total 3 -> UPPER 1/2, LOWER 2/1.
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER"}) {
    const bool upper = std::string(mode) == "SAME_UPPER";
    Tensor got = run_conv("Conv", x, w, nullptr, {attr("auto_pad", mode), attr("strides", V{2, 1})}, true);
    // H: in 7, s 2 -> out 4, total (3*2+3-7)=2 -> 1/1. W: s 1, k 4 -> total 3.
    Tensor want = nnref::conv(x, w, nullptr, {2, 1}, {}, upper ? V{1, 1, 1, 2} : V{1, 2, 1, 1}, 1);
    EXPECT_TRUE(tensors_near(got, want, 1e-4, 1e-4)) << mode;
  }
  Tensor got = run_conv("Conv", x, w, nullptr, {attr("auto_pad", "VALID"), attr("strides", V{2, 2})}, false);
  EXPECT_TRUE(tensors_near(got, nnref::conv(x, w, nullptr, {2, 2}, {}, {}, 1), 1e-4, 1e-4));
  // kernel_shape given explicitly and consistent with W.
  got = run_conv("Conv", x, w, nullptr, {attr("kernel_shape", V{3, 4})}, true);
  EXPECT_TRUE(tensors_near(got, nnref::conv(x, w, nullptr, {}, {}, {}, 1), 1e-4, 1e-4));
}

TEST(NnConv, HalfAndDoubleGoThroughFloat) {
  Tensor x = random_float({1, 3, 6, 6}, 30), w = random_float({4, 3, 3, 3}, 31), b = random_float({4}, 32);
  Tensor want = nnref::conv(x, w, &b, {}, {}, {1, 1, 1, 1}, 1);
  for (DataType t : {DataType::kDouble, DataType::kFloat16}) {
    auto cast = [&](const Tensor& f) {
      Tensor r(t, f.shape());
      for (int64_t i = 0; i < f.numel(); ++i) {
        const float v = f.data<float>()[i];
        if (t == DataType::kDouble) r.data<double>()[i] = v;
        else r.data<Float16>()[i] = Float16(v);
      }
      return r;
    };
    Tensor xc = cast(x), wc = cast(w), bc = cast(b);
    auto s = conv_session("Conv", x.shape(), wc, &bc, {attr("pads", V{1, 1, 1, 1})}, true, 1, t);
    Tensor got = s->run({Value(xc)})[0].tensor();
    ASSERT_EQ(got.dtype(), t);
    Tensor wantc = nnref::conv(xc, wc, &bc, {}, {}, {1, 1, 1, 1}, 1);
    EXPECT_TRUE(tensors_near(got, cast(wantc), t == DataType::kDouble ? 1e-5 : 2e-3, 2e-3));
  }
}

TEST(NnConv, OverriddenInitializerIsUsed) {
  Tensor x = random_float({1, 16, 6, 6}, 40), w = random_float({16, 16, 3, 3}, 41), w2 = random_float({16, 16, 3, 3}, 42);
  ModelBuilder mb(13);
  mb.input("x", DataType::kFloat, x.shape()).input("w", DataType::kFloat, w.shape()).initializer("w", w);
  mb.node("Conv", {"x", "w"}, {"y"}).output("y", DataType::kFloat);
  auto s = mb.session();
  auto a = s->run({{"x", Value(x)}})[0].tensor();
  EXPECT_TRUE(tensors_near(a, nnref::conv(x, w, nullptr, {}, {}, {}, 1), 1e-4, 1e-4));
  auto b = s->run({{"x", Value(x)}, {"w", Value(w2)}})[0].tensor();
  EXPECT_TRUE(tensors_near(b, nnref::conv(x, w2, nullptr, {}, {}, {}, 1), 1e-4, 1e-4));
}

TEST(NnConv, ConcurrentRunsWithDifferentShapes) {
  Tensor w = random_float({24, 16, 3, 3}, 50), b = random_float({24}, 51);
  auto s = conv_session("Conv", {-1, 16, -1, -1}, w, &b, {attr("pads", V{1, 1, 1, 1})}, true, 1);
  std::vector<std::thread> ts;
  std::vector<int> ok(8, 0);
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&, i] {
      Tensor x = random_float({1 + i % 2, 16, 5 + i % 3, 6 + i % 4}, 60 + i);
      Tensor want = nnref::conv(x, w, &b, {}, {}, {1, 1, 1, 1}, 1);
      bool all = true;
      for (int rep = 0; rep < 3; ++rep) all = all && tensors_near(s->run({Value(x)})[0].tensor(), want, 1e-4, 1e-4);
      ok[i] = all;
    });
  for (auto& t : ts) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(ok[i]) << "thread " << i;
}

TEST(NnConv, MultiThreadedSessionMatches) {
  Tensor x = random_float({2, 32, 14, 14}, 70), w = random_float({32, 32, 3, 3}, 71);
  auto s = conv_session("Conv", x.shape(), w, nullptr, {attr("pads", V{1, 1, 1, 1})}, true, 2);
  EXPECT_TRUE(tensors_near(s->run({Value(x)})[0].tensor(), nnref::conv(x, w, nullptr, {}, {}, {1, 1, 1, 1}, 1), 1e-4,
                           1e-4));
}

TEST(NnConv, BadInputsAreErrors) {
  Tensor x = random_float({1, 3, 5, 5}, 80);
  // Channel mismatch.
  EXPECT_THROW(run_node("Conv", {x, random_float({2, 4, 3, 3}, 81)}, {DataType::kFloat}), Error);
  // Bias of the wrong size.
  EXPECT_THROW(run_node("Conv", {x, random_float({2, 3, 3, 3}, 82), random_float({3}, 83)}, {DataType::kFloat}),
               Error);
  // Kernel larger than the padded input.
  EXPECT_THROW(run_conv("Conv", x, random_float({2, 3, 7, 7}, 84), nullptr, {}, false, true), Error);
  // kernel_shape that contradicts W.
  EXPECT_THROW(run_conv("Conv", x, random_float({2, 3, 3, 3}, 85), nullptr, {attr("kernel_shape", V{2, 2})}, false,
                        true),
               Error);
  // Group that does not divide the output channels.
  EXPECT_THROW(run_conv("Conv", random_float({1, 4, 5, 5}, 86), random_float({3, 2, 3, 3}, 87), nullptr,
                        {attr("group", int64_t{2})}, false, true),
               Error);
}

// ---- ConvTranspose ------------------------------------------------------------

namespace {

struct DeconvCase {
  V x, w;
  V strides, dil, pads, out_pad, out_shape;
  int64_t group;
  bool bias;
  const char* auto_pad;
};

void check_deconv(const DeconvCase& c, uint32_t seed) {
  Tensor x = random_float(c.x, seed), w = random_float(c.w, seed + 1);
  const int64_t m = c.w[1] * c.group;
  Tensor b = random_float({m}, seed + 2);
  const size_t n = c.x.size() - 2;
  std::vector<onnx::AttributeProto> attrs{attr("group", c.group)};
  if (!c.strides.empty()) attrs.push_back(attr("strides", c.strides));
  if (!c.dil.empty()) attrs.push_back(attr("dilations", c.dil));
  if (!c.pads.empty()) attrs.push_back(attr("pads", c.pads));
  if (!c.out_pad.empty()) attrs.push_back(attr("output_padding", c.out_pad));
  if (!c.out_shape.empty()) attrs.push_back(attr("output_shape", c.out_shape));
  if (c.auto_pad) attrs.push_back(attr("auto_pad", c.auto_pad));
  // Expected geometry, from the operator's definition.
  V pb(n), out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t s = c.strides.empty() ? 1 : c.strides[i], d = c.dil.empty() ? 1 : c.dil[i];
    const int64_t op = c.out_pad.empty() ? 0 : c.out_pad[i];
    const int64_t full = s * (c.x[2 + i] - 1) + op + (c.w[2 + i] - 1) * d + 1;
    const bool upper = c.auto_pad && std::string(c.auto_pad) == "SAME_UPPER";
    auto floordiv2 = [](int64_t v) { return static_cast<int64_t>(std::floor(v / 2.0)); };
    if (!c.out_shape.empty() || (c.auto_pad && std::string(c.auto_pad) != "VALID")) {
      out[i] = c.out_shape.empty() ? c.x[2 + i] * s : c.out_shape[i];
      const int64_t total = full - out[i];
      pb[i] = upper ? floordiv2(total) : total - floordiv2(total);
    } else {
      pb[i] = c.pads.empty() ? 0 : c.pads[i];
      out[i] = full - (c.pads.empty() ? 0 : c.pads[i] + c.pads[i + n]);
    }
  }
  const Tensor* bp = c.bias ? &b : nullptr;
  Tensor want = nnref::conv_transpose(x, w, bp, c.strides, c.dil, pb, out, c.group);
  for (int mode = 0; mode < 3; ++mode) {
    Tensor got = run_conv("ConvTranspose", x, w, bp, attrs, mode > 0, mode == 2);
    EXPECT_TRUE(tensors_near(got, want, 1e-4, 1e-4)) << "mode " << mode << " x " << shape_str(c.x);
  }
}

}  // namespace

TEST(NnConvTranspose, StridesPadsBias) {
  check_deconv({{1, 1, 3, 3}, {1, 2, 3, 3}, {}, {}, {}, {}, {}, 1, false, nullptr}, 100);
  check_deconv({{2, 3, 4, 5}, {3, 4, 3, 2}, {2, 3}, {}, {1, 0, 2, 1}, {}, {}, 1, true, nullptr}, 101);
}

TEST(NnConvTranspose, OutputPaddingAndOutputShape) {
  check_deconv({{1, 2, 3, 3}, {2, 3, 3, 3}, {3, 2}, {}, {}, {1, 1}, {}, 1, true, nullptr}, 110);
  check_deconv({{1, 2, 3, 3}, {2, 3, 3, 3}, {3, 2}, {}, {}, {}, {10, 8}, 1, true, nullptr}, 111);
  check_deconv({{1, 2, 3, 3}, {2, 3, 3, 3}, {3, 2}, {}, {}, {1, 1}, {10, 8}, 1, false, nullptr}, 112);
  // Negative end padding on the JIT path (many channels).
  check_deconv({{1, 32, 5, 5}, {32, 32, 3, 3}, {2, 2}, {}, {}, {}, {12, 13}, 1, true, nullptr}, 113);
}

TEST(NnConvTranspose, AutoPadDilationsGroups) {
  check_deconv({{1, 1, 3, 3}, {1, 2, 3, 3}, {2, 2}, {}, {}, {}, {}, 1, true, "SAME_UPPER"}, 120);
  check_deconv({{1, 1, 3, 4}, {1, 2, 3, 2}, {2, 3}, {}, {}, {}, {}, 1, true, "SAME_LOWER"}, 121);
  check_deconv({{1, 2, 3, 3}, {2, 3, 1, 1}, {2, 2}, {}, {}, {}, {}, 1, true, "SAME_UPPER"}, 125);  // leading pad -1
  check_deconv({{1, 1, 3, 3}, {1, 1, 2, 2}, {}, {2, 2}, {}, {}, {}, 1, false, nullptr}, 122);
  check_deconv({{2, 6, 4, 4}, {6, 2, 3, 3}, {2, 2}, {1, 2}, {1, 1, 0, 1}, {}, {}, 3, true, nullptr}, 123);
  check_deconv({{1, 32, 6, 6}, {32, 16, 4, 4}, {2, 2}, {}, {1, 1, 1, 1}, {}, {}, 1, true, nullptr}, 124);
}

TEST(NnConvTranspose, OneAndThreeDimensional) {
  check_deconv({{1, 3, 5}, {3, 2, 3}, {2}, {}, {1, 0}, {1}, {}, 1, true, nullptr}, 130);
  check_deconv({{1, 2, 3, 4, 3}, {2, 2, 2, 3, 2}, {2, 1, 2}, {}, {}, {}, {}, 1, true, nullptr}, 131);
}

TEST(NnConvTranspose, BadInputsAreErrors) {
  EXPECT_THROW(run_node("ConvTranspose", {random_float({1, 3, 5, 5}, 1), random_float({2, 3, 3, 3}, 2)},
                        {DataType::kFloat}),
               Error);
  EXPECT_THROW(run_conv("ConvTranspose", random_float({1, 2, 3, 3}, 3), random_float({2, 2, 3, 3}, 4), nullptr,
                        {attr("pads", V{3, 3, 3, 3})}, false, true),
               Error);  // output size not positive
}
