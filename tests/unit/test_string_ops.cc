// String ops: the UTF-8 case tables (checked against glibc's C.UTF-8
// locale), StringNormalizer and TfIdfVectorizer (checked against a brute
// force n-gram count).
#include <clocale>
#include <cwctype>
#include <map>
#include <random>

#include "kernels/util/string_case.h"
#include "test_util.h"

using namespace pier;
using namespace pier::test;
namespace sc = pier::kernels::strcase;

namespace {

std::string word(int64_t v) {  // "w<v>" (appended: GCC 12 warns on "w" + to_string)
  std::string s = "w";
  s += std::to_string(v);
  return s;
}

Tensor strings(Shape shape, std::vector<std::string> v) { return make<std::string>(std::move(shape), std::move(v)); }

std::vector<std::string> as_strings(const Tensor& t) {
  return std::vector<std::string>(t.data<std::string>(), t.data<std::string>() + t.numel());
}

}  // namespace

TEST(StringCase, MatchesGlibcInCoveredBlocks) {
  locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  if (!loc) GTEST_SKIP() << "C.UTF-8 locale not available";
  ASSERT_EQ(towupper_l(L'a', loc), L'A');
  ASSERT_EQ(towlower_l(0x0416, loc), 0x0436);  // Cyrillic Zhe
  const std::pair<char32_t, char32_t> ranges[] = {
      {0x0000, 0x058F}, {0x10A0, 0x10FF}, {0x1C90, 0x1CBF}, {0x1E00, 0x1FFF}, {0x2126, 0x2132}, {0x2160, 0x2188},
      {0x24B6, 0x24E9}, {0x2C00, 0x2C7F}, {0x2C80, 0x2CFF}, {0x2D00, 0x2D2F}, {0xA640, 0xA69F}, {0xFF00, 0xFFEF},
      {0x10400, 0x1044F}};
  int bad = 0;
  for (auto [lo, hi] : ranges)
    for (char32_t c = lo; c <= hi; ++c) {
      const auto gu = static_cast<char32_t>(towupper_l(static_cast<wint_t>(c), loc));
      const auto gl = static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), loc));
      if (sc::to_upper(c) != gu && bad++ < 20)
        ADD_FAILURE() << std::hex << "upper(U+" << uint32_t(c) << "): got U+" << uint32_t(sc::to_upper(c))
                      << ", glibc U+" << uint32_t(gu);
      if (sc::to_lower(c) != gl && bad++ < 20)
        ADD_FAILURE() << std::hex << "lower(U+" << uint32_t(c) << "): got U+" << uint32_t(sc::to_lower(c))
                      << ", glibc U+" << uint32_t(gl);
    }
  freelocale(loc);
  EXPECT_EQ(bad, 0);
}

TEST(StringCase, Utf8Strings) {
  EXPECT_EQ(sc::utf8_upper("Straße çà vá"), "STRAßE ÇÀ VÁ");  // sharp s has no one-letter capital
  EXPECT_EQ(sc::utf8_lower("ÀÉÎÕÜ ŁŒŽ"), "àéîõü łœž");
  EXPECT_EQ(sc::utf8_upper("ελληνικά ς"), "ΕΛΛΗΝΙΚΆ Σ");
  EXPECT_EQ(sc::utf8_lower("ΟΔΥΣΣΕΎΣ"), "οδυσσεύσ");  // simple mapping: no final sigma
  EXPECT_EQ(sc::utf8_upper("кириллица ёж ў"), "КИРИЛЛИЦА ЁЖ Ў");
  EXPECT_EQ(sc::utf8_lower("ПРИВЕТ"), "привет");
  EXPECT_EQ(sc::utf8_upper("日本 ok 😀"), "日本 OK 😀");
  // Invalid UTF-8 bytes (a lone continuation byte, a cut sequence) pass through.
  EXPECT_EQ(sc::utf8_upper(std::string("a\x80z\xC3")), std::string("A\x80Z\xC3"));
  EXPECT_EQ(sc::utf8_upper(std::string("\xC0\xA1x")), std::string("\xC0\xA1X"));  // overlong '!'
  // Turkic dotted and dotless i.
  EXPECT_EQ(sc::utf8_upper("istanbul ılık", true), "İSTANBUL ILIK");
  EXPECT_EQ(sc::utf8_lower("ISPARTA İzmir", true), "ısparta izmir");
  EXPECT_EQ(sc::utf8_upper("istanbul", false), "ISTANBUL");
  EXPECT_TRUE(sc::is_turkic_locale("tr_TR.UTF-8"));
  EXPECT_TRUE(sc::is_turkic_locale("az"));
  EXPECT_FALSE(sc::is_turkic_locale("en_US"));
  EXPECT_FALSE(sc::is_turkic_locale("tra"));
}

