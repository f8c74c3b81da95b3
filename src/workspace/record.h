// The record of one registered model version, and its JSON forms: the
// public one (CLI --json, REST) and the column encodings in the database.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pier {
struct ValueInfo;
struct ModelInfo;
}

namespace pier::ws {

// One graph input or output.
struct Signature {
  struct Dim {
    int64_t value = -1;  // -1: unknown or symbolic
    std::string param;   // symbolic name, "" when none
  };
  std::string name;
  std::string kind = "tensor";  // "tensor" or "sequence"
  std::string dtype;            // ONNX's name: "float", "int64", ...
  bool optional = false;
  bool has_shape = false;
  std::vector<Dim> dims;
  // "tensor(float)[N,3]"
  std::string type_str() const;
};

Signature signature_of(const ValueInfo& v);

struct ModelRecord {
  std::string name;
  int64_t version = 0;
  std::string sha256;
  int64_t size = 0;
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> properties;
  std::string description;
  std::vector<Signature> inputs, outputs;
  std::vector<std::pair<std::string, int64_t>> opsets;  // "ai.onnx", "ai.onnx.ml", ... -> version
  std::string producer_name, producer_version;
  int64_t ir_version = 0;
  std::vector<std::string> warnings;  // operators the engine cannot run yet
  std::vector<std::string> aliases;   // aliases that point at this version
  std::string created;                // ISO 8601, UTC
};

// {"name", "version", "sha256", "size", "tags", "properties", "description",
//  "inputs", "outputs", "opsets", "created", "producer", "ir_version",
//  "warnings", "aliases"}
std::string record_json(const ModelRecord& r);
// [record, ...]
std::string records_json(const std::vector<ModelRecord>& rs);

// Column encodings (compact JSON). The decoders throw Error(kCorrupt).
std::string encode_signatures(const std::vector<Signature>& s);
std::vector<Signature> decode_signatures(std::string_view json);
std::string encode_opsets(const std::vector<std::pair<std::string, int64_t>>& o);
std::vector<std::pair<std::string, int64_t>> decode_opsets(std::string_view json);
std::string encode_strings(const std::vector<std::string>& v);
std::vector<std::string> decode_strings(std::string_view json);
std::string encode_map(const std::map<std::string, std::string>& m);
std::map<std::string, std::string> decode_map(std::string_view json);

// A JSON string literal (with quotes) for s.
std::string json_string(std::string_view s);
// {"error": message}
std::string error_json(std::string_view message);

// Current time as "2024-05-01T12:34:56.789Z".
std::string now_iso8601();

}  // namespace pier::ws
