// Local deployments as the workspace records them (tables `deployments` and
// `deployment_models`, schema version 2): what each serves, on which port,
// with which keys, its state, and the processes that run it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "workspace/workspace.h"

namespace pier::ws {
class Db;
}

namespace pier::deploy {

// States: Creating (the supervisor is starting the servers), Healthy (every
// replica serves), Updating (a new model set is starting or the old one
// draining), Failed (the servers cannot be started, or the supervisor is
// gone), Deleting.
inline constexpr const char* kCreating = "Creating";
inline constexpr const char* kHealthy = "Healthy";
inline constexpr const char* kUpdating = "Updating";
inline constexpr const char* kFailed = "Failed";
inline constexpr const char* kDeleting = "Deleting";

struct ModelVersion {
  std::string name;
  int64_t version = 0;
};

struct Spec {
  int replicas = 1;
  std::vector<std::string> api_keys;  // primary first
  int workers = 0, threads = 0;       // 0: pier serve's defaults
};

struct ServerProcess {
  int64_t pid = 0;
  int64_t start = 0;  // start time in clock ticks since boot (/proc/PID/stat), to tell a reused pid
  int64_t generation = 0;
  bool ready = false;
};

struct Deployment {
  std::string name, state, host;
  int port = 0;
  int64_t generation = 1, target_generation = 1;
  Spec spec, target_spec;
  std::vector<ModelVersion> models, target_models;
  int64_t supervisor_pid = 0, supervisor_start = 0;
  std::vector<ServerProcess> servers;
  int64_t restarts = 0;
  std::string error, created, updated;

  std::string base_uri() const;     // http://HOST:PORT
  std::string scoring_uri() const;  // .../score
  std::string swagger_uri() const;  // .../swagger.json
};

// Deployment names are DNS labels, so that the same name works in
// Kubernetes: 1-63 lowercase letters, digits and '-', starting with a
// letter and not ending with '-'. Throws ws::Error(kInvalidArgument).
void validate_deployment_name(const std::string& name);

class Store {
 public:
  explicit Store(const ws::WorkspacePaths& paths);
  ~Store();

  const ws::WorkspacePaths& paths() const { return paths_; }
  // ROOT/deployments/NAME: the log and nothing else.
  std::string dir(const std::string& name) const;
  std::string log_path(const std::string& name) const;

  // Records a new deployment (state Creating, generation 1). Its models must
  // be registered versions. ws::Error(kConflict) when the name is taken.
  void insert(const Deployment& d);
  std::optional<Deployment> find(const std::string& name);
  Deployment get(const std::string& name);  // ws::Error(kNotFound)
  std::vector<Deployment> list();

  void set_state(const std::string& name, const std::string& state, const std::string& error);
  void set_supervisor(const std::string& name, int64_t pid, int64_t start);
  void set_servers(const std::string& name, const std::vector<ServerProcess>& servers);
  void add_restart(const std::string& name);
  // Starts an update to a new model set and spec: target_generation =
  // generation + 1, state Updating. Returns the target generation.
  // ws::Error(kConflict) unless the deployment is Healthy or Failed.
  int64_t begin_update(const std::string& name, const std::vector<ModelVersion>& models, const Spec& spec);
  // The target generation serves now: it becomes the generation, and the
  // old one's rows go.
  void commit_update(const std::string& name);
  // The target generation could not start: its rows go, and `error` says why.
  void abort_update(const std::string& name, const std::string& error);
  void remove(const std::string& name);

 private:
  std::vector<ModelVersion> models_of(const std::string& name, int64_t generation);
  void touch_and_check(const std::string& name);

  ws::WorkspacePaths paths_;
  std::unique_ptr<ws::Db> db_;
};

std::string spec_json(const Spec& s);
Spec parse_spec(const std::string& json);

}  // namespace pier::deploy
