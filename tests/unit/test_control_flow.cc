// If, Loop and Scan: branches and bodies, outer-scope captures (also two
// scopes up), scan outputs, sequence/optional values, errors, concurrency.
#include <chrono>
#include <thread>

#include "test_control_helpers.h"

using namespace pier;
using namespace pier::test;
using namespace pier::test::ctl;

namespace {

const DataType F = DataType::kFloat;
const DataType I64 = DataType::kInt64;
const DataType B = DataType::kBool;

std::vector<float> floats_of(const Tensor& t) { return to_floats(t); }

// If whose branches add / subtract the outer inputs and return different shapes.
std::unique_ptr<Session> if_model() {
  auto then_g = graph("then", {node("Add", {"x", "y"}, {"t_out"})}, {}, {tensor_info("t_out", F, {2})});
  auto else_g = graph("else", {node("Sub", {"x", "y"}, {"e_d"}), constant("three", make<float>({3}, {7, 8, 9})),
                               node("Identity", {"three"}, {"e_out"})},
                      {}, {tensor_info("e_out", F, {3})});
  ModelBuilder b(13);
  b.input("c", B, {}).input("x", F, {2}).input("y", F, {2});
  b.node("If", {"c"}, {"r"}, {attr("then_branch", then_g), attr("else_branch", else_g)});
  b.output("r", F, {-1});
  return b.session();
}

}  // namespace

TEST(ControlIf, PicksBranchAndCapturesOuterValues) {
  auto s = if_model();
  Tensor x = make<float>({2}, {1, 2}), y = make<float>({2}, {10, 20});
  auto t = s->run({scalar_bool(true), x, y});
  EXPECT_TRUE(tensors_near(t[0].tensor(), make<float>({2}, {11, 22})));
  // The else branch returns a different shape.
  auto e = s->run({scalar_bool(false), x, y});
  EXPECT_TRUE(tensors_near(e[0].tensor(), make<float>({3}, {7, 8, 9})));
}

TEST(ControlIf, ConditionMustBeOneValue) {
  auto then_g = graph("then", {constant("a", make<float>({1}, {1}))}, {}, {tensor_info("a", F, {1})});
  auto else_g = graph("else", {constant("b", make<float>({1}, {2}))}, {}, {tensor_info("b", F, {1})});
  ModelBuilder b(13);
  b.input("c", B, {-1});
  b.node("If", {"c"}, {"r"}, {attr("then_branch", then_g), attr("else_branch", else_g)});
  b.output("r", F, {1});
  auto s = b.session();
  Tensor two(B, {2});
  two.data<bool>()[0] = two.data<bool>()[1] = true;
  EXPECT_THROW(s->run({two}), Error);
  auto ok = s->run({make_bool({1}, {0})});
  EXPECT_TRUE(tensors_near(ok[0].tensor(), make<float>({1}, {2})));
}

TEST(ControlIf, ReturnsASequence) {
  auto then_g = graph("then", {node("SequenceConstruct", {"x", "x"}, {"t_seq"})}, {}, {sequence_info("t_seq", F)});
  auto else_g = graph("else", {node("SequenceConstruct", {"x"}, {"e_seq"})}, {}, {sequence_info("e_seq", F)});
  ModelBuilder b(13);
  b.input("c", B, {}).input("x", F, {3});
  b.node("If", {"c"}, {"r"}, {attr("then_branch", then_g), attr("else_branch", else_g)});
  b.sequence_output("r", F);
  auto s = b.session();
  Tensor x = make<float>({3}, {1, 2, 3});
  auto t = s->run({scalar_bool(true), x});
  ASSERT_TRUE(t[0].is_sequence());
  ASSERT_EQ(t[0].items().size(), 2u);
  EXPECT_TRUE(tensors_near(t[0].items()[1], x));
  auto e = s->run({scalar_bool(false), x});
  ASSERT_EQ(e[0].items().size(), 1u);
}

