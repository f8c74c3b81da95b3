// The map operators of ai.onnx.ml (opset 1): ZipMap (tensor -> sequence of
// maps), DictVectorizer (map -> tensor) and CastMap (map -> tensor).
// Maps are Value::Map: parallel 1-D key and value tensors. Where a map
// lists a key twice the last entry wins, as when building a dictionary.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <numeric>
#include <unordered_map>

#include "kernels/kernel.h"
#include "kernels/util/ml_common.h"

namespace pier::kernels {

namespace {

const Value::Map& input_map(KernelContext& ctx, const char* op) {
  const Value& v = ctx.value(0);
  if (!v.is_map())
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": input must be a map");
  return v.as_map();
}

// Z[n] = {label_c: X[n, c]}: one map per row, all sharing one keys tensor;
// the values are views of one copy of X.
class ZipMapKernel final : public OpKernel {
 public:
  explicit ZipMapKernel(const KernelInit& init) {
    const ml::ClassLabels labels = ml::ClassLabels::from_node(init.node, "classlabels_int64s");
    keys_ = labels.is_string ? Tensor::from_vector(labels.strings, {labels.size()})
                             : Tensor::from_vector(labels.ints, {labels.size()});
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DataType::kFloat)
      throw Error(ErrorCode::kInvalidArgument, std::string("ZipMap: input must be float, got ") + dtype_name(x.dtype()));
    if (x.rank() != 1 && x.rank() != 2)
      throw Error(ErrorCode::kInvalidArgument, "ZipMap: input must be [N, C] or [C], got " + shape_str(x.shape()));
    const int64_t c = x.dim(-1), n = x.rank() == 1 ? 1 : x.dim(0);
    if (c != keys_.numel())
      throw Error(ErrorCode::kInvalidArgument, "ZipMap: the input has " + std::to_string(c) + " columns for " +
                                                   std::to_string(keys_.numel()) + " class labels");
    auto copy = std::make_shared<Tensor>(x.clone());
    std::vector<Value::Map> maps;
    maps.reserve(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r)
      maps.push_back({keys_, Tensor::wrap(DataType::kFloat, {c}, copy->data<float>() + r * c, copy)});
    ctx.set_output(0, Value::map_sequence(keys_.dtype(), DataType::kFloat, std::move(maps)));
  }

 private:
  Tensor keys_;
};

// Y[0, i] = X[vocabulary[i]] (zero / empty when absent); Y is [1, V] of the
// map's value type. Keys not in the vocabulary are ignored.
class DictVectorizerKernel final : public OpKernel {
 public:
  explicit DictVectorizerKernel(const KernelInit& init)
      : str_vocab_(init.node.attr_strings("string_vocabulary")), int_vocab_(init.node.attr_ints("int64_vocabulary")) {
    if (str_vocab_.empty() == int_vocab_.empty())
      ml::bad_attr("exactly one of string_vocabulary and int64_vocabulary must be given");
  }
  void compute(KernelContext& ctx) const override {
    const Value::Map& m = input_map(ctx, "DictVectorizer");
    const bool str = !str_vocab_.empty();
    if (m.keys.dtype() != (str ? DataType::kString : DataType::kInt64))
      throw Error(ErrorCode::kInvalidArgument, std::string("DictVectorizer: map keys are ") +
                                                   dtype_name(m.keys.dtype()) + ", the vocabulary is " +
                                                   (str ? "string" : "int64"));
    const DataType vt = m.values.dtype();
    if (vt != DataType::kFloat && vt != DataType::kDouble && vt != DataType::kInt64 && vt != DataType::kString)
      throw Error(ErrorCode::kInvalidArgument, std::string("DictVectorizer: unsupported map value type ") + dtype_name(vt));
    const int64_t v = str ? static_cast<int64_t>(str_vocab_.size()) : static_cast<int64_t>(int_vocab_.size());
    // Position in the map of each vocabulary entry, or -1.
    std::vector<int64_t> pos(static_cast<size_t>(v), -1);
    if (str) {
      std::unordered_map<std::string, int64_t> at;
      for (int64_t i = 0; i < m.keys.numel(); ++i) at[m.keys.data<std::string>()[i]] = i;
      for (int64_t i = 0; i < v; ++i) {
        auto it = at.find(str_vocab_[i]);
        if (it != at.end()) pos[i] = it->second;
      }
    } else {
      std::unordered_map<int64_t, int64_t> at;
      for (int64_t i = 0; i < m.keys.numel(); ++i) at[m.keys.data<int64_t>()[i]] = i;
      for (int64_t i = 0; i < v; ++i) {
        auto it = at.find(int_vocab_[i]);
        if (it != at.end()) pos[i] = it->second;
      }
    }
    Tensor& y = ctx.allocate(0, vt, {1, v});
    auto fill = [&](auto tag) {
      using T = decltype(tag);
      const T* in = m.values.data<T>();
      T* out = y.data<T>();
      for (int64_t i = 0; i < v; ++i) out[i] = pos[i] < 0 ? T{} : in[pos[i]];
    };
    switch (vt) {
      case DataType::kFloat: fill(float{}); break;
      case DataType::kDouble: fill(double{}); break;
      case DataType::kInt64: fill(int64_t{}); break;
      default: fill(std::string{}); break;
    }
  }

