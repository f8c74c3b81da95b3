#include "deploy/store.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <ctime>

#include "workspace/error.h"
#include "workspace/schema.h"
#include "workspace/sqlite.h"

namespace pier::deploy {

using ws::Db;
using ws::ErrorKind;
using ws::fail;
using ws::Stmt;
using ws::Tx;

namespace {

std::string now_utc() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

std::string servers_json(const std::vector<ServerProcess>& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartArray();
  for (const auto& s : v) {
    w.StartObject();
    w.Key("pid");
    w.Int64(s.pid);
    w.Key("start");
    w.Int64(s.start);
    w.Key("generation");
    w.Int64(s.generation);
    w.Key("ready");
    w.Bool(s.ready);
    w.EndObject();
  }
  w.EndArray();
  return sb.GetString();
}

std::vector<ServerProcess> parse_servers(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  std::vector<ServerProcess> out;
  if (d.HasParseError() || !d.IsArray()) fail(ErrorKind::kCorrupt, "deployment record: bad servers list");
  for (const auto& v : d.GetArray()) {
    if (!v.IsObject()) continue;
    ServerProcess s;
    if (v.HasMember("pid") && v["pid"].IsInt64()) s.pid = v["pid"].GetInt64();
    if (v.HasMember("start") && v["start"].IsInt64()) s.start = v["start"].GetInt64();
    if (v.HasMember("generation") && v["generation"].IsInt64()) s.generation = v["generation"].GetInt64();
    if (v.HasMember("ready") && v["ready"].IsBool()) s.ready = v["ready"].GetBool();
    out.push_back(s);
  }
  return out;
}

constexpr const char* kColumns =
    "name, state, host, port, generation, target_generation, spec, target_spec, supervisor_pid, supervisor_start, "
    "servers, restarts, error, created, updated";

}  // namespace

std::string spec_json(const Spec& s) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("replicas");
  w.Int(s.replicas);
  w.Key("api_keys");
  w.StartArray();
  for (const auto& k : s.api_keys) w.String(k.c_str());
  w.EndArray();
  w.Key("workers");
  w.Int(s.workers);
  w.Key("threads");
  w.Int(s.threads);
  w.EndObject();
  return sb.GetString();
}

Spec parse_spec(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  if (d.HasParseError() || !d.IsObject()) fail(ErrorKind::kCorrupt, "deployment record: bad spec");
  Spec s;
  if (d.HasMember("replicas") && d["replicas"].IsInt()) s.replicas = d["replicas"].GetInt();
  if (d.HasMember("workers") && d["workers"].IsInt()) s.workers = d["workers"].GetInt();
  if (d.HasMember("threads") && d["threads"].IsInt()) s.threads = d["threads"].GetInt();
  if (d.HasMember("api_keys") && d["api_keys"].IsArray())
    for (const auto& k : d["api_keys"].GetArray())
      if (k.IsString()) s.api_keys.emplace_back(k.GetString(), k.GetStringLength());
  return s;
}

std::string Deployment::base_uri() const {
  std::string h = host;
  if (h == "0.0.0.0") h = "127.0.0.1";
  if (h == "::") h = "::1";
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return "http://" + h + ":" + std::to_string(port);
}
std::string Deployment::scoring_uri() const { return base_uri() + "/score"; }
std::string Deployment::swagger_uri() const { return base_uri() + "/swagger.json"; }

void validate_deployment_name(const std::string& name) {
  auto bad = [&](const std::string& why) {
    fail(ErrorKind::kInvalidArgument, "invalid deployment name \"" + name + "\": " + why +
                                          " (1-63 lowercase letters, digits and '-', starting with a letter, not "
                                          "ending with '-', so that it is also a Kubernetes name)");
  };
  if (name.empty() || name.size() > 63) bad("length " + std::to_string(name.size()));
  if (!(name[0] >= 'a' && name[0] <= 'z')) bad("it must start with a lowercase letter");
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      const unsigned char u = static_cast<unsigned char>(c);
      char shown[16];
      if (u >= 0x20 && u < 0x7f) std::snprintf(shown, sizeof shown, "'%c'", c);
      else std::snprintf(shown, sizeof shown, "byte 0x%02x", u);
      bad(std::string("character ") + shown + " is not allowed");
    }
  if (name.back() == '-') bad("it must not end with '-'");
}

