// The image of a Pier scoring service: the pier binary, the shared
// libraries and loader it needs, a minimal /etc with a non-root user, /tmp,
// and the model files, with `pier serve --model-file ...` as its entrypoint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "packaging/image.h"

namespace pier::pkg {

struct ImageModel {
  std::string name;
  int64_t version = 1;
  std::string sha256;  // checked while the file is copied
  std::string file;    // host path
};

struct PierImageOptions {
  std::vector<ImageModel> models;
  std::string pier_binary;  // host path of the pier executable
  std::string pier_version;
  std::string ref;          // REPO:TAG
  ImageFormat format = ImageFormat::kOci;
  int port = 8080;
  int64_t created = 0;      // SOURCE_DATE_EPOCH, or 0
};

// Where things are in the image.
inline constexpr const char* kImagePier = "/usr/local/bin/pier";
inline constexpr const char* kImageModels = "/models";
inline constexpr uint32_t kImageUid = 65532;  // "pier", as distroless' nonroot

// The model's path in the image: /models/NAME-VERSION.onnx.
std::string image_model_path(const ImageModel& m);

ImageResult build_pier_image(const PierImageOptions& opt, const std::filesystem::path& out,
                             const ProgressFn& progress = {});

}  // namespace pier::pkg