TEST(ControlIf, ReturnsAnEmptyOrFullOptional) {
  auto then_g = graph("then", {node("Optional", {}, {"t_opt"}, {type_attr("type", F)})}, {}, {optional_info("t_opt", F)});
  auto else_g = graph("else", {node("Optional", {"x"}, {"e_opt"})}, {}, {optional_info("e_opt", F)});
  ModelBuilder b(16);
  b.input("c", B, {}).input("x", F, {2});
  b.node("If", {"c"}, {"r"}, {attr("then_branch", then_g), attr("else_branch", else_g)});
  b.node("OptionalHasElement", {"r"}, {"has"});
  add_output(b, optional_info("r", F));
  b.output("has", B, {});
  auto s = b.session();
  Tensor x = make<float>({2}, {4, 5});
  auto t = s->run({scalar_bool(true), x});
  EXPECT_TRUE(t[0].is_none());
  EXPECT_FALSE(t[1].tensor().data<bool>()[0]);
  auto e = s->run({scalar_bool(false), x});
  EXPECT_TRUE(tensors_near(e[0].tensor(), x));
  EXPECT_TRUE(e[1].tensor().data<bool>()[0]);
}

namespace {

// Loop(M, cond, y0, s0): y += x (outer), s += iteration_num; scan out y*y.
std::unique_ptr<Session> loop_model(bool with_m, bool with_cond, int opset = 13) {
  auto body = graph("body",
                    {node("Add", {"y_in", "x"}, {"y_out"}), node("Add", {"s_in", "i"}, {"s_out"}),
                     node("Mul", {"y_out", "y_out"}, {"sq"}), node("Identity", {"c_in"}, {"c_out"})},
                    {tensor_info("i", I64, {}), tensor_info("c_in", B, {}), tensor_info("y_in", F, {2}),
                     tensor_info("s_in", I64, {})},
                    {tensor_info("c_out", B, {}), tensor_info("y_out", F, {2}), tensor_info("s_out", I64, {}),
                     tensor_info("sq", F, {2})});
  ModelBuilder b(opset);
  if (with_m) b.input("M", I64, {});
  if (with_cond) b.input("cond", B, {});
  b.input("x", F, {2}).input("y0", F, {2}).input("s0", I64, {});
  b.node("Loop", {with_m ? "M" : "", with_cond ? "cond" : "", "y0", "s0"}, {"y", "s", "scan"}, {attr("body", body)});
  b.output("y", F, {2}).output("s", I64, {}).output("scan", F, {-1, 2});
  return b.session();
}

}  // namespace

TEST(ControlLoop, CarriedValuesAndScanOutput) {
  auto s = loop_model(true, true);
  Tensor x = make<float>({2}, {1, -2}), y0 = make<float>({2}, {0.5f, 3});
  const int64_t m = 5;
  auto out = s->run({scalar_i64(m), scalar_bool(true), x, y0, scalar_i64(100)});
  // Reference: y_k = y0 + k x; s = 100 + sum(0..m-1); scan row k = y_{k+1}^2.
  std::vector<float> want_scan;
  for (int k = 1; k <= m; ++k)
    for (int j = 0; j < 2; ++j) {
      float v = floats_of(y0)[j] + k * floats_of(x)[j];
      want_scan.push_back(v * v);
    }
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({2}, {0.5f + m * 1.f, 3 - m * 2.f})));
  EXPECT_TRUE(tensors_near(out[1].tensor(), scalar_i64(100 + m * (m - 1) / 2)));
  EXPECT_TRUE(tensors_near(out[2].tensor(), make<float>({m, 2}, want_scan)));
}

TEST(ControlLoop, ZeroTripsKeepInitialValuesAndEmptyScan) {
  auto s = loop_model(true, true);
  Tensor x = make<float>({2}, {1, 1}), y0 = make<float>({2}, {4, 5});
  auto out = s->run({scalar_i64(0), scalar_bool(true), x, y0, scalar_i64(7)});
  EXPECT_TRUE(tensors_near(out[0].tensor(), y0));
  EXPECT_TRUE(tensors_near(out[1].tensor(), scalar_i64(7)));
  EXPECT_EQ(out[2].tensor().shape(), (Shape{0, 2}));
  // A false initial condition also runs no iteration.
  auto f = s->run({scalar_i64(3), scalar_bool(false), x, y0, scalar_i64(7)});
  EXPECT_TRUE(tensors_near(f[0].tensor(), y0));
}

