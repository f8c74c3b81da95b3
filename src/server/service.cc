#include <atomic>
#include "server/service.h"

#include <chrono>
#include <cstdio>
#include <new>
#include <stdexcept>

#include "server/access_log.h"
#include "server/auth.h"
#include "server/errors.h"
#include "server/openapi.h"
#include "server/protocols.h"
#include "server/scheduler.h"

namespace pier::server {

namespace {

using Clock = std::chrono::steady_clock;
using Protocol = http::Response (*)(const ServedModel&, http::Request&);

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs one protocol handler; everything it throws becomes an error answer.
http::Response guarded(Protocol fn, const ServedModel& m, http::Request& req) {
  try {
    return fn(m, req);
  } catch (const RequestError& e) {
    return http::Response::error(e.status(), e.what());
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kInvalidArgument) return http::Response::error(400, e.what());
    http::log_line("pier: error: model %s version %s: %s", m.name().c_str(), m.version_str().c_str(), e.what());
    return http::Response::error(500, e.what());
  } catch (const std::bad_alloc&) {
    http::log_line("pier: error: model %s version %s: out of memory", m.name().c_str(), m.version_str().c_str());
    return http::Response::error(500, "out of memory");
  } catch (const std::exception& e) {
    http::log_line("pier: error: model %s version %s: %s", m.name().c_str(), m.version_str().c_str(), e.what());
    return http::Response::error(500, std::string("internal error: ") + e.what());
  }
}

std::string param(const http::Request& req, const char* key) {
  auto it = req.params.find(key);
  return it == req.params.end() ? std::string() : it->second;
}

}  // namespace

struct Service::Impl {
  ServiceOptions opt;
  Metrics metrics;
  ModelSet models;
  ApiKeys keys;
  std::string server_metadata, openapi;
  std::unique_ptr<AccessLog> log;
  std::atomic<bool> ready{true};
  Scheduler sched;  // last: its workers stop before anything they use goes away

  Impl(ServiceOptions o) : opt(std::move(o)), keys(opt.api_keys), sched(opt.workers, opt.spin) {}

  // The model a request names, or nullptr after answering 404.
  ServedModel* lookup(const http::Request& req, const http::Responder& res) const {
    std::string why;
    ServedModel* m = models.find(param(req, "model"), param(req, "version"), &why);
    if (!m) res.send(http::Response::error(404, why));
    return m;
  }

  void finish(const ServedModel& m, const http::Responder& res, Clock::time_point t0, http::Response r) {
    r.log_fields = m.log_fields();
    m.metrics().request_done(r.status, seconds_since(t0));
    m.metrics().leave();
    res.send(std::move(r));
  }

  // Queues an inference request on its model's workers.
  void infer(http::Request req, http::Responder res, Protocol fn, bool default_model) {
    const auto t0 = Clock::now();
    if (auto deny = keys.check(req)) return res.send(std::move(*deny));
    ServedModel* m = nullptr;
    if (default_model) {
      m = models.only();
      if (!m)
        return res.send(http::Response::error(
            404, "POST /score needs exactly one served model, and " + std::to_string(models.all().size()) +
                     " are served: use POST /models/{name}/score or /models/{name}/versions/{version}/score"));
    } else if (!(m = lookup(req, res))) {
      return;
    }
    m->metrics().enter();
    auto job = [this, m, req = std::move(req), res, t0, fn](Clock::time_point enqueued) mutable {
      m->metrics().queued(seconds_since(enqueued));
      finish(*m, res, t0, guarded(fn, *m, req));
    };
    if (!sched.submit(m->queue, std::move(job)))
      finish(*m, res, t0,
             http::Response::error(503, "model " + m->name() + " version " + m->version_str() +
                                            " has too many requests waiting (" + std::to_string(opt.max_queue) +
                                            "); try again later"));
  }
};

