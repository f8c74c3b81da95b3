// The registry's REST management API (/api/v1/...), on pier_http. Handlers
// run registry work on a worker pool, so slow uploads, hashing and database
// waits never hold up the I/O threads; each request opens its own registry
// connection.
#pragma once

#include <memory>

#include "http/router.h"
#include "workspace/workspace.h"

namespace pier::ws::rest {

// The OpenAPI description (docs/openapi/workspace.yaml), compiled in.
extern const unsigned char kOpenApiYaml[];
extern const unsigned long kOpenApiYamlSize;

class RegistryApi {
 public:
  RegistryApi(WorkspacePaths paths, int worker_threads = 4);
  ~RegistryApi();  // waits for running handlers
  RegistryApi(const RegistryApi&) = delete;
  RegistryApi& operator=(const RegistryApi&) = delete;

  // Adds every endpoint to `router`.
  void add_routes(http::Router& router);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace pier::ws::rest
