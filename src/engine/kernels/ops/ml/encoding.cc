// Categorical encoders of ai.onnx.ml: OneHotEncoder (1), LabelEncoder
// (1 and 2) and CategoryMapper (1). Lookup tables are hash maps built at
// creation; when a key is listed twice the first entry wins.
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "kernels/kernel.h"
#include "kernels/util/ml_common.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace {

constexpr int64_t kGrain = 1 << 13;

template <typename K>
std::unordered_map<K, int64_t> index_of(const std::vector<K>& keys) {
  std::unordered_map<K, int64_t> m;
  m.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) m.emplace(keys[i], static_cast<int64_t>(i));
  return m;
}

// Float keys compare bit-wise, with every NaN the same key.
uint32_t float_key(float f) {
  if (std::isnan(f)) return 0x7fc00000u;
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Input element i of a numeric tensor as int64 (floats truncate).
int64_t as_int64(const Tensor& x, int64_t i) {
  switch (x.dtype()) {
    case DataType::kInt64: return x.data<int64_t>()[i];
    case DataType::kInt32: return x.data<int32_t>()[i];
    case DataType::kFloat: return static_cast<int64_t>(x.data<float>()[i]);
    case DataType::kDouble: return static_cast<int64_t>(x.data<double>()[i]);
    default: throw Error(ErrorCode::kInvalidArgument, std::string("unsupported input type ") + dtype_name(x.dtype()));
  }
}

// Y[..., c] = 1 where X's category is c; output shape X.shape + [categories].
class OneHotEncoderKernel final : public OpKernel {
 public:
  explicit OneHotEncoderKernel(const KernelInit& init) : zeros_(init.node.attr_int("zeros", 1) != 0) {
    const auto ci = init.node.attr_ints("cats_int64s");
    const auto cs = init.node.attr_strings("cats_strings");
    if (ci.empty() == cs.empty()) ml::bad_attr("exactly one of cats_int64s and cats_strings must be given");
    strings_ = !cs.empty();
    n_ = strings_ ? static_cast<int64_t>(cs.size()) : static_cast<int64_t>(ci.size());
    int_index_ = index_of(ci);
    str_index_ = index_of(cs);
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const bool is_str = x.dtype() == DataType::kString;
    if (!is_str && !ml::is_ml_numeric(x.dtype()))
      throw Error(ErrorCode::kInvalidArgument, std::string("OneHotEncoder: unsupported input type ") + dtype_name(x.dtype()));
    if (is_str != strings_)
      throw Error(ErrorCode::kInvalidArgument, std::string("OneHotEncoder: a ") + dtype_name(x.dtype()) +
                                                   " input needs " + (is_str ? "cats_strings" : "cats_int64s"));
    Shape shape = x.shape();
    shape.push_back(n_);
    float* y = ctx.allocate(0, DataType::kFloat, shape).data<float>();
    std::memset(y, 0, static_cast<size_t>(x.numel() * n_) * sizeof(float));
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t c = -1;
      if (is_str) {
        auto it = str_index_.find(x.data<std::string>()[i]);
        if (it != str_index_.end()) c = it->second;
      } else {
        auto it = int_index_.find(as_int64(x, i));
        if (it != int_index_.end()) c = it->second;
      }
      if (c >= 0) {
        y[i * n_ + c] = 1.f;
      } else if (!zeros_) {
        throw Error(ErrorCode::kInvalidArgument, "OneHotEncoder: element " + std::to_string(i) +
                                                     " is not a known category (zeros=0)");
      }
    }
  }

 private:
  bool zeros_;
  bool strings_ = false;
  int64_t n_ = 0;
  std::unordered_map<int64_t, int64_t> int_index_;
  std::unordered_map<std::string, int64_t> str_index_;
};

// A string <-> int64 mapping: LabelEncoder 1 (index in classes_strings)
// and CategoryMapper (parallel cats_strings / cats_int64s). The direction
// follows the input type.
class StringIntMapKernel final : public OpKernel {
 public:
  StringIntMapKernel(const KernelInit& init, bool category_mapper)
      : op_(category_mapper ? "CategoryMapper" : "LabelEncoder"),
        default_int_(init.node.attr_int("default_int64", -1)),
        default_str_(init.node.attr_string("default_string", "_Unused")) {
    if (category_mapper) {
      strings_ = init.node.attr_strings("cats_strings");
      ints_ = init.node.attr_ints("cats_int64s");
      if (strings_.size() != ints_.size())
        ml::bad_attr("cats_strings has " + std::to_string(strings_.size()) + " entries, cats_int64s has " +
                     std::to_string(ints_.size()));
    } else {
      strings_ = init.node.attr_strings("classes_strings");
      for (size_t i = 0; i < strings_.size(); ++i) ints_.push_back(static_cast<int64_t>(i));
    }
    for (size_t i = 0; i < strings_.size(); ++i) {
      to_int_.emplace(strings_[i], ints_[i]);
      to_str_.emplace(ints_[i], static_cast<int64_t>(i));
    }
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t n = x.numel();
    if (x.dtype() == DataType::kString) {
      const auto* in = x.data<std::string>();
      int64_t* out = ctx.allocate(0, DataType::kInt64, x.shape()).data<int64_t>();
      parallel_for(ctx.threads(), n, kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          auto it = to_int_.find(in[i]);
          out[i] = it == to_int_.end() ? default_int_ : it->second;
        }
      });
    } else if (x.dtype() == DataType::kInt64) {
      const auto* in = x.data<int64_t>();
      auto* out = ctx.allocate(0, DataType::kString, x.shape()).data<std::string>();
      for (int64_t i = 0; i < n; ++i) {
        auto it = to_str_.find(in[i]);
        out[i] = it == to_str_.end() ? default_str_ : strings_[static_cast<size_t>(it->second)];
      }
    } else {
      throw Error(ErrorCode::kInvalidArgument,
                  std::string(op_) + ": input must be string or int64, got " + dtype_name(x.dtype()));
    }
  }

 private:
  const char* op_;
  int64_t default_int_;
  std::string default_str_;
  std::vector<std::string> strings_;
  std::vector<int64_t> ints_;
  std::unordered_map<std::string, int64_t> to_int_;
  std::unordered_map<int64_t, int64_t> to_str_;  // int -> position in strings_
};

