#include "server/dtypes.h"

namespace pier::server {

namespace {

struct Entry {
  DataType type;
  const char* name;
};

constexpr Entry kTypes[] = {
    {DataType::kBool, "BOOL"},     {DataType::kUInt8, "UINT8"},   {DataType::kUInt16, "UINT16"},
    {DataType::kUInt32, "UINT32"}, {DataType::kUInt64, "UINT64"}, {DataType::kInt8, "INT8"},
    {DataType::kInt16, "INT16"},   {DataType::kInt32, "INT32"},   {DataType::kInt64, "INT64"},
    {DataType::kFloat16, "FP16"},  {DataType::kFloat, "FP32"},    {DataType::kDouble, "FP64"},
    {DataType::kString, "BYTES"},  {DataType::kBFloat16, "BF16"},
};

}  // namespace

const char* v2_datatype(DataType t) {
  for (const auto& e : kTypes)
    if (e.type == t) return e.name;
  return nullptr;
}

std::optional<DataType> from_v2_datatype(std::string_view name) {
  for (const auto& e : kTypes)
    if (name == e.name) return e.type;
  return std::nullopt;
}

const char* json_schema_type(DataType t) {
  switch (t) {
    case DataType::kFloat:
    case DataType::kDouble:
    case DataType::kFloat16:
    case DataType::kBFloat16: return "number";
    case DataType::kBool: return "boolean";
    case DataType::kString: return "string";
    default: return "integer";
  }
}

size_t wire_size(DataType t) { return t == DataType::kString ? 0 : dtype_size(t); }

}  // namespace pier::server
