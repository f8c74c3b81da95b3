// gzip compression (zlib) with a fixed header: no file name and a zero
// modification time, so the same input always gives the same bytes.
#pragma once

#include <memory>

#include "packaging/tar.h"

namespace pier::pkg {

class GzipWriter {
 public:
  // Compressed bytes go to `out`.
  explicit GzipWriter(Sink out, int level = 6);
  ~GzipWriter();
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  void write(const char* data, size_t n);
  // Flushes the rest and the trailer; no write() after it.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pier::pkg
