// Maps: the Value extension (map, sequence of maps, map types in the
// loader) and the ZipMap, DictVectorizer and CastMap kernels.
#include "test_ml_helpers.h"

using namespace pier;
using namespace pier::test;
using namespace pier::test::mlt;

TEST(MlMapValue, ConstructionAndChecks) {
  Value m = Value::map(make<int64_t>({2}, {3, 1}), make<float>({2}, {0.5f, 1.5f}));
  EXPECT_TRUE(m.is_map());
  EXPECT_FALSE(m.is_sequence());
  EXPECT_FALSE(m.is_tensor());
  EXPECT_EQ(m.kind(), Value::Kind::kMap);
  EXPECT_EQ(m.key_type(), DataType::kInt64);
  EXPECT_EQ(m.elem_type(), DataType::kFloat);
  EXPECT_EQ(m.as_map().keys.data<int64_t>()[0], 3);
  // A map is neither a tensor nor a tensor sequence.
  try {
    m.tensor();
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "expected a tensor, got a map");
  }
  EXPECT_THROW(m.items(), Error);
  EXPECT_THROW(m.maps(), Error);
  EXPECT_THROW(Value(make<float>({1}, {1})).as_map(), Error);
  // Keys must be int64 or string; keys and values 1-D of one length.
  EXPECT_THROW(Value::map(make<float>({1}, {1}), make<float>({1}, {1})), Error);
  EXPECT_THROW(Value::map(make<int64_t>({2}, {1, 2}), make<float>({1}, {1})), Error);
  EXPECT_THROW(Value::map(make<int64_t>({1, 1}, {1}), make<float>({1}, {1})), Error);

  Value s = Value::map_sequence(DataType::kString, DataType::kFloat,
                                {{make<std::string>({1}, {"a"}), make<float>({1}, {2.f})}});
  EXPECT_TRUE(s.is_map_sequence());
  EXPECT_EQ(s.maps().size(), 1u);
  EXPECT_THROW(s.items(), Error);
  EXPECT_THROW(s.as_map(), Error);
  EXPECT_THROW(Value::map_sequence(DataType::kInt64, DataType::kFloat,
                                   {{make<std::string>({1}, {"a"}), make<float>({1}, {2.f})}}),
               Error);
  // Existing kinds keep their messages.
  try {
    Value().tensor();
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "expected a tensor, got an empty optional");
  }
}

TEST(MlMapValue, TypeStrings) {
  ValueInfo vi;
  vi.kind = Value::Kind::kMap;
  vi.key_dtype = DataType::kString;
  vi.dtype = DataType::kDouble;
  EXPECT_EQ(vi.type_str(), "map(string, double)");
  vi.kind = Value::Kind::kMapSequence;
  vi.key_dtype = DataType::kInt64;
  vi.dtype = DataType::kFloat;
  EXPECT_EQ(vi.type_str(), "seq(map(int64, float))");
}

namespace {

std::unique_ptr<Session> zipmap_session(std::vector<onnx::AttributeProto> attrs, DataType key, int64_t cols) {
  ModelBuilder b(17);
  b.opset(kMl, 1);
  b.input("x", DataType::kFloat, {-1, cols});
  add_map_sequence_output(b, "z", key, DataType::kFloat);
  b.node("ZipMap", {"x"}, {"z"}, std::move(attrs), kMl);
  return b.session();
}

}  // namespace

TEST(MlMaps, ZipMapIntAndStringLabels) {
  auto s = zipmap_session({ints("classlabels_int64s", {10, 20, 30})}, DataType::kInt64, 3);
  ASSERT_EQ(s->outputs().size(), 1u);
  EXPECT_EQ(s->outputs()[0].kind, Value::Kind::kMapSequence);
  EXPECT_EQ(s->outputs()[0].key_dtype, DataType::kInt64);
  EXPECT_EQ(s->outputs()[0].type_str(), "seq(map(int64, float))");
  Tensor x = make<float>({2, 3}, {0.1f, 0.2f, 0.7f, 0.5f, 0.25f, 0.25f});
  auto out = s->run({Value(x)});
  ASSERT_TRUE(out[0].is_map_sequence());
  const auto& maps = out[0].maps();
  ASSERT_EQ(maps.size(), 2u);
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(tensors_near(maps[r].keys, make<int64_t>({3}, {10, 20, 30})));
    EXPECT_TRUE(tensors_near(maps[r].values, make<float>({3}, {x.data<float>()[3 * r], x.data<float>()[3 * r + 1],
                                                               x.data<float>()[3 * r + 2]})));
  }
  // The output does not alias the input.
  x.data<float>()[0] = 9.f;
  EXPECT_FLOAT_EQ(maps[0].values.data<float>()[0], 0.1f);

  auto ss = zipmap_session({strings("classlabels_strings", {"a", "b"})}, DataType::kString, 2);
  auto o = ss->run({Value(make<float>({1, 2}, {0.3f, 0.7f}))});
  EXPECT_EQ(o[0].key_type(), DataType::kString);
  EXPECT_EQ(o[0].maps()[0].keys.data<std::string>()[1], "b");
  EXPECT_FLOAT_EQ(o[0].maps()[0].values.data<float>()[1], 0.7f);
  // Three columns for two labels.
  EXPECT_THROW(ss->run({Value(make<float>({1, 3}, {1, 2, 3}))}), Error);
}

