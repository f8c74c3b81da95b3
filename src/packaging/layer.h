// The files of an image layer, collected from the host or given inline, in
// the order a tar must hold them (sorted by path: a folder before what it
// holds), with parent folders added and every owner, mode and timestamp
// fixed so that the same inputs always give the same layer.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pier::pkg {

enum class EntryType { kDir, kFile, kSymlink };

struct Entry {
  EntryType type = EntryType::kFile;
  std::string path;  // in the image, without a leading '/'
  uint32_t mode = 0644;
  uint32_t uid = 0, gid = 0;
  std::string source;         // kFile: a host file to copy; when empty, `content` is the file
  std::string content;        // kFile without a source
  std::string expect_sha256;  // kFile from a source: checked while it is copied ("" for no check)
  std::string target;         // kSymlink: the link's target, as stored
};

class Layer {
 public:
  explicit Layer(std::string created_by = {}) : created_by_(std::move(created_by)) {}

  void add_dir(const std::string& path, uint32_t mode = 0755, uint32_t uid = 0, uint32_t gid = 0);
  void add_content(const std::string& path, std::string content, uint32_t mode = 0644);
  // The host file `host` at `path` in the image. Its mode is 0755 when the
  // host file is executable by anyone, else 0644.
  void add_host_file(const std::string& path, const std::string& host, std::string expect_sha256 = {});
  // The absolute host path at the same path in the image, with every
  // symbolic link on the way (in folders and the file itself) kept as a
  // link and followed to the real file, which is copied. Returns the real
  // file's host path.
  std::string add_host_path(const std::string& host_path);

  const std::string& created_by() const { return created_by_; }
  std::vector<Entry> entries() const;  // sorted by path
  uint64_t content_bytes() const;      // bytes of file content

 private:
  void add(Entry e);
  void add_parents(const std::string& path);

  std::string created_by_;
  std::map<std::string, Entry> entries_;
};

// Image path of a host path: without the leading '/', "." and ".." resolved
// lexically. Throws for "/" itself.
std::string image_path(const std::string& host_path);

}  // namespace pier::pkg
