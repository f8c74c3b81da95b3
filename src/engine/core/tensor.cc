// Data types, half-precision conversions, Tensor and Value.
#include <algorithm>
#include <cstring>
#include <new>

#include "core/memory.h"
#include "pier/engine.h"

namespace pier {

size_t dtype_size(DataType t) {
  switch (t) {
    case DataType::kFloat: return 4;
    case DataType::kUInt8: return 1;
    case DataType::kInt8: return 1;
    case DataType::kUInt16: return 2;
    case DataType::kInt16: return 2;
    case DataType::kInt32: return 4;
    case DataType::kInt64: return 8;
    case DataType::kString: return sizeof(std::string);
    case DataType::kBool: return 1;
    case DataType::kFloat16: return 2;
    case DataType::kDouble: return 8;
    case DataType::kUInt32: return 4;
    case DataType::kUInt64: return 8;
    case DataType::kComplex64: return 8;
    case DataType::kComplex128: return 16;
    case DataType::kBFloat16: return 2;
    case DataType::kUndefined: return 0;
  }
  return 0;
}

const char* dtype_name(DataType t) {
  switch (t) {
    case DataType::kFloat: return "float";
    case DataType::kUInt8: return "uint8";
    case DataType::kInt8: return "int8";
    case DataType::kUInt16: return "uint16";
    case DataType::kInt16: return "int16";
    case DataType::kInt32: return "int32";
    case DataType::kInt64: return "int64";
    case DataType::kString: return "string";
    case DataType::kBool: return "bool";
    case DataType::kFloat16: return "float16";
    case DataType::kDouble: return "double";
    case DataType::kUInt32: return "uint32";
    case DataType::kUInt64: return "uint64";
    case DataType::kComplex64: return "complex64";
    case DataType::kComplex128: return "complex128";
    case DataType::kBFloat16: return "bfloat16";
    case DataType::kUndefined: return "undefined";
  }
  return "undefined";
}

std::optional<DataType> dtype_from_name(std::string_view name) {
  for (int i = 1; i <= 16; ++i) {
    auto t = static_cast<DataType>(i);
    if (name == dtype_name(t)) return t;
  }
  if (name == "float32") return DataType::kFloat;
  if (name == "float64") return DataType::kDouble;
  return std::nullopt;
}

// ---- half precision ----
Float16::Float16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  uint16_t h;
  if (absx >= 0x7f800000u) {  // inf or nan
    h = static_cast<uint16_t>(absx > 0x7f800000u ? 0x7e00u | ((absx >> 13) & 0x3ffu) : 0x7c00u);
  } else if (absx >= 0x477ff000u) {  // rounds to >= 65520: overflow to inf
    h = 0x7c00u;
  } else if (absx < 0x38800000u) {  // subnormal half or zero
    if (absx < 0x33000000u) {
      h = 0;
    } else {
      const uint32_t e = absx >> 23;
      const uint32_t m = (absx & 0x7fffffu) | 0x800000u;
      const uint32_t shift = 126 - e;  // 14..24
      uint32_t r = m >> shift;
      const uint32_t rem = m & ((1u << shift) - 1);
      const uint32_t half = 1u << (shift - 1);
      if (rem > half || (rem == half && (r & 1u))) ++r;
      h = static_cast<uint16_t>(r);
    }
  } else {
    uint32_t r = ((absx >> 13) - (112u << 10));
    const uint32_t rem = absx & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
    h = static_cast<uint16_t>(r);
  }
  bits = static_cast<uint16_t>(h | sign);
}

