// TfIdfVectorizer (opset 9): counts the pool's n-grams in each input row.
//
// The pool (pool_int64s or pool_strings) holds all 1-grams, then all
// 2-grams, ...; ngram_counts[k] is where the (k+1)-grams start. Only sizes in
// [min_gram_length, max_gram_length] are looked for. An n-gram takes items
// `skip + 1` apart for every skip in [0, max_skip_count]; 1-grams are counted
// once whatever the skip. The count of pool n-gram j goes to output column
// ngram_indexes[j]; the output has max(ngram_indexes) + 1 columns, one row
// per input row ([C] -> [cols], [N, C] -> [N, cols]).
//
// mode TF gives counts; IDF gives weights[col] where the count is non-zero
// (1 without weights); TFIDF gives count * weights[col]. As in
// onnxruntime (which produced the ONNX test data), weights are indexed by
// output column.
//
// The pool is a trie keyed by (parent node, item), so each start position
// walks at most max_gram_length steps.
#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace {

enum class Mode { kTF, kIDF, kTFIDF };

struct EdgeHash {
  size_t operator()(const std::pair<int32_t, int64_t>& e) const {
    uint64_t h = static_cast<uint64_t>(e.second) * 0x9E3779B97F4A7C15ull;
    h ^= static_cast<uint64_t>(e.first) + 0x7F4A7C15ull + (h << 6) + (h >> 2);
    return static_cast<size_t>(h);
  }
};

class TfIdfVectorizerKernel final : public OpKernel {
 public:
  explicit TfIdfVectorizerKernel(const KernelInit& init) {
    const auto& n = init.node;
    auto bad = [](const std::string& m) { return Error(ErrorCode::kInvalidModel, "TfIdfVectorizer: " + m); };
    const std::string mode = n.attr_string("mode", "");
    if (mode == "TF") mode_ = Mode::kTF;
    else if (mode == "IDF") mode_ = Mode::kIDF;
    else if (mode == "TFIDF") mode_ = Mode::kTFIDF;
    else throw bad("mode must be TF, IDF or TFIDF, got \"" + mode + "\"");
    min_gram_ = n.req_int("min_gram_length");
    max_gram_ = n.req_int("max_gram_length");
    max_skip_ = n.req_int("max_skip_count");
    if (min_gram_ < 1 || max_gram_ < min_gram_ || max_gram_ > 1024)
      throw bad("need 1 <= min_gram_length <= max_gram_length <= 1024, got " + std::to_string(min_gram_) + " and " +
                std::to_string(max_gram_));
    if (max_skip_ < 0 || max_skip_ > (1 << 20)) throw bad("max_skip_count must be in [0, 2^20]");
    const std::vector<int64_t> counts = n.attr_ints("ngram_counts");
    const std::vector<int64_t> indexes = n.attr_ints("ngram_indexes");
    weights_ = n.attr_floats("weights");
    const std::vector<int64_t> pool_ints = n.attr_ints("pool_int64s");
    const std::vector<std::string> pool_strings = n.attr_strings("pool_strings");
    if (pool_ints.empty() == pool_strings.empty())
      throw bad("exactly one of pool_int64s and pool_strings must be given");
    strings_ = !pool_strings.empty();
    // Items of the pool as int64 keys: the values themselves, or string ids.
    std::vector<int64_t> pool = pool_ints;
    if (strings_) {
      for (const std::string& s : pool_strings) {
        auto it = string_ids_.emplace(s, static_cast<int64_t>(string_ids_.size())).first;
        pool.push_back(it->second);
      }
    }
    const int64_t total = static_cast<int64_t>(pool.size());
    if (counts.empty()) throw bad("ngram_counts is empty");
    node_ngram_.push_back(-1);  // root
    int64_t ngram = 0;
    for (size_t k = 0; k < counts.size(); ++k) {
      const int64_t size = static_cast<int64_t>(k) + 1;
      const int64_t begin = counts[k], end = k + 1 < counts.size() ? counts[k + 1] : total;
      if (begin < 0 || end < begin || end > total)
        throw bad("ngram_counts must be non-decreasing offsets into the pool (size " + std::to_string(total) + ")");
      if ((end - begin) % size != 0)
        throw bad(std::to_string(end - begin) + " pool items for " + std::to_string(size) +
                  "-grams is not a multiple of " + std::to_string(size));
      for (int64_t s = begin; s < end; s += size, ++ngram)
        if (size >= min_gram_ && size <= max_gram_) insert(pool.data() + s, size, ngram);
    }
    if (static_cast<int64_t>(indexes.size()) != ngram)
      throw bad("ngram_indexes has " + std::to_string(indexes.size()) + " entries but the pool holds " +
                std::to_string(ngram) + " n-grams");
    for (int64_t i : indexes) {
      if (i < 0 || i > (1 << 28)) throw bad("ngram_indexes entry " + std::to_string(i) + " out of range");
      cols_ = std::max(cols_, i + 1);
    }
    column_ = indexes;
    if (!weights_.empty() && static_cast<int64_t>(weights_.size()) < cols_)
      throw bad("weights has " + std::to_string(weights_.size()) + " entries for " + std::to_string(cols_) +
                " output columns");
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const DataType t = x.dtype();
    if (strings_ ? t != DataType::kString : (t != DataType::kInt32 && t != DataType::kInt64))
      throw Error(ErrorCode::kInvalidArgument, std::string("TfIdfVectorizer: input must be ") +
                                                   (strings_ ? "string" : "int32 or int64") + " for this pool, got " +
                                                   dtype_name(t));
    if (x.rank() != 1 && x.rank() != 2)
      throw Error(ErrorCode::kInvalidArgument,
                  "TfIdfVectorizer: input must be 1-D or 2-D, got " + shape_str(x.shape()));
    const int64_t rows = x.rank() == 2 ? x.dim(0) : 1;
    const int64_t len = x.rank() == 2 ? x.dim(1) : x.dim(0);
    Tensor& y = ctx.allocate(0, DataType::kFloat, x.rank() == 2 ? Shape{rows, cols_} : Shape{cols_});
    float* py = y.data<float>();
    std::fill(py, py + y.numel(), 0.f);
    if (len == 0 || rows == 0) return;
    parallel_for(ctx.threads(), rows, std::max<int64_t>(1, 4096 / len), [&](int64_t b, int64_t e) {
      std::vector<int64_t> items(static_cast<size_t>(len));
      for (int64_t r = b; r < e; ++r) {
        load_row(x, r, len, items.data());
        float* out = py + r * cols_;
        count_row(items.data(), len, out);
        weigh(out);
      }
    });
  }

