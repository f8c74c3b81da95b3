// Engine values to JSON (RapidJSON writer).
//
// Floats are written in their shortest round-trip form (a float32 output
// reads back as the same float32); NaN and infinities, which JSON lacks,
// are written as NaN, Infinity and -Infinity (as Python's json does).
// Strings that are not valid UTF-8 have each bad byte replaced by U+FFFD.
#pragma once

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>

#include "pier/engine.h"

namespace pier::server {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Nested arrays following the shape (a scalar for rank 0).
void write_nested(JsonWriter& w, const Tensor& t);
// One flat array in row-major order.
void write_flat(JsonWriter& w, const Tensor& t);
// A tensor as write_nested; a sequence as an array of those; a map as an
// object (int64 keys become strings); a sequence of maps as an array of
// objects; an empty optional as null.
void write_value(JsonWriter& w, const Value& v);
// A JSON string; invalid UTF-8 bytes become U+FFFD.
void write_string(JsonWriter& w, std::string_view s);

}  // namespace pier::server
