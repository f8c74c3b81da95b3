// The supervisor of a local deployment: a daemon (`pier deploy supervise`)
// that owns the deployment's listening socket and runs `pier serve`
// processes that accept on it (one per replica), restarts any that dies,
// swaps model versions without refusing a request, and records everything
// in the workspace. See docs/deployment.md for the design.
#pragma once

#include <string>

#include "workspace/workspace.h"

namespace pier::deploy {

struct SupervisorOptions {
  ws::WorkspacePaths paths;
  std::string name;
  int listen_fd = 3;       // the listening socket, inherited
  std::string pier;        // the pier executable to run servers with
  double ready_timeout = 300;  // seconds a server may take to load its models
  double drain_timeout = 30;   // seconds a stopping server may take to finish its requests
};

// Runs until the deployment is deleted (SIGTERM) or cannot be created.
// Returns the process exit code.
int run_supervisor(const SupervisorOptions& opt);

}  // namespace pier::deploy
