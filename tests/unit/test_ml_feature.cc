// Scaler, Normalizer, Binarizer, Imputer, ArrayFeatureExtractor,
// FeatureVectorizer, OneHotEncoder, LabelEncoder and CategoryMapper.
#include <cmath>
#include <limits>

#include "test_ml_helpers.h"

using namespace pier;
using namespace pier::test;
using namespace pier::test::mlt;

TEST(MlFeature, ScalerPerFeatureAndBroadcast) {
  const std::vector<double> x = {1, 2, 3, 4, 5, 6};
  auto o = run_ml("Scaler", {make<double>({2, 3}, x)}, {DataType::kFloat},
                  {floats("offset", {1.f, 2.f, 3.f}), floats("scale", {2.f, 0.5f, -1.f})});
  std::vector<float> want;
  const double off[3] = {1, 2, 3}, sc[3] = {2, 0.5, -1};
  for (int i = 0; i < 6; ++i) want.push_back(static_cast<float>((x[i] - off[i % 3]) * sc[i % 3]));
  EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({2, 3}, want)));
  auto one = run_ml("Scaler", {make<int64_t>({3}, {1, 2, 3})}, {DataType::kFloat},
                    {floats("offset", {1.f}), floats("scale", {3.f})});
  EXPECT_TRUE(tensors_near(one[0].tensor(), make<float>({3}, {0, 3, 6})));
  EXPECT_THROW(run_ml("Scaler", {make<double>({2, 3}, x)}, {DataType::kFloat},
                      {floats("offset", {1.f, 2.f}), floats("scale", {1.f})}),
               Error);
}

TEST(MlFeature, NormalizerModes) {
  const std::vector<float> x = {1, -2, 2, 0, 0, 0, 3, 4, -5};  // second row all zero
  for (const std::string norm : {"MAX", "L1", "L2"}) {
    auto o = run_ml("Normalizer", {make<float>({3, 3}, x)}, {DataType::kFloat}, {attr("norm", norm)});
    std::vector<float> want;
    for (int r = 0; r < 3; ++r) {
      double d = 0;
      for (int j = 0; j < 3; ++j) {
        const double v = x[3 * r + j];
        if (norm == "MAX") d = j == 0 ? v : std::max(d, v);
        else if (norm == "L1") d += std::fabs(v);
        else d += v * v;
      }
      if (norm == "L2") d = std::sqrt(d);
      for (int j = 0; j < 3; ++j) want.push_back(static_cast<float>(d == 0 ? x[3 * r + j] : x[3 * r + j] / d));
    }
    EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({3, 3}, want))) << norm;
  }
  EXPECT_THROW(run_ml("Normalizer", {make<float>({3, 3}, x)}, {DataType::kFloat}, {attr("norm", "L3")}), Error);
}

TEST(MlFeature, BinarizerKeepsType) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto f = run_ml("Binarizer", {make<float>({4}, {-1.f, 0.5f, 0.6f, nan})}, {DataType::kFloat},
                  {attr("threshold", 0.5f)});
  EXPECT_TRUE(tensors_near(f[0].tensor(), make<float>({4}, {0, 0, 1, 0})));
  auto i = run_ml("Binarizer", {make<int64_t>({3}, {-1, 0, 7})}, {DataType::kInt64}, {});
  EXPECT_TRUE(tensors_near(i[0].tensor(), make<int64_t>({3}, {0, 0, 1})));
}

TEST(MlFeature, ImputerFloatsNanAndInts) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto f = run_ml("Imputer", {make<float>({2, 3}, {nan, 1, nan, 2, nan, 3})}, {DataType::kFloat},
                  {floats("imputed_value_floats", {10, 20, 30}), attr("replaced_value_float", nan)});
  EXPECT_TRUE(tensors_near(f[0].tensor(), make<float>({2, 3}, {10, 1, 30, 2, 20, 3})));
  auto v = run_ml("Imputer", {make<float>({2, 2}, {0, 1, 2, 0})}, {DataType::kFloat},
                  {floats("imputed_value_floats", {-1})});
  EXPECT_TRUE(tensors_near(v[0].tensor(), make<float>({2, 2}, {-1, 1, 2, -1})));
  auto i = run_ml("Imputer", {make<int64_t>({2, 2}, {-1, 5, 6, -1})}, {DataType::kInt64},
                  {ints("imputed_value_int64s", {7, 8}), attr("replaced_value_int64", int64_t{-1})});
  EXPECT_TRUE(tensors_near(i[0].tensor(), make<int64_t>({2, 2}, {7, 5, 6, 8})));
  // An int input with only float imputed values; a wrong per-feature count.
  EXPECT_THROW(run_ml("Imputer", {make<int64_t>({2}, {1, 2})}, {DataType::kInt64}, {floats("imputed_value_floats", {1})}),
               Error);
  EXPECT_THROW(run_ml("Imputer", {make<float>({2, 3}, {1, 2, 3, 4, 5, 6})}, {DataType::kFloat},
                      {floats("imputed_value_floats", {1, 2})}),
               Error);
}

