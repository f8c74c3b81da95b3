#include "packaging/layer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace pier::pkg {

namespace fs = std::filesystem;

std::string image_path(const std::string& host_path) {
  std::string p = fs::path(host_path).lexically_normal().generic_string();
  while (!p.empty() && p.front() == '/') p.erase(0, 1);
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p.empty() || p == "." || p.rfind("..", 0) == 0) throw std::invalid_argument("not a path inside the image: \"" + host_path + "\"");
  return p;
}

void Layer::add(Entry e) {
  e.path = image_path(e.path);
  auto it = entries_.find(e.path);
  if (it != entries_.end()) {
    const Entry& o = it->second;
    const bool same = o.type == e.type && o.mode == e.mode && o.uid == e.uid && o.gid == e.gid &&
                      o.source == e.source && o.content == e.content && o.target == e.target;
    if (same) return;
    if (o.type == EntryType::kDir && e.type == EntryType::kDir && o.mode == 0755 && o.uid == 0 && o.gid == 0) {
      it->second = std::move(e);  // an implied parent folder, now given explicitly
      return;
    }
    throw std::runtime_error("the image would hold two different entries at /" + e.path);
  }
  add_parents(e.path);
  entries_.emplace(e.path, std::move(e));
}

void Layer::add_parents(const std::string& path) {
  for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    const std::string parent = path.substr(0, slash);
    auto it = entries_.find(parent);
    if (it == entries_.end()) {
      Entry d;
      d.type = EntryType::kDir;
      d.path = parent;
      d.mode = 0755;
      entries_.emplace(parent, std::move(d));
    } else if (it->second.type != EntryType::kDir) {
      throw std::runtime_error("the image would hold /" + parent + " both as a folder and as a file or link");
    }
  }
}

void Layer::add_dir(const std::string& path, uint32_t mode, uint32_t uid, uint32_t gid) {
  Entry e;
  e.type = EntryType::kDir;
  e.path = path;
  e.mode = mode;
  e.uid = uid;
  e.gid = gid;
  add(std::move(e));
}

void Layer::add_content(const std::string& path, std::string content, uint32_t mode) {
  Entry e;
  e.path = path;
  e.content = std::move(content);
  e.mode = mode;
  add(std::move(e));
}

void Layer::add_host_file(const std::string& path, const std::string& host, std::string expect_sha256) {
  struct stat st{};
  if (::stat(host.c_str(), &st) != 0) throw std::runtime_error(host + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(host + ": not a regular file");
  Entry e;
  e.path = path;
  e.source = host;
  e.mode = (st.st_mode & 0111) ? 0755 : 0644;
  e.expect_sha256 = std::move(expect_sha256);
  add(std::move(e));
}

std::string Layer::add_host_path(const std::string& host_path) {
  if (host_path.empty() || host_path.front() != '/') throw std::invalid_argument("not an absolute path: " + host_path);
  // Walk the components; a component that is a link is recorded as a link
  // and replaced by its target, and the walk goes on from there.
  std::vector<std::string> todo;
  for (const auto& c : fs::path(host_path).lexically_normal()) {
    const std::string s = c.generic_string();
    if (s != "/" && !s.empty()) todo.push_back(s);
  }
  std::reverse(todo.begin(), todo.end());
  std::string cur;  // resolved so far, "" for the root
  int links = 0;
  while (!todo.empty()) {
    const std::string c = todo.back();
    todo.pop_back();
    if (c == ".") continue;
    if (c == "..") {
      const size_t s = cur.rfind('/');
      cur = s == std::string::npos ? "" : cur.substr(0, s);
      continue;
    }
    const std::string next = cur + "/" + c;
    struct stat st{};
    if (::lstat(next.c_str(), &st) != 0) throw std::runtime_error(next + ": " + std::strerror(errno));
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) throw std::runtime_error(host_path + ": too many levels of symbolic links");
      std::string target(static_cast<size_t>(st.st_size) + 256, '\0');
      const ssize_t n = ::readlink(next.c_str(), target.data(), target.size());
      if (n < 0) throw std::runtime_error(next + ": " + std::strerror(errno));
      target.resize(static_cast<size_t>(n));
      Entry e;
      e.type = EntryType::kSymlink;
      e.path = next;
      e.mode = 0777;
      e.target = target;
      add(std::move(e));
      std::vector<std::string> parts;
      for (const auto& t : fs::path(target)) {
        const std::string s = t.generic_string();
        if (s != "/" && !s.empty()) parts.push_back(s);
      }
      if (!target.empty() && target.front() == '/') cur.clear();
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.push_back(*it);
      continue;
    }
    if (todo.empty()) {
      if (!S_ISREG(st.st_mode)) throw std::runtime_error(next + ": not a regular file");
      add_host_file(next, next);
      return next;
    }
    if (!S_ISDIR(st.st_mode)) throw std::runtime_error(next + ": not a folder");
    cur = next;
  }
  throw std::runtime_error(host_path + ": not a file");
}

std::vector<Entry> Layer::entries() const {
  std::vector<Entry> out;
  out.reserve(entries_.size());
  for (const auto& [p, e] : entries_) out.push_back(e);  // std::map: sorted by path
  return out;
}

uint64_t Layer::content_bytes() const {
  uint64_t n = 0;
  for (const auto& [p, e] : entries_) {
    if (e.type != EntryType::kFile) continue;
    if (e.source.empty()) {
      n += e.content.size();
    } else {
      struct stat st{};
      if (::stat(e.source.c_str(), &st) == 0) n += static_cast<uint64_t>(st.st_size);
    }
  }
  return n;
}

}  // namespace pier::pkg
