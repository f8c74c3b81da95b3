#include "workspace/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "workspace/error.h"
#include "workspace/fs_util.h"
#include "workspace/sha256.h"

namespace pier::ws {

namespace {

bool is_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Copies src to a new file dst (O_EXCL) and fsyncs it.
void copy_durable(const fs::path& src, const fs::path& dst) {
  Fd in = open_regular_file(src, src.string());
  Fd out(::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (!out) fail(ErrorKind::kIO, dst.string() + ": cannot create (" + errno_text(errno) + ")");
  std::vector<char> buf(1 << 20);
  for (;;) {
    const size_t n = read_some(in.get(), buf.data(), buf.size(), src);
    if (n == 0) break;
    write_all(out.get(), buf.data(), n, dst);
  }
  fsync_fd(out.get(), dst);
}

}  // namespace

fs::path BlobStore::path_for(std::string_view sha) const {
  if (!is_sha256_hex(sha)) fail(ErrorKind::kCorrupt, "not a sha256 digest: \"" + std::string(sha) + "\"");
  return dir_ / std::string(sha.substr(0, 2)) / std::string(sha.substr(2));
}

int64_t BlobStore::size_of(std::string_view sha) const {
  struct stat st {};
  if (::stat(path_for(sha).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  return static_cast<int64_t>(st.st_size);
}

void BlobStore::put(const fs::path& staged, std::string_view sha, int64_t size) const {
  if (size_of(sha) == size) return;  // the same content is stored already
  const fs::path target = path_for(sha);
  const fs::path folder = target.parent_path();
  create_dirs_durable(folder);
  if (::link(staged.c_str(), target.c_str()) == 0) {
    fsync_dir(folder);
    return;
  }
  const int err = errno;
  if (err == EEXIST && size_of(sha) == size) return;  // another register put it there meanwhile
  // Either a damaged blob is in the way (replace it atomically), or the file
  // system has no hard links (copy).
  const fs::path tmp = temp_path_beside(target);
  if (::link(staged.c_str(), tmp.c_str()) != 0) copy_durable(staged, tmp);
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    fail(ErrorKind::kIO, target.string() + ": cannot move the blob into place (" + errno_text(e) + ")");
  }
  fsync_dir(folder);
}

bool BlobStore::remove(std::string_view sha) const {
  const fs::path p = path_for(sha);
  if (::unlink(p.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  fail(ErrorKind::kIO, p.string() + ": cannot remove (" + errno_text(errno) + ")");
}

std::string BlobStore::hash(std::string_view sha) const {
  const fs::path p = path_for(sha);
  Fd fd = open_regular_file(p, p.string());
  Sha256 h;
  std::vector<char> buf(1 << 20);
  for (;;) {
    const size_t n = read_some(fd.get(), buf.data(), buf.size(), p);
    if (n == 0) break;
    h.update(buf.data(), n);
  }
  return h.hex();
}

std::vector<BlobStore::Entry> BlobStore::list() const {
  std::vector<Entry> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec)) continue;
    Entry e;
    e.path = it->path();
    struct stat st {};
    if (::lstat(e.path.c_str(), &st) == 0) e.size = static_cast<int64_t>(st.st_size);
    const fs::path rel = e.path.lexically_relative(dir_);
    const std::string folder = rel.parent_path().string();
    const std::string file = rel.filename().string();
    if (S_ISREG(st.st_mode) && folder.size() == 2 && file.size() == 62 && is_hex(folder) && is_hex(file))
      e.sha = folder + file;
    out.push_back(std::move(e));
  }
  if (ec) fail(ErrorKind::kIO, dir_.string() + ": cannot list (" + ec.message() + ")");
  return out;
}

}  // namespace pier::ws