Store::Store(const ws::WorkspacePaths& paths) : paths_(paths), db_(ws::open_registry_db(paths.db())) {}
Store::~Store() = default;

std::string Store::dir(const std::string& name) const { return (paths_.root / "deployments" / name).string(); }
std::string Store::log_path(const std::string& name) const { return dir(name) + "/deploy.log"; }

void Store::insert(const Deployment& d) {
  validate_deployment_name(d.name);
  Tx tx(*db_, Tx::kWrite);
  {
    Stmt q(*db_, "SELECT 1 FROM deployments WHERE name = ?");
    q.bind(1, d.name);
    if (q.step()) fail(ErrorKind::kConflict, "a deployment named \"" + d.name + "\" exists already (pier deploy show " + d.name + ")");
  }
  const std::string now = now_utc();
  Stmt(*db_,
       "INSERT INTO deployments(name, state, host, port, generation, target_generation, spec, target_spec, created, "
       "updated) VALUES(?, ?, ?, ?, 1, 1, ?, ?, ?, ?)")
      .bind(1, d.name)
      .bind(2, std::string(kCreating))
      .bind(3, d.host)
      .bind(4, int64_t{d.port})
      .bind(5, spec_json(d.spec))
      .bind(6, spec_json(d.spec))
      .bind(7, now)
      .bind(8, now)
      .run();
  Stmt ins(*db_, "INSERT INTO deployment_models(deployment, generation, position, name, version) VALUES(?, 1, ?, ?, ?)");
  for (size_t i = 0; i < d.models.size(); ++i) {
    ins.reset();
    ins.bind(1, d.name).bind(2, static_cast<int64_t>(i)).bind(3, d.models[i].name).bind(4, d.models[i].version).run();
  }
  tx.commit();
}

std::vector<ModelVersion> Store::models_of(const std::string& name, int64_t generation) {
  Stmt q(*db_, "SELECT name, version FROM deployment_models WHERE deployment = ? AND generation = ? ORDER BY position");
  q.bind(1, name).bind(2, generation);
  std::vector<ModelVersion> out;
  while (q.step()) out.push_back({q.col_text(0), q.col_int(1)});
  return out;
}

std::optional<Deployment> Store::find(const std::string& name) {
  Tx tx(*db_, Tx::kRead);
  Stmt q(*db_, (std::string("SELECT ") + kColumns + " FROM deployments WHERE name = ?").c_str());
  q.bind(1, name);
  if (!q.step()) return std::nullopt;
  Deployment d;
  d.name = q.col_text(0);
  d.state = q.col_text(1);
  d.host = q.col_text(2);
  d.port = static_cast<int>(q.col_int(3));
  d.generation = q.col_int(4);
  d.target_generation = q.col_int(5);
  d.spec = parse_spec(q.col_text(6));
  d.target_spec = parse_spec(q.col_text(7));
  d.supervisor_pid = q.col_int(8);
  d.supervisor_start = q.col_int(9);
  d.servers = parse_servers(q.col_text(10));
  d.restarts = q.col_int(11);
  d.error = q.col_text(12);
  d.created = q.col_text(13);
  d.updated = q.col_text(14);
  d.models = models_of(d.name, d.generation);
  if (d.target_generation != d.generation) d.target_models = models_of(d.name, d.target_generation);
  return d;
}

Deployment Store::get(const std::string& name) {
  auto d = find(name);
  if (!d) fail(ErrorKind::kNotFound, "no deployment named \"" + name + "\" (pier deploy list)");
  return *d;
}

std::vector<Deployment> Store::list() {
  std::vector<std::string> names;
  {
    Stmt q(*db_, "SELECT name FROM deployments ORDER BY name");
    while (q.step()) names.push_back(q.col_text(0));
  }
  std::vector<Deployment> out;
  for (const auto& n : names)
    if (auto d = find(n)) out.push_back(std::move(*d));
  return out;
}

void Store::touch_and_check(const std::string& name) {
  if (db_->changes() == 0) fail(ErrorKind::kNotFound, "no deployment named \"" + name + "\"");
}

void Store::set_state(const std::string& name, const std::string& state, const std::string& error) {
  Stmt(*db_, "UPDATE deployments SET state = ?, error = ?, updated = ? WHERE name = ?")
      .bind(1, state)
      .bind(2, error)
      .bind(3, now_utc())
      .bind(4, name)
      .run();
  touch_and_check(name);
}

