#include "cli/ws_common.h"

#include <cstdio>

#include "workspace/error.h"

namespace pier::cli {

int ws_guard(const std::function<int()>& fn) {
  try {
    return fn();
  } catch (const ws::Error& e) {
    std::fprintf(stderr, "pier: error: %s\n", e.what());
    return e.kind() == ws::ErrorKind::kInvalidArgument ? 2 : 1;
  }
}

void add_workspace_flag(CLI::App* cmd, std::string& dir) {
  cmd->add_option("--workspace", dir,
                  "Workspace folder (default: $PIER_WORKSPACE, else .pier/config.json here or in a parent folder)");
}

std::unique_ptr<ws::Registry> open_registry(const std::string& workspace_flag) {
  return std::make_unique<ws::Registry>(ws::locate_workspace(workspace_flag).paths);
}

namespace {

std::string join_map(const std::map<std::string, std::string>& m) {
  std::string s;
  for (const auto& [k, v] : m) {
    if (!s.empty()) s += ", ";
    s += k;
    if (!v.empty()) {
      s += '=';
      s += v;
    }
  }
  return s.empty() ? "-" : s;
}

}  // namespace

void print_record(const ws::ModelRecord& r) {
  std::printf("name:        %s\n", r.name.c_str());
  std::printf("version:     %lld\n", static_cast<long long>(r.version));
  std::printf("sha256:      %s\n", r.sha256.c_str());
  std::printf("size:        %lld bytes\n", static_cast<long long>(r.size));
  std::printf("created:     %s\n", r.created.c_str());
  if (!r.description.empty()) std::printf("description: %s\n", r.description.c_str());
  std::printf("tags:        %s\n", join_map(r.tags).c_str());
  std::printf("properties:  %s\n", join_map(r.properties).c_str());
  std::string aliases;
  for (const auto& a : r.aliases) aliases += (aliases.empty() ? "" : ", ") + a;
  std::printf("aliases:     %s\n", aliases.empty() ? "-" : aliases.c_str());
  std::printf("producer:    %s %s\n", r.producer_name.empty() ? "(none)" : r.producer_name.c_str(),
              r.producer_version.c_str());
  std::printf("opsets:     ");
  for (const auto& [d, v] : r.opsets) std::printf(" %s=%lld", d.c_str(), static_cast<long long>(v));
  std::printf("\ninputs:\n");
  for (const auto& s : r.inputs) std::printf("  %-24s %s\n", s.name.c_str(), s.type_str().c_str());
  std::printf("outputs:\n");
  for (const auto& s : r.outputs) std::printf("  %-24s %s\n", s.name.c_str(), s.type_str().c_str());
  if (!r.warnings.empty()) {
    std::printf("warnings:\n");
    for (const auto& w : r.warnings) std::printf("  %s\n", w.c_str());
  }
}

}  // namespace pier::cli
