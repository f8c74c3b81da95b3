#include "workspace/rest/api.h"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <cstdio>
#include <new>

#include "workspace/error.h"
#include "workspace/rest/context.h"

namespace pier::ws::rest {

int status_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return 400;
    case ErrorKind::kNotFound: return 404;
    case ErrorKind::kConflict: return 409;
    case ErrorKind::kInvalidModel: return 422;
    case ErrorKind::kIO: return 500;
    case ErrorKind::kBusy: return 503;
    case ErrorKind::kCorrupt: return 500;
  }
  return 500;
}

http::Response error_response(const Error& e) {
  http::Response r = http::Response::error(status_for(e.kind()), e.what());
  if (e.kind() == ErrorKind::kBusy) r.headers.set("Retry-After", "1");
  return r;
}

struct Context::Pool {
  boost::asio::thread_pool pool;
  explicit Pool(int n) : pool(static_cast<size_t>(std::max(1, n))) {}
};

Context::Context(WorkspacePaths paths, int workers)
    : paths_(std::move(paths)), pool_(std::make_unique<Pool>(workers)) {}

Context::~Context() { pool_->pool.join(); }

void Context::run(http::Responder res, std::function<http::Response(Registry&)> fn) {
  boost::asio::post(pool_->pool, [this, res, fn = std::move(fn)] {
    try {
      Registry reg(paths_);
      res.send(fn(reg));
    } catch (const Error& e) {
      if (status_for(e.kind()) >= 500) http::log_line("pier: error: %s", e.what());
      res.send(error_response(e));
    } catch (const std::bad_alloc&) {
      res.send(http::Response::error(500, "out of memory"));
    } catch (const std::exception& e) {
      http::log_line("pier: error: %s", e.what());
      res.send(http::Response::error(500, std::string("internal error: ") + e.what()));
    }
  });
}

bool json_body_too_large(const http::Request& req, const http::Responder& res) {
  if (req.body.size() <= kMaxJsonBodyBytes) return false;
  res.send(http::Response::error(413, "the JSON body is " + std::to_string(req.body.size()) +
                                          " bytes; at most " + std::to_string(kMaxJsonBodyBytes) +
                                          " are accepted here"));
  return true;
}

ModelRef ref_param(const http::Request& req, const char* key) {
  auto it = req.params.find(key);
  return parse_ref(it == req.params.end() ? std::string() : it->second);
}

struct RegistryApi::Impl {
  Context ctx;
  Impl(WorkspacePaths p, int workers) : ctx(std::move(p), workers) {}
};

RegistryApi::RegistryApi(WorkspacePaths paths, int worker_threads)
    : impl_(std::make_unique<Impl>(std::move(paths), worker_threads)) {}

RegistryApi::~RegistryApi() = default;

void RegistryApi::add_routes(http::Router& router) {
  router.add("GET", "/api/v1/health", [](http::Request, http::Responder res) {
    res.send(http::Response::json(200, "{\"status\":\"ok\"}"));
  });
  router.add("GET", "/api/v1/openapi.yaml", [](http::Request, http::Responder res) {
    res.send(http::Response::text(200, std::string(reinterpret_cast<const char*>(kOpenApiYaml), kOpenApiYamlSize),
                                  "application/yaml"));
  });
  add_model_routes(router, impl_->ctx);
  add_alias_routes(router, impl_->ctx);
  add_maintenance_routes(router, impl_->ctx);
}

}  // namespace pier::ws::rest