 private:
  void insert(const int64_t* items, int64_t size, int64_t ngram) {
    int32_t node = 0;
    for (int64_t i = 0; i < size; ++i) {
      auto [it, added] = children_.emplace(std::make_pair(node, items[i]), static_cast<int32_t>(node_ngram_.size()));
      if (added) node_ngram_.push_back(-1);
      node = it->second;
    }
    if (node_ngram_[node] < 0) node_ngram_[node] = ngram;  // a duplicate keeps the first
  }

  // Items of row r as keys; strings not in the pool get -1 (never a key).
  void load_row(const Tensor& x, int64_t r, int64_t len, int64_t* items) const {
    if (strings_) {
      const std::string* p = x.data<std::string>() + r * len;
      for (int64_t i = 0; i < len; ++i) {
        auto it = string_ids_.find(p[i]);
        items[i] = it == string_ids_.end() ? -1 : it->second;
      }
    } else if (x.dtype() == DataType::kInt32) {
      const int32_t* p = x.data<int32_t>() + r * len;
      for (int64_t i = 0; i < len; ++i) items[i] = p[i];
    } else {
      const int64_t* p = x.data<int64_t>() + r * len;
      std::copy(p, p + len, items);
    }
  }

  void count_row(const int64_t* items, int64_t len, float* out) const {
    int64_t first_size = min_gram_;
    for (int64_t dist = 1; dist <= max_skip_ + 1; ++dist) {
      for (int64_t start = 0; start < len; ++start) {
        if (start + dist * (first_size - 1) >= len) break;  // no n-gram of a wanted size fits
        int32_t node = 0;
        int64_t pos = start;
        for (int64_t size = 1; size <= max_gram_ && pos < len; ++size, pos += dist) {
          auto it = children_.find(std::make_pair(node, items[pos]));
          if (it == children_.end()) break;
          node = it->second;
          if (size >= first_size && node_ngram_[node] >= 0) out[column_[node_ngram_[node]]] += 1.f;
        }
      }
      // 1-grams do not depend on the skip: count them on the first pass only.
      if (first_size == 1) {
        first_size = 2;
        if (first_size > max_gram_) break;
      }
    }
  }

  void weigh(float* out) const {
    switch (mode_) {
      case Mode::kTF: break;
      case Mode::kIDF:
        for (int64_t c = 0; c < cols_; ++c)
          out[c] = out[c] > 0 ? (weights_.empty() ? 1.f : weights_[c]) : 0.f;
        break;
      case Mode::kTFIDF:
        if (!weights_.empty())
          for (int64_t c = 0; c < cols_; ++c) out[c] *= weights_[c];
        break;
    }
  }

  Mode mode_ = Mode::kTF;
  int64_t min_gram_ = 1, max_gram_ = 1, max_skip_ = 0;
  bool strings_ = false;
  std::unordered_map<std::string, int64_t> string_ids_;
  std::unordered_map<std::pair<int32_t, int64_t>, int32_t, EdgeHash> children_;
  std::vector<int64_t> node_ngram_;  // pool n-gram index ending at each trie node, or -1
  std::vector<int64_t> column_;      // ngram_indexes
  std::vector<float> weights_;
  int64_t cols_ = 0;
};

}  // namespace

void register_kernels_string_tfidf_vectorizer(KernelRegistry& r) {
  r.add("", "TfIdfVectorizer", 9, kOpenEnded, make_factory<TfIdfVectorizerKernel>());
}

}  // namespace pier::kernels