 private:
  std::vector<std::string> str_vocab_;
  std::vector<int64_t> int_vocab_;
};

// map(int64, string|float) -> [1, n] tensor in ascending key order (DENSE),
// or [1, max_map] with the value of key k at k (SPARSE; keys at or past
// max_map are dropped, missing ones are 0, or "0.f" for strings as in ONNX
// Runtime). Strings convert to numbers by strtof/strtoll rules.
class CastMapKernel final : public OpKernel {
 public:
  enum class To { kFloat, kString, kInt64 };
  explicit CastMapKernel(const KernelInit& init) : max_map_(init.node.attr_int("max_map", 1)) {
    const std::string to = init.node.attr_string("cast_to", "TO_FLOAT");
    if (to == "TO_FLOAT") to_ = To::kFloat;
    else if (to == "TO_STRING") to_ = To::kString;
    else if (to == "TO_INT64") to_ = To::kInt64;
    else ml::bad_attr("cast_to \"" + to + "\" is not one of TO_FLOAT, TO_STRING, TO_INT64");
    const std::string form = init.node.attr_string("map_form", "DENSE");
    if (form != "DENSE" && form != "SPARSE") ml::bad_attr("map_form \"" + form + "\" is not DENSE or SPARSE");
    sparse_ = form == "SPARSE";
    if (sparse_ && (max_map_ < 0 || max_map_ > (int64_t{1} << 26)))
      ml::bad_attr("max_map " + std::to_string(max_map_) + " is out of range");
  }

  void compute(KernelContext& ctx) const override {
    const Value::Map& m = input_map(ctx, "CastMap");
    if (m.keys.dtype() != DataType::kInt64 ||
        (m.values.dtype() != DataType::kFloat && m.values.dtype() != DataType::kString))
      throw Error(ErrorCode::kInvalidArgument, std::string("CastMap: input must be map(int64, float) or ") +
                                                   "map(int64, string), got map(" + dtype_name(m.keys.dtype()) + ", " +
                                                   dtype_name(m.values.dtype()) + ")");
    const int64_t* keys = m.keys.data<int64_t>();
    // Entries by ascending key; for a repeated key the last one.
    std::vector<int64_t> order(static_cast<size_t>(m.keys.numel()));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
    std::vector<int64_t> entries;
    for (size_t i = 0; i < order.size(); ++i)
      if (i + 1 == order.size() || keys[order[i + 1]] != keys[order[i]]) entries.push_back(order[i]);
    if (sparse_ && !entries.empty() && keys[entries.front()] < 0)
      throw Error(ErrorCode::kInvalidArgument, "CastMap: SPARSE needs non-negative keys, got " +
                                                   std::to_string(keys[entries.front()]));
    const int64_t n = sparse_ ? max_map_ : static_cast<int64_t>(entries.size());
    const DataType out_type = to_ == To::kFloat ? DataType::kFloat : to_ == To::kInt64 ? DataType::kInt64 : DataType::kString;
    Tensor& y = ctx.allocate(0, out_type, {1, n});
    for (int64_t i = 0; i < n; ++i) put(y, i, -1);
    if (sparse_) {
      for (int64_t e : entries)
        if (keys[e] < n) put(y, keys[e], e, &m.values);
    } else {
      for (int64_t i = 0; i < n; ++i) put(y, i, entries[i], &m.values);
    }
  }

 private:
  // y[i] = cast(values[e]), or the pad value when e < 0.
  void put(Tensor& y, int64_t i, int64_t e, const Tensor* values = nullptr) const {
    const bool is_str = values && values->dtype() == DataType::kString;
    switch (to_) {
      case To::kFloat:
        y.data<float>()[i] = e < 0 ? 0.f : is_str ? parse<float>(values->data<std::string>()[e]) : values->data<float>()[e];
        break;
      case To::kInt64:
        y.data<int64_t>()[i] = e < 0 ? 0
                               : is_str ? parse<int64_t>(values->data<std::string>()[e])
                                        : static_cast<int64_t>(values->data<float>()[e]);
        break;
      case To::kString:
        if (e < 0) {
          y.data<std::string>()[i] = "0.f";
        } else if (is_str) {
          y.data<std::string>()[i] = values->data<std::string>()[e];
        } else {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%f", static_cast<double>(values->data<float>()[e]));
          y.data<std::string>()[i] = buf;
        }
        break;
    }
  }

  template <typename T>
  static T parse(const std::string& s) {
    try {
      size_t used = 0;
      T v;
      if constexpr (std::is_same_v<T, float>)
        v = std::stof(s, &used);
      else
        v = std::stoll(s, &used);
      return v;
    } catch (const std::exception&) {
      throw Error(ErrorCode::kInvalidArgument, "CastMap: cannot convert \"" + s + "\" to a number");
    }
  }

  To to_ = To::kFloat;
  bool sparse_ = false;
  int64_t max_map_;
};

}  // namespace

void register_kernels_ml_maps(KernelRegistry& r) {
  r.add("ai.onnx.ml", "ZipMap", 1, kOpenEnded, make_factory<ZipMapKernel>());
  r.add("ai.onnx.ml", "DictVectorizer", 1, kOpenEnded, make_factory<DictVectorizerKernel>());
  r.add("ai.onnx.ml", "CastMap", 1, kOpenEnded, make_factory<CastMapKernel>());
}

}  // namespace pier::kernels