TEST(ControlLoop, TripCountWithoutCondition) {
  auto s = loop_model(true, false, 11);
  auto out = s->run({scalar_i64(3), make<float>({2}, {1, 2}), make<float>({2}, {0, 0}), scalar_i64(0)});
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({2}, {3, 6})));
  EXPECT_EQ(out[2].tensor().shape(), (Shape{3, 2}));
}

TEST(ControlLoop, WhileLoopWithoutTripCount) {
  // i = i + 1 while i + 1 < limit (do-while, as the body computes cond).
  auto body = graph("body",
                    {constant("one", scalar_i64(1)), node("Add", {"i_in", "one"}, {"i_out"}),
                     node("Less", {"i_out", "limit"}, {"c_out"})},
                    {tensor_info("iter", I64, {}), tensor_info("c_in", B, {}), tensor_info("i_in", I64, {})},
                    {tensor_info("c_out", B, {}), tensor_info("i_out", I64, {})});
  ModelBuilder b(13);
  b.input("cond", B, {}).input("limit", I64, {}).input("i0", I64, {});
  b.node("Loop", {"", "cond", "i0"}, {"i"}, {attr("body", body)});
  b.output("i", I64, {});
  auto s = b.session();
  for (int64_t limit : {1, 2, 7}) {
    auto out = s->run({scalar_bool(true), scalar_i64(limit), scalar_i64(0)});
    EXPECT_TRUE(tensors_near(out[0].tensor(), scalar_i64(limit))) << limit;
  }
  auto none = s->run({scalar_bool(false), scalar_i64(5), scalar_i64(0)});
  EXPECT_TRUE(tensors_near(none[0].tensor(), scalar_i64(0)));
}

// A Loop whose condition never turns false, with operators in its body or
// none, ends when the run's time limit passes; other runs are unaffected.
TEST(ControlLoop, EndlessLoopStopsAtTheRunTimeLimit) {
  auto counting = graph("body", {constant("one", scalar_i64(1)), node("Add", {"i_in", "one"}, {"i_out"}),
                                 node("Identity", {"c_in"}, {"c_out"})},
                        {tensor_info("iter", I64, {}), tensor_info("c_in", B, {}), tensor_info("i_in", I64, {})},
                        {tensor_info("c_out", B, {}), tensor_info("i_out", I64, {})});
  auto empty = graph("body", {}, {tensor_info("iter", I64, {}), tensor_info("c_in", B, {}), tensor_info("i_in", I64, {})},
                     {tensor_info("c_in", B, {}), tensor_info("i_in", I64, {})});
  for (const auto& body : {counting, empty}) {
    ModelBuilder b(13);
    b.input("cond", B, {}).input("i0", I64, {});
    b.node("Loop", {"", "cond", "i0"}, {"i"}, {attr("body", body)});
    b.output("i", I64, {});
    auto s = b.session();
    RunOptions o;
    o.timeout = std::chrono::milliseconds(200);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      s->run({scalar_bool(true), scalar_i64(0)}, o);
      ADD_FAILURE() << "an endless Loop returned";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded) << e.what();
      EXPECT_NE(std::string(e.what()).find("time limit of 200 ms"), std::string::npos) << e.what();
    }
    const double s_taken = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(s_taken, 0.2);
    EXPECT_LT(s_taken, 5.0);
    // The same session runs a finite loop within a time limit, and with none.
    auto out = s->run({{"cond", Value(scalar_bool(false))}, {"i0", Value(scalar_i64(3))}}, {}, o);
    EXPECT_TRUE(tensors_near(out[0].tensor(), scalar_i64(3)));
    EXPECT_TRUE(tensors_near(s->run({scalar_bool(false), scalar_i64(4)})[0].tensor(), scalar_i64(4)));
  }
}

