// pier image build: a container image (OCI layout archive, also loadable by
// docker and podman) of pier serving models from the workspace, written
// without any container engine (docs/deployment.md).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/commands.h"
#include "cli/ws_common.h"
#include "packaging/pier_image.h"
#include "pier/engine.h"
#include "workspace/error.h"

namespace pier::cli {

namespace {

struct ImageArgs {
  std::string workspace;
  std::vector<std::string> models;
  std::string tag, output, format = "oci";
  int port = 8080;
  bool json = false;
};

[[noreturn]] void usage(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

// A repository name from a model name: lowercase, other characters as '-'.
std::string default_ref(const ws::ModelRecord& r) {
  std::string repo;
  for (char c : r.name) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9');
    if (ok) repo += l;
    else if (!repo.empty() && repo.back() != '-') repo += '-';
  }
  while (!repo.empty() && repo.back() == '-') repo.pop_back();
  if (repo.empty()) repo = "model";
  return repo + ":" + std::to_string(r.version);
}

int64_t source_date_epoch() {
  const char* s = std::getenv("SOURCE_DATE_EPOCH");
  if (!s || !*s) return 0;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 10);
  if (*end || errno || v < 0 || v > 253402300799LL)
    usage(std::string("SOURCE_DATE_EPOCH must be a number of seconds since 1970, not \"") + s + "\"");
  return v;
}

std::string mb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

int build_command(const ImageArgs& a) {
  pkg::PierImageOptions opt;
  if (a.format == "oci") opt.format = pkg::ImageFormat::kOci;
  else if (a.format == "docker") opt.format = pkg::ImageFormat::kDocker;
  else usage("--format must be oci or docker");
  if (a.port < 1 || a.port > 65535) usage("--port must be 1-65535");
  opt.port = a.port;
  opt.created = source_date_epoch();
  opt.pier_version = version();
  std::error_code ec;
  opt.pier_binary = std::filesystem::canonical("/proc/self/exe", ec).string();
  if (ec) throw Error(ErrorCode::kIO, "cannot find the pier executable: " + ec.message());

  auto reg = open_registry(a.workspace);
  std::vector<ws::ModelRecord> records;
  for (const auto& ref : a.models) records.push_back(reg->get(ws::parse_ref(ref)));
  for (const auto& r : records) {
    pkg::ImageModel m;
    m.name = r.name;
    m.version = r.version;
    m.sha256 = r.sha256;
    m.file = reg->blobs().path_for(r.sha256).string();
    opt.models.push_back(m);
  }
  opt.ref = a.tag.empty() ? default_ref(records.front()) : a.tag;
  try {
    pkg::validate_image_ref(opt.ref);
  } catch (const std::invalid_argument& e) {
    usage(std::string("--tag: ") + e.what());
  }

  // Progress on a terminal only, at most ten times a second.
  const bool tty = ::isatty(STDERR_FILENO);
  auto last = std::chrono::steady_clock::time_point{};
  std::string last_what;
  pkg::ProgressFn progress;
  if (tty) {
    progress = [&](const std::string& what, uint64_t done, uint64_t total) {
      const auto now = std::chrono::steady_clock::now();
      if (what == last_what && now - last < std::chrono::milliseconds(100)) return;
      last = now;
      last_what = what;
      std::fprintf(stderr, "\r\033[Kpier: %s  %s / %s", what.c_str(), mb(done).c_str(), mb(total).c_str());
      std::fflush(stderr);
    };
  }
  pkg::ImageResult res;
  try {
    res = pkg::build_pier_image(opt, a.output, progress);
  } catch (const std::invalid_argument& e) {
    if (tty) std::fprintf(stderr, "\n");
    usage(e.what());
  } catch (...) {
    if (tty) std::fprintf(stderr, "\n");
    throw;
  }
  if (tty) std::fprintf(stderr, "\r\033[K");
  const std::string out = std::filesystem::absolute(a.output).string();
  if (a.json) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("path");
    w.String(out.c_str());
    w.Key("ref");
    w.String(opt.ref.c_str());
    w.Key("format");
    w.String(a.format.c_str());
    w.Key("manifest_digest");
    w.String(res.manifest_digest.c_str());
    w.Key("config_digest");
    w.String(res.config_digest.c_str());
    w.Key("size");
    w.Uint64(res.archive_bytes);
    w.Key("layers");
    w.StartArray();
    for (const auto& l : res.layers) {
      w.StartObject();
      w.Key("digest");
      w.String(l.digest.c_str());
      w.Key("diff_id");
      w.String(l.diff_id.c_str());
      w.Key("size");
      w.Uint64(l.size);
      w.Key("created_by");
      w.String(l.created_by.c_str());
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    std::printf("%s\n", sb.GetString());
  } else {
    std::printf("wrote %s: %s (%s, %zu layers, %s)\n", out.c_str(), opt.ref.c_str(), a.format.c_str(),
                res.layers.size(), mb(res.archive_bytes).c_str());
    for (const auto& l : res.layers)
      std::printf("  %s  %10s  %s\n", l.digest.substr(0, 19).c_str(), mb(l.size).c_str(), l.created_by.c_str());
    std::printf("manifest %s\n", res.manifest_digest.c_str());
  }
  return 0;
}

}  // namespace

void add_image_command(CLI::App& app, CommandRunner& runner) {
  auto a = std::make_shared<ImageArgs>();
  auto* image = app.add_subcommand("image", "Build container images of pier serving models (docs/deployment.md)");
  image->require_subcommand(1);
  auto* b = image->add_subcommand(
      "build",
      "Write an image archive, with no container engine: an OCI image layout (skopeo, umoci) that docker load and "
      "podman load also read. It holds pier, the shared libraries and loader it needs, the models, and runs "
      "\"pier serve --model-file ...\" as a non-root user. The same inputs give a byte-identical archive "
      "(timestamps from $SOURCE_DATE_EPOCH, else 1970)");
  add_workspace_flag(b, a->workspace);
  b->add_option("--model", a->models, "NAME, NAME:VERSION or NAME@ALIAS from the workspace; repeatable")
      ->required();
  b->add_option("--tag", a->tag,
                "Image reference REPO:TAG (default: the first model's name in lowercase, and its version)");
  b->add_option("-o,--output", a->output, "The archive to write (replaced atomically)")->required();
  b->add_option("--format", a->format,
                "oci: gzip-compressed layers; docker: uncompressed layers, as docker save writes them. Both hold "
                "an OCI layout and Docker's manifest.json")
      ->capture_default_str();
  b->add_option("--port", a->port, "Port the image serves on (its default command: --host 0.0.0.0 --port PORT)")
      ->capture_default_str();
  b->add_flag("--json", a->json, "Print the result as JSON");
  b->callback([&runner, a] { runner.set([a] { return ws_guard([&] { return build_command(*a); }); }); });
}

}  // namespace pier::cli
