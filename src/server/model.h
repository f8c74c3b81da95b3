// The models a server holds: each loaded session with its name, version,
// metrics, queue and precomputed metadata; and the lookup by name and
// version.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "http/http.h"
#include "pier/engine.h"
#include "server/metrics.h"

namespace pier::server {

// A model handed to the service: a loaded session under a name and version.
struct ModelEntry {
  std::string name;
  int64_t version = 1;
  std::unique_ptr<Session> session;
  std::string source;  // where it came from, for messages ("digits:3 in /ws", "model.onnx")
};

class ServedModel {
 public:
  // `run_options` apply to every inference (its time limit).
  ServedModel(ModelEntry e, ModelMetrics& metrics, RunOptions run_options = {});

  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  const std::string& version_str() const { return version_str_; }
  const std::string& source() const { return source_; }
  const Session& session() const { return *session_; }
  const std::vector<ValueInfo>& inputs() const { return session_->inputs(); }
  const std::vector<ValueInfo>& outputs() const { return session_->outputs(); }
  ModelMetrics& metrics() const { return metrics_; }
  // {"model", name}, {"version", version}, for the access log.
  const std::shared_ptr<const http::Response::LogFields>& log_fields() const { return log_fields_; }

  // Runs the engine. Its kInvalidArgument errors become RequestError(400),
  // a run past its time limit RequestError(504), any other failure
  // RequestError(500) (also printed on stderr).
  std::vector<Value> run(const std::vector<Value>& inputs) const;
  std::vector<Value> run(const std::vector<std::pair<std::string, Value>>& feeds,
                         const std::vector<std::string>& outputs) const;

  // Position of the input / output called `name`, or -1.
  int input_index(std::string_view name) const;
  int output_index(std::string_view name) const;

  // Set up once by the service.
  size_t queue = 0;
  std::string v2_metadata;  // GET /v2/models/{m}[/versions/{v}]

 private:
  template <typename Fn>
  std::vector<Value> guarded(Fn fn) const;
  RunOptions run_options_;
  std::string name_;
  int64_t version_;
  std::string version_str_;
  std::string source_;
  std::unique_ptr<Session> session_;
  ModelMetrics& metrics_;
  std::shared_ptr<const http::Response::LogFields> log_fields_;
};

class ModelSet {
 public:
  // Throws std::invalid_argument for a name and version given twice.
  void add(std::unique_ptr<ServedModel> m);
  // `version` empty: the highest version served under the name. nullptr
  // when there is none; `why` then says what is served.
  ServedModel* find(const std::string& name, const std::string& version, std::string* why) const;
  // The model POST /score uses: the only one served, else nullptr.
  ServedModel* only() const { return all_.size() == 1 ? all_.front().get() : nullptr; }
  const std::vector<std::unique_ptr<ServedModel>>& all() const { return all_; }
  // Served versions of a name, ascending.
  std::vector<int64_t> versions(const std::string& name) const;

 private:
  std::vector<std::unique_ptr<ServedModel>> all_;
  std::map<std::string, std::map<int64_t, ServedModel*>> by_name_;
};

}  // namespace pier::server