TEST(StringNormalizer, StopwordsAndCaseActions) {
  Tensor x = strings({5}, {"Monday", "tuesday", "MONDAY", "été", "Été"});
  auto lower = run_node("StringNormalizer", {x}, {DataType::kString},
                        {attr("stopwords", std::vector<std::string>{"monday"}), attr("case_change_action", "LOWER")});
  EXPECT_EQ(as_strings(lower[0].tensor()), (std::vector<std::string>{"tuesday", "été", "été"}));
  EXPECT_EQ(lower[0].tensor().shape(), (Shape{3}));
  auto sens = run_node("StringNormalizer", {x}, {DataType::kString},
                       {attr("stopwords", std::vector<std::string>{"Monday", "été"}), attr("is_case_sensitive", 1),
                        attr("case_change_action", "UPPER")});
  EXPECT_EQ(as_strings(sens[0].tensor()), (std::vector<std::string>{"TUESDAY", "MONDAY", "ÉTÉ"}));
  // Case-insensitive matching of non-ASCII stop words.
  auto insens = run_node("StringNormalizer", {x}, {DataType::kString},
                         {attr("stopwords", std::vector<std::string>{"ÉTÉ"})});
  EXPECT_EQ(as_strings(insens[0].tensor()), (std::vector<std::string>{"Monday", "tuesday", "MONDAY"}));
  auto none = run_node("StringNormalizer", {x}, {DataType::kString}, {attr("locale", "de_DE")});
  EXPECT_EQ(as_strings(none[0].tensor()), as_strings(x));
}

TEST(StringNormalizer, TwoDimAndEmptyOutput) {
  Tensor x = strings({1, 3}, {"a", "B", "a"});
  auto y = run_node("StringNormalizer", {x}, {DataType::kString},
                    {attr("stopwords", std::vector<std::string>{"A"}), attr("case_change_action", "LOWER")});
  EXPECT_EQ(y[0].tensor().shape(), (Shape{1, 1}));
  EXPECT_EQ(as_strings(y[0].tensor()), (std::vector<std::string>{"b"}));
  auto e2 = run_node("StringNormalizer", {x}, {DataType::kString},
                     {attr("stopwords", std::vector<std::string>{"a", "b"})});
  EXPECT_EQ(e2[0].tensor().shape(), (Shape{1, 1}));
  EXPECT_EQ(as_strings(e2[0].tensor()), (std::vector<std::string>{""}));
  auto e1 = run_node("StringNormalizer", {strings({2}, {"x", "X"})}, {DataType::kString},
                     {attr("stopwords", std::vector<std::string>{"x"})});
  EXPECT_EQ(e1[0].tensor().shape(), (Shape{1}));
  EXPECT_EQ(as_strings(e1[0].tensor()), (std::vector<std::string>{""}));
  auto turkish = run_node("StringNormalizer", {strings({1}, {"istanbul"})}, {DataType::kString},
                          {attr("case_change_action", "UPPER"), attr("locale", "tr_TR")});
  EXPECT_EQ(as_strings(turkish[0].tensor()), (std::vector<std::string>{"İSTANBUL"}));
}

TEST(StringNormalizer, BadInputsAreErrors) {
  EXPECT_THROW(run_node("StringNormalizer", {strings({2, 2}, {"a", "b", "c", "d"})}, {DataType::kString}), Error);
  EXPECT_THROW(run_node("StringNormalizer", {strings({1}, {"a"})}, {DataType::kString},
                        {attr("case_change_action", "TITLE")}),
               Error);
}

namespace {

struct TfIdf {
  std::string mode = "TF";
  int64_t min_gram = 1, max_gram = 2, max_skip = 0;
  std::vector<int64_t> counts, indexes;
  std::vector<std::vector<int64_t>> grams;  // pool n-grams, in pool order
  std::vector<float> weights;

