// Content-addressed store of model files: blobs/sha256/ab/cdef… (the first
// two hex digits name a folder, the other 62 the file). Blobs are read-only
// and never change once in place; a blob is created by hard-linking an
// fsynced staging file (or copying it where links are not supported) and
// fsyncing the folder, so it is either absent or complete.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace pier::ws {

namespace fs = std::filesystem;

class BlobStore {
 public:
  explicit BlobStore(fs::path dir) : dir_(std::move(dir)) {}
  const fs::path& dir() const { return dir_; }
  fs::path path_for(std::string_view sha) const;

  // Puts the staged file (already fsynced) in place under `sha`, unless a
  // blob of the same size is there already. Durable when it returns.
  void put(const fs::path& staged, std::string_view sha, int64_t size) const;
  // Size of the blob, or -1 when it is missing (or not a regular file).
  int64_t size_of(std::string_view sha) const;
  // Removes the blob; false if it was not there.
  bool remove(std::string_view sha) const;
  // sha256 of the blob's content as it is now.
  std::string hash(std::string_view sha) const;

  struct Entry {
    fs::path path;
    std::string sha;  // "" when the file is not named like a blob
    int64_t size = 0;
  };
  // Every file under the store.
  std::vector<Entry> list() const;

 private:
  fs::path dir_;
};

}  // namespace pier::ws