TEST(MlMaps, ClassifierThenZipMapPipeline) {
  // The usual converted classifier: label + probabilities as maps.
  ModelBuilder b(17);
  b.opset(kMl, 1);
  b.input("x", DataType::kFloat, {-1, 2});
  b.output("label", DataType::kInt64);
  add_map_sequence_output(b, "probs", DataType::kInt64, DataType::kFloat);
  b.node("LinearClassifier", {"x"}, {"label", "scores"},
         {floats("coefficients", {1.f, 0.f, 0.f, 1.f}), floats("intercepts", {0.f, 0.f}),
          ints("classlabels_ints", {0, 1}), attr("post_transform", "SOFTMAX")},
         kMl);
  b.node("ZipMap", {"scores"}, {"probs"}, {ints("classlabels_int64s", {0, 1})}, kMl);
  auto out = b.session()->run({Value(make<float>({2, 2}, {2.f, 0.f, 0.f, 1.f}))});
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<int64_t>({2}, {0, 1})));
  const double e = std::exp(2.0);
  EXPECT_NEAR(out[1].maps()[0].values.data<float>()[0], e / (e + 1), 1e-6);
  EXPECT_NEAR(out[1].maps()[1].values.data<float>()[1], std::exp(1.0) / (std::exp(1.0) + 1), 1e-6);
}

namespace {

std::unique_ptr<Session> map_input_session(const std::string& op, DataType key, DataType value, DataType out,
                                           std::vector<onnx::AttributeProto> attrs) {
  ModelBuilder b(17);
  b.opset(kMl, 1);
  add_map_input(b, "m", key, value);
  b.output("y", out);
  b.node(op, {"m"}, {"y"}, std::move(attrs), kMl);
  return b.session();
}

}  // namespace

TEST(MlMaps, DictVectorizer) {
  auto s = map_input_session("DictVectorizer", DataType::kString, DataType::kFloat, DataType::kFloat,
                             {strings("string_vocabulary", {"a", "c", "b", "z"})});
  ASSERT_EQ(s->inputs().size(), 1u);
  EXPECT_EQ(s->inputs()[0].kind, Value::Kind::kMap);
  EXPECT_EQ(s->inputs()[0].type_str(), "map(string, float)");
  // {"a": 4, "c": 8, "q": 1} -> [4, 8, 0, 0]; "q" is not in the vocabulary.
  auto o = s->run({Value::map(make<std::string>({3}, {"a", "c", "q"}), make<float>({3}, {4, 8, 1}))});
  EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({1, 4}, {4, 8, 0, 0})));

  auto si = map_input_session("DictVectorizer", DataType::kInt64, DataType::kString, DataType::kString,
                              {ints("int64_vocabulary", {5, 1})});
  auto os = si->run({Value::map(make<int64_t>({2}, {1, 2}), make<std::string>({2}, {"one", "two"}))});
  EXPECT_EQ(os[0].tensor().shape(), (Shape{1, 2}));
  EXPECT_EQ(os[0].tensor().data<std::string>()[0], "");
  EXPECT_EQ(os[0].tensor().data<std::string>()[1], "one");

  auto sd = map_input_session("DictVectorizer", DataType::kInt64, DataType::kDouble, DataType::kDouble,
                              {ints("int64_vocabulary", {2, 1})});
  auto od = sd->run({Value::map(make<int64_t>({2}, {1, 2}), make<double>({2}, {0.5, -2.0}))});
  EXPECT_TRUE(tensors_near(od[0].tensor(), make<double>({1, 2}, {-2.0, 0.5})));
  // Keys of the wrong type; a tensor instead of a map.
  EXPECT_THROW(s->run({Value::map(make<int64_t>({1}, {1}), make<float>({1}, {1}))}), Error);
  EXPECT_THROW(s->run({Value(make<float>({1}, {1}))}), Error);
}

TEST(MlMaps, CastMapDenseAndSparse) {
  // Entries out of key order, one key repeated (the last wins).
  Value m = Value::map(make<int64_t>({4}, {3, 0, 5, 3}), make<float>({4}, {1.5f, -2.f, 7.f, 2.5f}));
  auto dense = map_input_session("CastMap", DataType::kInt64, DataType::kFloat, DataType::kFloat, {});
  auto od = dense->run({m});
  EXPECT_TRUE(tensors_near(od[0].tensor(), make<float>({1, 3}, {-2.f, 2.5f, 7.f})));
  auto sparse = map_input_session("CastMap", DataType::kInt64, DataType::kFloat, DataType::kInt64,
                                  {attr("cast_to", "TO_INT64"), attr("map_form", "SPARSE"), attr("max_map", int64_t{5})});
  auto os = sparse->run({m});
  EXPECT_TRUE(tensors_near(os[0].tensor(), make<int64_t>({1, 5}, {-2, 0, 0, 2, 0})));  // key 5 >= max_map dropped
  auto strs = map_input_session("CastMap", DataType::kInt64, DataType::kString, DataType::kFloat, {});
  auto ostr = strs->run({Value::map(make<int64_t>({2}, {2, 1}), make<std::string>({2}, {"0.25", "-4"}))});
  EXPECT_TRUE(tensors_near(ostr[0].tensor(), make<float>({1, 2}, {-4.f, 0.25f})));
  EXPECT_THROW(strs->run({Value::map(make<int64_t>({1}, {1}), make<std::string>({1}, {"abc"}))}), Error);
  auto tostr = map_input_session("CastMap", DataType::kInt64, DataType::kString, DataType::kString,
                                 {attr("cast_to", "TO_STRING")});
  auto ots = tostr->run({Value::map(make<int64_t>({2}, {2, 1}), make<std::string>({2}, {"b", "a"}))});
  EXPECT_EQ(ots[0].tensor().data<std::string>()[0], "a");
  EXPECT_EQ(ots[0].tensor().data<std::string>()[1], "b");
  // SPARSE with a negative key.
  EXPECT_THROW(sparse->run({Value::map(make<int64_t>({1}, {-1}), make<float>({1}, {1.f}))}), Error);
}
