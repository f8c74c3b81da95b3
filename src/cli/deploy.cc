// pier deploy: local deployments (a supervised pier serve on this machine,
// recorded in the workspace; docs/deployment.md). pier deploy k8s lives in
// deploy_k8s.cc.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/commands.h"
#include "cli/deploy_common.h"
#include "cli/ws_common.h"
#include "deploy/process.h"
#include "deploy/store.h"
#include "deploy/supervisor.h"
#include "workspace/error.h"

namespace pier::cli {

namespace deploy_cli {

void bad(const std::string& msg) { ws::fail(ws::ErrorKind::kInvalidArgument, msg); }

std::vector<std::string> make_keys(const std::vector<std::string>& given) {
  if (given.size() == 1 && given[0] == "auto") return {deploy::random_key(), deploy::random_key()};
  for (const auto& k : given) {
    if (k == "auto") bad("--api-key auto cannot be combined with other keys");
    if (k.empty() || k.size() > 256 || k.find_first_of(" \t\r\n,") != std::string::npos)
      bad("an API key must be 1-256 characters, without spaces or commas");
  }
  if (given.size() > 2) bad("give at most two API keys (a primary and a secondary)");
  return given;
}

}  // namespace deploy_cli

namespace {

namespace fs = std::filesystem;
using deploy_cli::bad;
using deploy_cli::make_keys;
using Clock = std::chrono::steady_clock;
using deploy::Deployment;

struct DeployArgs {
  std::string workspace;
  std::string name;
  std::vector<std::string> models;
  std::string host = "127.0.0.1";
  int port = 8080;
  int replicas = 1;
  std::vector<std::string> api_keys;
  bool no_api_key = false;
  int workers = 0, threads = 0;
  double timeout = 300;
  bool json = false;
  int tail = 0;
  bool follow = false;
  // supervise
  int listen_fd = 3;
};

std::vector<deploy::ModelVersion> resolve(ws::Registry& reg, const std::vector<std::string>& refs) {
  std::vector<deploy::ModelVersion> out;
  for (const auto& ref : refs) {
    const ws::ModelRecord r = reg.get(ws::parse_ref(ref));
    for (const auto& o : out)
      if (o.name == r.name && o.version == r.version) bad(r.name + ":" + std::to_string(r.version) + " is named twice");
    out.push_back({r.name, r.version});
  }
  return out;
}

std::string models_str(const std::vector<deploy::ModelVersion>& v) {
  std::string s;
  for (const auto& m : v) s += (s.empty() ? "" : ", ") + m.name + ":" + std::to_string(m.version);
  return s.empty() ? "-" : s;
}

// How long pier deploy create waits for the supervisor it spawned to record
// itself before it calls the deployment Failed.
constexpr int kSupervisorStartSeconds = 20;

// Seconds since `iso` ("2024-05-01T12:34:56.789Z", UTC); 0 when unreadable.
double age_seconds(const std::string& iso) {
  std::tm tm{};
  if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::difftime(std::time(nullptr), timegm(&tm));
}

// The state as it is: a record whose supervisor is gone has Failed.
void refresh(Deployment& d) {
  if (d.state == deploy::kDeleting) return;
  if (d.supervisor_pid == 0 && d.state == deploy::kCreating) {
    // Not started yet, unless the pier deploy create that recorded it was
    // killed before it spawned the supervisor: then it never will be.
    if (age_seconds(d.created) <= kSupervisorStartSeconds + 5) return;
    d.state = deploy::kFailed;
    d.error = "its supervisor was never started (the pier deploy create that recorded it was interrupted; pier deploy "
              "delete " + d.name + ", then create it again)";
    return;
  }
  if (!deploy::process_alive(d.supervisor_pid, d.supervisor_start) && d.state != deploy::kFailed) {
    d.state = deploy::kFailed;
    d.error = "its supervisor is not running (pier deploy delete " + d.name + ", then create it again)";
  }
}

void json_models(rapidjson::Writer<rapidjson::StringBuffer>& w, const std::vector<deploy::ModelVersion>& v) {
  w.StartArray();
  for (const auto& m : v) {
    w.StartObject();
    w.Key("name");
    w.String(m.name.c_str());
    w.Key("version");
    w.Int64(m.version);
    w.EndObject();
  }
  w.EndArray();
}

void json_deployment(rapidjson::Writer<rapidjson::StringBuffer>& w, const Deployment& d, bool keys) {
  w.StartObject();
  w.Key("name");
  w.String(d.name.c_str());
  w.Key("state");
  w.String(d.state.c_str());
  w.Key("scoring_uri");
  w.String(d.scoring_uri().c_str());
  w.Key("swagger_uri");
  w.String(d.swagger_uri().c_str());
  w.Key("host");
  w.String(d.host.c_str());
  w.Key("port");
  w.Int(d.port);
  w.Key("models");
  json_models(w, d.models);
  if (d.target_generation != d.generation) {
    w.Key("target_models");
    json_models(w, d.target_models);
  }
  w.Key("generation");
  w.Int64(d.generation);
  w.Key("replicas");
  w.Int(d.spec.replicas);
  w.Key("auth");
  w.Bool(!d.spec.api_keys.empty());
  if (keys) {
    w.Key("keys");
    w.StartArray();
    for (const auto& k : d.spec.api_keys) w.String(k.c_str());
    w.EndArray();
  }
  w.Key("supervisor_pid");
  w.Int64(d.supervisor_pid);
  w.Key("servers");
  w.StartArray();
  for (const auto& s : d.servers) {
    w.StartObject();
    w.Key("pid");
    w.Int64(s.pid);
    w.Key("generation");
    w.Int64(s.generation);
    w.Key("ready");
    w.Bool(s.ready);
    w.EndObject();
  }
  w.EndArray();
  w.Key("restarts");
  w.Int64(d.restarts);
  w.Key("error");
  w.String(d.error.c_str());
  w.Key("created");
  w.String(d.created.c_str());
  w.Key("updated");
  w.String(d.updated.c_str());
  w.EndObject();
}

void print_deployment(const Deployment& d, const std::string& log) {
  std::printf("name:        %s\n", d.name.c_str());
  std::printf("state:       %s\n", d.state.c_str());
  if (!d.error.empty()) std::printf("error:       %s\n", d.error.c_str());
  std::printf("scoring URI: %s\n", d.scoring_uri().c_str());
  std::printf("swagger URI: %s\n", d.swagger_uri().c_str());
  std::printf("models:      %s\n", models_str(d.models).c_str());
  if (d.target_generation != d.generation) std::printf("updating to: %s\n", models_str(d.target_models).c_str());
  std::printf("replicas:    %d\n", d.spec.replicas);
  std::printf("auth:        %s\n", d.spec.api_keys.empty() ? "none" : ("API keys (pier deploy keys " + d.name + ")").c_str());
  std::printf("supervisor:  %s\n", d.supervisor_pid ? ("pid " + std::to_string(d.supervisor_pid)).c_str() : "-");
  std::string servers;
  for (const auto& s : d.servers)
    servers += (servers.empty() ? "" : ", ") + std::string("pid ") + std::to_string(s.pid) + (s.ready ? "" : " (starting)");
  std::printf("servers:     %s\n", servers.empty() ? "-" : servers.c_str());
  std::printf("restarts:    %lld\n", static_cast<long long>(d.restarts));
  std::printf("log:         %s\n", log.c_str());
  std::printf("created:     %s\n", d.created.c_str());
}

// The last `n` lines of the log (all with n = 0).
std::string tail_lines(const std::string& path, int n) {
  std::ifstream f(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (n <= 0) return all;
  size_t pos = all.size();
  if (pos && all[pos - 1] == '\n') --pos;
  for (int i = 0; i < n && pos != std::string::npos && pos > 0; ++i) {
    pos = all.rfind('\n', pos - 1);
    if (pos == std::string::npos) return all;
  }
  return pos == std::string::npos || pos == 0 ? all : all.substr(pos + 1);
}

// Waits for the deployment to leave `from`; returns it as it is then.
Deployment wait_state(deploy::Store& store, const std::string& name, const std::function<bool(const Deployment&)>& done,
                      double timeout) {
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000));
  for (;;) {
    Deployment d = store.get(name);
    if (done(d)) return d;
    const bool started = d.supervisor_pid != 0;
    if (!started && Clock::now() - t0 > std::chrono::seconds(kSupervisorStartSeconds)) {
      d.state = deploy::kFailed;
      d.error = "the supervisor process did not start";
      return d;
    }
    if (started && !deploy::process_alive(d.supervisor_pid, d.supervisor_start)) {
      d = store.get(name);  // its last words
      refresh(d);
      return d;
    }
    if (Clock::now() >= end) return d;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int create_command(const DeployArgs& a) {
  deploy::validate_deployment_name(a.name);
  if (a.port < 0 || a.port > 65535) bad("--port must be 0-65535 (0: any free port)");
  if (a.replicas < 1 || a.replicas > 64) bad("--replicas must be 1-64");
  const auto located = ws::locate_workspace(a.workspace);
  ws::Registry reg(located.paths);
  deploy::Store store(located.paths);
  Deployment d;
  d.name = a.name;
  d.host = a.host;
  d.models = resolve(reg, a.models);
  d.spec.replicas = a.replicas;
  d.spec.api_keys = make_keys(a.api_keys);
  d.spec.workers = a.workers;
  d.spec.threads = a.threads;
  if (store.find(a.name)) ws::fail(ws::ErrorKind::kConflict, "a deployment named \"" + a.name + "\" exists already (pier deploy show " + a.name + ")");
  // The port is bound here, so that "in use" is an error of this command;
  // the supervisor inherits the socket and keeps it for the deployment's life.
  int port = a.port;
  const int fd = deploy::open_listener(a.host, port);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  d.port = port;
  store.insert(d);
  const std::string log = store.log_path(d.name);
  try {
    fs::create_directories(store.dir(d.name));
    std::ofstream(log, std::ios::trunc).flush();
    const std::string self = deploy::self_exe();
    deploy::spawn_daemon({self, "deploy", "supervise", d.name, "--workspace", located.paths.root.string(), "--listen-fd", "3"},
                         log, fd);
  } catch (...) {
    store.remove(d.name);
    throw;
  }
  ::close(fd);
  closer.fd = -1;
  d = wait_state(store, d.name, [](const Deployment& x) { return x.state != deploy::kCreating; }, a.timeout);
  if (a.json) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    json_deployment(w, d, false);
    std::printf("%s\n", sb.GetString());
  }
  if (d.state == deploy::kHealthy) {
    if (!a.json) {
      std::printf("deployment %s is Healthy: %s (%s)\n", d.name.c_str(), d.scoring_uri().c_str(), models_str(d.models).c_str());
      if (!d.spec.api_keys.empty()) std::printf("keys: pier deploy keys %s\n", d.name.c_str());
    }
    return 0;
  }
  if (d.state == deploy::kCreating)
    std::fprintf(stderr, "pier: error: deployment %s is still Creating after %g s (pier deploy show %s; pier deploy logs %s)\n",
                 d.name.c_str(), a.timeout, d.name.c_str(), d.name.c_str());
  else
    std::fprintf(stderr, "pier: error: deployment %s %s: %s\npier: see pier deploy logs %s; remove it with pier deploy delete %s\n",
                 d.name.c_str(), d.state.c_str(), d.error.c_str(), d.name.c_str(), d.name.c_str());
  return 1;
}

int list_command(const DeployArgs& a) {
  deploy::Store store(ws::locate_workspace(a.workspace).paths);
  auto all = store.list();
  for (auto& d : all) refresh(d);
  if (a.json) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartArray();
    for (const auto& d : all) json_deployment(w, d, false);
    w.EndArray();
    std::printf("%s\n", sb.GetString());
    return 0;
  }
  if (all.empty()) {
    std::printf("no deployments\n");
    return 0;
  }
  std::printf("%-24s %-9s %-8s %-34s %s\n", "NAME", "STATE", "REPLICAS", "SCORING URI", "MODELS");
  for (const auto& d : all)
    std::printf("%-24s %-9s %-8d %-34s %s\n", d.name.c_str(), d.state.c_str(), d.spec.replicas, d.scoring_uri().c_str(),
                models_str(d.models).c_str());
  return 0;
}

int show_command(const DeployArgs& a) {
  deploy::Store store(ws::locate_workspace(a.workspace).paths);
  Deployment d = store.get(a.name);
  refresh(d);
  if (a.json) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    json_deployment(w, d, false);
    std::printf("%s\n", sb.GetString());
  } else {
    print_deployment(d, store.log_path(d.name));
  }
  return 0;
}

