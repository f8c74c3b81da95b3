// The scoring service: routes for /score, the Open Inference Protocol v2,
// health, metrics and OpenAPI on a pier_http Router, with the inference
// workers behind them.
//
// Threads: handlers run on pier_http's I/O threads and do only cheap work
// there (routing, API keys, health, metrics, precomputed metadata). Each
// inference request goes to its model's queue on the Scheduler; a worker
// parses the body, runs the engine and encodes the answer, then hands it
// back to the I/O threads through the Responder.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/router.h"
#include "server/model.h"

namespace pier::server {

struct ServiceOptions {
  int workers = 2;                    // inference worker threads
  std::vector<std::string> api_keys;  // empty: no keys needed
  size_t max_queue = 1024;            // requests waiting per model before 503
  std::string access_log;             // "": none; "-": stderr; else a file (appended to)
  std::chrono::microseconds spin{0};  // how long an idle worker polls for work before it sleeps
  std::chrono::milliseconds run_timeout{0};  // longest inference (then 504); 0: none
};

class Service {
 public:
  // Throws std::invalid_argument for a bad set of models (none, or one
  // name and version twice) and std::runtime_error when the access log
  // cannot be opened.
  Service(std::vector<ModelEntry> models, ServiceOptions options);
  ~Service();  // runs the requests already queued, then stops the workers
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  void add_routes(http::Router& router);
  // For http::ServerOptions::access_logger; empty when there is no log.
  std::function<void(const http::AccessRecord&)> access_logger();
  // For http::ServerOptions::precheck: with API keys, a POST (inference)
  // without a valid key gets its 401 before its body is read. Empty
  // without keys.
  std::function<std::optional<http::Response>(const http::Request&)> precheck();
  const ModelSet& models() const;
  int workers() const;
  // /v2/health/ready answers 503 once this is false (a server about to stop).
  void set_ready(bool ready);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace pier::server
