#include "server/json_out.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>

namespace pier::server {

namespace {

template <typename F>
void write_real(JsonWriter& w, F x) {
  if (std::isnan(x)) {
    w.RawValue("NaN", 3, rapidjson::kNumberType);
  } else if (std::isinf(x)) {
    if (x > 0) w.RawValue("Infinity", 8, rapidjson::kNumberType);
    else w.RawValue("-Infinity", 9, rapidjson::kNumberType);
  } else {
    char buf[40];
    const auto r = std::to_chars(buf, buf + sizeof buf, x);
    w.RawValue(buf, static_cast<size_t>(r.ptr - buf), rapidjson::kNumberType);
  }
}

// Writes element i of t.
void write_elem(JsonWriter& w, const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat: write_real(w, t.data<float>()[i]); break;
    case DataType::kDouble: write_real(w, t.data<double>()[i]); break;
    case DataType::kFloat16: write_real(w, static_cast<float>(t.data<Float16>()[i])); break;
    case DataType::kBFloat16: write_real(w, static_cast<float>(t.data<BFloat16>()[i])); break;
    case DataType::kInt8: w.Int(t.data<int8_t>()[i]); break;
    case DataType::kInt16: w.Int(t.data<int16_t>()[i]); break;
    case DataType::kInt32: w.Int(t.data<int32_t>()[i]); break;
    case DataType::kInt64: w.Int64(t.data<int64_t>()[i]); break;
    case DataType::kUInt8: w.Uint(t.data<uint8_t>()[i]); break;
    case DataType::kUInt16: w.Uint(t.data<uint16_t>()[i]); break;
    case DataType::kUInt32: w.Uint(t.data<uint32_t>()[i]); break;
    case DataType::kUInt64: w.Uint64(t.data<uint64_t>()[i]); break;
    case DataType::kBool: w.Bool(t.data<bool>()[i]); break;
    case DataType::kString: write_string(w, t.data<std::string>()[i]); break;
    default:
      throw Error(ErrorCode::kUnsupported, std::string("cannot write ") + dtype_name(t.dtype()) + " tensors as JSON");
  }
}

void nested(JsonWriter& w, const Tensor& t, int dim, int64_t& k) {
  if (dim == t.rank()) {
    write_elem(w, t, k++);
    return;
  }
  w.StartArray();
  for (int64_t i = 0; i < t.shape()[dim]; ++i) nested(w, t, dim + 1, k);
  w.EndArray();
}

void write_map(JsonWriter& w, const Value::Map& m) {
  w.StartObject();
  for (int64_t i = 0; i < m.keys.numel(); ++i) {
    if (m.keys.dtype() == DataType::kString) {
      write_string(w, m.keys.data<std::string>()[i]);
    } else {
      const std::string k = std::to_string(m.keys.data<int64_t>()[i]);
      w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    }
    write_elem(w, m.values, i);
  }
  w.EndObject();
}

}  // namespace

void write_string(JsonWriter& w, std::string_view s) {
  if (simdjson::validate_utf8(s.data(), s.size())) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    return;
  }
  // Replace each byte that does not start a valid sequence.
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len && i + len <= s.size() && simdjson::validate_utf8(s.data() + i, len)) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  w.String(out.data(), static_cast<rapidjson::SizeType>(out.size()));
}

void write_nested(JsonWriter& w, const Tensor& t) {
  int64_t k = 0;
  nested(w, t, 0, k);
}

void write_flat(JsonWriter& w, const Tensor& t) {
  w.StartArray();
  for (int64_t i = 0; i < t.numel(); ++i) write_elem(w, t, i);
  w.EndArray();
}

void write_value(JsonWriter& w, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNone: w.Null(); break;
    case Value::Kind::kTensor: write_nested(w, v.tensor()); break;
    case Value::Kind::kSequence:
      w.StartArray();
      for (const Tensor& t : v.items()) write_nested(w, t);
      w.EndArray();
      break;
    case Value::Kind::kMap: write_map(w, v.as_map()); break;
    case Value::Kind::kMapSequence:
      w.StartArray();
      for (const auto& m : v.maps()) write_map(w, m);
      w.EndArray();
      break;
  }
}

}  // namespace pier::server
