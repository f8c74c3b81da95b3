#include "packaging/image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <regex>
#include <stdexcept>

#include "common/sha256.h"
#include "packaging/gzip.h"
#include "packaging/tar.h"

namespace pier::pkg {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kIndexType = "application/vnd.oci.image.index.v1+json";
constexpr const char* kConfigType = "application/vnd.oci.image.config.v1+json";
constexpr const char* kLayerGzipType = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr const char* kLayerTarType = "application/vnd.oci.image.layer.v1.tar";

[[noreturn]] void io_fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

// A file written through a descriptor, with every error reported.
class OutFile {
 public:
  explicit OutFile(const fs::path& p) : path_(p) {
    fd_ = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) io_fail("cannot write " + p.string());
  }
  ~OutFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  void write(const char* p, size_t n) {
    while (n) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        io_fail("cannot write " + path_.string());
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  }
  void close(bool sync) {
    if (sync && ::fsync(fd_) != 0) io_fail("cannot write " + path_.string());
    if (::close(fd_) != 0) {
      fd_ = -1;
      io_fail("cannot write " + path_.string());
    }
    fd_ = -1;
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

// Reads a host file in pieces.
void read_file(const std::string& path, const std::function<void(const char*, size_t)>& fn) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) io_fail("cannot read " + path);
  std::unique_ptr<int, void (*)(int*)> guard(new int(fd), [](int* f) {
    ::close(*f);
    delete f;
  });
  std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      io_fail("cannot read " + path);
    }
    if (n == 0) return;
    fn(buf.data(), static_cast<size_t>(n));
  }
}

uint64_t file_size(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) io_fail("cannot read " + path);
  return static_cast<uint64_t>(st.st_size);
}

// Removes a folder tree when it goes out of scope.
struct TempDir {
  fs::path path;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, const std::string& s) { w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size())); }
void key(Writer& w, const char* k) { w.Key(k); }
void strings(Writer& w, const std::vector<std::string>& v) {
  w.StartArray();
  for (const auto& s : v) str(w, s);
  w.EndArray();
}

struct Blob {
  std::string hex;  // sha256
  uint64_t size = 0;
  fs::path file;         // on disk, or
  std::string content;   // in memory
};

Blob memory_blob(std::string content) {
  Blob b;
  b.hex = sha256_hex(content);
  b.size = content.size();
  b.content = std::move(content);
  return b;
}

void descriptor(Writer& w, const char* media_type, const Blob& b) {
  w.StartObject();
  key(w, "mediaType");
  w.String(media_type);
  key(w, "digest");
  str(w, "sha256:" + b.hex);
  key(w, "size");
  w.Uint64(b.size);
}

}  // namespace

