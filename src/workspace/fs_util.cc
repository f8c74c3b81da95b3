#include "workspace/fs_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "workspace/error.h"

namespace pier::ws {

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

std::string errno_text(int err) { return std::strerror(err); }

Fd open_regular_file(const fs::path& p, const std::string& what) {
  Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT) fail(ErrorKind::kNotFound, what + ": no such file");
    if (err == EISDIR) fail(ErrorKind::kInvalidArgument, what + ": is a directory, not a file");
    fail(ErrorKind::kIO, what + ": cannot open (" + errno_text(err) + ")");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail(ErrorKind::kIO, what + ": cannot stat (" + errno_text(errno) + ")");
  if (S_ISDIR(st.st_mode)) fail(ErrorKind::kInvalidArgument, what + ": is a directory, not a file");
  if (!S_ISREG(st.st_mode)) fail(ErrorKind::kInvalidArgument, what + ": is not a regular file");
  return fd;
}

Fd open_dir(const fs::path& p) {
  Fd fd(::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) fail(ErrorKind::kIO, p.string() + ": cannot open directory (" + errno_text(errno) + ")");
  return fd;
}

void write_all(int fd, const void* data, size_t n, const fs::path& label) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t k = ::write(fd, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      fail(ErrorKind::kIO, label.string() + ": write failed (" + errno_text(errno) + ")");
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
}

size_t read_some(int fd, void* data, size_t n, const fs::path& label) {
  for (;;) {
    ssize_t k = ::read(fd, data, n);
    if (k >= 0) return static_cast<size_t>(k);
    if (errno != EINTR) fail(ErrorKind::kIO, label.string() + ": read failed (" + errno_text(errno) + ")");
  }
}

void fsync_fd(int fd, const fs::path& label) {
  if (::fsync(fd) != 0) fail(ErrorKind::kIO, label.string() + ": fsync failed (" + errno_text(errno) + ")");
}

void fsync_dir(const fs::path& dir) {
  Fd fd = open_dir(dir);
  fsync_fd(fd.get(), dir);
}

void create_dirs_durable(const fs::path& dir) {
  std::vector<fs::path> missing;
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) break;
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST)
      fail(ErrorKind::kIO, it->string() + ": cannot create directory (" + errno_text(errno) + ")");
    fs::path parent = it->parent_path();
    fsync_dir(parent.empty() ? fs::path(".") : parent);
  }
}

fs::path temp_path_beside(const fs::path& target) {
  std::string name = ".";
  name += target.filename().string();
  name += ".tmp-";
  name += random_hex(6);
  fs::path dir = target.parent_path();
  return dir.empty() ? fs::path(name) : dir / name;
}

void write_file_atomic(const fs::path& target, std::string_view data) {
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  const fs::path tmp = temp_path_beside(target);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) fail(ErrorKind::kIO, tmp.string() + ": cannot create (" + errno_text(errno) + ")");
  try {
    write_all(fd.get(), data.data(), data.size(), tmp);
    fsync_fd(fd.get(), tmp);
    fd = Fd();
    if (::rename(tmp.c_str(), target.c_str()) != 0)
      fail(ErrorKind::kIO, target.string() + ": cannot rename into place (" + errno_text(errno) + ")");
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_dir(dir);
}

std::string random_hex(size_t n) {
  std::vector<unsigned char> buf(n);
  size_t got = 0;
  while (got < n) {
    ssize_t k = ::getrandom(buf.data() + got, n - got, 0);
    if (k < 0) {
      if (errno == EINTR) continue;
      fail(ErrorKind::kIO, "getrandom failed (" + errno_text(errno) + ")");
    }
    got += static_cast<size_t>(k);
  }
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : buf) {
    out += digits[c >> 4];
    out += digits[c & 0xf];
  }
  return out;
}

bool lock_exclusive(int fd, bool wait) {
  for (;;) {
    if (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) == 0) return true;
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    fail(ErrorKind::kIO, "flock failed (" + errno_text(errno) + ")");
  }
}

}  // namespace pier::ws