TEST(ControlLoop, SequenceCarriedValue) {
  // Appends the iteration number to a sequence each iteration.
  auto body = graph("body",
                    {node("SequenceInsert", {"seq_in", "i"}, {"seq_out"}), node("Identity", {"c_in"}, {"c_out"})},
                    {tensor_info("i", I64, {}), tensor_info("c_in", B, {}), sequence_info("seq_in", I64)},
                    {tensor_info("c_out", B, {}), sequence_info("seq_out", I64)});
  ModelBuilder b(13);
  b.input("M", I64, {});
  b.node("SequenceEmpty", {}, {"empty"}, {attr("dtype", static_cast<int64_t>(I64))});
  b.node("Loop", {"M", "", "empty"}, {"seq"}, {attr("body", body)});
  b.node("ConcatFromSequence", {"seq"}, {"all"}, {attr("axis", int64_t{0}), attr("new_axis", int64_t{1})});
  b.sequence_output("seq", I64).output("all", I64, {-1});
  auto s = b.session();
  auto out = s->run({scalar_i64(4)});
  ASSERT_EQ(out[0].items().size(), 4u);
  EXPECT_TRUE(tensors_near(out[1].tensor(), make<int64_t>({4}, {0, 1, 2, 3})));
}

TEST(ControlLoop, EmptyOptionalCarriedValue) {
  auto body = graph("body", {node("Identity", {"o_in"}, {"o_out"}), node("Identity", {"c_in"}, {"c_out"})},
                    {tensor_info("i", I64, {}), tensor_info("c_in", B, {}), optional_info("o_in", F)},
                    {tensor_info("c_out", B, {}), optional_info("o_out", F)});
  ModelBuilder b(16);
  b.input("M", I64, {});
  add_input(b, optional_info("o0", F));
  b.node("Loop", {"M", "", "o0"}, {"o"}, {attr("body", body)});
  add_output(b, optional_info("o", F));
  auto s = b.session();
  auto none = s->run({scalar_i64(3), Value::none()});
  EXPECT_TRUE(none[0].is_none());
  auto full = s->run({scalar_i64(3), make<float>({1}, {2})});
  EXPECT_TRUE(tensors_near(full[0].tensor(), make<float>({1}, {2})));
}

TEST(ControlLoop, NestedSubgraphReadsValueTwoScopesUp) {
  // Main graph input w; Loop body runs an If whose branches read w (two
  // scopes up) and the Loop's carried y (one scope up).
  auto then_g = graph("then", {node("Add", {"y_in", "w"}, {"t_out"})}, {}, {tensor_info("t_out", F, {2})});
  auto else_g = graph("else", {node("Mul", {"y_in", "w"}, {"e_out"})}, {}, {tensor_info("e_out", F, {2})});
  auto body = graph("body",
                    {constant("two", scalar_i64(2)), node("Less", {"i", "two"}, {"early"}),
                     node("If", {"early"}, {"y_out"}, {attr("then_branch", then_g), attr("else_branch", else_g)}),
                     node("Identity", {"c_in"}, {"c_out"})},
                    {tensor_info("i", I64, {}), tensor_info("c_in", B, {}), tensor_info("y_in", F, {2})},
                    {tensor_info("c_out", B, {}), tensor_info("y_out", F, {2})});
  ModelBuilder b(13);
  b.input("M", I64, {}).input("w", F, {2}).input("y0", F, {2});
  b.node("Loop", {"M", "", "y0"}, {"y"}, {attr("body", body)});
  b.output("y", F, {2});
  auto s = b.session();
  Tensor w = make<float>({2}, {2, 3}), y0 = make<float>({2}, {1, 1});
  auto out = s->run({scalar_i64(4), w, y0});
  std::vector<float> y = floats_of(y0), wv = floats_of(w);
  for (int it = 0; it < 4; ++it)
    for (int j = 0; j < 2; ++j) y[j] = it < 2 ? y[j] + wv[j] : y[j] * wv[j];
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({2}, y)));
}

