// The v2 protocol's metadata objects, built once per model at start-up.
#include "server/dtypes.h"
#include "server/json_out.h"
#include "server/protocols.h"

namespace pier::server {

namespace {

void tensor_list(JsonWriter& w, const std::vector<ValueInfo>& infos) {
  w.StartArray();
  for (const ValueInfo& v : infos) {
    const char* dt = v2_datatype(v.dtype);
    // Sequences and maps have no v2 datatype; /score carries them.
    if (v.kind != Value::Kind::kTensor || !dt) continue;
    w.StartObject();
    w.Key("name");
    write_string(w, v.name);
    w.Key("datatype");
    w.String(dt);
    w.Key("shape");
    w.StartArray();
    if (v.has_shape)
      for (int64_t d : v.dims) w.Int64(d < 0 ? -1 : d);
    else
      w.Int64(-1);  // unknown rank: the best v2 can say
    w.EndArray();
    if (v.optional) {
      w.Key("parameters");
      w.StartObject();
      w.Key("optional");
      w.Bool(true);
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

std::string v2_model_metadata(const ServedModel& m, const std::vector<int64_t>& versions) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("name");
  write_string(w, m.name());
  w.Key("versions");
  w.StartArray();
  for (int64_t v : versions) w.String(std::to_string(v).c_str());
  w.EndArray();
  w.Key("platform");
  w.String("onnx");
  w.Key("inputs");
  tensor_list(w, m.inputs());
  w.Key("outputs");
  tensor_list(w, m.outputs());
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string v2_server_metadata() {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("name");
  w.String("pier");
  w.Key("version");
  w.String(version());
  w.Key("extensions");
  w.StartArray();
  w.String("binary_tensor_data");
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace pier::server
