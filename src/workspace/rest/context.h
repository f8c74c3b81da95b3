// Shared by the REST handlers: running registry work on the pool and turning
// its errors into JSON error responses.
#pragma once

#include <functional>
#include <string>

#include "http/router.h"
#include "workspace/error.h"
#include "workspace/registry.h"

namespace pier::ws::rest {

// HTTP status for a workspace error kind.
int status_for(ErrorKind kind);
// {"error": ...} with that status; a busy database adds Retry-After.
http::Response error_response(const Error& e);

// Wraps a handler so that errors while reading the request (before the
// pool) become error answers too.
template <typename Fn>
http::Handler guarded(Fn fn) {
  return [fn](http::Request req, http::Responder res) {
    try {
      fn(std::move(req), res);
    } catch (const Error& e) {
      res.send(error_response(e));
    }
  };
}

class Context {
 public:
  explicit Context(WorkspacePaths paths, int workers);
  ~Context();
  const WorkspacePaths& paths() const { return paths_; }
  // Runs fn(registry) on the worker pool and sends what it returns; a thrown
  // ws::Error becomes {"error"} with the matching status.
  void run(http::Responder res, std::function<http::Response(Registry&)> fn);

 private:
  WorkspacePaths paths_;
  struct Pool;
  std::unique_ptr<Pool> pool_;
};

// Route builders: models.cc, aliases.cc, maintenance.cc.
void add_model_routes(http::Router& router, Context& ctx);
void add_alias_routes(http::Router& router, Context& ctx);
void add_maintenance_routes(http::Router& router, Context& ctx);

// JSON request bodies (tag changes, aliases) are small; parsing one takes
// many times its size in memory, so larger ones get 413 before parsing.
constexpr size_t kMaxJsonBodyBytes = 1 << 20;
// Answers 413 and returns true when the request's body is over
// kMaxJsonBodyBytes.
bool json_body_too_large(const http::Request& req, const http::Responder& res);

// A model reference from a path parameter; throws Error(kInvalidArgument).
ModelRef ref_param(const http::Request& req, const char* key = "ref");

}  // namespace pier::ws::rest
