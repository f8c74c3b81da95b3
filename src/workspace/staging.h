// Staging folders: each register copies the model into its own folder
// under ROOT/tmp/ (named PID-RANDOM, locked with flock while the register
// runs), validates and hashes that copy, and links it into the blob store.
// A folder whose lock is free was left by a register that died; gc removes
// it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "workspace/fs_util.h"

namespace pier::ws {

class Staging {
 public:
  explicit Staging(const fs::path& tmp_root);
  ~Staging();
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;

  // The model's copy. Its name is random, so that external-data references
  // in the model can never resolve to it or to anything beside it.
  const fs::path& file() const { return file_; }
  const fs::path& dir() const { return dir_; }

  struct Written {
    std::string sha256;
    int64_t size = 0;
  };
  // Copies `src` into file(), hashing as it goes; fsyncs. `label` names the
  // source in messages.
  Written write_from_file(const fs::path& src, const std::string& label);
  Written write_bytes(std::string_view bytes);

 private:
  Fd lock_;
  fs::path dir_, file_;
};

struct StagingEntry {
  fs::path path;
  bool active = false;  // a live register holds it
};
std::vector<StagingEntry> list_staging(const fs::path& tmp_root);
// Removes a staging entry that is not active; false when it became active
// or could not be removed.
bool remove_stale_staging(const fs::path& path);

}  // namespace pier::ws