TEST(MlFeature, ArrayFeatureExtractor) {
  auto o = run_ml("ArrayFeatureExtractor", {make<float>({2, 4}, {0, 1, 2, 3, 4, 5, 6, 7}), make<int64_t>({3}, {3, 0, 3})},
                  {DataType::kFloat}, {});
  EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({2, 3}, {3, 0, 3, 7, 4, 7})));
  auto s = run_ml("ArrayFeatureExtractor",
                  {make<std::string>({3}, {"a", "b", "c"}), make<int64_t>({1, 2}, {2, 1})}, {DataType::kString}, {});
  EXPECT_EQ(s[0].tensor().shape(), (Shape{1, 2}));
  EXPECT_EQ(s[0].tensor().data<std::string>()[0], "c");
  EXPECT_EQ(s[0].tensor().data<std::string>()[1], "b");
  auto r3 = run_ml("ArrayFeatureExtractor", {make<int32_t>({2, 1, 3}, {1, 2, 3, 4, 5, 6}), make<int64_t>({1}, {1})},
                   {DataType::kInt32}, {});
  EXPECT_TRUE(tensors_near(r3[0].tensor(), make<int32_t>({2, 1, 1}, {2, 5})));
  EXPECT_THROW(run_ml("ArrayFeatureExtractor", {make<float>({2, 2}, {0, 1, 2, 3}), make<int64_t>({1}, {2})},
                      {DataType::kFloat}, {}),
               Error);
  EXPECT_THROW(run_ml("ArrayFeatureExtractor", {make<float>({2, 2}, {0, 1, 2, 3}), make<int64_t>({1}, {-1})},
                      {DataType::kFloat}, {}),
               Error);
}

TEST(MlFeature, FeatureVectorizerPadsAndTruncates) {
  auto o = run_ml("FeatureVectorizer",
                  {make<float>({2, 2}, {1, 2, 3, 4}), make<int64_t>({2, 3}, {5, 6, 7, 8, 9, 10}),
                   make<double>({2, 1}, {11, 12})},
                  {DataType::kFloat}, {ints("inputdimensions", {2, 2, 3})});
  EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({2, 7}, {1, 2, 5, 6, 11, 0, 0, 3, 4, 8, 9, 12, 0, 0})));
  auto one = run_ml("FeatureVectorizer", {make<int32_t>({2}, {1, 2})}, {DataType::kFloat}, {ints("inputdimensions", {2})});
  EXPECT_TRUE(tensors_near(one[0].tensor(), make<float>({1, 2}, {1, 2})));
  EXPECT_THROW(run_ml("FeatureVectorizer", {make<float>({2, 1}, {1, 2}), make<float>({3, 1}, {1, 2, 3})},
                      {DataType::kFloat}, {ints("inputdimensions", {1, 1})}),
               Error);
}

TEST(MlEncoding, OneHotEncoder) {
  auto o = run_ml("OneHotEncoder", {make<int64_t>({2, 2}, {3, 1, 9, 3})}, {DataType::kFloat},
                  {ints("cats_int64s", {1, 3, 5})});
  EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({2, 2, 3}, {0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0})));
  auto d = run_ml("OneHotEncoder", {make<double>({2}, {5.0, 1.0})}, {DataType::kFloat}, {ints("cats_int64s", {1, 3, 5})});
  EXPECT_TRUE(tensors_near(d[0].tensor(), make<float>({2, 3}, {0, 0, 1, 1, 0, 0})));
  auto s = run_ml("OneHotEncoder", {make<std::string>({3}, {"b", "x", "a"})}, {DataType::kFloat},
                  {strings("cats_strings", {"a", "b"})});
  EXPECT_TRUE(tensors_near(s[0].tensor(), make<float>({3, 2}, {0, 1, 0, 0, 1, 0})));
  EXPECT_THROW(run_ml("OneHotEncoder", {make<std::string>({1}, {"x"})}, {DataType::kFloat},
                      {strings("cats_strings", {"a"}), attr("zeros", int64_t{0})}),
               Error);
  EXPECT_THROW(run_ml("OneHotEncoder", {make<std::string>({1}, {"a"})}, {DataType::kFloat}, {ints("cats_int64s", {1})}),
               Error);
}

