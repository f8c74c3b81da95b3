#include "workspace/staging.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include "workspace/error.h"
#include "workspace/sha256.h"

namespace pier::ws {

namespace {

// A folder this young whose owner is alive may be between its mkdir and
// its flock; leave it alone.
constexpr auto kGrace = std::chrono::seconds(60);

Fd create_file(const fs::path& p) {
  Fd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) fail(ErrorKind::kIO, p.string() + ": cannot create (" + errno_text(errno) + ")");
  return fd;
}

void finish(int fd, const fs::path& p) {
  fsync_fd(fd, p);
  ::fchmod(fd, 0444);  // blobs are read-only
}

bool owner_alive(const fs::path& p) {
  const std::string n = p.filename().string();
  const size_t dash = n.find('-');
  if (dash == 0 || dash == std::string::npos) return false;
  long pid = 0;
  for (size_t i = 0; i < dash; ++i) {
    if (n[i] < '0' || n[i] > '9' || pid > 1 << 22) return false;
    pid = pid * 10 + (n[i] - '0');
  }
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

bool young(const fs::path& p) {
  std::error_code ec;
  const auto t = fs::last_write_time(p, ec);
  if (ec) return false;
  return fs::file_time_type::clock::now() - t < kGrace;
}

// The lock on a staging folder, if it is free now.
Fd try_lock(const fs::path& p) {
  Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return Fd();
  if (!lock_exclusive(fd.get(), /*wait=*/false)) return Fd();
  return fd;
}

}  // namespace

Staging::Staging(const fs::path& tmp_root) {
  create_dirs_durable(tmp_root);
  dir_ = tmp_root / (std::to_string(::getpid()) + "-" + random_hex(6));
  if (::mkdir(dir_.c_str(), 0700) != 0) fail(ErrorKind::kIO, dir_.string() + ": cannot create (" + errno_text(errno) + ")");
  try {
    lock_ = open_dir(dir_);
    lock_exclusive(lock_.get(), /*wait=*/true);
    file_ = dir_ / (random_hex(8) + ".onnx");
  } catch (...) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    throw;
  }
}

Staging::~Staging() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

Staging::Written Staging::write_from_file(const fs::path& src, const std::string& label) {
  Fd in = open_regular_file(src, label);
  Fd out = create_file(file_);
  Sha256 h;
  Written w;
  std::vector<char> buf(1 << 20);
  for (;;) {
    const size_t n = read_some(in.get(), buf.data(), buf.size(), label);
    if (n == 0) break;
    h.update(buf.data(), n);
    write_all(out.get(), buf.data(), n, file_);
    w.size += static_cast<int64_t>(n);
  }
  finish(out.get(), file_);
  w.sha256 = h.hex();
  return w;
}

Staging::Written Staging::write_bytes(std::string_view bytes) {
  Fd out = create_file(file_);
  write_all(out.get(), bytes.data(), bytes.size(), file_);
  finish(out.get(), file_);
  return Written{sha256_hex(bytes), static_cast<int64_t>(bytes.size())};
}

std::vector<StagingEntry> list_staging(const fs::path& tmp_root) {
  std::vector<StagingEntry> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(tmp_root, ec)) {
    StagingEntry s;
    s.path = e.path();
    if (e.is_directory(ec) && !e.is_symlink(ec)) s.active = !try_lock(s.path) || (young(s.path) && owner_alive(s.path));
    out.push_back(std::move(s));
  }
  return out;
}

bool remove_stale_staging(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(path, ec))) {
    Fd lock = try_lock(path);
    if (!lock || (young(path) && owner_alive(path))) return false;
    fs::remove_all(path, ec);  // while holding the lock
    return !ec;
  }
  return fs::remove(path, ec) && !ec;
}

}  // namespace pier::ws
