#include "packaging/tar.h"

#include <cstring>
#include <stdexcept>

namespace pier::pkg {

namespace {

constexpr size_t kBlock = 512;

// Octal, zero-padded to width-1 digits and NUL-terminated; false when the
// value does not fit.
bool octal(char* field, size_t width, uint64_t v) {
  const size_t digits = width - 1;
  if (digits < 22 && (v >> (3 * digits)) != 0) return false;
  for (size_t i = digits; i-- > 0;) {
    field[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  field[digits] = '\0';
  return true;
}

// One pax record: "LEN key=value\n", where LEN counts the whole record.
std::string pax_record(std::string_view key, std::string_view value) {
  const size_t body = 1 + key.size() + 1 + value.size() + 1;  // ' ' key '=' value '\n'
  size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  return std::to_string(len) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

}  // namespace

void TarWriter::put(const char* p, size_t n) {
  if (n == 0) return;
  sink_(p, n);
  written_ += n;
}

void TarWriter::pad(uint64_t size) {
  static const char zeros[kBlock] = {};
  const size_t rest = static_cast<size_t>(size % kBlock);
  if (rest) put(zeros, kBlock - rest);
}

void TarWriter::header(const TarHeader& h, char type, uint64_t size, std::string_view link) {
  if (h.path.empty() || h.path.front() == '/') throw std::invalid_argument("tar: bad entry path \"" + h.path + "\"");
  std::string name = h.path;
  if (type == '5') name += '/';
  // ustar holds a path of up to 100 bytes, or prefix (155) + '/' + name (100).
  std::string ustar_name, ustar_prefix;
  bool need_pax_path = false;
  if (name.size() <= 100) {
    ustar_name = name;
  } else {
    const size_t limit = std::min<size_t>(name.size() - 2, 155);  // never the trailing slash of a directory
    size_t cut = name.rfind('/', limit);
    while (cut != std::string::npos && name.size() - cut - 1 > 100) cut = std::string::npos;
    if (cut != std::string::npos && cut > 0) {
      ustar_prefix = name.substr(0, cut);
      ustar_name = name.substr(cut + 1);
    } else {
      need_pax_path = true;
      ustar_name = name.substr(0, 100);
    }
  }
  const bool need_pax_link = link.size() > 100;
  const bool need_pax_size = (size >> 33) != 0;  // over 11 octal digits
  if (need_pax_path || need_pax_link || need_pax_size) {
    std::string records;
    if (need_pax_link) records += pax_record("linkpath", link);
    if (need_pax_path) records += pax_record("path", name);
    if (need_pax_size) records += pax_record("size", std::to_string(size));
    TarHeader ph;
    ph.path = "PaxHeaders/" + std::string(name.substr(0, 80));
    while (!ph.path.empty() && ph.path.back() == '/') ph.path.pop_back();
    ph.mode = 0644;
    ph.mtime = h.mtime;
    header(ph, 'x', records.size(), {});
    put(records.data(), records.size());
    pad(records.size());
  }
  char b[kBlock] = {};
  std::memcpy(b, ustar_name.data(), ustar_name.size());
  octal(b + 100, 8, h.mode & 07777);
  if (!octal(b + 108, 8, h.uid) || !octal(b + 116, 8, h.gid)) throw std::invalid_argument("tar: uid or gid too large");
  octal(b + 124, 12, need_pax_size ? 0 : size);
  if (h.mtime < 0 || !octal(b + 136, 12, static_cast<uint64_t>(h.mtime)))
    throw std::invalid_argument("tar: timestamp out of range");
  b[156] = type;
  std::memcpy(b + 157, link.data(), std::min<size_t>(link.size(), 100));
  std::memcpy(b + 257, "ustar", 6);  // magic "ustar\0"
  std::memcpy(b + 263, "00", 2);     // version
  octal(b + 329, 8, 0);              // devmajor
  octal(b + 337, 8, 0);              // devminor
  std::memcpy(b + 345, ustar_prefix.data(), ustar_prefix.size());
  std::memset(b + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < kBlock; ++i) sum += static_cast<unsigned char>(b[i]);
  octal(b + 148, 7, sum);  // six digits, NUL, and the space already there
  b[155] = ' ';
  put(b, kBlock);
}

void TarWriter::directory(const TarHeader& h) { header(h, '5', 0, {}); }

void TarWriter::symlink(const TarHeader& h, std::string_view target) { header(h, '2', 0, target); }

void TarWriter::file(const TarHeader& h, uint64_t size, const std::function<void(const Sink&)>& fill) {
  header(h, '0', size, {});
  uint64_t sent = 0;
  fill([&](const char* p, size_t n) {
    sent += n;
    if (sent > size) throw std::runtime_error("tar: " + h.path + " grew while it was being archived");
    put(p, n);
  });
  if (sent != size) throw std::runtime_error("tar: " + h.path + " changed size while it was being archived");
  pad(size);
}

void TarWriter::file(const TarHeader& h, std::string_view content) {
  file(h, content.size(), [&](const Sink& s) { s(content.data(), content.size()); });
}

void TarWriter::finish() {
  static const char zeros[2 * kBlock] = {};
  put(zeros, sizeof zeros);
}

}  // namespace pier::pkg
