// Writes a container image as a single archive, with no container engine:
// an OCI image layout (oci-layout, index.json, blobs/sha256/...) that also
// carries Docker's manifest.json and repositories, as `docker save` does
// since Docker 25. So one archive is read by `skopeo inspect oci-archive:`,
// `umoci`, `docker load` and `podman load`.
//
// - oci format: gzip-compressed layers (application/vnd.oci.image.layer.v1.tar+gzip);
// - docker format: uncompressed layers (application/vnd.oci.image.layer.v1.tar),
//   as classic `docker save` archives hold them.
//
// Everything is deterministic: fixed timestamps (`created`), owners and
// modes, sorted entries, gzip without a name or time, JSON written in a
// fixed key order. The same inputs give a byte-identical archive.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "packaging/layer.h"

namespace pier::pkg {

enum class ImageFormat { kOci, kDocker };

struct ImageConfig {
  std::string architecture = "amd64";
  std::string os = "linux";
  int64_t created = 0;  // seconds since the epoch, for every timestamp
  std::string user;     // "uid:gid"
  std::vector<std::string> entrypoint, cmd, env;
  std::vector<std::string> exposed_ports;  // "8080/tcp"
  std::map<std::string, std::string> labels;
  std::string working_dir = "/";
  std::string stop_signal = "SIGTERM";
};

struct LayerInfo {
  std::string digest;   // "sha256:..." of the blob as stored
  std::string diff_id;  // "sha256:..." of the uncompressed tar
  uint64_t size = 0;    // of the blob
  std::string created_by;
};

struct ImageResult {
  std::string manifest_digest, config_digest;
  std::vector<LayerInfo> layers;
  uint64_t archive_bytes = 0;
};

// (what, done, total): called as layers are written, from the calling thread.
using ProgressFn = std::function<void(const std::string& what, uint64_t done, uint64_t total)>;

// Writes the archive to `out` atomically (a temporary file beside it,
// renamed into place; nothing is left behind on failure). `ref` is
// "REPO:TAG" (see validate_image_ref).
ImageResult write_image(const std::vector<Layer>& layers, const ImageConfig& config, const std::string& ref,
                        ImageFormat format, const std::filesystem::path& out, const ProgressFn& progress = {});

// Throws std::invalid_argument unless `ref` is a Docker image reference
// with a tag: [HOST[:PORT]/]PATH:TAG, PATH lowercase components.
void validate_image_ref(const std::string& ref);
// "docker.io/library/x:1" for "x:1", as Docker names an image it loads.
std::string normalize_image_ref(const std::string& ref);

// RFC 3339 UTC time of `seconds` ("1970-01-01T00:00:00Z").
std::string rfc3339(int64_t seconds);

}  // namespace pier::pkg