  std::vector<onnx::AttributeProto> attrs(bool as_strings) const {
    std::vector<int64_t> flat;
    for (const auto& g : grams) flat.insert(flat.end(), g.begin(), g.end());
    std::vector<onnx::AttributeProto> a = {attr("mode", mode),          attr("min_gram_length", min_gram),
                                           attr("max_gram_length", max_gram), attr("max_skip_count", max_skip),
                                           attr("ngram_counts", counts), attr("ngram_indexes", indexes)};
    if (as_strings) {
      std::vector<std::string> s;
      for (int64_t v : flat) s.push_back(word(v));
      a.push_back(attr("pool_strings", s));
    } else {
      a.push_back(attr("pool_int64s", flat));
    }
    if (!weights.empty()) a.push_back(attr("weights", weights));
    return a;
  }

  // Brute force: every n-gram of every wanted size and skip, looked up in
  // the pool (1-grams once).
  std::vector<float> reference(const std::vector<int64_t>& row) const {
    int64_t cols = 0;
    for (int64_t i : indexes) cols = std::max(cols, i + 1);
    std::vector<float> out(static_cast<size_t>(cols), 0.f);
    std::map<std::vector<int64_t>, size_t> pool;
    for (size_t j = 0; j < grams.size(); ++j) pool.emplace(grams[j], j);
    const int64_t len = static_cast<int64_t>(row.size());
    for (int64_t n = min_gram; n <= max_gram; ++n)
      for (int64_t skip = 0; skip <= (n == 1 ? 0 : max_skip); ++skip)
        for (int64_t s = 0; s + (n - 1) * (skip + 1) < len; ++s) {
          std::vector<int64_t> g;
          for (int64_t k = 0; k < n; ++k) g.push_back(row[s + k * (skip + 1)]);
          auto it = pool.find(g);
          if (it != pool.end()) out[indexes[it->second]] += 1;
        }
    for (int64_t c = 0; c < cols; ++c) {
      const float w = weights.empty() ? 1.f : weights[c];
      if (mode == "IDF") out[c] = out[c] > 0 ? w : 0;
      else if (mode == "TFIDF") out[c] *= w;
    }
    return out;
  }
};

// A pool of random 1-, 2- and 3-grams over a small alphabet.
TfIdf random_pool(std::mt19937& rng, int alphabet) {
  TfIdf t;
  std::uniform_int_distribution<int64_t> item(0, alphabet - 1);
  std::map<std::vector<int64_t>, int> seen;
  for (int64_t n = 1; n <= 3; ++n) {
    t.counts.push_back(0);
    for (const auto& g : t.grams) t.counts.back() += static_cast<int64_t>(g.size());
    for (int k = 0; k < 6; ++k) {
      std::vector<int64_t> g;
      for (int64_t i = 0; i < n; ++i) g.push_back(item(rng));
      if (seen.emplace(g, 0).second) t.grams.push_back(g);
    }
  }
  // Output columns: a shuffled permutation of the n-grams.
  for (size_t j = 0; j < t.grams.size(); ++j) t.indexes.push_back(static_cast<int64_t>(j));
  std::shuffle(t.indexes.begin(), t.indexes.end(), rng);
  return t;
}

}  // namespace

