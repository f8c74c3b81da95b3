// pier workspace: create a workspace, check and clean it, and serve the
// registry's REST API.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/ws_common.h"
#include "http/router.h"
#include "server/auth.h"
#include "workspace/error.h"
#include "workspace/rest/api.h"

namespace pier::cli {

namespace {

struct WorkspaceArgs {
  std::string workspace;
  std::string dir = ws::kDefaultWorkspaceDir;
  bool no_config = false;
  bool json = false;
  std::string host = "127.0.0.1";
  int port = 8090;
  int io_threads = 2;
  int workers = 4;
  int64_t max_body_mb = 1024;
  bool access_log = false;
  std::vector<std::string> api_keys;
};

int init_command(const WorkspaceArgs& a) {
  const auto res = ws::init_workspace(a.dir);
  std::printf("%s workspace %s\n", res.created ? "created" : "already a", res.paths.root.c_str());
  if (!a.no_config) {
    const auto cfg = ws::write_config(std::filesystem::current_path(), res.paths.root);
    std::printf("wrote %s\n", cfg.c_str());
  }
  return 0;
}

void print_strings(const char* label, const std::vector<std::string>& v) {
  for (const auto& s : v) std::printf("%s: %s\n", label, s.c_str());
}

int check_command(const WorkspaceArgs& a) {
  auto reg = open_registry(a.workspace);
  const ws::CheckReport r = reg->check();
  if (a.json) {
    std::printf("{\"ok\":%s,\"models\":%lld,\"versions\":%lld,\"blobs\":%lld,\"errors\":%s,\"info\":%s}\n",
                r.ok() ? "true" : "false", static_cast<long long>(r.models), static_cast<long long>(r.versions),
                static_cast<long long>(r.blobs), ws::encode_strings(r.errors).c_str(),
                ws::encode_strings(r.info).c_str());
  } else {
    print_strings("info", r.info);
    print_strings("error", r.errors);
    std::printf("%s: %lld models, %lld versions, %lld stored files in %s\n", r.ok() ? "ok" : "FAILED",
                static_cast<long long>(r.models), static_cast<long long>(r.versions), static_cast<long long>(r.blobs),
                reg->paths().root.c_str());
  }
  return r.ok() ? 0 : 1;
}

int gc_command(const WorkspaceArgs& a) {
  auto reg = open_registry(a.workspace);
  const ws::GcReport r = reg->gc();
  if (a.json) {
    std::printf("{\"blobs_removed\":%s,\"staging_removed\":%s,\"bytes_freed\":%lld}\n",
                ws::encode_strings(r.blobs_removed).c_str(), ws::encode_strings(r.staging_removed).c_str(),
                static_cast<long long>(r.bytes_freed));
  } else {
    for (const auto& s : r.blobs_removed) std::printf("removed orphan blob %s\n", s.c_str());
    for (const auto& s : r.staging_removed) std::printf("removed %s\n", s.c_str());
    std::printf("%zu orphan blobs (%lld bytes) and %zu leftovers removed\n", r.blobs_removed.size(),
                static_cast<long long>(r.bytes_freed), r.staging_removed.size());
  }
  return 0;
}

int serve_command(const WorkspaceArgs& a) {
  if (a.port < 0 || a.port > 65535) throw ws::Error(ws::ErrorKind::kInvalidArgument, "--port must be 0-65535");
  // --access-log writes to stderr: a reader that goes away must not kill the
  // server with SIGPIPE (the write fails with EPIPE instead).
  ::signal(SIGPIPE, SIG_IGN);
  const auto loc = ws::locate_workspace(a.workspace);
  ws::Registry check_open(loc.paths);  // fail now, not on the first request, if the database cannot be opened
  std::vector<std::string> keys_given;
  try {
    keys_given = server::collect_api_keys(a.api_keys, std::getenv("PIER_API_KEYS"));
  } catch (const std::invalid_argument& e) {
    throw ws::Error(ws::ErrorKind::kInvalidArgument, e.what());
  }
  const server::ApiKeys keys(std::move(keys_given));
  ws::rest::RegistryApi api(loc.paths, a.workers);
  http::Router router;
  api.add_routes(router);
  http::ServerOptions opt;
  opt.host = a.host;
  opt.port = static_cast<uint16_t>(a.port);
  opt.io_threads = a.io_threads;
  opt.max_body_bytes = static_cast<uint64_t>(a.max_body_mb) << 20;
  opt.access_log = a.access_log;
  // With keys, every request but the liveness probe needs one, and is
  // refused from its header (an upload's body is not taken in).
  if (keys.enabled())
    opt.precheck = [&keys](const http::Request& q) -> std::optional<http::Response> {
      if (q.path == "/api/v1/health") return std::nullopt;
      return keys.check(q);
    };
  http::Server server(opt, router.handler());
  server.stop_on_signals();
  try {
    server.start();
  } catch (const std::runtime_error& e) {
    throw ws::Error(ws::ErrorKind::kIO, e.what());
  }
  const std::string host = a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host;  // IPv6
  std::printf("serving workspace %s on http://%s:%u/api/v1/\n", loc.paths.root.c_str(), host.c_str(),
              static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  server.wait();
  std::fprintf(stderr, "pier: stopped\n");
  return 0;
}

}  // namespace

void add_workspace_command(CLI::App& app, CommandRunner& runner) {
  auto a = std::make_shared<WorkspaceArgs>();
  auto* w = app.add_subcommand("workspace", "Create, check, clean and serve a model workspace");
  w->require_subcommand(1);
  auto use = [&runner, a](int (*fn)(const WorkspaceArgs&)) {
    return [&runner, a, fn] { runner.set([a, fn] { return ws_guard([&] { return fn(*a); }); }); };
  };

  auto* init = w->add_subcommand("init", "Create a workspace and point .pier/config.json here at it");
  init->add_option("dir", a->dir, "Workspace folder (default: ./pier-workspace)");
  init->add_flag("--no-config", a->no_config, "Do not write .pier/config.json in the current folder");
  init->callback(use(init_command));

  auto* check = w->add_subcommand("check", "Verify every stored file's sha256 and every registry row");
  add_workspace_flag(check, a->workspace);
  check->add_flag("--json", a->json, "Print {ok, models, versions, blobs, errors, info} as JSON");
  check->callback(use(check_command));

  auto* gc = w->add_subcommand("gc", "Remove stored files no version uses and leftovers of interrupted registers");
  add_workspace_flag(gc, a->workspace);
  gc->add_flag("--json", a->json, "Print {blobs_removed, staging_removed, bytes_freed} as JSON");
  gc->callback(use(gc_command));

  auto* serve = w->add_subcommand("serve", "Serve the registry's REST API (/api/v1/models...) until SIGTERM or SIGINT");
  add_workspace_flag(serve, a->workspace);
  serve->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  serve->add_option("--port", a->port, "Port (0: any free port)")->capture_default_str();
  serve->add_option("--io-threads", a->io_threads, "HTTP I/O threads")->check(CLI::PositiveNumber)->capture_default_str();
  serve->add_option("--workers", a->workers, "Threads for registry work (uploads, hashing, database)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  serve->add_option("--max-body-mb", a->max_body_mb, "Largest request body (upload) in MiB; larger ones get 413")
      ->check(CLI::Range(int64_t{1}, int64_t{2048}))->capture_default_str();
  serve->add_flag("--access-log", a->access_log, "Log one line per request on stderr");
  serve->add_option("--api-key", a->api_keys,
                    "Require \"Authorization: Bearer KEY\" on every request but GET /api/v1/health; repeatable "
                    "(primary and secondary key). Also read, comma-separated, from $PIER_API_KEYS");
  serve->callback(use(serve_command));
}

}  // namespace pier::cli
