// Sequence ops: construction, access, insert/erase with positions,
// SplitToSequence, ConcatFromSequence and SequenceMap.
#include "test_control_helpers.h"

using namespace pier;
using namespace pier::test;
using namespace pier::test::ctl;

namespace {

const DataType F = DataType::kFloat;
const DataType I64 = DataType::kInt64;

// Reference split of a row-major tensor along `axis` into [start, start+len).
std::vector<float> ref_narrow(const std::vector<float>& v, const Shape& s, int axis, int64_t start, int64_t len) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  for (size_t i = axis + 1; i < s.size(); ++i) inner *= s[i];
  std::vector<float> out;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = start; k < start + len; ++k)
      for (int64_t i = 0; i < inner; ++i) out.push_back(v[(o * s[axis] + k) * inner + i]);
  return out;
}

Tensor iota(Shape s) {
  Tensor t(F, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

}  // namespace

TEST(SequenceOps, ConstructAtInsertEraseLength) {
  ModelBuilder b(13);
  b.input("a", F, {1}).input("b", F, {2}).input("c", F, {3}).input("p", I64, {}).input("q", I64, {});
  b.node("SequenceConstruct", {"a", "b"}, {"s0"});
  b.node("SequenceInsert", {"s0", "c", "p"}, {"s1"});   // insert at p
  b.node("SequenceAt", {"s1", "q"}, {"at"});             // read q
  b.node("SequenceErase", {"s1", "q"}, {"s2"});          // erase q
  b.node("SequenceLength", {"s2"}, {"len"});
  b.node("SequenceInsert", {"s2", "a"}, {"s3"});         // append
  b.node("SequenceErase", {"s3"}, {"s4"});               // drop last
  b.sequence_output("s1", F).output("at", F, {-1}).sequence_output("s2", F).output("len", I64, {}).sequence_output("s4", F);
  auto s = b.session();
  Tensor a = make<float>({1}, {1}), bt = make<float>({2}, {2, 3}), c = make<float>({3}, {4, 5, 6});
  for (int64_t p : {-2, -1, 0, 1, 2}) {
    for (int64_t q : {-3, -1, 0, 2}) {
      auto out = s->run({a, bt, c, scalar_i64(p), scalar_i64(q)});
      std::vector<Tensor> ref = {a, bt};
      ref.insert(ref.begin() + (p < 0 ? p + 2 : p), c);
      const auto& s1 = out[0].items();
      ASSERT_EQ(s1.size(), 3u);
      for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(tensors_near(s1[i], ref[i])) << p << " " << i;
      const int64_t qi = q < 0 ? q + 3 : q;
      EXPECT_TRUE(tensors_near(out[1].tensor(), ref[qi]));
      ref.erase(ref.begin() + qi);
      ASSERT_EQ(out[2].items().size(), 2u);
      for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(tensors_near(out[2].items()[i], ref[i]));
      EXPECT_EQ(out[3].tensor().data<int64_t>()[0], 2);
      ASSERT_EQ(out[4].items().size(), 2u);
    }
  }
  // Out-of-range positions are errors: insert accepts [-n, n], at/erase [-n, n-1].
  EXPECT_THROW(s->run({a, bt, c, scalar_i64(3), scalar_i64(0)}), Error);
  EXPECT_THROW(s->run({a, bt, c, scalar_i64(-3), scalar_i64(0)}), Error);
  EXPECT_THROW(s->run({a, bt, c, scalar_i64(0), scalar_i64(3)}), Error);
  EXPECT_THROW(s->run({a, bt, c, scalar_i64(0), scalar_i64(-4)}), Error);
}

TEST(SequenceOps, EmptySequenceAndTypeChecks) {
  ModelBuilder b(13);
  b.input("x", I64, {2});
  b.node("SequenceEmpty", {}, {"e"}, {attr("dtype", static_cast<int64_t>(I64))});
  b.node("SequenceLength", {"e"}, {"n0"});
  b.node("SequenceInsert", {"e", "x"}, {"one"});
  b.node("SequenceLength", {"one"}, {"n1"});
  b.output("n0", I64, {}).output("n1", I64, {}).sequence_output("one", I64);
  auto out = b.session()->run({make<int64_t>({2}, {7, 8})});
  EXPECT_EQ(out[0].tensor().data<int64_t>()[0], 0);
  EXPECT_EQ(out[1].tensor().data<int64_t>()[0], 1);
  EXPECT_EQ(out[2].elem_type(), I64);

  // Erasing from an empty sequence and reading past the end fail cleanly.
  ModelBuilder e(13);
  e.node("SequenceEmpty", {}, {"s"});
  e.node("SequenceErase", {"s"}, {"t"});
  e.sequence_output("t", F);
  EXPECT_THROW(e.session()->run(std::vector<Value>{}), Error);

  // A tensor of another type cannot join the sequence.
  ModelBuilder m(13);
  m.input("x", F, {1}).input("y", I64, {1});
  m.node("SequenceConstruct", {"x"}, {"s"});
  m.node("SequenceInsert", {"s", "y"}, {"t"});
  m.sequence_output("t", F);
  bool threw = false;
  try {
    m.session()->run({make<float>({1}, {1}), make<int64_t>({1}, {1})});
  } catch (const Error&) {
    threw = true;  // at load (type inference) or at run
  }
  EXPECT_TRUE(threw);
}

TEST(SequenceOps, SplitToSequenceVariants) {
  const Shape shape = {3, 5, 2};
  Tensor x = iota(shape);
  const auto xv = to_floats(x);
  auto split_model = [&](std::vector<onnx::AttributeProto> attrs, const Tensor* split) {
    ModelBuilder b(13);
    b.input("x", F, shape);
    std::vector<std::string> ins = {"x"};
    if (split) {
      b.initializer("split", *split);
      ins.push_back("split");
    }
    b.node("SplitToSequence", ins, {"s"}, attrs);
    b.sequence_output("s", F);
    return b.session()->run({x})[0];
  };
  // Scalar split 2 along axis 1: chunks 2, 2, 1 (keepdims ignored).
  Tensor two = scalar_i64(2);
  auto s1 = split_model({attr("axis", int64_t{1}), attr("keepdims", int64_t{0})}, &two);
  ASSERT_EQ(s1.items().size(), 3u);
  const int64_t starts[] = {0, 2, 4}, lens[] = {2, 2, 1};
  for (int k = 0; k < 3; ++k)
    EXPECT_TRUE(tensors_near(s1.items()[k], make<float>({3, lens[k], 2}, ref_narrow(xv, shape, 1, starts[k], lens[k]))));
  // 1-D split along the last axis (negative axis).
  Tensor parts = make<int32_t>({2}, {1, 1});
  auto s2 = split_model({attr("axis", int64_t{-1})}, &parts);
  ASSERT_EQ(s2.items().size(), 2u);
  EXPECT_TRUE(tensors_near(s2.items()[1], make<float>({3, 5, 1}, ref_narrow(xv, shape, 2, 1, 1))));
  // No split: one slice per index; keepdims=0 drops the axis.
  auto s3 = split_model({attr("axis", int64_t{0}), attr("keepdims", int64_t{0})}, nullptr);
  ASSERT_EQ(s3.items().size(), 3u);
  EXPECT_TRUE(tensors_near(s3.items()[2], make<float>({5, 2}, ref_narrow(xv, shape, 0, 2, 1))));
  auto s4 = split_model({attr("axis", int64_t{0})}, nullptr);
  EXPECT_EQ(s4.items()[0].shape(), (Shape{1, 5, 2}));
  // Bad splits: lengths not summing to the axis, zero chunk size.
  Tensor bad = make<int64_t>({2}, {1, 1});
  EXPECT_THROW(split_model({attr("axis", int64_t{1})}, &bad), Error);
  // A zero chunk size fed at run time is an error.
  ModelBuilder z(13);
  z.input("x", F, shape).input("split", I64, {});
  z.node("SplitToSequence", {"x", "split"}, {"s"}, {attr("axis", int64_t{1})});
  z.sequence_output("s", F);
  EXPECT_THROW(z.session()->run({x, scalar_i64(0)}), Error);
}

TEST(SequenceOps, ConstantZeroSplitIsRejectedAtLoad) {
  // onnx's shape inference would divide by this constant; the loader must
  // reject the model instead of crashing.
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("g");
  *g->add_input() = tensor_info("x", F, {4, 2});
  ir::tensor_to_proto(scalar_i64(0), "split", g->add_initializer());
  *g->add_node() = node("SplitToSequence", {"x", "split"}, {"s"});
  *g->add_output() = sequence_info("s", F);
  try {
    Session::load_from_memory(m.SerializeAsString());
    FAIL() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("split must be positive"), std::string::npos) << e.what();
  }
}

