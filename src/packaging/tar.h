// A tar writer (POSIX ustar, with pax extended headers for long names) that
// writes entries exactly as given: the caller fixes every timestamp, owner
// and mode, so the same entries always give the same bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace pier::pkg {

// Receives the archive's bytes in order.
using Sink = std::function<void(const char* data, size_t n)>;

struct TarHeader {
  std::string path;  // relative, '/'-separated, no leading '/' (a directory without the trailing '/')
  uint32_t mode = 0644;
  uint32_t uid = 0, gid = 0;
  int64_t mtime = 0;  // seconds since the epoch
};

class TarWriter {
 public:
  explicit TarWriter(Sink sink) : sink_(std::move(sink)) {}

  void directory(const TarHeader& h);
  void symlink(const TarHeader& h, std::string_view target);
  // A regular file of `size` bytes; `fill` must send exactly that many to
  // the sink it is given (the writer pads the last block).
  void file(const TarHeader& h, uint64_t size, const std::function<void(const Sink&)>& fill);
  void file(const TarHeader& h, std::string_view content);
  // The two zero blocks that end an archive.
  void finish();
  uint64_t bytes() const { return written_; }

 private:
  void header(const TarHeader& h, char type, uint64_t size, std::string_view link);
  void put(const char* p, size_t n);
  void pad(uint64_t size);

  Sink sink_;
  uint64_t written_ = 0;
};

}  // namespace pier::pkg
