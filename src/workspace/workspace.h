// A workspace on disk, and how commands find it.
//
//   ROOT/workspace.json        marker: {"format": 1, "created": ...}, written last by init
//   ROOT/registry.db           SQLite registry (WAL mode: also -wal and -shm files)
//   ROOT/blobs/sha256/ab/cd…   model files, named by their sha256
//   ROOT/tmp/                  staging folders of registers in progress
//
// A project points at its workspace with PROJECT/.pier/config.json:
//   {"workspace": "pier-workspace"}   (relative to PROJECT, or absolute)
#pragma once

#include <filesystem>
#include <string>

namespace pier::ws {

namespace fs = std::filesystem;

struct WorkspacePaths {
  fs::path root;  // absolute
  fs::path marker() const { return root / "workspace.json"; }
  fs::path db() const { return root / "registry.db"; }
  fs::path blobs() const { return root / "blobs" / "sha256"; }
  fs::path tmp() const { return root / "tmp"; }
};

inline constexpr const char* kDefaultWorkspaceDir = "pier-workspace";
inline constexpr const char* kWorkspaceEnv = "PIER_WORKSPACE";

struct InitResult {
  WorkspacePaths paths;
  bool created = false;  // false: it was a workspace already
};
// Creates the workspace (folders, database, marker). An existing workspace
// is left as it is; a non-empty folder that is not one is refused.
InitResult init_workspace(const fs::path& dir);

// Writes DIR/.pier/config.json pointing at `root` (relative to DIR when
// root lies inside DIR). Returns the config file's path.
fs::path write_config(const fs::path& dir, const fs::path& root);

// Throws Error(kNotFound) unless `root` holds a workspace.
WorkspacePaths open_workspace(const fs::path& root);

struct Located {
  WorkspacePaths paths;
  std::string source;  // "--workspace", "$PIER_WORKSPACE" or the config file's path
};
// Finds the workspace: `flag` (from --workspace) when not empty, then
// $PIER_WORKSPACE, then .pier/config.json in `start` or any parent.
Located locate_workspace(const std::string& flag, const fs::path& start = fs::current_path());

}  // namespace pier::ws