TEST(MlEncoding, LabelEncoderOpset1) {
  auto s2i = run_ml("LabelEncoder", {make<std::string>({4}, {"b", "zz", "a", "c"})}, {DataType::kInt64},
                    {strings("classes_strings", {"a", "b", "c"}), attr("default_int64", int64_t{-7})}, 1);
  EXPECT_TRUE(tensors_near(s2i[0].tensor(), make<int64_t>({4}, {1, -7, 0, 2})));
  auto i2s = run_ml("LabelEncoder", {make<int64_t>({2, 2}, {2, 0, 5, -1})}, {DataType::kString},
                    {strings("classes_strings", {"a", "b", "c"}), attr("default_string", "?")}, 1);
  const std::vector<std::string> want = {"c", "a", "?", "?"};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(i2s[0].tensor().data<std::string>()[i], want[i]);
}

TEST(MlEncoding, LabelEncoderOpset2AllKeyValueTypes) {
  auto si = run_ml("LabelEncoder", {make<std::string>({5}, {"Dori", "Amy", "Amy", "Sally", "Sally"})},
                   {DataType::kInt64},
                   {strings("keys_strings", {"Amy", "Sally"}), ints("values_int64s", {5, 6}),
                    attr("default_int64", int64_t{-1})},
                   2);
  EXPECT_TRUE(tensors_near(si[0].tensor(), make<int64_t>({5}, {-1, 5, 5, 6, 6})));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto ff = run_ml("LabelEncoder", {make<float>({4}, {1.5f, nan, 2.f, 0.f})}, {DataType::kFloat},
                   {floats("keys_floats", {1.5f, nan}), floats("values_floats", {10.f, 20.f}),
                    attr("default_float", 0.5f)},
                   2);
  EXPECT_TRUE(tensors_near(ff[0].tensor(), make<float>({4}, {10, 20, 0.5f, 0.5f})));
  auto is = run_ml("LabelEncoder", {make<int64_t>({3}, {3, 4, 3})}, {DataType::kString},
                   {ints("keys_int64s", {3}), strings("values_strings", {"three"})}, 2);
  EXPECT_EQ(is[0].tensor().data<std::string>()[0], "three");
  EXPECT_EQ(is[0].tensor().data<std::string>()[1], "_Unused");
  auto fi = run_ml("LabelEncoder", {make<float>({2}, {1.f, 2.f})}, {DataType::kInt64},
                   {floats("keys_floats", {2.f}), ints("values_int64s", {9})}, 2);
  EXPECT_TRUE(tensors_near(fi[0].tensor(), make<int64_t>({2}, {-1, 9})));
  // Keys and values of different lengths; input type not the keys' type.
  EXPECT_THROW(run_ml("LabelEncoder", {make<int64_t>({1}, {1})}, {DataType::kInt64},
                      {ints("keys_int64s", {1, 2}), ints("values_int64s", {1})}, 2),
               Error);
  EXPECT_THROW(run_ml("LabelEncoder", {make<int64_t>({1}, {1})}, {DataType::kInt64},
                      {strings("keys_strings", {"a"}), ints("values_int64s", {1})}, 2),
               Error);
}

TEST(MlEncoding, CategoryMapperBothDirections) {
  const auto a = std::vector<onnx::AttributeProto>{strings("cats_strings", {"x", "y", "z"}), ints("cats_int64s", {7, 8, 9}),
                                                   attr("default_int64", int64_t{-3}), attr("default_string", "none")};
  auto s2i = run_ml("CategoryMapper", {make<std::string>({2, 2}, {"z", "x", "q", "y"})}, {DataType::kInt64}, a);
  EXPECT_TRUE(tensors_near(s2i[0].tensor(), make<int64_t>({2, 2}, {9, 7, -3, 8})));
  auto i2s = run_ml("CategoryMapper", {make<int64_t>({3}, {8, 1, 9})}, {DataType::kString}, a);
  const std::vector<std::string> want = {"y", "none", "z"};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(i2s[0].tensor().data<std::string>()[i], want[i]);
  EXPECT_THROW(run_ml("CategoryMapper", {make<int64_t>({1}, {1})}, {DataType::kString},
                      {strings("cats_strings", {"x"}), ints("cats_int64s", {1, 2})}),
               Error);
}
