// The model registry of one workspace: register, look up, list, tag,
// alias, delete, download; check and gc (maintenance.cc).
//
// A Registry holds one SQLite connection: use one per thread. Several
// processes may use one workspace at once; writers take SQLite's write lock
// (BEGIN IMMEDIATE) and wait for each other up to the busy timeout.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "workspace/blob_store.h"
#include "workspace/names.h"
#include "workspace/record.h"
#include "workspace/workspace.h"

namespace pier::ws {

class Fd;  // fs_util.h

class Db;

struct RegisterRequest {
  std::string name;
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> properties;
  std::string description;
};

struct TagFilter {
  std::string key;
  std::optional<std::string> value;  // none: any value
};

struct ListFilter {
  std::string name;             // "" for every model
  std::vector<TagFilter> tags;  // all must match
};

struct DeleteResult {
  std::string name;
  std::vector<int64_t> versions;         // deleted versions
  std::vector<std::string> blobs_removed;  // sha256 of blobs no version uses any more
};

struct CheckReport {
  std::vector<std::string> errors;  // real inconsistencies
  std::vector<std::string> info;    // harmless leftovers (orphan blobs, staging folders)
  int64_t models = 0, versions = 0, blobs = 0;
  bool ok() const { return errors.empty(); }
};

struct GcReport {
  std::vector<std::string> blobs_removed;  // sha256
  std::vector<std::string> staging_removed;  // paths
  int64_t bytes_freed = 0;
};

class Registry {
 public:
  explicit Registry(WorkspacePaths paths);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  const WorkspacePaths& paths() const { return paths_; }
  const BlobStore& blobs() const { return blobs_; }

  // Validates the request and the model (on the stored copy), stores the
  // file by content and commits the next version of the name. Nothing is
  // committed when any step fails.
  ModelRecord register_file(const fs::path& src, const RegisterRequest& req);
  ModelRecord register_bytes(std::string_view bytes, const RegisterRequest& req);

  // NAME: the latest version; NAME:VERSION; NAME@ALIAS.
  ModelRecord get(const ModelRef& ref);
  // Ordered by name, then version.
  std::vector<ModelRecord> list(const ListFilter& filter);
  // alias -> version
  std::map<std::string, int64_t> aliases(const std::string& name);

  // Sets and removes tags of the version `ref` names (NAME alone is refused).
  // With `must_exist`, removing a tag that is not set is an error.
  ModelRecord update_tags(const ModelRef& ref, const std::map<std::string, std::string>& set,
                          const std::vector<std::string>& remove, bool must_exist);
  // Points ALIAS at VERSION; returns the version it pointed at before.
  std::optional<int64_t> set_alias(const std::string& name, const std::string& alias, int64_t version);
  // Returns the version the alias pointed at; Error(kNotFound) when none.
  int64_t remove_alias(const std::string& name, const std::string& alias);

  // NAME deletes the model and all its versions; NAME:VERSION or NAME@ALIAS
  // one version. Blobs no version uses any more are removed. A version that
  // a deployment serves is refused (kConflict).
  DeleteResult remove(const ModelRef& ref);

  // Reads the stored file, checking its digest as it goes; `sink` gets the
  // bytes in pieces. Error(kCorrupt) when the content does not match (the
  // sink may have seen part of it).
  void read_blob(const ModelRecord& rec, const std::function<void(const char*, size_t)>& sink);
  // The stored file of `rec`, open for reading at offset 0, once its
  // sha256 and size have been checked (kCorrupt otherwise). The caller owns
  // the descriptor; the file stays readable through it even if the model
  // is deleted meanwhile.
  int open_blob(const ModelRecord& rec);
  // Writes the stored file to `out` (a file, or a folder to put
  // NAME-VERSION.onnx in) atomically; returns the path written.
  fs::path download(const ModelRecord& rec, const fs::path& out);

  CheckReport check();
  GcReport gc();

 private:
  ModelRecord register_staged(class Staging& st, const std::string& sha, int64_t size, const std::string& label,
                              const std::string& source_dir, const RegisterRequest& req);
  int64_t resolve(const ModelRef& ref);  // the version ref names; inside a transaction
  ModelRecord load(const std::string& name, int64_t version);
  void remove_unused_blobs(const std::vector<std::string>& shas, DeleteResult& out);
  // Error(kConflict) when a deployment serves NAME:VERSION (any version when 0).
  void refuse_if_deployed(const std::string& name, int64_t version);
  // read_blob(), returning the file still open (at its end).
  Fd verified_blob(const ModelRecord& rec, const std::function<void(const char*, size_t)>& sink);

  WorkspacePaths paths_;
  BlobStore blobs_;
  std::unique_ptr<Db> db_;
};

}  // namespace pier::ws
