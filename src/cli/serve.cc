// pier serve: the scoring service for one or more models, from a workspace
// (NAME[:VERSION|@ALIAS], or the latest version of every model) or from
// files, until SIGTERM or SIGINT.
#include <malloc.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "cli/ws_common.h"
#include "http/router.h"
#include "pier/engine.h"
#include "server/auth.h"
#include "server/service.h"
#include "workspace/error.h"

namespace pier::cli {

namespace {

struct ServeArgs {
  std::string workspace;
  std::vector<std::string> models;
  std::vector<std::string> files;
  std::vector<std::string> names;
  std::vector<int64_t> versions;
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 0;
  int workers = 0;
  int io_threads = 0;
  std::vector<std::string> api_keys;
  int64_t max_body_mb = 64;
  int64_t max_queue = 1024;
  std::string access_log = "-";
  bool no_access_log = false;
  double header_timeout = 15;
  double body_timeout = 120;
  double drain_timeout = 30;
  int spin_us = 200;
  double run_timeout = 60;
  double stop_idle_grace = 1;
  double stop_delay = 0;
  int listen_fd = -1;
  int ready_fd = -1;
};

[[noreturn]] void usage(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

// A status line on stderr while serving or stopping. stderr is also where
// the access log goes, and may be a pipe whose reader has stalled: waiting
// on it would freeze the I/O thread that handles a signal, or keep the
// process from exiting, so the line is dropped after a second.
void note(const std::string& line) {
  pollfd p{STDERR_FILENO, POLLOUT, 0};
  if (::poll(&p, 1, 1000) <= 0 || !(p.revents & POLLOUT)) return;
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.data(), std::min<size_t>(line.size(), PIPE_BUF));
}

// workers × threads stays within the cores unless both are given.
void plan_threads(const ServeArgs& a, int& workers, int& threads, int& io_threads) {
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  workers = a.workers;
  threads = a.threads;
  if (!workers && !threads) {
    workers = std::min(cores, 4);
    threads = std::max(1, cores / workers);
  } else if (!workers) {
    workers = std::max(1, cores / threads);
  } else if (!threads) {
    threads = std::max(1, cores / workers);
  }
  io_threads = a.io_threads ? a.io_threads : std::clamp(cores / 4, 1, 4);
}

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

std::vector<server::ModelEntry> load_models(const ServeArgs& a, const SessionOptions& so) {
  std::vector<server::ModelEntry> out;
  if (a.names.size() > a.files.size()) usage("--name is given more often than --model-file");
  if (a.versions.size() > a.files.size()) usage("--model-version is given more often than --model-file");
  for (size_t i = 0; i < a.files.size(); ++i) {
    server::ModelEntry e;
    e.name = i < a.names.size() ? a.names[i] : std::filesystem::path(a.files[i]).stem().string();
    try {
      ws::validate_name(e.name, "model name");
    } catch (const ws::Error& err) {
      usage(std::string(err.what()) + (i < a.names.size() ? "" : " (from the file name; give --name)"));
    }
    e.version = i < a.versions.size() ? a.versions[i] : 1;
    e.source = a.files[i];
    e.session = Session::load(a.files[i], so);
    out.push_back(std::move(e));
  }
  if (!a.files.empty() && a.models.empty()) return out;

  // From the workspace: the models named, or the latest version of each.
  auto reg = open_registry(a.workspace);
  std::vector<ws::ModelRecord> records;
  if (a.models.empty()) {
    std::map<std::string, ws::ModelRecord> latest;
    for (auto& r : reg->list({})) latest[r.name] = r;  // list() is ordered by name, then version
    if (latest.empty())
      throw ws::Error(ws::ErrorKind::kNotFound, "the workspace " + reg->paths().root.string() +
                                                    " has no models; register one or give --model-file");
    for (auto& [n, r] : latest) records.push_back(r);
  } else {
    for (const auto& ref : a.models) records.push_back(reg->get(ws::parse_ref(ref)));
  }
  for (const auto& r : records) {
    std::string bytes;
    bytes.reserve(static_cast<size_t>(r.size));
    reg->read_blob(r, [&](const char* p, size_t n) { bytes.append(p, n); });  // checks the sha256
    server::ModelEntry e;
    e.name = r.name;
    e.version = r.version;
    e.source = r.name + ":" + std::to_string(r.version) + " in " + reg->paths().root.string();
    e.session = Session::load_from_memory(bytes, so);
    out.push_back(std::move(e));
  }
  return out;
}

void print_models(const server::Service& svc) {
  for (const auto& m : svc.models().all()) {
    std::fprintf(stderr, "pier: model %s version %s (%s)\n", m->name().c_str(), m->version_str().c_str(),
                 m->source().c_str());
    for (const auto& v : m->inputs()) std::fprintf(stderr, "pier:   input  %s: %s\n", v.name.c_str(), v.type_str().c_str());
    for (const auto& v : m->outputs()) std::fprintf(stderr, "pier:   output %s: %s\n", v.name.c_str(), v.type_str().c_str());
  }
}

int serve_command(const ServeArgs& a) {
  if (a.port < 0 || a.port > 65535) usage("--port must be 0-65535");
  // The access log goes to stderr by default: when whatever reads it goes
  // away (a log shipper restarting, `| head`), the next line would kill the
  // server with SIGPIPE. Writes fail with EPIPE instead.
  ::signal(SIGPIPE, SIG_IGN);
  // Requests are allocated on an I/O thread and freed on a worker, answers the
  // other way round. With glibc's fastbins those frees pile up and are
  // consolidated on the next large allocation (the engine's tensors), in the
  // middle of an inference; without them each free is settled at once.
  // Measured: about 1.4x the requests/s of a small model at 64 connections.
  mallopt(M_MXFAST, 0);
  int workers, threads, io_threads;
  plan_threads(a, workers, threads, io_threads);
  SessionOptions so;
  so.threads = threads;

  server::ServiceOptions sopt;
  sopt.workers = workers;
  try {
    sopt.api_keys = server::collect_api_keys(a.api_keys, std::getenv("PIER_API_KEYS"));
  } catch (const std::invalid_argument& e) {
    usage(e.what());
  }
  sopt.run_timeout = std::chrono::milliseconds(static_cast<int64_t>(a.run_timeout * 1000));
  sopt.max_queue = static_cast<size_t>(a.max_queue);
  sopt.access_log = a.no_access_log ? "" : a.access_log;
  sopt.spin = std::chrono::microseconds(a.spin_us);

  server::Service svc(load_models(a, so), sopt);
  print_models(svc);
  http::Router router;
  svc.add_routes(router);

  http::ServerOptions hopt;
  hopt.host = a.host;
  hopt.port = static_cast<uint16_t>(a.port);
  hopt.io_threads = io_threads;
  hopt.max_body_bytes = static_cast<uint64_t>(a.max_body_mb) << 20;
  hopt.header_timeout = ms(a.header_timeout);
  hopt.body_timeout = ms(a.body_timeout);
  hopt.drain_timeout = ms(a.drain_timeout);
  hopt.access_logger = svc.access_logger();
  hopt.precheck = svc.precheck();
  hopt.poll_spin = std::chrono::microseconds(a.spin_us);
  hopt.stop_idle_grace = ms(a.stop_idle_grace);
  hopt.listen_fd = a.listen_fd;
  http::Server server(hopt, router.handler());
  // With --stop-delay, SIGTERM first turns readiness off and keeps serving
  // for that long (while a load balancer takes the server out of rotation),
  // then stops; a second signal stops at once.
  std::mutex delay_mu;
  std::condition_variable delay_cv;
  bool stop_now = false;
  std::thread delayer;
  if (a.stop_delay > 0) {
    server.stop_on_signals([&] {
      if (delayer.joinable()) {
        std::lock_guard<std::mutex> lk(delay_mu);
        stop_now = true;
        delay_cv.notify_all();
        return;
      }
      svc.set_ready(false);
      char line[128];
      std::snprintf(line, sizeof line, "pier: stopping in %g s; /v2/health/ready answers 503 until then\n",
                    a.stop_delay);
      note(line);
      delayer = std::thread([&] {
        std::unique_lock<std::mutex> lk(delay_mu);
        delay_cv.wait_for(lk, ms(a.stop_delay), [&] { return stop_now; });
        server.stop();
      });
    });
  } else {
    server.stop_on_signals();
  }
  server.start();
  if (a.ready_fd >= 0) {
    // A supervisor waits for this line before it sends traffic our way.
    static const char kReady[] = "ready\n";
    if (::write(a.ready_fd, kReady, sizeof kReady - 1) != static_cast<ssize_t>(sizeof kReady - 1))
      std::fprintf(stderr, "pier: warning: --ready-fd %d: cannot write \"ready\" (%s)\n", a.ready_fd,
                   std::strerror(errno));
    ::close(a.ready_fd);
  }
  const std::string host = a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host;  // IPv6
  std::printf("serving %zu model%s on http://%s:%u (%d workers x %d threads, %d I/O threads%s)\n",
              svc.models().all().size(), svc.models().all().size() == 1 ? "" : "s", host.c_str(),
              static_cast<unsigned>(server.port()), workers, threads, io_threads,
              sopt.api_keys.empty() ? "" : ", API keys required");
  std::fflush(stdout);
  server.wait();
  {
    std::lock_guard<std::mutex> lk(delay_mu);
    stop_now = true;
  }
  delay_cv.notify_all();
  if (delayer.joinable()) delayer.join();
  note("pier: stopped\n");
  return 0;
}

}  // namespace

void prepare_serve_process(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) != "serve") return;
  // glibc keeps at most 7 freed chunks per size in a thread's cache; a
  // server that allocates on one thread and frees on another overflows it on
  // every request and takes an arena lock instead. The cache size can only
  // be set before the process starts (GLIBC_TUNABLES), so start again with
  // it set, unless the user set GLIBC_TUNABLES (even to "") or exec fails.
  // Measured: about 10% more requests/s of a small model at 64 connections.
  if (std::getenv("GLIBC_TUNABLES")) return;
  if (setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=128", 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("GLIBC_TUNABLES");  // exec failed: go on as we are
}

