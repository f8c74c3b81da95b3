#include "server/json_in.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "server/errors.h"

namespace pier::server {

namespace dom = simdjson::dom;
using simdjson::dom::element_type;

namespace {

constexpr int kMaxRank = 32;

const char* kind_name(element_type t) {
  switch (t) {
    case element_type::ARRAY: return "an array";
    case element_type::OBJECT: return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "a number";
    case element_type::STRING: return "a string";
    case element_type::BOOL: return "a boolean";
    case element_type::NULL_VALUE: return "null";
  }
  return "a value";
}

std::string number_text(dom::element e) {
  switch (e.type()) {
    case element_type::INT64: return std::to_string(int64_t(e));
    case element_type::UINT64: return std::to_string(uint64_t(e));
    default: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, double(e));
      return std::string(buf, r.ptr);
    }
  }
}

// Walks the nesting once, checking it against `dims` (which the first
// elements fixed).
void check_rect(dom::element e, const Shape& dims, size_t depth, std::vector<int64_t>& at, const std::string& who) {
  const bool is_arr = e.type() == element_type::ARRAY;
  if (depth == dims.size()) {
    if (is_arr)
      bad_request(who + ": ragged nesting: element " + shape_str(at) + " is an array, but element " +
                  shape_str(Shape(dims.size(), 0)) + " at the same depth is not");
    return;
  }
  if (!is_arr)
    bad_request(who + ": ragged nesting: element " + shape_str(at) + " is " + kind_name(e.type()) +
                ", expected an array of " + std::to_string(dims[depth]));
  dom::array a = e.get_array().value_unsafe();
  const int64_t n = static_cast<int64_t>(a.size());
  if (n != dims[depth])
    bad_request(who + ": ragged nesting: the array at " + shape_str(at) + " has " + std::to_string(n) +
                " elements, expected " + std::to_string(dims[depth]) + " like the first one at that depth");
  at.push_back(0);
  for (dom::element c : a) {
    check_rect(c, dims, depth + 1, at, who);
    ++at.back();
  }
  at.pop_back();
}

template <typename T>
struct Fill {
  T* out;
  int64_t k = 0;
  const Shape& shape;
  const std::string& who;
  DataType dtype;

  [[noreturn]] void fail(dom::element e, const std::string& why) const {
    std::string what = e.is_number() ? number_text(e) : std::string(kind_name(e.type()));
    if (e.type() == element_type::STRING) what = "a string";
    bad_request(who + ": element " + index_str(shape, k) + " is " + what + ", " + why);
  }

  T leaf(dom::element e) {
    const element_type t = e.type();
    if constexpr (std::is_same_v<T, std::string>) {
      if (t != element_type::STRING) fail(e, "expected a string");
      std::string_view s = e.get_string().value_unsafe();
      return std::string(s);
    } else if constexpr (std::is_same_v<T, bool>) {
      if (t == element_type::BOOL) return e.get_bool().value_unsafe();
      if (t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE) {
        const double d = double(e);
        if (d == 0 || d == 1) return d != 0;
        fail(e, "expected true, false, 0 or 1 (input type bool)");
      }
      fail(e, "expected a boolean");
    } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, Float16> ||
                         std::is_same_v<T, BFloat16>) {
      double d;
      if (t == element_type::DOUBLE) d = e.get_double().value_unsafe();
      else if (t == element_type::INT64) d = static_cast<double>(e.get_int64().value_unsafe());
      else if (t == element_type::UINT64) d = static_cast<double>(e.get_uint64().value_unsafe());
      else fail(e, std::string("expected a number (input type ") + dtype_name(dtype) + ")");
      if constexpr (std::is_same_v<T, double>) {
        return d;
      } else {
        // JSON numbers are finite (the parser refuses 1e999), so an
        // infinity here means the number is beyond the type's range.
        const T v = static_cast<T>(static_cast<float>(d));
        if (std::isinf(static_cast<float>(v))) fail(e, std::string("out of range for ") + dtype_name(dtype));
        return v;
      }
    } else {
      static_assert(std::is_integral_v<T>);
      using L = std::numeric_limits<T>;
      if (t == element_type::INT64) {
        const int64_t v = e.get_int64().value_unsafe();
        if constexpr (std::is_signed_v<T>) {
          if (v >= static_cast<int64_t>(L::min()) && v <= static_cast<int64_t>(L::max())) return static_cast<T>(v);
        } else {
          if (v >= 0 && static_cast<uint64_t>(v) <= static_cast<uint64_t>(L::max())) return static_cast<T>(v);
        }
        fail(e, std::string("out of range for ") + dtype_name(dtype));
      }
      if (t == element_type::UINT64) {
        const uint64_t v = e.get_uint64().value_unsafe();
        if (v <= static_cast<uint64_t>(L::max())) return static_cast<T>(v);
        fail(e, std::string("out of range for ") + dtype_name(dtype));
      }
      if (t == element_type::DOUBLE) {
        const double d = e.get_double().value_unsafe();
        if (std::trunc(d) != d) fail(e, std::string("not an integer (input type ") + dtype_name(dtype) + ")");
        // Exactly representable bounds: min is a power of two; max + 1 too.
        const double lo = static_cast<double>(L::min());
        const double hi_excl = std::ldexp(1.0, L::digits);
        if (d >= lo && d < hi_excl) return static_cast<T>(d);
        fail(e, std::string("out of range for ") + dtype_name(dtype));
      }
      fail(e, std::string("expected an integer (input type ") + dtype_name(dtype) + ")");
    }
  }

  void walk(dom::element e) {
    if (e.type() == element_type::ARRAY) {
      const dom::array a = e.get_array().value_unsafe();
      for (dom::element c : a) walk(c);
      return;
    }
    out[k] = leaf(e);
    ++k;
  }
};

