// POSIX file helpers for crash-safe writes: RAII descriptors, full reads and
// writes, fsync of files and directories, atomic replace, advisory locks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace pier::ws {

namespace fs = std::filesystem;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_ = -1;
};

// strerror(errno) for messages.
std::string errno_text(int err);

// Opens for reading; Error(kNotFound) when missing, kInvalidArgument when
// it is a directory or not a regular file, kIO otherwise.
Fd open_regular_file(const fs::path& p, const std::string& what);
Fd open_dir(const fs::path& p);

void write_all(int fd, const void* data, size_t n, const fs::path& label);
// Reads up to n bytes, retrying on EINTR; returns 0 at end of file.
size_t read_some(int fd, void* data, size_t n, const fs::path& label);
void fsync_fd(int fd, const fs::path& label);
// Makes a directory entry (a create, rename, link or unlink in it) durable.
void fsync_dir(const fs::path& dir);
// mkdir -p, fsyncing each parent whose entry was created.
void create_dirs_durable(const fs::path& dir);

// Writes `data` to `target` atomically: temp file beside it, fsync, rename,
// fsync of the directory.
void write_file_atomic(const fs::path& target, std::string_view data);

// A hidden temporary name beside `target`: DIR/.NAME.tmp-RANDOM.
fs::path temp_path_beside(const fs::path& target);

// Hex of n random bytes from the kernel's generator.
std::string random_hex(size_t n);

// flock(LOCK_EX); with `wait` false returns false when another process holds it.
bool lock_exclusive(int fd, bool wait);

}  // namespace pier::ws