int keys_command(const DeployArgs& a) {
  deploy::Store store(ws::locate_workspace(a.workspace).paths);
  const Deployment d = store.get(a.name);
  if (d.spec.api_keys.empty()) ws::fail(ws::ErrorKind::kNotFound, "the deployment \"" + d.name + "\" has no API keys (created without --api-key)");
  for (const auto& k : d.spec.api_keys) std::printf("%s\n", k.c_str());
  return 0;
}

int logs_command(const DeployArgs& a) {
  deploy::Store store(ws::locate_workspace(a.workspace).paths);
  const Deployment d = store.get(a.name);
  const std::string path = store.log_path(d.name);
  if (!fs::exists(path)) ws::fail(ws::ErrorKind::kNotFound, "no log at " + path);
  std::string text = tail_lines(path, a.tail);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  if (!a.follow) return 0;
  std::ifstream f(path, std::ios::binary);
  f.seekg(0, std::ios::end);
  for (;;) {
    std::string chunk(65536, '\0');
    f.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto n = f.gcount();
    if (n > 0) {
      std::fwrite(chunk.data(), 1, static_cast<size_t>(n), stdout);
      std::fflush(stdout);
    }
    f.clear();
    if (!store.find(d.name)) return 0;  // deleted
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int update_command(const DeployArgs& a, bool keys_given, bool replicas_given) {
  const auto located = ws::locate_workspace(a.workspace);
  ws::Registry reg(located.paths);
  deploy::Store store(located.paths);
  Deployment d = store.get(a.name);
  refresh(d);
  if (!deploy::process_alive(d.supervisor_pid, d.supervisor_start))
    ws::fail(ws::ErrorKind::kConflict, "the deployment \"" + d.name + "\" has no running supervisor: " + d.error);
  std::vector<deploy::ModelVersion> models = a.models.empty() ? d.models : resolve(reg, a.models);
  deploy::Spec spec = d.spec;
  if (keys_given) spec.api_keys = make_keys(a.api_keys);
  if (a.no_api_key) spec.api_keys.clear();
  if (replicas_given) {
    if (a.replicas < 1 || a.replicas > 64) bad("--replicas must be 1-64");
    spec.replicas = a.replicas;
  }
  if (a.workers) spec.workers = a.workers;
  if (a.threads) spec.threads = a.threads;
  const int64_t target = store.begin_update(d.name, models, spec);
  ::kill(static_cast<pid_t>(d.supervisor_pid), SIGHUP);
  d = wait_state(store, d.name,
                 [&](const Deployment& x) {
                   return (x.generation >= target && x.state == deploy::kHealthy) || x.target_generation < target;
                 },
                 a.timeout);
  if (d.generation >= target && d.state == deploy::kHealthy) {
    std::printf("deployment %s serves %s: %s\n", d.name.c_str(), models_str(d.models).c_str(), d.scoring_uri().c_str());
    return 0;
  }
  if (d.target_generation < target) {
    std::fprintf(stderr, "pier: error: %s; %s still serves %s (pier deploy logs %s)\n", d.error.c_str(), d.name.c_str(),
                 models_str(d.models).c_str(), d.name.c_str());
    return 1;
  }
  std::fprintf(stderr, "pier: error: deployment %s is still %s after %g s (pier deploy show %s)\n", d.name.c_str(),
               d.state.c_str(), a.timeout, d.name.c_str());
  return 1;
}

int delete_command(const DeployArgs& a) {
  const auto located = ws::locate_workspace(a.workspace);
  deploy::Store store(located.paths);
  Deployment d = store.get(a.name);
  store.set_state(d.name, deploy::kDeleting, "");
  if (deploy::process_alive(d.supervisor_pid, d.supervisor_start)) {
    ::kill(static_cast<pid_t>(d.supervisor_pid), SIGTERM);
    // The supervisor stops its servers, which finish their requests first.
    if (!deploy::wait_gone(d.supervisor_pid, d.supervisor_start, std::chrono::seconds(60))) {
      std::fprintf(stderr, "pier: warning: the supervisor (pid %lld) did not stop in 60 s; killing it\n",
                   static_cast<long long>(d.supervisor_pid));
      ::kill(static_cast<pid_t>(d.supervisor_pid), SIGKILL);
      deploy::wait_gone(d.supervisor_pid, d.supervisor_start, std::chrono::seconds(10));
    }
  }
  // Servers left by a supervisor that died (they get SIGTERM when it dies;
  // make sure).
  d = store.get(a.name);
  for (const auto& s : d.servers)
    if (deploy::process_alive(s.pid, s.start)) {
      ::kill(static_cast<pid_t>(s.pid), SIGKILL);
      deploy::wait_gone(s.pid, s.start, std::chrono::seconds(10));
    }
  store.remove(d.name);
  std::error_code ec;
  fs::remove_all(store.dir(d.name), ec);
  std::printf("deleted deployment %s (port %d is free)\n", d.name.c_str(), d.port);
  return 0;
}

int supervise_command(const DeployArgs& a) {
  deploy::SupervisorOptions opt;
  opt.paths = ws::open_workspace(a.workspace);
  opt.name = a.name;
  opt.listen_fd = a.listen_fd;
  opt.pier = deploy::self_exe();
  return deploy::run_supervisor(opt);
}

}  // namespace

void add_deploy_command(CLI::App& app, CommandRunner& runner) {
  auto a = std::make_shared<DeployArgs>();
  auto* dep = app.add_subcommand(
      "deploy", "Deploy models: local deployments (a supervised pier serve on this machine) and Kubernetes manifests (docs/deployment.md)");
  dep->require_subcommand(1);
  auto guard = [&runner](std::function<int()> fn) { runner.set([fn] { return ws_guard(fn); }); };

  auto* c = dep->add_subcommand(
      "create",
      "Start a deployment: a supervisor process that owns the port and keeps --replicas pier serve processes running "
      "(restarting any that dies), recorded in the workspace with its scoring URI, keys, state and model versions. "
      "Waits until it is Healthy or Failed");
  add_workspace_flag(c, a->workspace);
  c->add_option("name", a->name, deploy_cli::kNameHelp)->required();
  c->add_option("--model", a->models, "NAME, NAME:VERSION or NAME@ALIAS (resolved now to a version); repeatable")->required();
  c->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  c->add_option("--port", a->port, "Port (0: any free port)")->capture_default_str();
  c->add_option("--replicas", a->replicas, "pier serve processes accepting on the port")->capture_default_str();
  c->add_option("--api-key", a->api_keys,
                "Require \"Authorization: Bearer KEY\": \"auto\" generates a primary and a secondary key; or give one "
                "or two keys. Default: no keys");
  c->add_option("--workers", a->workers, "Inference workers per server (default: pier serve's)");
  c->add_option("--threads", a->threads, "Engine threads per inference (default: pier serve's)");
  c->add_option("--timeout", a->timeout, "Seconds to wait for the deployment to become Healthy")->capture_default_str();
  c->add_flag("--json", a->json, "Print the deployment as JSON");
  c->callback([a, guard] { guard([a] { return create_command(*a); }); });

  auto* l = dep->add_subcommand("list", "List the deployments with their state, scoring URI and models");
  add_workspace_flag(l, a->workspace);
  l->add_flag("--json", a->json, "Print JSON");
  l->callback([a, guard] { guard([a] { return list_command(*a); }); });

  auto* s = dep->add_subcommand("show", "Show a deployment: state, scoring URI, models, processes, restarts, log");
  add_workspace_flag(s, a->workspace);
  s->add_option("name", a->name, "Deployment name")->required();
  s->add_flag("--json", a->json, "Print JSON");
  s->callback([a, guard] { guard([a] { return show_command(*a); }); });

  auto* k = dep->add_subcommand("keys", "Print a deployment's API keys, primary first, one per line");
  add_workspace_flag(k, a->workspace);
  k->add_option("name", a->name, "Deployment name")->required();
  k->callback([a, guard] { guard([a] { return keys_command(*a); }); });

  auto* lg = dep->add_subcommand("logs", "Print a deployment's log: its servers' output and access log, and the supervisor's events");
  add_workspace_flag(lg, a->workspace);
  lg->add_option("name", a->name, "Deployment name")->required();
  lg->add_option("--tail", a->tail, "Only the last N lines");
  lg->add_flag("-f,--follow", a->follow, "Keep printing what is appended, until the deployment is deleted");
  lg->callback([a, guard] { guard([a] { return logs_command(*a); }); });

  auto* u = dep->add_subcommand(
      "update",
      "Swap a deployment to other model versions (or keys, replicas) without failing a request: new servers start on "
      "the same port, and once every one is ready the old ones stop accepting and finish their requests");
  add_workspace_flag(u, a->workspace);
  u->add_option("name", a->name, "Deployment name")->required();
  u->add_option("--model", a->models, "The new model set: NAME, NAME:VERSION or NAME@ALIAS; repeatable (default: the same)");
  auto* ukeys = u->add_option("--api-key", a->api_keys, "New keys: \"auto\", or one or two keys");
  u->add_flag("--no-api-key", a->no_api_key, "Serve without keys");
  auto* urep = u->add_option("--replicas", a->replicas, "New number of servers");
  u->add_option("--workers", a->workers, "Inference workers per server");
  u->add_option("--threads", a->threads, "Engine threads per inference");
  u->add_option("--timeout", a->timeout, "Seconds to wait for the new servers")->capture_default_str();
  u->callback([a, guard, ukeys, urep] {
    const bool kg = ukeys->count() > 0, rg = urep->count() > 0;
    guard([a, kg, rg] { return update_command(*a, kg, rg); });
  });

  auto* del = dep->add_subcommand(
      "delete", "Stop a deployment (its servers finish their requests), free its port, and remove its record and log");
  add_workspace_flag(del, a->workspace);
  del->add_option("name", a->name, "Deployment name")->required();
  del->callback([a, guard] { guard([a] { return delete_command(*a); }); });

  auto* sup = dep->add_subcommand("supervise", "(internal) The supervisor process of a deployment");
  sup->group("");  // hidden: pier deploy create starts it
  sup->add_option("name", a->name)->required();
  sup->add_option("--workspace", a->workspace)->required();
  sup->add_option("--listen-fd", a->listen_fd);
  sup->callback([a, guard] { guard([a] { return supervise_command(*a); }); });

  deploy_cli::add_k8s_command(dep, runner);
}

}  // namespace pier::cli
