// Pier inference engine: the public API.
//
// This header is all that the CLI, the server and other layers use. It names
// tensors, values (tensor, sequence, empty optional, map or sequence of maps), sessions and errors;
// everything else in the engine is private.
#pragma once

#include <cstddef>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pier {

// Element types. The numbers are ONNX's TensorProto.DataType values.
enum class DataType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
};

// Size in bytes of one element; sizeof(std::string) for kString.
size_t dtype_size(DataType t);
// ONNX's name for the type: "float", "int64", "float16", "string", ...
const char* dtype_name(DataType t);
// Inverse of dtype_name; also accepts numpy-style names ("float32", "float64").
std::optional<DataType> dtype_from_name(std::string_view name);

// IEEE half and bfloat16 storage types (bit patterns), with conversions.
struct Float16 {
  uint16_t bits = 0;
  Float16() = default;
  explicit Float16(float f);
  explicit operator float() const;
};
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  explicit BFloat16(float f);  // round to nearest even
  explicit operator float() const;
};

using Shape = std::vector<int64_t>;
// Product of the dims (1 for a scalar).
int64_t shape_numel(const Shape& s);
// "[1,3,224,224]"
std::string shape_str(const Shape& s);

enum class ErrorCode {
  kInvalidModel,     // the model file is malformed or fails validation
  kUnsupported,      // the model uses an operator or type Pier cannot run
  kInvalidArgument,  // bad inputs to run(): wrong count, dtype, shape
  kIO,               // a file could not be read or written
  kRuntime,          // a failure while running a kernel
  kDeadlineExceeded,  // a run took longer than its RunOptions::timeout
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// A dense tensor. Storage is reference counted and 64-byte aligned; copying a
// Tensor shares the storage. Strings are stored as std::string elements.
class Tensor {
 public:
  Tensor() = default;  // undefined: dtype kUndefined, no storage
  // Allocates storage for shape; numeric contents are uninitialized,
  // strings are empty.
  Tensor(DataType dtype, Shape shape);
  static Tensor zeros(DataType dtype, Shape shape);
  // Wraps memory owned elsewhere; `owner` keeps it alive. Not for strings.
  static Tensor wrap(DataType dtype, Shape shape, void* data, std::shared_ptr<void> owner);
  // A scalar or 1-D tensor from values.
  template <typename T>
  static Tensor from_vector(const std::vector<T>& v, Shape shape);

  bool defined() const { return dtype_ != DataType::kUndefined; }
  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[i < 0 ? i + rank() : i]; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  // Typed access; throws Error if T does not match dtype().
  template <typename T>
  T* data();
  template <typename T>
  const T* data() const;

  // Same storage, new shape with the same number of elements.
  Tensor reshaped(Shape shape) const;
  // Deep copy.
  Tensor clone() const;
  // True when no other Tensor shares this storage (safe to write in place).
  bool unique() const { return storage_.use_count() == 1; }
  // Identity of the underlying storage; equal for views of one buffer.
  const void* storage_id() const { return storage_.get(); }

 private:
  void check_type(DataType want) const;
  DataType dtype_ = DataType::kUndefined;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
};

// A graph value: a tensor, a sequence of tensors, an empty optional, a map
// or a sequence of maps.
//
// Maps (ONNX map(K, V), used by the ai.onnx.ml operators ZipMap,
// DictVectorizer and CastMap) are a pair of 1-D tensors of equal length:
// `keys` (int64 or string) and `values` (the value type V, e.g. float).
// Keys are stored in the order the producer wrote them. A map is its own
// kind (kMap), and so is a sequence of maps (kMapSequence): code that handles
// tensor sequences through is_sequence()/items() never sees maps.
class Value {
 public:
  enum class Kind : uint8_t { kNone, kTensor, kSequence, kMap, kMapSequence };
  struct Map {
    Tensor keys;    // 1-D, int64 or string
    Tensor values;  // 1-D, as many elements as keys
  };
  Value() = default;  // empty optional
  Value(Tensor t) : kind_(Kind::kTensor), tensor_(std::move(t)) {}  // NOLINT: implicit by design
  static Value sequence(DataType elem_type, std::vector<Tensor> items);
  static Value none() { return Value(); }
  // A map; throws Error unless keys is 1-D int64/string and values is 1-D
  // of the same length.
  static Value map(Tensor keys, Tensor values);
  // A sequence of maps, all with key type `key_type` and value type
  // `value_type` (checked like map()).
  static Value map_sequence(DataType key_type, DataType value_type, std::vector<Map> maps);