Float16::operator float() const {
  const uint32_t sign = (static_cast<uint32_t>(bits) & 0x8000u) << 16;
  const uint32_t exp = (bits >> 10) & 0x1fu;
  uint32_t mant = bits & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      x = sign | ((112u - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

BFloat16::BFloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    bits = static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet nan
    return;
  }
  const uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  bits = static_cast<uint16_t>(x >> 16);
}

BFloat16::operator float() const {
  uint32_t x = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// ---- shapes ----
int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

// ---- storage ----
namespace {

// Refuse single allocations above this; a corrupt shape must not take the
// process down with an out-of-memory kill.
constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 40;

std::shared_ptr<void> allocate(DataType dtype, int64_t numel, bool zero) {
  const uint64_t es = dtype_size(dtype);
  if (numel < 0) throw Error(ErrorCode::kInvalidArgument, "negative tensor size");
  if (es != 0 && static_cast<uint64_t>(numel) > kMaxTensorBytes / es)
    throw Error(ErrorCode::kInvalidArgument,
                "tensor of " + std::to_string(numel) + " elements is too large to allocate");
  const size_t bytes = static_cast<size_t>(numel) * es;
  const size_t rounded = std::max(memory::align_up(bytes), memory::kAlign);
  if (dtype == DataType::kString) {
    void* p = memory::os_alloc(rounded);
    auto* s = static_cast<std::string*>(p);
    for (int64_t i = 0; i < numel; ++i) new (s + i) std::string();
    return std::shared_ptr<void>(p, [numel](void* q) {
      auto* str = static_cast<std::string*>(q);
      for (int64_t i = 0; i < numel; ++i) str[i].~basic_string();
      memory::os_free(q);
    });
  }
  // Planned arena, caching pool or OS heap: see core/memory.h.
  std::shared_ptr<void> p = memory::tensor_storage(rounded);
  if (zero) std::memset(p.get(), 0, rounded);
  return p;
}

void check_dims(const Shape& shape) {
  for (int64_t d : shape)
    if (d < 0) throw Error(ErrorCode::kInvalidArgument, "negative dimension in shape " + shape_str(shape));
}

int64_t checked_numel(const Shape& shape) {
  check_dims(shape);
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d != 0 && n > (int64_t{1} << 62) / d)
      throw Error(ErrorCode::kInvalidArgument, "shape " + shape_str(shape) + " has too many elements");
    n *= d;
  }
  return n;
}

}  // namespace

Tensor::Tensor(DataType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  if (dtype == DataType::kUndefined) throw Error(ErrorCode::kInvalidArgument, "tensor of undefined type");
  numel_ = checked_numel(shape_);
  storage_ = allocate(dtype_, numel_, false);
  data_ = storage_.get();
}

Tensor Tensor::zeros(DataType dtype, Shape shape) {
  Tensor t;
  if (dtype == DataType::kUndefined) throw Error(ErrorCode::kInvalidArgument, "tensor of undefined type");
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = checked_numel(t.shape_);
  t.storage_ = allocate(dtype, t.numel_, true);
  t.data_ = t.storage_.get();
  return t;
}

Tensor Tensor::wrap(DataType dtype, Shape shape, void* data, std::shared_ptr<void> owner) {
  if (dtype == DataType::kString || dtype == DataType::kUndefined)
    throw Error(ErrorCode::kInvalidArgument, "Tensor::wrap supports numeric types only");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = checked_numel(t.shape_);
  t.storage_ = std::move(owner);
  t.data_ = data;
  return t;
}

void Tensor::check_type(DataType want) const {
  if (want != dtype_)
    throw Error(ErrorCode::kRuntime, std::string("tensor holds ") + dtype_name(dtype_) + ", accessed as " +
                                         dtype_name(want));
}

