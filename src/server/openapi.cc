#include "server/openapi.h"

#include <string_view>

#include "server/dtypes.h"
#include "server/json_out.h"
#include "server/shapes.h"

namespace pier::server {

namespace {

// JSON Schema of one value: nested arrays for a tensor of known rank.
void value_schema(JsonWriter& w, const ValueInfo& v) {
  if (v.kind != Value::Kind::kTensor) {
    w.StartObject();
    w.Key("description");
    write_string(w, v.type_str());
    w.EndObject();
    return;
  }
  const std::string desc = std::string(dtype_name(v.dtype)) + " tensor, shape " + declared_shape(v);
  auto leaf = [&] {
    w.StartObject();
    w.Key("type");
    w.String(json_schema_type(v.dtype));
    if (v.dtype == DataType::kFloat) {
      w.Key("format");
      w.String("float");
    } else if (v.dtype == DataType::kDouble) {
      w.Key("format");
      w.String("double");
    } else if (v.dtype == DataType::kInt64) {
      w.Key("format");
      w.String("int64");
    } else if (v.dtype == DataType::kInt32) {
      w.Key("format");
      w.String("int32");
    }
    w.EndObject();
  };
  if (!v.has_shape) {
    w.StartObject();
    w.Key("description");
    write_string(w, desc + " (nested arrays of any rank)");
    w.EndObject();
    return;
  }
  // Open one array per dim; the first carries the description.
  for (size_t i = 0; i < v.dims.size(); ++i) {
    w.StartObject();
    if (i == 0) {
      w.Key("description");
      write_string(w, desc);
    }
    w.Key("type");
    w.String("array");
    if (v.dims[i] >= 0) {
      w.Key("minItems");
      w.Int64(v.dims[i]);
      w.Key("maxItems");
      w.Int64(v.dims[i]);
    }
    w.Key("items");
  }
  if (v.dims.empty()) {
    w.StartObject();
    w.Key("description");
    write_string(w, desc);
    w.Key("allOf");
    w.StartArray();
    leaf();
    w.EndArray();
    w.EndObject();
  } else {
    leaf();
  }
  for (size_t i = 0; i < v.dims.size(); ++i) w.EndObject();
}

// {"type":"object","properties":{KEY: <one value or an object by name>}}
void envelope(JsonWriter& w, const char* key, const std::vector<ValueInfo>& vs, bool inputs) {
  w.StartObject();
  w.Key("type");
  w.String("object");
  w.Key("required");
  w.StartArray();
  w.String(key);
  w.EndArray();
  w.Key("properties");
  w.StartObject();
  w.Key(key);
  if (vs.size() == 1) {
    value_schema(w, vs[0]);
  } else {
    w.StartObject();
    w.Key("type");
    w.String("object");
    if (inputs) {
      w.Key("required");
      w.StartArray();
      for (const auto& v : vs)
        if (!v.optional) write_string(w, v.name);
      w.EndArray();
    }
    w.Key("properties");
    w.StartObject();
    for (const auto& v : vs) {
      write_string(w, v.name);
      value_schema(w, v);
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
}

void error_responses(JsonWriter& w, bool keys, bool body) {
  auto one = [&](const char* code, const char* text) {
    w.Key(code);
    w.StartObject();
    w.Key("description");
    w.String(text);
    w.Key("content");
    w.StartObject();
    w.Key("application/json");
    w.StartObject();
    w.Key("schema");
    w.StartObject();
    w.Key("$ref");
    w.String("#/components/schemas/Error");
    w.EndObject();
    w.EndObject();
    w.EndObject();
    w.EndObject();
  };
  if (body) one("400", "Bad JSON, or a missing input, or a wrong rank, shape or type");
  if (keys) one("401", "Missing or invalid API key");
  one("404", "No such model or version");
  if (body) {
    one("413", "Body larger than the server's limit");
    one("500", "The engine failed");
    one("503", "The model's queue is full");
    one("504", "The inference ran longer than the server's run timeout");
  }
}

void score_path(JsonWriter& w, const std::string& path, const ServedModel& m, bool keys) {
  write_string(w, path);
  w.StartObject();
  w.Key("post");
  w.StartObject();
  w.Key("summary");
  write_string(w, "Score with " + m.name() + " version " + m.version_str());
  w.Key("requestBody");
  w.StartObject();
  w.Key("required");
  w.Bool(true);
  w.Key("content");
  w.StartObject();
  w.Key("application/json");
  w.StartObject();
  w.Key("schema");
  envelope(w, "data", m.inputs(), true);
  w.EndObject();
  w.EndObject();
  w.EndObject();
  w.Key("responses");
  w.StartObject();
  w.Key("200");
  w.StartObject();
  w.Key("description");
  w.String("The model's outputs");
  w.Key("content");
  w.StartObject();
  w.Key("application/json");
  w.StartObject();
  w.Key("schema");
  envelope(w, "result", m.outputs(), false);
  w.EndObject();
  w.EndObject();
  w.EndObject();
  error_responses(w, keys, true);
  w.EndObject();
  w.EndObject();
  w.EndObject();
}

// The parameters of a templated path ("/v2/models/{model}/..."): OpenAPI
// requires each {name} to be declared as a required path parameter.
void path_parameters(JsonWriter& w, std::string_view path) {
  w.Key("parameters");
  w.StartArray();
  for (size_t open = path.find('{'); open != std::string_view::npos; open = path.find('{', open + 1)) {
    const size_t close = path.find('}', open);
    if (close == std::string_view::npos) break;
    const std::string name(path.substr(open + 1, close - open - 1));
    w.StartObject();
    w.Key("name");
    w.String(name.c_str());
    w.Key("in");
    w.String("path");
    w.Key("required");
    w.Bool(true);
    w.Key("schema");
    w.StartObject();
    w.Key("type");
    w.String("string");
    w.EndObject();
    w.Key("description");
    w.String(name == "model" ? "Name of a served model" : "Version of the model (e.g. \"2\")");
    w.EndObject();
  }
  w.EndArray();
}

void simple_path(JsonWriter& w, const char* path, const char* method, const char* summary, bool keys) {
  w.Key(path);
  w.StartObject();
  if (std::string_view(path).find('{') != std::string_view::npos) path_parameters(w, path);
  w.Key(method);
  w.StartObject();
  w.Key("summary");
  w.String(summary);
  if (!keys) {
    w.Key("security");
    w.StartArray();
    w.EndArray();
  }
  w.Key("responses");
  w.StartObject();
  w.Key("200");
  w.StartObject();
  w.Key("description");
  w.String("OK");
  w.EndObject();
  w.EndObject();
  w.EndObject();
  w.EndObject();
}

}  // namespace

std::string openapi_json(const ModelSet& models, bool api_keys) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("openapi");
  w.String("3.0.1");
  w.Key("info");
  w.StartObject();
  w.Key("title");
  w.String("Pier scoring service");
  w.Key("version");
  w.String(version());
  w.Key("description");
  w.String("Scoring (/score) and Open Inference Protocol v2 endpoints of `pier serve`. "
           "Errors are {\"error\": \"...\"}. See docs/serving.md.");
  w.EndObject();
  if (api_keys) {
    w.Key("security");
    w.StartArray();
    w.StartObject();
    w.Key("bearer");
    w.StartArray();
    w.EndArray();
    w.EndObject();
    w.EndArray();
  }
  w.Key("paths");
  w.StartObject();
  if (const ServedModel* only = models.only()) score_path(w, "/score", *only, api_keys);
  for (const auto& m : models.all()) {
    score_path(w, "/models/" + m->name() + "/versions/" + m->version_str() + "/score", *m, api_keys);
    const auto vs = models.versions(m->name());
    if (vs.back() == m->version()) score_path(w, "/models/" + m->name() + "/score", *m, api_keys);
  }
  simple_path(w, "/v2", "get", "Server metadata", api_keys);
  simple_path(w, "/v2/models/{model}", "get", "Model metadata (the latest version served)", api_keys);
  simple_path(w, "/v2/models/{model}/versions/{version}", "get", "Model metadata", api_keys);
  simple_path(w, "/v2/models/{model}/infer", "post", "Inference, Open Inference Protocol v2 (binary tensor extension)", api_keys);
  simple_path(w, "/v2/models/{model}/versions/{version}/infer", "post", "Inference of one version", api_keys);
  simple_path(w, "/v2/health/live", "get", "Liveness (no key needed)", false);
  simple_path(w, "/v2/health/ready", "get", "Readiness (no key needed)", false);
  simple_path(w, "/v2/models/{model}/ready", "get", "Model readiness (no key needed)", false);
  simple_path(w, "/v2/models/{model}/versions/{version}/ready", "get", "Readiness of one version (no key needed)", false);
  simple_path(w, "/metrics", "get", "Prometheus metrics (no key needed)", false);
  w.EndObject();
  w.Key("components");
  w.StartObject();
  w.Key("schemas");
  w.StartObject();
  w.Key("Error");
  w.StartObject();
  w.Key("type");
  w.String("object");
  w.Key("properties");
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("type");
  w.String("string");
  w.EndObject();
  w.EndObject();
  w.EndObject();
  w.EndObject();
  if (api_keys) {
    w.Key("securitySchemes");
    w.StartObject();
    w.Key("bearer");
    w.StartObject();
    w.Key("type");
    w.String("http");
    w.Key("scheme");
    w.String("bearer");
    w.EndObject();
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace pier::server
