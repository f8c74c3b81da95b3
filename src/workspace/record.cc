#include "workspace/record.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "pier/engine.h"
#include "workspace/error.h"

namespace pier::ws {

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void str(JsonWriter& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void write_signature(JsonWriter& w, const Signature& s) {
  w.StartObject();
  w.Key("name"); str(w, s.name);
  w.Key("type"); str(w, s.kind);
  w.Key("dtype"); str(w, s.dtype);
  w.Key("optional"); w.Bool(s.optional);
  w.Key("shape");
  if (!s.has_shape) {
    w.Null();
  } else {
    w.StartArray();
    for (const auto& d : s.dims) {
      if (!d.param.empty()) str(w, d.param);
      else if (d.value < 0) w.Null();
      else w.Int64(d.value);
    }
    w.EndArray();
  }
  w.EndObject();
}

void write_signatures(JsonWriter& w, const std::vector<Signature>& v) {
  w.StartArray();
  for (const auto& s : v) write_signature(w, s);
  w.EndArray();
}

void write_map(JsonWriter& w, const std::map<std::string, std::string>& m) {
  w.StartObject();
  for (const auto& [k, v] : m) {
    str(w, k);
    str(w, v);
  }
  w.EndObject();
}

void write_strings(JsonWriter& w, const std::vector<std::string>& v) {
  w.StartArray();
  for (const auto& s : v) str(w, s);
  w.EndArray();
}

void write_opsets(JsonWriter& w, const std::vector<std::pair<std::string, int64_t>>& o) {
  w.StartObject();
  for (const auto& [d, v] : o) {
    str(w, d);
    w.Int64(v);
  }
  w.EndObject();
}

void write_record(JsonWriter& w, const ModelRecord& r) {
  w.StartObject();
  w.Key("name"); str(w, r.name);
  w.Key("version"); w.Int64(r.version);
  w.Key("sha256"); str(w, r.sha256);
  w.Key("size"); w.Int64(r.size);
  w.Key("tags"); write_map(w, r.tags);
  w.Key("properties"); write_map(w, r.properties);
  w.Key("description"); str(w, r.description);
  w.Key("inputs"); write_signatures(w, r.inputs);
  w.Key("outputs"); write_signatures(w, r.outputs);
  w.Key("opsets"); write_opsets(w, r.opsets);
  w.Key("created"); str(w, r.created);
  w.Key("producer");
  w.StartObject();
  w.Key("name"); str(w, r.producer_name);
  w.Key("version"); str(w, r.producer_version);
  w.EndObject();
  w.Key("ir_version"); w.Int64(r.ir_version);
  w.Key("warnings"); write_strings(w, r.warnings);
  w.Key("aliases"); write_strings(w, r.aliases);
  w.EndObject();
}

template <typename Fn>
std::string to_json(Fn&& fn) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  fn(w);
  return std::string(buf.GetString(), buf.GetSize());
}

template <typename Fn>
auto decode(std::string_view json, const char* what, Fn&& fn) {
  try {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json.data(), json.size());
    simdjson::dom::element doc = parser.parse(padded);
    return fn(doc);
  } catch (const simdjson::simdjson_error& e) {
    fail(ErrorKind::kCorrupt, std::string("stored ") + what + " is not valid: " + e.what());
  }
}

}  // namespace

std::string Signature::type_str() const {
  std::string s = kind + "(" + dtype + ")";
  if (optional) s = "optional(" + s + ")";
  if (!has_shape) return s;
  s += "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    if (!dims[i].param.empty()) s += dims[i].param;
    else if (dims[i].value < 0) s += "?";
    else s += std::to_string(dims[i].value);
  }
  return s + "]";
}

Signature signature_of(const ValueInfo& v) {
  Signature s;
  s.name = v.name;
  s.kind = v.kind == Value::Kind::kSequence ? "sequence" : "tensor";
  s.dtype = dtype_name(v.dtype);
  s.optional = v.optional;
  s.has_shape = v.has_shape;
  for (size_t i = 0; i < v.dims.size(); ++i) {
    Signature::Dim d;
    d.value = v.dims[i];
    if (i < v.dim_params.size()) d.param = v.dim_params[i];
    s.dims.push_back(std::move(d));
  }
  return s;
}

std::string record_json(const ModelRecord& r) {
  return to_json([&](JsonWriter& w) { write_record(w, r); });
}

std::string records_json(const std::vector<ModelRecord>& rs) {
  return to_json([&](JsonWriter& w) {
    w.StartArray();
    for (const auto& r : rs) write_record(w, r);
    w.EndArray();
  });
}

std::string encode_signatures(const std::vector<Signature>& s) {
  return to_json([&](JsonWriter& w) { write_signatures(w, s); });
}

std::vector<Signature> decode_signatures(std::string_view json) {
  return decode(json, "signature", [](simdjson::dom::element doc) {
    std::vector<Signature> out;
    for (simdjson::dom::object o : doc.get_array()) {
      Signature s;
      s.name = std::string_view(o["name"]);
      s.kind = std::string_view(o["type"]);
      s.dtype = std::string_view(o["dtype"]);
      s.optional = bool(o["optional"]);
      simdjson::dom::element shape = o["shape"];
      if (!shape.is_null()) {
        s.has_shape = true;
        for (simdjson::dom::element d : shape.get_array()) {
          Signature::Dim dim;
          if (d.is_string()) dim.param = std::string_view(d);
          else if (!d.is_null()) dim.value = int64_t(d);
          s.dims.push_back(std::move(dim));
        }
      }
      out.push_back(std::move(s));
    }
    return out;
  });
}

std::string encode_opsets(const std::vector<std::pair<std::string, int64_t>>& o) {
  return to_json([&](JsonWriter& w) { write_opsets(w, o); });
}

std::vector<std::pair<std::string, int64_t>> decode_opsets(std::string_view json) {
  return decode(json, "opsets", [](simdjson::dom::element doc) {
    std::vector<std::pair<std::string, int64_t>> out;
    for (auto [k, v] : doc.get_object()) out.emplace_back(std::string(k), int64_t(v));
    return out;
  });
}

std::string encode_strings(const std::vector<std::string>& v) {
  return to_json([&](JsonWriter& w) { write_strings(w, v); });
}

std::vector<std::string> decode_strings(std::string_view json) {
  return decode(json, "string list", [](simdjson::dom::element doc) {
    std::vector<std::string> out;
    for (simdjson::dom::element e : doc.get_array()) out.emplace_back(std::string_view(e));
    return out;
  });
}

std::string encode_map(const std::map<std::string, std::string>& m) {
  return to_json([&](JsonWriter& w) { write_map(w, m); });
}

std::map<std::string, std::string> decode_map(std::string_view json) {
  return decode(json, "map", [](simdjson::dom::element doc) {
    std::map<std::string, std::string> out;
    for (auto [k, v] : doc.get_object()) out.emplace(std::string(k), std::string(std::string_view(v)));
    return out;
  });
}

std::string json_string(std::string_view s) {
  return to_json([&](JsonWriter& w) { str(w, s); });
}

std::string error_json(std::string_view message) {
  return to_json([&](JsonWriter& w) {
    w.StartObject();
    w.Key("error");
    str(w, message);
    w.EndObject();
  });
}

std::string now_iso8601() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace pier::ws