TEST(ControlLoop, ScanOutputShapeMustNotChange) {
  // The scan output grows each iteration: a clear error, no crash.
  auto body = graph("body",
                    {node("SequenceInsert", {"seq_in", "x"}, {"seq_out"}),
                     node("ConcatFromSequence", {"seq_out"}, {"grown"}, {attr("axis", int64_t{0})}),
                     node("Identity", {"c_in"}, {"c_out"})},
                    {tensor_info("i", I64, {}), tensor_info("c_in", B, {}), sequence_info("seq_in", F)},
                    {tensor_info("c_out", B, {}), sequence_info("seq_out", F), tensor_info("grown", F, {-1})});
  ModelBuilder b(13);
  b.input("M", I64, {}).input("x", F, {1});
  b.node("SequenceEmpty", {}, {"empty"});
  b.node("Loop", {"M", "", "empty"}, {"seq", "scan"}, {attr("body", body)});
  b.sequence_output("seq", F).output("scan", F, {-1, -1});
  auto s = b.session();
  auto one = s->run({scalar_i64(1), make<float>({1}, {5})});
  EXPECT_EQ(one[1].tensor().shape(), (Shape{1, 1}));
  EXPECT_THROW(s->run({scalar_i64(3), make<float>({1}, {5})}), Error);
}

TEST(ControlLoop, ConcurrentRunsGiveIdenticalResults) {
  auto s = loop_model(true, true);
  Tensor x = random_float({2}, 3), y0 = random_float({2}, 4);
  const std::vector<Value> feeds = {scalar_i64(300), scalar_bool(true), x, y0, scalar_i64(0)};
  const auto want = s->run(feeds);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 10; ++rep) {
        auto got = s->run(feeds);
        bool same = true;
        for (size_t k = 0; k < want.size(); ++k) same = same && tensors_near(got[k].tensor(), want[k].tensor(), 0, 0);
        ok[t] += same;
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(ok[t], 10) << "thread " << t;
}

namespace {

// Cumulative sum over a scan: state s, element x_t -> s + x_t (scanned out).
onnx::GraphProto cumsum_body(std::vector<int64_t> elem_dims) {
  return graph("body", {node("Add", {"s_in", "x_t"}, {"s_out"}), node("Identity", {"s_out"}, {"y_t"})},
               {tensor_info("s_in", F, elem_dims), tensor_info("x_t", F, elem_dims)},
               {tensor_info("s_out", F, elem_dims), tensor_info("y_t", F, elem_dims)});
}

}  // namespace

TEST(ControlScan, ForwardScanOverAxis0) {
  ModelBuilder b(11);
  b.input("s0", F, {2}).input("x", F, {3, 2});
  b.node("Scan", {"s0", "x"}, {"s", "y"}, {attr("body", cumsum_body({2})), attr("num_scan_inputs", int64_t{1})});
  b.output("s", F, {2}).output("y", F, {3, 2});
  auto s = b.session();
  auto out = s->run({make<float>({2}, {0, 10}), make<float>({3, 2}, {1, 2, 3, 4, 5, 6})});
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({2}, {9, 22})));
  EXPECT_TRUE(tensors_near(out[1].tensor(), make<float>({3, 2}, {1, 12, 4, 16, 9, 22})));
}

TEST(ControlScan, AxesAndDirections) {
  // x is [2, 3] scanned along axis 1 in reverse; outputs are accumulated
  // along axis 1 and prepended, so y[:, t] is the sum of x[:, t:].
  ModelBuilder b(16);
  b.input("s0", F, {2}).input("x", F, {2, 3});
  b.node("Scan", {"s0", "x"}, {"s", "y"},
         {attr("body", cumsum_body({2})), attr("num_scan_inputs", int64_t{1}),
          attr("scan_input_axes", std::vector<int64_t>{1}), attr("scan_input_directions", std::vector<int64_t>{1}),
          attr("scan_output_axes", std::vector<int64_t>{-1}), attr("scan_output_directions", std::vector<int64_t>{1})});
  b.output("s", F, {2}).output("y", F, {2, 3});
  auto s = b.session();
  std::vector<float> xv = {1, 2, 3, 4, 5, 6};
  auto out = s->run({make<float>({2}, {0, 0}), make<float>({2, 3}, xv)});
  std::vector<float> want(6);
  for (int r = 0; r < 2; ++r) {
    float acc = 0;
    for (int t = 2; t >= 0; --t) want[r * 3 + t] = acc += xv[r * 3 + t];
  }
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({2}, {6, 15})));
  EXPECT_TRUE(tensors_near(out[1].tensor(), make<float>({2, 3}, want)));
}

