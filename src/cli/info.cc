// pier info: what a model declares (inputs, outputs, opsets, producer, node
// counts) and which of its operators the engine cannot run.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>

#include "cli/commands.h"
#include "pier/engine.h"

namespace pier::cli {

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void write_value_info(JsonWriter& w, const ValueInfo& v) {
  w.StartObject();
  w.Key("name"); w.String(v.name.c_str());
  w.Key("type"); w.String(v.kind == Value::Kind::kSequence ? "sequence" : "tensor");
  w.Key("dtype"); w.String(dtype_name(v.dtype));
  w.Key("optional"); w.Bool(v.optional);
  w.Key("shape");
  if (!v.has_shape) {
    w.Null();
  } else {
    w.StartArray();
    for (size_t i = 0; i < v.dims.size(); ++i) {
      if (i < v.dim_params.size() && !v.dim_params[i].empty()) w.String(v.dim_params[i].c_str());
      else if (v.dims[i] < 0) w.Null();
      else w.Int64(v.dims[i]);
    }
    w.EndArray();
  }
  w.EndObject();
}

void print_json(const std::string& path, const ModelInfo& m) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("path"); w.String(path.c_str());
  w.Key("ir_version"); w.Int64(m.ir_version);
  w.Key("producer"); w.StartObject();
  w.Key("name"); w.String(m.producer_name.c_str());
  w.Key("version"); w.String(m.producer_version.c_str());
  w.EndObject();
  w.Key("opsets"); w.StartObject();
  for (const auto& [d, v] : m.opsets) {
    w.Key(d.empty() ? "ai.onnx" : d.c_str());
    w.Int64(v);
  }
  w.EndObject();
  w.Key("inputs"); w.StartArray();
  for (const auto& v : m.inputs) write_value_info(w, v);
  w.EndArray();
  w.Key("outputs"); w.StartArray();
  for (const auto& v : m.outputs) write_value_info(w, v);
  w.EndArray();
  w.Key("op_counts"); w.StartObject();
  for (const auto& [op, n] : m.op_counts) {
    w.Key(op.c_str());
    w.Int64(n);
  }
  w.EndObject();
  w.Key("unsupported"); w.StartArray();
  for (const auto& u : m.unsupported) w.String(u.c_str());
  w.EndArray();
  w.Key("metadata"); w.StartObject();
  for (const auto& [k, v] : m.metadata) {
    w.Key(k.c_str());
    w.String(v.c_str());
  }
  w.EndObject();
  w.EndObject();
  std::printf("%s\n", buf.GetString());
}

void print_text(const std::string& path, const ModelInfo& m) {
  std::printf("model:    %s\n", path.c_str());
  std::printf("ir:       %lld\n", static_cast<long long>(m.ir_version));
  std::printf("producer: %s %s\n", m.producer_name.empty() ? "(none)" : m.producer_name.c_str(),
              m.producer_version.c_str());
  std::printf("opsets:  ");
  for (const auto& [d, v] : m.opsets) std::printf(" %s=%lld", d.empty() ? "ai.onnx" : d.c_str(), static_cast<long long>(v));
  std::printf("\ninputs:\n");
  for (const auto& v : m.inputs) std::printf("  %-24s %s\n", v.name.c_str(), v.type_str().c_str());
  std::printf("outputs:\n");
  for (const auto& v : m.outputs) std::printf("  %-24s %s\n", v.name.c_str(), v.type_str().c_str());
  int64_t total = 0;
  for (const auto& [op, n] : m.op_counts) total += n;
  std::printf("nodes:    %lld\n", static_cast<long long>(total));
  for (const auto& [op, n] : m.op_counts) std::printf("  %-24s %lld\n", op.c_str(), static_cast<long long>(n));
  if (!m.unsupported.empty()) {
    std::printf("unsupported:\n");
    for (const auto& u : m.unsupported) std::printf("  %s\n", u.c_str());
  }
}

}  // namespace

void add_info_command(CLI::App& app, CommandRunner& runner) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("info", "Describe a model: inputs, outputs, opsets, producer, node counts");
  cmd->add_option("model", *path, "ONNX model file")->required();
  cmd->add_flag("--json", *json, "Print as JSON");
  cmd->callback([path, json, &runner] {
    runner.set([path, json] {
      ModelInfo m = inspect_model(*path);
      if (*json) print_json(*path, m);
      else print_text(*path, m);
      return 0;
    });
  });
}

}  // namespace pier::cli