TEST(SequenceOps, ConcatFromSequenceAndNewAxis) {
  Tensor a = iota({2, 3}), b2 = iota({2, 3});
  for (int64_t i = 0; i < b2.numel(); ++i) b2.data<float>()[i] += 100;
  auto run = [&](int64_t axis, int64_t new_axis) {
    ModelBuilder b(13);
    b.input("a", F, {2, 3}).input("b", F, {2, 3});
    b.node("SequenceConstruct", {"a", "b"}, {"s"});
    b.node("ConcatFromSequence", {"s"}, {"y"}, {attr("axis", axis), attr("new_axis", new_axis)});
    b.output("y", F);
    return b.session()->run({a, b2})[0].tensor();
  };
  const auto av = to_floats(a), bv = to_floats(b2);
  // axis 1, no new axis: rows are [a_row, b_row].
  std::vector<float> want;
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 3; ++c) want.push_back(av[r * 3 + c]);
    for (int c = 0; c < 3; ++c) want.push_back(bv[r * 3 + c]);
  }
  EXPECT_TRUE(tensors_near(run(1, 0), make<float>({2, 6}, want)));
  EXPECT_TRUE(tensors_near(run(-1, 0), make<float>({2, 6}, want)));
  // new_axis at the end (axis -1 means rank): shape [2, 3, 2].
  std::vector<float> st;
  for (int i = 0; i < 6; ++i) {
    st.push_back(av[i]);
    st.push_back(bv[i]);
  }
  EXPECT_TRUE(tensors_near(run(-1, 1), make<float>({2, 3, 2}, st)));
  EXPECT_TRUE(tensors_near(run(2, 1), make<float>({2, 3, 2}, st)));
  std::vector<float> s0 = av;
  s0.insert(s0.end(), bv.begin(), bv.end());
  EXPECT_TRUE(tensors_near(run(0, 1), make<float>({2, 2, 3}, s0)));
  EXPECT_THROW(run(2, 0), Error);
}

