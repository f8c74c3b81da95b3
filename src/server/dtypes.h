// Element types on the wire: the v2 protocol's datatype names and the JSON
// kinds that carry each type.
#pragma once

#include <optional>
#include <string_view>

#include "pier/engine.h"

namespace pier::server {

// "FP32", "INT64", "BYTES", ...; nullptr for types the v2 protocol cannot
// carry (complex).
const char* v2_datatype(DataType t);
// Inverse of v2_datatype ("BF16" included).
std::optional<DataType> from_v2_datatype(std::string_view name);
// JSON Schema type of one element: "number", "integer", "boolean", "string".
const char* json_schema_type(DataType t);
// Bytes of one element in the binary tensor format; 0 for BYTES (length-prefixed).
size_t wire_size(DataType t);

}  // namespace pier::server
