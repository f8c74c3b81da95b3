#include "packaging/pier_image.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "packaging/elf.h"

namespace pier::pkg {

std::string image_model_path(const ImageModel& m) {
  return std::string(kImageModels) + "/" + m.name + "-" + std::to_string(m.version) + ".onnx";
}

ImageResult build_pier_image(const PierImageOptions& opt, const std::filesystem::path& out,
                             const ProgressFn& progress) {
  if (opt.models.empty()) throw std::invalid_argument("an image needs at least one model");
  const ElfInfo elf = read_elf(opt.pier_binary);
  const Dependencies deps = find_dependencies(opt.pier_binary);

  std::vector<Layer> layers;
  // 1. A minimal system: users, groups, /tmp.
  Layer base("base: /etc/passwd, /etc/group, /tmp");
  const std::string uid = std::to_string(kImageUid);
  base.add_content("etc/passwd",
                   "root:x:0:0:root:/root:/sbin/nologin\n"
                   "pier:x:" + uid + ":" + uid + ":pier:/tmp:/sbin/nologin\n"
                   "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n");
  base.add_content("etc/group", "root:x:0:\npier:x:" + uid + ":\nnogroup:x:65534:\n");
  base.add_dir("tmp", 01777);
  base.add_dir(std::string(kImageModels).substr(1), 0755);
  layers.push_back(std::move(base));

  // 2. The loader and the shared libraries, at their host paths (links kept).
  Layer libs("shared libraries and the dynamic loader");
  std::vector<std::string> extra_dirs;  // folders the loader would not search by itself
  if (!deps.interpreter.empty()) libs.add_host_path(deps.interpreter);
  for (const auto& lib : deps.libraries) {
    libs.add_host_path(lib);
    const std::string dir = std::filesystem::path(lib).parent_path().string();
    if (std::find(deps.system_dirs.begin(), deps.system_dirs.end(), dir) == deps.system_dirs.end() &&
        std::find(extra_dirs.begin(), extra_dirs.end(), dir) == extra_dirs.end())
      extra_dirs.push_back(dir);
  }
  layers.push_back(std::move(libs));

  // 3. pier.
  Layer bin("pier " + opt.pier_version);
  bin.add_host_file(std::string(kImagePier).substr(1), opt.pier_binary);
  layers.push_back(std::move(bin));

  // 4. One layer per model, so that images sharing a model share its layer.
  ImageConfig cfg;
  cfg.architecture = elf.machine;
  cfg.created = opt.created;
  cfg.user = uid + ":" + uid;
  cfg.entrypoint = {kImagePier, "serve"};
  std::set<std::string> seen;
  for (size_t i = 0; i < opt.models.size(); ++i) {
    const ImageModel& m = opt.models[i];
    const std::string path = image_model_path(m);
    if (!seen.insert(path).second) continue;  // the same version named twice
    Layer ml("model " + m.name + ":" + std::to_string(m.version));
    ml.add_host_file(path.substr(1), m.file, m.sha256);
    layers.push_back(std::move(ml));
    cfg.entrypoint.insert(cfg.entrypoint.end(),
                          {"--model-file", path, "--name", m.name, "--model-version", std::to_string(m.version)});
    const std::string k = "io.pier.model." + std::to_string(seen.size() - 1) + ".";
    cfg.labels[k + "name"] = m.name;
    cfg.labels[k + "version"] = std::to_string(m.version);
    cfg.labels[k + "sha256"] = m.sha256;
  }
  // Host and port are the command, so `docker run IMAGE --port 9000 --host 0.0.0.0`
  // or a Kubernetes container's args replace them.
  cfg.cmd = {"--host", "0.0.0.0", "--port", std::to_string(opt.port)};
  cfg.exposed_ports = {std::to_string(opt.port) + "/tcp"};
  cfg.env = {"PATH=/usr/local/bin:/usr/bin:/bin",
             // pier serve would otherwise execute itself again to set this (docs/serving.md).
             "GLIBC_TUNABLES=glibc.malloc.tcache_count=128"};
  if (!extra_dirs.empty()) {
    std::string p;
    for (const auto& d : extra_dirs) p += (p.empty() ? "" : ":") + d;
    cfg.env.push_back("LD_LIBRARY_PATH=" + p);
  }
  cfg.labels["io.pier.version"] = opt.pier_version;
  cfg.labels["org.opencontainers.image.created"] = rfc3339(opt.created);
  cfg.labels["org.opencontainers.image.title"] = opt.ref.substr(0, opt.ref.rfind(':'));
  cfg.labels["org.opencontainers.image.description"] = "Pier scoring service";
  return write_image(layers, cfg, opt.ref, opt.format, out, progress);
}

}  // namespace pier::pkg