TEST(SequenceOps, ConcatFromSequenceRejectsMismatchedShapes) {
  ModelBuilder b(13);
  b.input("a", F, {2, 3}).input("b", F, {2, 4});
  b.node("SequenceConstruct", {"a", "b"}, {"s"});
  b.node("ConcatFromSequence", {"s"}, {"y"}, {attr("axis", int64_t{0})});
  b.output("y", F);
  auto s = b.session();
  EXPECT_THROW(s->run({iota({2, 3}), iota({2, 4})}), Error);
}

TEST(SequenceOps, StringSequences) {
  Tensor t(DataType::kString, {3});
  t.data<std::string>()[0] = "a";
  t.data<std::string>()[1] = "bb";
  t.data<std::string>()[2] = "ccc";
  ModelBuilder b(13);
  b.input("x", DataType::kString, {3});
  b.node("SplitToSequence", {"x"}, {"s"}, {attr("keepdims", int64_t{0})});
  b.node("ConcatFromSequence", {"s"}, {"y"}, {attr("axis", int64_t{0}), attr("new_axis", int64_t{1})});
  b.output("y", DataType::kString, {3});
  auto out = b.session()->run({t});
  EXPECT_TRUE(tensors_near(out[0].tensor(), t));
}

TEST(SequenceOps, SequenceMapWithExtraInputs) {
  // out1 = a_i + b_i (two sequences); out2 = a_i * w (w a tensor for all).
  auto body = graph("body", {node("Add", {"a", "b"}, {"sum"}), node("Mul", {"a", "w"}, {"prod"})},
                    {tensor_info("a", F, {-1}), tensor_info("b", F, {-1}), tensor_info("w", F, {1})},
                    {tensor_info("sum", F, {-1}), tensor_info("prod", F, {-1})});
  ModelBuilder b(17);
  b.sequence_input("sa", F).sequence_input("sb", F).input("w", F, {1});
  b.node("SequenceMap", {"sa", "sb", "w"}, {"sums", "prods"}, {attr("body", body)});
  b.sequence_output("sums", F).sequence_output("prods", F);
  auto s = b.session();
  std::vector<Tensor> as = {make<float>({2}, {1, 2}), make<float>({3}, {3, 4, 5})};
  std::vector<Tensor> bs = {make<float>({2}, {10, 20}), make<float>({3}, {30, 40, 50})};
  auto out = s->run({Value::sequence(F, as), Value::sequence(F, bs), make<float>({1}, {2})});
  ASSERT_EQ(out[0].items().size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    auto av = to_floats(as[i]), bv = to_floats(bs[i]);
    std::vector<float> sum, prod;
    for (size_t j = 0; j < av.size(); ++j) {
      sum.push_back(av[j] + bv[j]);
      prod.push_back(av[j] * 2);
    }
    EXPECT_TRUE(tensors_near(out[0].items()[i], make<float>({static_cast<int64_t>(av.size())}, sum)));
    EXPECT_TRUE(tensors_near(out[1].items()[i], make<float>({static_cast<int64_t>(av.size())}, prod)));
  }
  // Sequences of different lengths are an error; empty input gives empty outputs.
  EXPECT_THROW(s->run({Value::sequence(F, as), Value::sequence(F, {bs[0]}), make<float>({1}, {2})}), Error);
  auto empty = s->run({Value::sequence(F, {}), Value::sequence(F, {}), make<float>({1}, {2})});
  EXPECT_TRUE(empty[0].items().empty());
  EXPECT_EQ(empty[1].elem_type(), F);
}