template <typename T>
void fill(dom::element data, Tensor& t, const std::string& who) {
  Fill<T> f{t.data<T>(), 0, t.shape(), who, t.dtype()};
  f.walk(data);
}

}  // namespace

std::string index_str(const Shape& shape, int64_t k) {
  Shape idx(shape.size(), 0);
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] > 0) {
      idx[i] = k % shape[i];
      k /= shape[i];
    }
  }
  return shape_str(idx);
}

dom::element parse_json(std::string_view text, const char* what) {
  thread_local std::unique_ptr<dom::parser> parser;
  // A parser keeps buffers as large as the largest document it has seen;
  // give them back after a big one.
  if (!parser || (parser->capacity() > (32u << 20) && text.size() < (1u << 20)))
    parser = std::make_unique<dom::parser>();
  dom::element doc;
  const auto err = parser->parse(text.data(), text.size(), true).get(doc);
  if (err == simdjson::UTF8_ERROR) bad_request(std::string(what) + " is not valid UTF-8");
  if (err == simdjson::EMPTY) bad_request(std::string(what) + " is empty; expected a JSON object");
  if (err == simdjson::CAPACITY) bad_request(std::string(what) + " is too large to parse as JSON");
  if (err) bad_request(std::string(what) + " is not valid JSON: " + simdjson::error_message(err));
  return doc;
}

Shape nested_shape(dom::element data, const std::string& who) {
  Shape dims;
  dom::element e = data;
  while (e.type() == element_type::ARRAY) {
    dom::array a = e.get_array().value_unsafe();
    dims.push_back(static_cast<int64_t>(a.size()));
    if (dims.size() > static_cast<size_t>(kMaxRank)) bad_request(who + ": nested deeper than " + std::to_string(kMaxRank) + " levels");
    if (a.size() == 0) break;
    e = *a.begin();
  }
  std::vector<int64_t> at;
  check_rect(data, dims, 0, at, who);
  return dims;
}

Tensor json_to_tensor(dom::element data, DataType dtype, const Shape& shape, const std::string& who) {
  Tensor t(dtype, shape);
  switch (dtype) {
    case DataType::kFloat: fill<float>(data, t, who); break;
    case DataType::kDouble: fill<double>(data, t, who); break;
    case DataType::kFloat16: fill<Float16>(data, t, who); break;
    case DataType::kBFloat16: fill<BFloat16>(data, t, who); break;
    case DataType::kInt8: fill<int8_t>(data, t, who); break;
    case DataType::kInt16: fill<int16_t>(data, t, who); break;
    case DataType::kInt32: fill<int32_t>(data, t, who); break;
    case DataType::kInt64: fill<int64_t>(data, t, who); break;
    case DataType::kUInt8: fill<uint8_t>(data, t, who); break;
    case DataType::kUInt16: fill<uint16_t>(data, t, who); break;
    case DataType::kUInt32: fill<uint32_t>(data, t, who); break;
    case DataType::kUInt64: fill<uint64_t>(data, t, who); break;
    case DataType::kBool: fill<bool>(data, t, who); break;
    case DataType::kString: fill<std::string>(data, t, who); break;
    default: bad_request(who + ": the server cannot take " + dtype_name(dtype) + " tensors");
  }
  return t;
}

}  // namespace pier::server
