#include "packaging/gzip.h"

#include <zlib.h>

#include <cstring>
#include <stdexcept>
#include <vector>

namespace pier::pkg {

struct GzipWriter::Impl {
  Sink out;
  z_stream zs{};
  std::vector<unsigned char> buf = std::vector<unsigned char>(1 << 17);
  bool finished = false;

  void run(int flush) {
    do {
      zs.next_out = buf.data();
      zs.avail_out = static_cast<uInt>(buf.size());
      const int rc = deflate(&zs, flush);
      if (rc == Z_STREAM_ERROR) throw std::runtime_error("gzip: deflate failed");
      const size_t n = buf.size() - zs.avail_out;
      if (n) out(reinterpret_cast<const char*>(buf.data()), n);
      if (flush == Z_FINISH && rc == Z_STREAM_END) return;
    } while (zs.avail_out == 0 || flush == Z_FINISH);
  }
};

GzipWriter::GzipWriter(Sink out, int level) : impl_(std::make_unique<Impl>()) {
  impl_->out = std::move(out);
  // windowBits 15 + 16: a gzip wrapper. Without deflateSetHeader zlib writes
  // a header with no name, no comment and mtime 0.
  if (deflateInit2(&impl_->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("gzip: cannot initialise zlib");
}

GzipWriter::~GzipWriter() { deflateEnd(&impl_->zs); }

void GzipWriter::write(const char* data, size_t n) {
  if (impl_->finished) throw std::logic_error("gzip: write after finish");
  while (n) {
    const size_t chunk = std::min<size_t>(n, 1u << 30);
    impl_->zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    impl_->zs.avail_in = static_cast<uInt>(chunk);
    impl_->run(Z_NO_FLUSH);
    data += chunk;
    n -= chunk;
  }
}

void GzipWriter::finish() {
  if (impl_->finished) return;
  impl_->finished = true;
  impl_->zs.next_in = nullptr;
  impl_->zs.avail_in = 0;
  impl_->run(Z_FINISH);
}

}  // namespace pier::pkg