void Store::set_supervisor(const std::string& name, int64_t pid, int64_t start) {
  Stmt(*db_, "UPDATE deployments SET supervisor_pid = ?, supervisor_start = ?, updated = ? WHERE name = ?")
      .bind(1, pid)
      .bind(2, start)
      .bind(3, now_utc())
      .bind(4, name)
      .run();
  touch_and_check(name);
}

void Store::set_servers(const std::string& name, const std::vector<ServerProcess>& servers) {
  Stmt(*db_, "UPDATE deployments SET servers = ?, updated = ? WHERE name = ?")
      .bind(1, servers_json(servers))
      .bind(2, now_utc())
      .bind(3, name)
      .run();
  touch_and_check(name);
}

void Store::add_restart(const std::string& name) {
  Stmt(*db_, "UPDATE deployments SET restarts = restarts + 1, updated = ? WHERE name = ?").bind(1, now_utc()).bind(2, name).run();
  touch_and_check(name);
}

int64_t Store::begin_update(const std::string& name, const std::vector<ModelVersion>& models, const Spec& spec) {
  Tx tx(*db_, Tx::kWrite);
  Stmt q(*db_, "SELECT state, generation, target_generation FROM deployments WHERE name = ?");
  q.bind(1, name);
  if (!q.step()) fail(ErrorKind::kNotFound, "no deployment named \"" + name + "\" (pier deploy list)");
  const std::string state = q.col_text(0);
  const int64_t gen = q.col_int(1);
  if ((state != kHealthy && state != kFailed) || q.col_int(2) != gen)
    fail(ErrorKind::kConflict, "the deployment \"" + name + "\" is " + state + "; wait until it is Healthy");
  const int64_t target = gen + 1;
  Stmt(*db_, "DELETE FROM deployment_models WHERE deployment = ? AND generation <> ?").bind(1, name).bind(2, gen).run();
  Stmt ins(*db_, "INSERT INTO deployment_models(deployment, generation, position, name, version) VALUES(?, ?, ?, ?, ?)");
  for (size_t i = 0; i < models.size(); ++i) {
    ins.reset();
    ins.bind(1, name).bind(2, target).bind(3, static_cast<int64_t>(i)).bind(4, models[i].name).bind(5, models[i].version).run();
  }
  Stmt(*db_, "UPDATE deployments SET state = ?, target_generation = ?, target_spec = ?, error = '', updated = ? WHERE name = ?")
      .bind(1, std::string(kUpdating))
      .bind(2, target)
      .bind(3, spec_json(spec))
      .bind(4, now_utc())
      .bind(5, name)
      .run();
  tx.commit();
  return target;
}

void Store::commit_update(const std::string& name) {
  Tx tx(*db_, Tx::kWrite);
  Stmt(*db_,
       "UPDATE deployments SET generation = target_generation, spec = target_spec, error = '', updated = ? "
       "WHERE name = ?")
      .bind(1, now_utc())
      .bind(2, name)
      .run();
  touch_and_check(name);
  Stmt(*db_,
       "DELETE FROM deployment_models WHERE deployment = ? AND generation <> "
       "(SELECT generation FROM deployments WHERE name = ?)")
      .bind(1, name)
      .bind(2, name)
      .run();
  tx.commit();
}

void Store::abort_update(const std::string& name, const std::string& error) {
  Tx tx(*db_, Tx::kWrite);
  Stmt(*db_,
       "DELETE FROM deployment_models WHERE deployment = ? AND generation <> "
       "(SELECT generation FROM deployments WHERE name = ?)")
      .bind(1, name)
      .bind(2, name)
      .run();
  Stmt(*db_,
       "UPDATE deployments SET target_generation = generation, target_spec = spec, state = ?, error = ?, updated = ? "
       "WHERE name = ?")
      .bind(1, std::string(kHealthy))
      .bind(2, error)
      .bind(3, now_utc())
      .bind(4, name)
      .run();
  touch_and_check(name);
  tx.commit();
}

void Store::remove(const std::string& name) {
  Tx tx(*db_, Tx::kWrite);
  Stmt(*db_, "DELETE FROM deployments WHERE name = ?").bind(1, name).run();
  tx.commit();
}

}  // namespace pier::deploy