TEST(TfIdfVectorizer, MatchesBruteForceCounts) {
  std::mt19937 rng(42);
  for (int trial = 0; trial < 40; ++trial) {
    TfIdf t = random_pool(rng, 4);
    t.min_gram = 1 + trial % 3;
    t.max_gram = std::max<int64_t>(t.min_gram, 1 + (trial / 3) % 3);
    t.max_skip = trial % 4;
    t.mode = trial % 3 == 0 ? "TF" : trial % 3 == 1 ? "IDF" : "TFIDF";
    if (trial % 2) {
      for (size_t c = 0; c < t.grams.size(); ++c) t.weights.push_back(0.5f + static_cast<float>(c));
    }
    const int64_t rows = 3, len = 4 + trial % 9;
    std::uniform_int_distribution<int64_t> item(0, 4);  // 4 is never in the pool
    std::vector<int64_t> data;
    for (int64_t i = 0; i < rows * len; ++i) data.push_back(item(rng));
    const bool use_strings = trial % 5 == 0;
    const bool two_dim = trial % 2 == 0;
    Tensor x;
    if (use_strings) {
      std::vector<std::string> s;
      for (int64_t v : data) s.push_back(word(v));
      x = two_dim ? strings({rows, len}, s) : strings({rows * len}, s);
    } else if (trial % 3 == 0) {
      std::vector<int32_t> v(data.begin(), data.end());
      x = two_dim ? make<int32_t>({rows, len}, v) : make<int32_t>({rows * len}, v);
    } else {
      x = two_dim ? make<int64_t>({rows, len}, data) : make<int64_t>({rows * len}, data);
    }
    auto y = run_node("TfIdfVectorizer", {x}, {DataType::kFloat}, t.attrs(use_strings), 9);
    std::vector<float> want;
    if (two_dim) {
      for (int64_t r = 0; r < rows; ++r) {
        auto row = t.reference(std::vector<int64_t>(data.begin() + r * len, data.begin() + (r + 1) * len));
        want.insert(want.end(), row.begin(), row.end());
      }
    } else {
      want = t.reference(data);
    }
    const int64_t cols = static_cast<int64_t>(want.size()) / (two_dim ? rows : 1);
    EXPECT_TRUE(tensors_near(y[0].tensor(), make<float>(two_dim ? Shape{rows, cols} : Shape{cols}, want)))
        << "trial " << trial;
  }
}

TEST(TfIdfVectorizer, SpecExampleAndEmptyLevel) {
  // From the operator's documentation: skip 2 pairs [94, 12] and [17, 28].
  TfIdf t;
  t.min_gram = t.max_gram = 2;
  t.max_skip = 2;
  t.counts = {0, 0};
  t.grams = {{94, 12}, {17, 28}, {94, 17}};
  t.indexes = {0, 1, 2};
  auto y = run_node("TfIdfVectorizer", {make<int64_t>({5}, {94, 17, 36, 12, 28})}, {DataType::kFloat}, t.attrs(false),
                    9);
  EXPECT_TRUE(tensors_near(y[0].tensor(), make<float>({3}, {1, 1, 1})));
  // An empty row count is all zeros.
  auto e = run_node("TfIdfVectorizer", {make<int64_t>({2, 0}, {})}, {DataType::kFloat}, t.attrs(false), 9);
  EXPECT_TRUE(tensors_near(e[0].tensor(), make<float>({2, 3}, {0, 0, 0, 0, 0, 0})));
}

TEST(TfIdfVectorizer, BadModelsAndInputsAreErrors) {
  TfIdf t;
  t.counts = {0, 2};
  t.grams = {{1}, {2}, {1, 2}};
  t.indexes = {0, 1, 2};
  Tensor x = make<int64_t>({3}, {1, 2, 1});
  EXPECT_NO_THROW(run_node("TfIdfVectorizer", {x}, {DataType::kFloat}, t.attrs(false), 9));
  EXPECT_THROW(run_node("TfIdfVectorizer", {strings({1}, {"a"})}, {DataType::kFloat}, t.attrs(false), 9), Error);
  TfIdf bad_idx = t;
  bad_idx.indexes = {0, 1};
  EXPECT_THROW(run_node("TfIdfVectorizer", {x}, {DataType::kFloat}, bad_idx.attrs(false), 9), Error);
  TfIdf bad_counts = t;
  bad_counts.counts = {0, 1};  // 2 items left for 2-grams, but 1 + 2 split is wrong: 1-grams {1}, 2-grams {2,1,2}
  EXPECT_THROW(run_node("TfIdfVectorizer", {x}, {DataType::kFloat}, bad_counts.attrs(false), 9), Error);
  TfIdf bad_mode = t;
  bad_mode.mode = "BM25";
  EXPECT_THROW(run_node("TfIdfVectorizer", {x}, {DataType::kFloat}, bad_mode.attrs(false), 9), Error);
  TfIdf short_weights = t;
  short_weights.weights = {1.f};
  EXPECT_THROW(run_node("TfIdfVectorizer", {x}, {DataType::kFloat}, short_weights.attrs(false), 9), Error);
  EXPECT_THROW(run_node("TfIdfVectorizer", {make<int64_t>({1, 1, 3}, {1, 2, 1})}, {DataType::kFloat}, t.attrs(false), 9),
               Error);
}
