#include "workspace/workspace.h"

#include <simdjson.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "workspace/error.h"
#include "workspace/fs_util.h"
#include "workspace/record.h"
#include "workspace/schema.h"

namespace pier::ws {

namespace {

bool is_workspace(const fs::path& root) {
  std::error_code ec;
  return fs::is_regular_file(root / "workspace.json", ec) && fs::is_regular_file(root / "registry.db", ec);
}

fs::path absolute_normal(const fs::path& p) {
  std::error_code ec;
  fs::path a = fs::absolute(p, ec);
  if (ec) fail(ErrorKind::kIO, p.string() + ": cannot resolve (" + ec.message() + ")");
  return a.lexically_normal();
}

std::string strip_slash(const fs::path& p) {
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

InitResult init_workspace(const fs::path& dir) {
  InitResult res;
  res.paths.root = fs::path(strip_slash(absolute_normal(dir)));
  const auto& p = res.paths;
  std::error_code ec;
  if (is_workspace(p.root)) return res;
  if (fs::exists(p.root, ec)) {
    if (!fs::is_directory(p.root, ec)) fail(ErrorKind::kInvalidArgument, p.root.string() + ": exists and is not a directory");
    // Accept an empty folder, or one an interrupted init left behind.
    for (const auto& e : fs::directory_iterator(p.root, ec)) {
      const std::string n = e.path().filename().string();
      if (n != "registry.db" && n != "registry.db-wal" && n != "registry.db-shm" && n != "blobs" && n != "tmp")
        fail(ErrorKind::kInvalidArgument,
             p.root.string() + ": exists, is not empty and is not a Pier workspace; choose another folder");
    }
  }
  create_dirs_durable(p.blobs());
  create_dirs_durable(p.tmp());
  create_schema(p.db());
  write_file_atomic(p.marker(), "{\"format\": 1, \"created\": " + json_string(now_iso8601()) + "}\n");
  res.created = true;
  return res;
}

fs::path write_config(const fs::path& dir, const fs::path& root) {
  const fs::path base = absolute_normal(dir);
  const fs::path abs_root = absolute_normal(root);
  fs::path rel = abs_root.lexically_relative(base);
  std::string target = abs_root.string();
  if (!rel.empty() && *rel.begin() != "..") target = rel.string();
  const fs::path cfg_dir = base / ".pier";
  create_dirs_durable(cfg_dir);
  const fs::path cfg = cfg_dir / "config.json";
  write_file_atomic(cfg, "{\"workspace\": " + json_string(target) + "}\n");
  return cfg;
}

WorkspacePaths open_workspace(const fs::path& root) {
  WorkspacePaths p;
  p.root = fs::path(strip_slash(absolute_normal(root)));
  std::error_code ec;
  if (!fs::exists(p.root, ec)) fail(ErrorKind::kNotFound, p.root.string() + ": no such workspace folder");
  if (!is_workspace(p.root))
    fail(ErrorKind::kNotFound,
         p.root.string() + " is not a Pier workspace (no workspace.json and registry.db); create one with `pier workspace init`");
  return p;
}

namespace {

fs::path read_config(const fs::path& cfg) {
  std::ifstream f(cfg, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  if (!f) fail(ErrorKind::kIO, cfg.string() + ": cannot read");
  const std::string text = ss.str();
  try {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(text);
    simdjson::dom::element doc = parser.parse(padded);
    const std::string_view target = doc["workspace"].get_string();
    fs::path p{std::string(target)};
    if (p.empty()) fail(ErrorKind::kInvalidArgument, cfg.string() + ": \"workspace\" is empty");
    return p.is_absolute() ? p : cfg.parent_path().parent_path() / p;
  } catch (const simdjson::simdjson_error& e) {
    fail(ErrorKind::kInvalidArgument,
         cfg.string() + ": not a valid config (expected {\"workspace\": \"PATH\"}): " + e.what());
  }
}

}  // namespace

Located locate_workspace(const std::string& flag, const fs::path& start) {
  Located loc;
  if (!flag.empty()) {
    loc.paths = open_workspace(flag);
    loc.source = "--workspace";
    return loc;
  }
  if (const char* env = std::getenv(kWorkspaceEnv); env && *env) {
    loc.paths = open_workspace(env);
    loc.source = std::string("$") + kWorkspaceEnv;
    return loc;
  }
  const fs::path from = absolute_normal(start);
  for (fs::path d = from;; d = d.parent_path()) {
    const fs::path cfg = d / ".pier" / "config.json";
    std::error_code ec;
    if (fs::is_regular_file(cfg, ec)) {
      try {
        loc.paths = open_workspace(read_config(cfg));
      } catch (const Error& e) {
        fail(e.kind(), std::string(e.what()) + " (named by " + cfg.string() + ")");
      }
      loc.source = cfg.string();
      return loc;
    }
    if (d == d.root_path() || d.parent_path() == d) break;
  }
  fail(ErrorKind::kNotFound, "no workspace found: pass --workspace DIR, set $PIER_WORKSPACE, or create one with "
                             "`pier workspace init` (no .pier/config.json in " + from.string() + " or its parents)");
}

}  // namespace pier::ws