// LabelEncoder 2: keys_{strings,int64s,floats} -> values_{strings,int64s,
// floats}, element-wise, default_* for missing keys.
class LabelEncoder2Kernel final : public OpKernel {
 public:
  explicit LabelEncoder2Kernel(const KernelInit& init) {
    const ir::Node& n = init.node;
    const int nk = n.has_attr("keys_strings") + n.has_attr("keys_int64s") + n.has_attr("keys_floats");
    const int nv = n.has_attr("values_strings") + n.has_attr("values_int64s") + n.has_attr("values_floats");
    if (nk != 1) ml::bad_attr("exactly one of keys_strings, keys_int64s and keys_floats must be given");
    if (nv != 1) ml::bad_attr("exactly one of values_strings, values_int64s and values_floats must be given");
    size_t keys = 0;
    if (n.has_attr("keys_strings")) {
      key_type_ = DataType::kString;
      auto k = n.attr_strings("keys_strings");
      keys = k.size();
      str_keys_ = index_of(k);
    } else if (n.has_attr("keys_int64s")) {
      key_type_ = DataType::kInt64;
      auto k = n.attr_ints("keys_int64s");
      keys = k.size();
      int_keys_ = index_of(k);
    } else {
      key_type_ = DataType::kFloat;
      auto k = n.attr_floats("keys_floats");
      keys = k.size();
      std::vector<uint32_t> bits;
      for (float f : k) bits.push_back(float_key(f));
      float_keys_ = index_of(bits);
    }
    size_t values = 0;
    if (n.has_attr("values_strings")) {
      value_type_ = DataType::kString;
      str_values_ = n.attr_strings("values_strings");
      values = str_values_.size();
    } else if (n.has_attr("values_int64s")) {
      value_type_ = DataType::kInt64;
      int_values_ = n.attr_ints("values_int64s");
      values = int_values_.size();
    } else {
      value_type_ = DataType::kFloat;
      float_values_ = n.attr_floats("values_floats");
      values = float_values_.size();
    }
    if (keys != values)
      ml::bad_attr("keys has " + std::to_string(keys) + " entries, values has " + std::to_string(values));
    default_str_ = n.attr_string("default_string", "_Unused");
    default_int_ = n.attr_int("default_int64", -1);
    default_float_ = n.attr_float("default_float", -0.f);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != key_type_)
      throw Error(ErrorCode::kInvalidArgument, std::string("LabelEncoder: input type ") + dtype_name(x.dtype()) +
                                                   " does not match the keys' type " + dtype_name(key_type_));
    Tensor& y = ctx.allocate(0, value_type_, x.shape());
    const int64_t n = x.numel();
    auto lookup = [&](int64_t i) -> int64_t {
      if (key_type_ == DataType::kString) {
        auto it = str_keys_.find(x.data<std::string>()[i]);
        return it == str_keys_.end() ? -1 : it->second;
      }
      if (key_type_ == DataType::kInt64) {
        auto it = int_keys_.find(x.data<int64_t>()[i]);
        return it == int_keys_.end() ? -1 : it->second;
      }
      auto it = float_keys_.find(float_key(x.data<float>()[i]));
      return it == float_keys_.end() ? -1 : it->second;
    };
    if (value_type_ == DataType::kString) {
      auto* out = y.data<std::string>();
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = lookup(i);
        out[i] = k < 0 ? default_str_ : str_values_[static_cast<size_t>(k)];
      }
      return;
    }
    parallel_for(ctx.threads(), n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t k = lookup(i);
        if (value_type_ == DataType::kInt64)
          y.data<int64_t>()[i] = k < 0 ? default_int_ : int_values_[static_cast<size_t>(k)];
        else
          y.data<float>()[i] = k < 0 ? default_float_ : float_values_[static_cast<size_t>(k)];
      }
    });
  }

 private:
  DataType key_type_ = DataType::kUndefined, value_type_ = DataType::kUndefined;
  std::unordered_map<std::string, int64_t> str_keys_;
  std::unordered_map<int64_t, int64_t> int_keys_;
  std::unordered_map<uint32_t, int64_t> float_keys_;
  std::vector<std::string> str_values_;
  std::vector<int64_t> int_values_;
  std::vector<float> float_values_;
  std::string default_str_;
  int64_t default_int_ = -1;
  float default_float_ = -0.f;
};

}  // namespace

void register_kernels_ml_encoding(KernelRegistry& r) {
  r.add("ai.onnx.ml", "OneHotEncoder", 1, kOpenEnded, make_factory<OneHotEncoderKernel>());
  r.add("ai.onnx.ml", "LabelEncoder", 1, 1, [](const KernelInit& init) -> std::unique_ptr<OpKernel> {
    return std::make_unique<StringIntMapKernel>(init, false);
  });
  r.add("ai.onnx.ml", "LabelEncoder", 2, kOpenEnded, make_factory<LabelEncoder2Kernel>());
  r.add("ai.onnx.ml", "CategoryMapper", 1, kOpenEnded, [](const KernelInit& init) -> std::unique_ptr<OpKernel> {
    return std::make_unique<StringIntMapKernel>(init, true);
  });
}

}  // namespace pier::kernels