Service::Service(std::vector<ModelEntry> models, ServiceOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  auto& s = *impl_;
  if (models.empty()) throw std::invalid_argument("no models to serve");
  for (auto& e : models) {
    if (!e.session) throw std::invalid_argument("model " + e.name + " has no session");
    ModelMetrics& mm = s.metrics.add_model(e.name, std::to_string(e.version));
    RunOptions ro;
    ro.timeout = s.opt.run_timeout;
    s.models.add(std::make_unique<ServedModel>(std::move(e), mm, ro));
  }
  // With several models, none may take every worker, so that a busy or slow
  // model never makes the others wait for a free one.
  const int workers = s.sched.workers();
  const int cap = s.models.all().size() > 1 && workers > 1 ? workers - 1 : workers;
  for (const auto& m : s.models.all()) {
    m->queue = s.sched.add_queue(cap, s.opt.max_queue);
    m->v2_metadata = v2_model_metadata(*m, s.models.versions(m->name()));
  }
  s.server_metadata = v2_server_metadata();
  s.openapi = openapi_json(s.models, s.keys.enabled());
  if (!s.opt.access_log.empty()) s.log = std::make_unique<AccessLog>(s.opt.access_log);
}

Service::~Service() { impl_->sched.shutdown(); }

const ModelSet& Service::models() const { return impl_->models; }
int Service::workers() const { return impl_->sched.workers(); }

void Service::set_ready(bool ready) { impl_->ready.store(ready, std::memory_order_relaxed); }

std::function<void(const http::AccessRecord&)> Service::access_logger() {
  if (!impl_->log) return {};
  AccessLog* log = impl_->log.get();
  return [log](const http::AccessRecord& r) { log->log(r); };
}

std::function<std::optional<http::Response>(const http::Request&)> Service::precheck() {
  if (!impl_->keys.enabled()) return {};
  const ApiKeys* keys = &impl_->keys;
  return [keys](const http::Request& q) -> std::optional<http::Response> {
    if (q.method != "POST") return std::nullopt;  // GETs have no body; their handlers check
    return keys->check(q);
  };
}

void Service::add_routes(http::Router& router) {
  Impl* s = impl_.get();
  auto json = [](std::string body) { return http::Response::json(200, std::move(body)); };

  // Inference.
  router.add("POST", "/score", [s](http::Request q, http::Responder r) { s->infer(std::move(q), r, score, true); });
  for (const char* p : {"/models/{model}/score", "/models/{model}/versions/{version}/score"})
    router.add("POST", p, [s](http::Request q, http::Responder r) { s->infer(std::move(q), r, score, false); });
  for (const char* p : {"/v2/models/{model}/infer", "/v2/models/{model}/versions/{version}/infer"})
    router.add("POST", p, [s](http::Request q, http::Responder r) { s->infer(std::move(q), r, v2_infer, false); });

  // Metadata (needs a key when keys are set).
  router.add("GET", "/v2", [s, json](http::Request q, http::Responder r) {
    if (auto deny = s->keys.check(q)) return r.send(std::move(*deny));
    r.send(json(s->server_metadata));
  });
  for (const char* p : {"/v2/models/{model}", "/v2/models/{model}/versions/{version}"})
    router.add("GET", p, [s, json](http::Request q, http::Responder r) {
      if (auto deny = s->keys.check(q)) return r.send(std::move(*deny));
      if (const ServedModel* m = s->lookup(q, r)) {
        http::Response res = json(m->v2_metadata);
        res.log_fields = m->log_fields();  // the access log names the model
        r.send(std::move(res));
      }
    });
  router.add("GET", "/swagger.json", [s, json](http::Request q, http::Responder r) {
    if (auto deny = s->keys.check(q)) return r.send(std::move(*deny));
    r.send(json(s->openapi));
  });

  // Health and metrics: always open, answered on the I/O threads.
  auto ok = [](http::Responder r, const ServedModel* m = nullptr) {
    http::Response res;
    res.status = 200;
    if (m) res.log_fields = m->log_fields();
    r.send(std::move(res));
  };
  router.add("GET", "/v2/health/live", [ok](http::Request, http::Responder r) { ok(r); });
  // Every model is loaded before the server listens, so a listening server
  // is ready, until it is told it is about to stop.
  router.add("GET", "/v2/health/ready", [s, ok](http::Request, http::Responder r) {
    if (s->ready.load(std::memory_order_relaxed)) return ok(r);
    r.send(http::Response::error(503, "the server is stopping"));
  });
  for (const char* p : {"/v2/models/{model}/ready", "/v2/models/{model}/versions/{version}/ready"})
    router.add("GET", p, [s, ok](http::Request q, http::Responder r) {
      if (const ServedModel* m = s->lookup(q, r)) ok(r, m);
    });
  router.add("GET", "/metrics", [s](http::Request, http::Responder r) {
    r.send(http::Response::text(200, s->metrics.render(), "text/plain; version=0.0.4; charset=utf-8"));
  });
}

}  // namespace pier::server