void add_serve_command(CLI::App& app, CommandRunner& runner) {
  auto a = std::make_shared<ServeArgs>();
  auto* s = app.add_subcommand(
      "serve",
      "Serve models over HTTP: POST /score, the Open Inference Protocol v2 (/v2/...), /metrics and "
      "/swagger.json, until SIGTERM or SIGINT (docs/serving.md)");
  add_workspace_flag(s, a->workspace);
  s->add_option("--model", a->models,
                "Serve NAME (its latest version), NAME:VERSION or NAME@ALIAS from the workspace; repeatable. "
                "Without --model and --model-file: the latest version of every registered model");
  s->add_option("--model-file", a->files, "Serve an ONNX file directly, with no workspace (as version 1); repeatable");
  s->add_option("--name", a->names, "Name of the matching --model-file (default: the file name without .onnx)");
  s->add_option("--model-version", a->versions, "Version of the matching --model-file (default: 1)")
      ->check(CLI::PositiveNumber);
  s->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  s->add_option("--port", a->port, "Port (0: any free port)")->capture_default_str();
  s->add_option("--threads", a->threads,
                "Engine threads per inference (default: cores / workers, so workers x threads <= cores)")
      ->check(CLI::PositiveNumber);
  s->add_option("--workers", a->workers,
                "Inference workers: requests run at once, over all models (default: min(cores, 4), or cores / "
                "--threads)")
      ->check(CLI::PositiveNumber);
  s->add_option("--io-threads", a->io_threads, "HTTP I/O threads (default: cores / 4, 1 to 4)")
      ->check(CLI::PositiveNumber);
  s->add_option("--api-key", a->api_keys,
                "Require \"Authorization: Bearer KEY\" on scoring and metadata endpoints; repeatable (primary and "
                "secondary key). Also read, comma-separated, from $PIER_API_KEYS");
  s->add_option("--max-body-mb", a->max_body_mb, "Largest request body in MiB; larger ones get 413")
      ->check(CLI::Range(int64_t{1}, int64_t{2048}))
      ->capture_default_str();
  s->add_option("--max-queue", a->max_queue, "Requests waiting per model before new ones get 503")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  s->add_option("--access-log", a->access_log, "Access log (one JSON line per request): a file, or - for stderr")
      ->capture_default_str();
  s->add_flag("--no-access-log", a->no_access_log, "Write no access log");
  s->add_option("--run-timeout", a->run_timeout,
                "Seconds one inference may run before it is stopped and answered 504 (a model that loops "
                "forever); 0: no limit")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  s->add_option("--header-timeout", a->header_timeout,
                "Seconds to receive a request's header (also the keep-alive idle limit); then the connection closes")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  s->add_option("--body-timeout", a->body_timeout, "Seconds to receive a request's body; then the connection closes")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  s->add_option("--drain-timeout", a->drain_timeout,
                "On SIGTERM, seconds to let requests in flight finish before closing their connections")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  s->add_option("--spin-us", a->spin_us,
                "After each request, I/O threads and one idle worker poll this many microseconds (yielding the "
                "CPU) before sleeping, which saves a thread wake-up per request under load; 0 turns it off")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  s->add_option("--stop-idle-grace", a->stop_idle_grace,
                "On SIGTERM, seconds an idle keep-alive connection may still send one request (answered with "
                "Connection: close) before it is closed")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  s->add_option("--stop-delay", a->stop_delay,
                "On SIGTERM, first answer 503 on /v2/health/ready and keep serving this many seconds (while a load "
                "balancer takes the server out of rotation), then stop; a second signal stops at once")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  s->add_option("--listen-fd", a->listen_fd,
                "Accept on this inherited, already listening socket instead of binding --host/--port (for a "
                "supervisor that owns the port, such as pier deploy)")
      ->check(CLI::Range(0, 1 << 20));
  s->add_option("--ready-fd", a->ready_fd,
                "Write \"ready\\n\" to this inherited descriptor, and close it, once every model is loaded and the "
                "server accepts")
      ->check(CLI::Range(0, 1 << 20));
  s->callback([&runner, a] { runner.set([a] { return ws_guard([&] { return serve_command(*a); }); }); });
}

}  // namespace pier::cli