std::string rfc3339(int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void validate_image_ref(const std::string& ref) {
  // Docker's grammar: [domain/]path-component(/path-component)*:tag
  static const std::regex re(
      R"(^(?:((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?)/)?)"
      R"(([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*))"
      R"(:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$)");
  if (ref.size() > 255 || !std::regex_match(ref, re))
    throw std::invalid_argument("\"" + ref +
                                "\" is not an image reference REPO:TAG (REPO: lowercase letters, digits and . _ - "
                                "separated by /, optionally after a registry host; TAG: up to 128 letters, digits, "
                                "_ . -)");
}

std::string normalize_image_ref(const std::string& ref) {
  const size_t slash = ref.find('/');
  if (slash != std::string::npos) {
    const std::string first = ref.substr(0, slash);
    if (first.find_first_of(".:") != std::string::npos || first == "localhost") return ref;
    return "docker.io/" + ref;
  }
  return "docker.io/library/" + ref;
}

ImageResult write_image(const std::vector<Layer>& layers, const ImageConfig& config, const std::string& ref,
                        ImageFormat format, const fs::path& out_arg, const ProgressFn& progress) {
  validate_image_ref(ref);
  const fs::path out = fs::absolute(out_arg);
  if (out.filename().empty()) throw std::invalid_argument("the output must be a file: " + out_arg.string());
  {
    std::error_code ec;
    if (fs::is_directory(out, ec)) throw std::invalid_argument(out.string() + " is a folder; give a file name");
    if (!fs::is_directory(out.parent_path(), ec))
      throw std::runtime_error("cannot write " + out.string() + ": the folder " + out.parent_path().string() +
                               " does not exist");
  }
  TempDir tmp;
  {
    std::string tmpl = (out.parent_path() / ("." + out.filename().string() + ".tmp-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) io_fail("cannot write " + out.string());
    tmp.path = tmpl;
  }
  const bool gzip = format == ImageFormat::kOci;
  ImageResult result;
  std::vector<Blob> layer_blobs;

  uint64_t total = 0;
  for (const auto& l : layers) total += l.content_bytes();
  uint64_t done = 0;
  auto report = [&](const std::string& what) {
    if (progress) progress(what, done, total);
  };

  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& layer = layers[i];
    const fs::path file = tmp.path / ("layer-" + std::to_string(i));
    OutFile f(file);
    Sha256 diff, blob_hash;
    uint64_t blob_size = 0;
    auto to_file = [&](const char* p, size_t n) {
      blob_hash.update(p, n);
      blob_size += n;
      f.write(p, n);
    };
    std::unique_ptr<GzipWriter> gz;
    if (gzip) gz = std::make_unique<GzipWriter>(to_file);
    TarWriter tar([&](const char* p, size_t n) {
      diff.update(p, n);
      if (gz) gz->write(p, n);
      else to_file(p, n);
    });
    const std::string what = layer.created_by().empty() ? "layer " + std::to_string(i + 1) : layer.created_by();
    report(what);
    for (const Entry& e : layer.entries()) {
      TarHeader h;
      h.path = e.path;
      h.mode = e.mode;
      h.uid = e.uid;
      h.gid = e.gid;
      h.mtime = config.created;
      switch (e.type) {
        case EntryType::kDir: tar.directory(h); break;
        case EntryType::kSymlink: tar.symlink(h, e.target); break;
        case EntryType::kFile:
          if (e.source.empty()) {
            tar.file(h, e.content);
            done += e.content.size();
          } else {
            const uint64_t size = file_size(e.source);
            Sha256 check;
            tar.file(h, size, [&](const Sink& sink) {
              read_file(e.source, [&](const char* p, size_t n) {
                if (!e.expect_sha256.empty()) check.update(p, n);
                sink(p, n);
                done += n;
                report(what);
              });
            });
            if (!e.expect_sha256.empty() && check.hex() != e.expect_sha256)
              throw std::runtime_error(e.source + ": its content does not match its recorded sha256 " +
                                       e.expect_sha256 + " (run pier workspace check)");
          }
          break;
      }
    }
    tar.finish();
    if (gz) gz->finish();
    f.close(false);
    Blob b;
    b.file = file;
    b.size = blob_size;
    b.hex = blob_hash.hex();
    LayerInfo li;
    li.diff_id = "sha256:" + diff.hex();
    li.digest = "sha256:" + b.hex;
    li.size = blob_size;
    li.created_by = layer.created_by();
    result.layers.push_back(li);
    layer_blobs.push_back(std::move(b));
  }
  report("manifests");

  // Image configuration.
  const std::string created = rfc3339(config.created);
  rapidjson::StringBuffer cb;
  {
    Writer w(cb);
    w.StartObject();
    key(w, "created");
    str(w, created);
    key(w, "architecture");
    str(w, config.architecture);
    key(w, "os");
    str(w, config.os);
    key(w, "config");
    w.StartObject();
    if (!config.user.empty()) {
      key(w, "User");
      str(w, config.user);
    }
    if (!config.exposed_ports.empty()) {
      key(w, "ExposedPorts");
      w.StartObject();
      for (const auto& p : config.exposed_ports) {
        str(w, p);
        w.StartObject();
        w.EndObject();
      }
      w.EndObject();
    }
    key(w, "Env");
    strings(w, config.env);
    key(w, "Entrypoint");
    strings(w, config.entrypoint);
    key(w, "Cmd");
    strings(w, config.cmd);
    key(w, "WorkingDir");
    str(w, config.working_dir);
    key(w, "Labels");
    w.StartObject();
    for (const auto& [k, v] : config.labels) {
      str(w, k);
      str(w, v);
    }
    w.EndObject();
    key(w, "StopSignal");
    str(w, config.stop_signal);
    w.EndObject();
    key(w, "rootfs");
    w.StartObject();
    key(w, "type");
    w.String("layers");
    key(w, "diff_ids");
    w.StartArray();
    for (const auto& l : result.layers) str(w, l.diff_id);
    w.EndArray();
    w.EndObject();
    key(w, "history");
    w.StartArray();
    for (const auto& l : result.layers) {
      w.StartObject();
      key(w, "created");
      str(w, created);
      key(w, "created_by");
      str(w, "pier image build: " + l.created_by);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  const Blob config_blob = memory_blob(cb.GetString());
  result.config_digest = "sha256:" + config_blob.hex;

  // Image manifest.
  rapidjson::StringBuffer mb;
  {
    Writer w(mb);
    w.StartObject();
    key(w, "schemaVersion");
    w.Int(2);
    key(w, "mediaType");
    w.String(kManifestType);
    key(w, "config");
    descriptor(w, kConfigType, config_blob);
    w.EndObject();
    key(w, "layers");
    w.StartArray();
    for (const auto& b : layer_blobs) {
      descriptor(w, gzip ? kLayerGzipType : kLayerTarType, b);
      w.EndObject();
    }
    w.EndArray();
    key(w, "annotations");
    w.StartObject();
    key(w, "org.opencontainers.image.created");
    str(w, created);
    w.EndObject();
    w.EndObject();
  }
  const Blob manifest_blob = memory_blob(mb.GetString());
  result.manifest_digest = "sha256:" + manifest_blob.hex;

  // index.json: the manifest under its reference name.
  rapidjson::StringBuffer ib;
  {
    Writer w(ib);
    w.StartObject();
    key(w, "schemaVersion");
    w.Int(2);
    key(w, "mediaType");
    w.String(kIndexType);
    key(w, "manifests");
    w.StartArray();
    descriptor(w, kManifestType, manifest_blob);
    key(w, "annotations");
    w.StartObject();
    key(w, "io.containerd.image.name");
    str(w, normalize_image_ref(ref));
    key(w, "org.opencontainers.image.ref.name");
    str(w, ref);
    w.EndObject();
    w.EndObject();
    w.EndArray();
    w.EndObject();
  }
  // Docker's manifest.json and repositories.
  rapidjson::StringBuffer db;
  {
    Writer w(db);
    w.StartArray();
    w.StartObject();
    key(w, "Config");
    str(w, "blobs/sha256/" + config_blob.hex);
    key(w, "RepoTags");
    strings(w, {ref});
    key(w, "Layers");
    w.StartArray();
    for (const auto& b : layer_blobs) str(w, "blobs/sha256/" + b.hex);
    w.EndArray();
    w.EndObject();
    w.EndArray();
  }
  rapidjson::StringBuffer rb;
  {
    const size_t colon = ref.rfind(':');
    Writer w(rb);
    w.StartObject();
    str(w, ref.substr(0, colon));
    w.StartObject();
    str(w, ref.substr(colon + 1));
    str(w, layer_blobs.empty() ? config_blob.hex : layer_blobs.back().hex);
    w.EndObject();
    w.EndObject();
  }

  // The archive: folders, blobs by digest, then the top-level files, sorted.
  std::map<std::string, const Blob*> blobs;
  for (const auto& b : layer_blobs) blobs.emplace(b.hex, &b);
  blobs.emplace(config_blob.hex, &config_blob);
  blobs.emplace(manifest_blob.hex, &manifest_blob);
  const fs::path staged = tmp.path / "image.tar";
  {
    OutFile f(staged);
    TarWriter tar([&](const char* p, size_t n) { f.write(p, n); });
    auto hdr = [&](const std::string& path, uint32_t mode) {
      TarHeader h;
      h.path = path;
      h.mode = mode;
      h.mtime = config.created;
      return h;
    };
    tar.directory(hdr("blobs", 0755));
    tar.directory(hdr("blobs/sha256", 0755));
    for (const auto& [hex, b] : blobs) {
      const auto h = hdr("blobs/sha256/" + hex, 0644);
      if (b->file.empty()) {
        tar.file(h, b->content);
      } else {
        tar.file(h, b->size, [&](const Sink& sink) { read_file(b->file.string(), sink); });
      }
    }
    tar.file(hdr("index.json", 0644), ib.GetString());
    tar.file(hdr("manifest.json", 0644), db.GetString());
    tar.file(hdr("oci-layout", 0644), R"({"imageLayoutVersion":"1.0.0"})");
    tar.file(hdr("repositories", 0644), rb.GetString());
    tar.finish();
    result.archive_bytes = tar.bytes();
    f.close(true);
  }
  if (::rename(staged.c_str(), out.c_str()) != 0) io_fail("cannot write " + out.string());
  return result;
}

}  // namespace pier::pkg