Tensor Tensor::reshaped(Shape shape) const {
  Tensor t = *this;
  int64_t n = checked_numel(shape);
  if (n != numel_)
    throw Error(ErrorCode::kInvalidArgument,
                "cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return Tensor();
  Tensor t(dtype_, shape_);
  if (dtype_ == DataType::kString) {
    const auto* s = static_cast<const std::string*>(data_);
    auto* d = static_cast<std::string*>(t.data_);
    for (int64_t i = 0; i < numel_; ++i) d[i] = s[i];
  } else if (nbytes()) {
    std::memcpy(t.data_, data_, nbytes());
  }
  return t;
}

// ---- Value ----
Value Value::sequence(DataType elem_type, std::vector<Tensor> items) {
  Value v;
  v.kind_ = Kind::kSequence;
  v.elem_type_ = elem_type;
  v.items_ = std::move(items);
  return v;
}

namespace {

const char* kind_noun(Value::Kind k) {
  switch (k) {
    case Value::Kind::kNone: return "an empty optional";
    case Value::Kind::kTensor: return "a tensor";
    case Value::Kind::kSequence: return "a sequence";
    case Value::Kind::kMap: return "a map";
    case Value::Kind::kMapSequence: return "a sequence of maps";
  }
  return "a value";
}

void check_map(const Tensor& keys, const Tensor& values, DataType key_type, DataType value_type) {
  if (keys.dtype() != DataType::kInt64 && keys.dtype() != DataType::kString)
    throw Error(ErrorCode::kInvalidArgument,
                std::string("map keys must be int64 or string, got ") + dtype_name(keys.dtype()));
  if (keys.rank() != 1 || values.rank() != 1 || keys.numel() != values.numel())
    throw Error(ErrorCode::kInvalidArgument, "map keys and values must be 1-D of equal length, got " +
                                                 shape_str(keys.shape()) + " and " + shape_str(values.shape()));
  if ((key_type != DataType::kUndefined && keys.dtype() != key_type) ||
      (value_type != DataType::kUndefined && values.dtype() != value_type))
    throw Error(ErrorCode::kInvalidArgument, std::string("map(") + dtype_name(keys.dtype()) + ", " +
                                                 dtype_name(values.dtype()) + ") in a sequence of map(" +
                                                 dtype_name(key_type) + ", " + dtype_name(value_type) + ")");
}

}  // namespace

Value Value::map(Tensor keys, Tensor values) {
  check_map(keys, values, DataType::kUndefined, DataType::kUndefined);
  Value v;
  v.kind_ = Kind::kMap;
  v.key_type_ = keys.dtype();
  v.elem_type_ = values.dtype();
  v.maps_.push_back(Map{std::move(keys), std::move(values)});
  return v;
}

Value Value::map_sequence(DataType key_type, DataType value_type, std::vector<Map> maps) {
  if (key_type != DataType::kInt64 && key_type != DataType::kString)
    throw Error(ErrorCode::kInvalidArgument,
                std::string("map keys must be int64 or string, got ") + dtype_name(key_type));
  for (const auto& m : maps) check_map(m.keys, m.values, key_type, value_type);
  Value v;
  v.kind_ = Kind::kMapSequence;
  v.key_type_ = key_type;
  v.elem_type_ = value_type;
  v.maps_ = std::move(maps);
  return v;
}

const Tensor& Value::tensor() const {
  if (kind_ != Kind::kTensor)
    throw Error(ErrorCode::kInvalidArgument, std::string("expected a tensor, got ") + kind_noun(kind_));
  return tensor_;
}
Tensor& Value::tensor() { return const_cast<Tensor&>(static_cast<const Value*>(this)->tensor()); }

const std::vector<Tensor>& Value::items() const {
  if (kind_ != Kind::kSequence)
    throw Error(ErrorCode::kInvalidArgument, std::string("expected a sequence, got ") + kind_noun(kind_));
  return items_;
}
std::vector<Tensor>& Value::items() {
  return const_cast<std::vector<Tensor>&>(static_cast<const Value*>(this)->items());
}

const Value::Map& Value::as_map() const {
  if (kind_ != Kind::kMap)
    throw Error(ErrorCode::kInvalidArgument, std::string("expected a map, got ") + kind_noun(kind_));
  return maps_.front();
}

const std::vector<Value::Map>& Value::maps() const {
  if (kind_ != Kind::kMapSequence)
    throw Error(ErrorCode::kInvalidArgument, std::string("expected a sequence of maps, got ") + kind_noun(kind_));
  return maps_;
}

std::string ValueInfo::type_str() const {
  std::string s;
  if (kind == Value::Kind::kMap || kind == Value::Kind::kMapSequence) {
    s = std::string("map(") + dtype_name(key_dtype) + ", " + dtype_name(dtype) + ")";
    if (kind == Value::Kind::kMapSequence) s = "seq(" + s + ")";
  } else {
    s = kind == Value::Kind::kSequence ? std::string("seq(tensor(") + dtype_name(dtype) + "))"
                                       : std::string("tensor(") + dtype_name(dtype) + ")";
  }
  if (optional) s = "optional(" + s + ")";
  if (has_shape) {
    s += "[";
    for (size_t i = 0; i < dims.size(); ++i) {
      if (i) s += ",";
      if (i < dim_params.size() && !dim_params[i].empty())
        s += dim_params[i];
      else if (dims[i] < 0)
        s += "?";
      else
        s += std::to_string(dims[i]);
    }
    s += "]";
  }
  return s;
}

const char* version() { return "0.1.0"; }

}  // namespace pier
