// SHA-256 (OpenSSL's EVP implementation) as lowercase hex. Shared by the
// workspace (blob names) and packaging (image digests).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pier {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  // Finishes the digest; the object must not be updated afterwards.
  std::string hex();

 private:
  void* ctx_;
};

std::string sha256_hex(std::string_view bytes);
// True for 64 lowercase hex digits.
bool is_sha256_hex(std::string_view s);

}  // namespace pier