TEST(ControlScan, Opset8BatchesAndSequenceLengths) {
  ModelBuilder b(8);
  b.input("lens", I64, {2}).input("s0", F, {2, 1}).input("x", F, {2, 3, 1});
  b.node("Scan", {"lens", "s0", "x"}, {"s", "y"},
         {attr("body", cumsum_body({1})), attr("num_scan_inputs", int64_t{1}),
          attr("directions", std::vector<int64_t>{1})});
  b.output("s", F, {2, 1}).output("y", F, {2, 3, 1});
  auto s = b.session();
  std::vector<float> xv = {1, 2, 3, 10, 20, 30};
  auto out = s->run({make<int64_t>({2}, {3, 2}), make<float>({2, 1}, {0, 100}), make<float>({2, 3, 1}, xv)});
  // Batch 0: reverse over 3 -> 3, 5, 6. Batch 1: reverse over first 2 -> 120, 130, then zero padding.
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({2, 1}, {6, 130})));
  EXPECT_TRUE(tensors_near(out[1].tensor(), make<float>({2, 3, 1}, {3, 5, 6, 120, 130, 0})));
  // Without sequence_lens every row runs the full length.
  ModelBuilder b2(8);
  b2.input("s0", F, {2, 1}).input("x", F, {2, 3, 1});
  b2.node("Scan", {"", "s0", "x"}, {"s", "y"}, {attr("body", cumsum_body({1})), attr("num_scan_inputs", int64_t{1})});
  b2.output("s", F, {2, 1}).output("y", F, {2, 3, 1});
  auto out2 = b2.session()->run({make<float>({2, 1}, {0, 0}), make<float>({2, 3, 1}, xv)});
  EXPECT_TRUE(tensors_near(out2[1].tensor(), make<float>({2, 3, 1}, {1, 3, 6, 10, 30, 60})));
  // Lengths beyond the sequence axis are rejected.
  EXPECT_THROW(s->run({make<int64_t>({2}, {4, 1}), make<float>({2, 1}, {0, 0}), make<float>({2, 3, 1}, xv)}), Error);
}

TEST(ControlScan, MismatchedSequenceLengthsAreAnError) {
  auto body = graph("body",
                    {node("Add", {"s_in", "a"}, {"s1"}), node("Add", {"s1", "b"}, {"s_out"})},
                    {tensor_info("s_in", F, {}), tensor_info("a", F, {}), tensor_info("b", F, {})},
                    {tensor_info("s_out", F, {})});
  ModelBuilder b(11);
  b.input("s0", F, {}).input("xa", F, {-1}).input("xb", F, {-1});
  b.node("Scan", {"s0", "xa", "xb"}, {"s"}, {attr("body", body), attr("num_scan_inputs", int64_t{2})});
  b.output("s", F, {});
  auto s = b.session();
  auto ok = s->run({make<float>({}, {0}), make<float>({2}, {1, 2}), make<float>({2}, {3, 4})});
  EXPECT_TRUE(tensors_near(ok[0].tensor(), make<float>({}, {10})));
  EXPECT_THROW(s->run({make<float>({}, {0}), make<float>({2}, {1, 2}), make<float>({3}, {3, 4, 5})}), Error);
}

TEST(ControlIf, BranchOutputIsAnOuterValueBehindIdentity) {
  // The branch returns an outer value directly; that value is an Identity
  // the optimizer removes from the main graph.
  auto then_g = graph("then", {}, {}, {tensor_info("xi", F, {2})});
  auto else_g = graph("else", {node("Add", {"xi", "xi"}, {"e_out"})}, {}, {tensor_info("e_out", F, {2})});
  ModelBuilder b(13);
  b.input("c", B, {}).input("x", F, {2});
  b.node("Identity", {"x"}, {"xi"});
  b.node("If", {"c"}, {"r"}, {attr("then_branch", then_g), attr("else_branch", else_g)});
  b.output("r", F, {2});
  auto s = b.session();
  Tensor x = make<float>({2}, {1, 2});
  EXPECT_TRUE(tensors_near(s->run({scalar_bool(true), x})[0].tensor(), x));
  EXPECT_TRUE(tensors_near(s->run({scalar_bool(false), x})[0].tensor(), make<float>({2}, {2, 4})));
}