  Kind kind() const { return kind_; }
  bool is_tensor() const { return kind_ == Kind::kTensor; }
  bool is_sequence() const { return kind_ == Kind::kSequence; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_map() const { return kind_ == Kind::kMap; }
  bool is_map_sequence() const { return kind_ == Kind::kMapSequence; }
  // Throws Error if this is not a tensor.
  const Tensor& tensor() const;
  Tensor& tensor();
  // Throws Error if this is not a sequence.
  const std::vector<Tensor>& items() const;
  std::vector<Tensor>& items();
  // Throws Error if this is not a map.
  const Map& as_map() const;
  // Throws Error if this is not a sequence of maps.
  const std::vector<Map>& maps() const;
  // Element type of a sequence (also of an empty one); value type of a map
  // or of a sequence of maps.
  DataType elem_type() const { return kind_ == Kind::kTensor ? tensor_.dtype() : elem_type_; }
  // Key type of a map or of a sequence of maps; kUndefined otherwise.
  DataType key_type() const { return key_type_; }

 private:
  Kind kind_ = Kind::kNone;
  Tensor tensor_;
  std::vector<Tensor> items_;
  DataType elem_type_ = DataType::kUndefined;
  std::vector<Map> maps_;  // one entry for kMap
  DataType key_type_ = DataType::kUndefined;
};

// Type and shape of a graph input or output, as declared or inferred.
struct ValueInfo {
  std::string name;
  Value::Kind kind = Value::Kind::kTensor;  // kSequence for sequence types; kMap, kMapSequence for maps
  bool optional = false;                    // declared optional(...)
  DataType dtype = DataType::kUndefined;    // element type (value type of a map)
  bool has_shape = false;
  std::vector<int64_t> dims;             // -1 where unknown
  std::vector<std::string> dim_params;   // symbolic names, "" where none
  DataType key_dtype = DataType::kUndefined;  // key type of a map (kMap, kMapSequence)
  // "tensor(float)[N,3,224,224]" style description; maps read
  // "map(int64, float)" and "seq(map(string, float))".
  std::string type_str() const;
};

// Settings of one run.
struct RunOptions {
  // When positive, the run stops with ErrorCode::kDeadlineExceeded once
  // this much time has passed since it started. It is checked before each
  // operator and each Loop iteration, so an operator already running
  // finishes first; a Loop that never ends is stopped this way.
  std::chrono::milliseconds timeout{0};
};

struct SessionOptions {
  // Intra-op threads. 0 means one per core. 1 means the calling thread alone.
  int threads = 0;
  // 0 disables graph optimizations; higher levels enable more passes.
  int optimization_level = 2;
};

// What a model declares, and what the engine thinks of it.
struct ModelInfo {
  int64_t ir_version = 0;
  std::string producer_name, producer_version, domain, doc_string;
  int64_t model_version = 0;
  std::vector<std::pair<std::string, int64_t>> opsets;  // domain ("" = ai.onnx), version
  std::vector<ValueInfo> inputs, outputs;               // inputs exclude initializers
  std::map<std::string, int64_t> op_counts;             // "Conv" or "domain::Op" -> count
  std::map<std::string, std::string> metadata;
  // One line per operator the engine cannot run, in the load error's words.
  std::vector<std::string> unsupported;
};

// Reads and validates a model (checker, shape inference) without building a
// session. Throws Error for an invalid model; unsupported operators are
// listed in the result instead of raising.
ModelInfo inspect_model(const std::string& path);

// Tensor memory of a session's runs. A run whose inputs have the same
// dtypes and shapes as an earlier one reuses that run's memory plan: its
// intermediate tensors are placed at precomputed offsets in one arena
// (cached per input-shape signature) instead of being allocated.
struct MemoryStats {
  size_t arena_bytes = 0;  // bytes of the planned arenas the session holds now
  size_t peak_bytes = 0;   // peak tensor bytes in use during the last finished run
  size_t plans = 0;        // input-shape signatures with a memory plan cached
};

class Session {
 public:
  // Loads, validates and compiles a model. Throws Error with a message that
  // names the problem (kInvalidModel, kUnsupported, kIO).
  static std::unique_ptr<Session> load(const std::string& path, const SessionOptions& options = {});
  // Same from bytes in memory; external data is resolved against `base_dir`.
  static std::unique_ptr<Session> load_from_memory(std::string_view bytes,
                                                   const SessionOptions& options = {},
                                                   const std::string& base_dir = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Inputs to feed (graph inputs without an initializer) and outputs.
  const std::vector<ValueInfo>& inputs() const;
  const std::vector<ValueInfo>& outputs() const;
  const ModelInfo& info() const;

  // Runs the model. `inputs` match inputs() by position. Returns outputs()
  // in order. Safe to call from several threads at once. Throws Error
  // (kInvalidArgument for bad inputs, kRuntime for kernel failures).
  std::vector<Value> run(const std::vector<Value>& inputs, const RunOptions& options = {}) const;
  // Named feeds; an input with an initializer may be overridden. When
  // `output_names` is empty every output is returned.
  std::vector<Value> run(const std::vector<std::pair<std::string, Value>>& feeds,
                         const std::vector<std::string>& output_names = {}, const RunOptions& options = {}) const;

  // Memory use of this session's runs (see MemoryStats).
  MemoryStats memory_stats() const;

  struct Impl;

 private:
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Engine version string, e.g. "0.1.0".
const char* version();

// ---- template definitions ----
template <typename T>
struct DataTypeOf;
#define PIER_DTYPE_OF(T, D) \
  template <>               \
  struct DataTypeOf<T> {    \
    static constexpr DataType value = D; \
  };
PIER_DTYPE_OF(float, DataType::kFloat)
PIER_DTYPE_OF(double, DataType::kDouble)
PIER_DTYPE_OF(int8_t, DataType::kInt8)
PIER_DTYPE_OF(int16_t, DataType::kInt16)
PIER_DTYPE_OF(int32_t, DataType::kInt32)
PIER_DTYPE_OF(int64_t, DataType::kInt64)
PIER_DTYPE_OF(uint8_t, DataType::kUInt8)
PIER_DTYPE_OF(uint16_t, DataType::kUInt16)
PIER_DTYPE_OF(uint32_t, DataType::kUInt32)
PIER_DTYPE_OF(uint64_t, DataType::kUInt64)
PIER_DTYPE_OF(bool, DataType::kBool)
PIER_DTYPE_OF(std::string, DataType::kString)
PIER_DTYPE_OF(Float16, DataType::kFloat16)
PIER_DTYPE_OF(BFloat16, DataType::kBFloat16)
#undef PIER_DTYPE_OF

template <typename T>
T* Tensor::data() {
  check_type(DataTypeOf<T>::value);
  return static_cast<T*>(data_);
}
template <typename T>
const T* Tensor::data() const {
  check_type(DataTypeOf<T>::value);
  return static_cast<const T*>(data_);
}
template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& v, Shape shape) {
  Tensor t(DataTypeOf<T>::value, std::move(shape));
  if (static_cast<size_t>(t.numel()) != v.size())
    throw Error(ErrorCode::kInvalidArgument, "from_vector: element count does not match shape");
  T* d = t.data<T>();
  for (size_t i = 0; i < v.size(); ++i) d[i] = v[i];
  return t;
}

}  // namespace pier
