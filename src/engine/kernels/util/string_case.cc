#include "kernels/util/string_case.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace pier::kernels::strcase {

namespace {

enum Dir : uint8_t { kBoth, kUpperOnly, kLowerOnly };

// upper + stride*i <-> lower + stride*i for i < count. kUpperOnly entries
// only map lower -> upper (to_upper), kLowerOnly only upper -> lower.
struct Block {
  char32_t upper, lower;
  uint16_t count;
  uint8_t stride;
  Dir dir;
};

// clang-format off
constexpr Block kBlocks[] = {
  // Basic Latin, Latin-1 Supplement
  {0x0041, 0x0061, 26, 1, kBoth}, {0x00C0, 0x00E0, 23, 1, kBoth}, {0x00D8, 0x00F8, 7, 1, kBoth},
  {0x0178, 0x00FF, 1, 1, kBoth}, {0x039C, 0x00B5, 1, 1, kUpperOnly},
  // Latin Extended-A
  {0x0100, 0x0101, 24, 2, kBoth}, {0x0130, 0x0069, 1, 1, kLowerOnly}, {0x0049, 0x0131, 1, 1, kUpperOnly},
  {0x0132, 0x0133, 3, 2, kBoth}, {0x0139, 0x013A, 8, 2, kBoth}, {0x014A, 0x014B, 23, 2, kBoth},
  {0x0179, 0x017A, 3, 2, kBoth}, {0x0053, 0x017F, 1, 1, kUpperOnly},
  // Latin Extended-B
  {0x0243, 0x0180, 1, 1, kBoth}, {0x0181, 0x0253, 1, 1, kBoth}, {0x0182, 0x0183, 2, 2, kBoth},
  {0x0186, 0x0254, 1, 1, kBoth}, {0x0187, 0x0188, 1, 1, kBoth}, {0x0189, 0x0256, 2, 1, kBoth},
  {0x018B, 0x018C, 1, 1, kBoth}, {0x018E, 0x01DD, 1, 1, kBoth}, {0x018F, 0x0259, 1, 1, kBoth},
  {0x0190, 0x025B, 1, 1, kBoth}, {0x0191, 0x0192, 1, 1, kBoth}, {0x0193, 0x0260, 1, 1, kBoth},
  {0x0194, 0x0263, 1, 1, kBoth}, {0x01F6, 0x0195, 1, 1, kBoth}, {0x0196, 0x0269, 1, 1, kBoth},
  {0x0197, 0x0268, 1, 1, kBoth}, {0x0198, 0x0199, 1, 1, kBoth}, {0x023D, 0x019A, 1, 1, kBoth},
  {0x019C, 0x026F, 1, 1, kBoth}, {0x019D, 0x0272, 1, 1, kBoth}, {0x0220, 0x019E, 1, 1, kBoth},
  {0x019F, 0x0275, 1, 1, kBoth}, {0x01A0, 0x01A1, 3, 2, kBoth}, {0x01A6, 0x0280, 1, 1, kBoth},
  {0x01A7, 0x01A8, 1, 1, kBoth}, {0x01A9, 0x0283, 1, 1, kBoth}, {0x01AC, 0x01AD, 1, 1, kBoth},
  {0x01AE, 0x0288, 1, 1, kBoth}, {0x01AF, 0x01B0, 1, 1, kBoth}, {0x01B1, 0x028A, 2, 1, kBoth},
  {0x01B3, 0x01B4, 2, 2, kBoth}, {0x01B7, 0x0292, 1, 1, kBoth}, {0x01B8, 0x01B9, 1, 1, kBoth},
  {0x01BC, 0x01BD, 1, 1, kBoth}, {0x01F7, 0x01BF, 1, 1, kBoth},
  // Digraphs with a title-case form: DŽ Dž dž, LJ Lj lj, NJ Nj nj, DZ Dz dz.
  {0x01C4, 0x01C6, 1, 1, kBoth}, {0x01C4, 0x01C5, 1, 1, kUpperOnly}, {0x01C5, 0x01C6, 1, 1, kLowerOnly},
  {0x01C7, 0x01C9, 1, 1, kBoth}, {0x01C7, 0x01C8, 1, 1, kUpperOnly}, {0x01C8, 0x01C9, 1, 1, kLowerOnly},
  {0x01CA, 0x01CC, 1, 1, kBoth}, {0x01CA, 0x01CB, 1, 1, kUpperOnly}, {0x01CB, 0x01CC, 1, 1, kLowerOnly},
  {0x01F1, 0x01F3, 1, 1, kBoth}, {0x01F1, 0x01F2, 1, 1, kUpperOnly}, {0x01F2, 0x01F3, 1, 1, kLowerOnly},
  {0x01CD, 0x01CE, 8, 2, kBoth}, {0x01DE, 0x01DF, 9, 2, kBoth}, {0x01F4, 0x01F5, 1, 1, kBoth},
  {0x01F8, 0x01F9, 20, 2, kBoth}, {0x0222, 0x0223, 9, 2, kBoth}, {0x023A, 0x2C65, 1, 1, kBoth},
  {0x023B, 0x023C, 1, 1, kBoth}, {0x023E, 0x2C66, 1, 1, kBoth}, {0x2C7E, 0x023F, 2, 1, kBoth},
  {0x0241, 0x0242, 1, 1, kBoth}, {0x0244, 0x0289, 1, 1, kBoth}, {0x0245, 0x028C, 1, 1, kBoth},
  {0x0246, 0x0247, 5, 2, kBoth},
  // IPA letters whose capitals live in Latin Extended-C/D
  {0x2C6F, 0x0250, 1, 1, kBoth}, {0x2C6D, 0x0251, 1, 1, kBoth}, {0x2C70, 0x0252, 1, 1, kBoth},
  {0xA7AB, 0x025C, 1, 1, kBoth}, {0xA7AC, 0x0261, 1, 1, kBoth}, {0xA78D, 0x0265, 1, 1, kBoth},
  {0xA7AA, 0x0266, 1, 1, kBoth}, {0xA7AE, 0x026A, 1, 1, kBoth}, {0x2C62, 0x026B, 1, 1, kBoth},
  {0xA7AD, 0x026C, 1, 1, kBoth}, {0x2C6E, 0x0271, 1, 1, kBoth}, {0x2C64, 0x027D, 1, 1, kBoth},
  {0xA7C5, 0x0282, 1, 1, kBoth}, {0xA7B1, 0x0287, 1, 1, kBoth}, {0xA7B2, 0x029D, 1, 1, kBoth},
  {0xA7B0, 0x029E, 1, 1, kBoth},
  // Greek and Coptic
  {0x0399, 0x0345, 1, 1, kUpperOnly},
  {0x0370, 0x0371, 2, 2, kBoth}, {0x0376, 0x0377, 1, 1, kBoth}, {0x037F, 0x03F3, 1, 1, kBoth},
  {0x0386, 0x03AC, 1, 1, kBoth}, {0x0388, 0x03AD, 3, 1, kBoth}, {0x038C, 0x03CC, 1, 1, kBoth},
  {0x038E, 0x03CD, 2, 1, kBoth}, {0x0391, 0x03B1, 17, 1, kBoth}, {0x03A3, 0x03C3, 9, 1, kBoth},
  {0x03A3, 0x03C2, 1, 1, kUpperOnly}, {0x03CF, 0x03D7, 1, 1, kBoth}, {0x0392, 0x03D0, 1, 1, kUpperOnly},
  {0x0398, 0x03D1, 1, 1, kUpperOnly}, {0x03A6, 0x03D5, 1, 1, kUpperOnly}, {0x03A0, 0x03D6, 1, 1, kUpperOnly},
  {0x03D8, 0x03D9, 12, 2, kBoth}, {0x039A, 0x03F0, 1, 1, kUpperOnly}, {0x03A1, 0x03F1, 1, 1, kUpperOnly},
  {0x03F4, 0x03B8, 1, 1, kLowerOnly}, {0x0395, 0x03F5, 1, 1, kUpperOnly}, {0x03F7, 0x03F8, 1, 1, kBoth},
  {0x03F9, 0x03F2, 1, 1, kBoth}, {0x03FA, 0x03FB, 1, 1, kBoth}, {0x03FD, 0x037B, 3, 1, kBoth},
  // Cyrillic, Cyrillic Supplement
  {0x0400, 0x0450, 16, 1, kBoth}, {0x0410, 0x0430, 32, 1, kBoth}, {0x0460, 0x0461, 17, 2, kBoth},
  {0x048A, 0x048B, 27, 2, kBoth}, {0x04C0, 0x04CF, 1, 1, kBoth}, {0x04C1, 0x04C2, 7, 2, kBoth},
  {0x04D0, 0x04D1, 48, 2, kBoth},
  // Armenian
  {0x0531, 0x0561, 38, 1, kBoth},
  // Georgian (Asomtavruli <-> Nuskhuri, Mtavruli <-> Mkhedruli)
  {0x10A0, 0x2D00, 38, 1, kBoth}, {0x10C7, 0x2D27, 1, 1, kBoth}, {0x10CD, 0x2D2D, 1, 1, kBoth},
  {0x1C90, 0x10D0, 43, 1, kBoth}, {0x1CBD, 0x10FD, 3, 1, kBoth},
  // Latin Extended Additional
  {0x1E00, 0x1E01, 75, 2, kBoth}, {0x1E60, 0x1E9B, 1, 1, kUpperOnly}, {0x1E9E, 0x00DF, 1, 1, kLowerOnly},
  {0x1EA0, 0x1EA1, 48, 2, kBoth},
  // Greek Extended
  {0x1F08, 0x1F00, 8, 1, kBoth}, {0x1F18, 0x1F10, 6, 1, kBoth}, {0x1F28, 0x1F20, 8, 1, kBoth},
  {0x1F38, 0x1F30, 8, 1, kBoth}, {0x1F48, 0x1F40, 6, 1, kBoth}, {0x1F59, 0x1F51, 4, 2, kBoth},
  {0x1F68, 0x1F60, 8, 1, kBoth}, {0x1FBA, 0x1F70, 2, 1, kBoth}, {0x1FC8, 0x1F72, 4, 1, kBoth},
  {0x1FDA, 0x1F76, 2, 1, kBoth}, {0x1FF8, 0x1F78, 2, 1, kBoth}, {0x1FEA, 0x1F7A, 2, 1, kBoth},
  {0x1FFA, 0x1F7C, 2, 1, kBoth}, {0x1F88, 0x1F80, 8, 1, kBoth}, {0x1F98, 0x1F90, 8, 1, kBoth},
  {0x1FA8, 0x1FA0, 8, 1, kBoth}, {0x1FB8, 0x1FB0, 2, 1, kBoth}, {0x1FBC, 0x1FB3, 1, 1, kBoth},
  {0x0399, 0x1FBE, 1, 1, kUpperOnly}, {0x1FCC, 0x1FC3, 1, 1, kBoth}, {0x1FD8, 0x1FD0, 2, 1, kBoth},
  {0x1FE8, 0x1FE0, 2, 1, kBoth}, {0x1FEC, 0x1FE5, 1, 1, kBoth}, {0x1FFC, 0x1FF3, 1, 1, kBoth},
  // Letterlike symbols, number forms, enclosed alphanumerics
  {0x2126, 0x03C9, 1, 1, kLowerOnly}, {0x212A, 0x006B, 1, 1, kLowerOnly}, {0x212B, 0x00E5, 1, 1, kLowerOnly},
  {0x2132, 0x214E, 1, 1, kBoth}, {0x2160, 0x2170, 16, 1, kBoth}, {0x2183, 0x2184, 1, 1, kBoth},
  {0x24B6, 0x24D0, 26, 1, kBoth},
  // Glagolitic, Latin Extended-C, Coptic
  {0x2C00, 0x2C30, 48, 1, kBoth}, {0x2C60, 0x2C61, 1, 1, kBoth}, {0x2C63, 0x1D7D, 1, 1, kBoth},
  {0x2C67, 0x2C68, 3, 2, kBoth}, {0x2C72, 0x2C73, 1, 1, kBoth}, {0x2C75, 0x2C76, 1, 1, kBoth},
  {0x2C80, 0x2C81, 50, 2, kBoth}, {0x2CEB, 0x2CEC, 2, 2, kBoth}, {0x2CF2, 0x2CF3, 1, 1, kBoth},
  // Cyrillic Extended-B, Latin Extended-D (part)
  {0xA640, 0xA641, 23, 2, kBoth}, {0xA680, 0xA681, 14, 2, kBoth}, {0xA722, 0xA723, 7, 2, kBoth},
  {0xA732, 0xA733, 31, 2, kBoth}, {0xA779, 0xA77A, 2, 2, kBoth}, {0xA77D, 0x1D79, 1, 1, kBoth},
  {0xA77E, 0xA77F, 5, 2, kBoth}, {0xA78B, 0xA78C, 1, 1, kBoth}, {0xA790, 0xA791, 2, 2, kBoth},
  {0xA796, 0xA797, 10, 2, kBoth},
  // Fullwidth Latin, Deseret
  {0xFF21, 0xFF41, 26, 1, kBoth}, {0x10400, 0x10428, 40, 1, kBoth},
};
// clang-format on

using Map = std::vector<std::pair<char32_t, char32_t>>;

struct Tables {
  Map lower;  // upper -> lower
  Map upper;  // lower -> upper
  Tables() {
    for (const Block& b : kBlocks)
      for (char32_t i = 0; i < b.count; ++i) {
        const char32_t u = b.upper + b.stride * i, l = b.lower + b.stride * i;
        if (b.dir != kUpperOnly) lower.emplace_back(u, l);
        if (b.dir != kLowerOnly) upper.emplace_back(l, u);
      }
    auto finish = [](Map& m) {
      std::stable_sort(m.begin(), m.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      m.erase(std::unique(m.begin(), m.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
              m.end());
    };
    finish(lower);
    finish(upper);
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

char32_t lookup(const Map& m, char32_t c) {
  auto it = std::lower_bound(m.begin(), m.end(), c, [](const auto& e, char32_t v) { return e.first < v; });
  return it != m.end() && it->first == c ? it->second : c;
}

// Decodes one code point at s[i]; returns its length, or 0 when the bytes
// there are not well-formed UTF-8 (overlong, surrogate, > U+10FFFF, cut).
size_t decode(std::string_view s, size_t i, char32_t& c) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len;
  char32_t min;
  if (b0 < 0x80) {
    c = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, min = 0x80, c = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, min = 0x800, c = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, c = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    c = (c << 6) | (b & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  return len;
}

void encode(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

template <typename F>
std::string convert(std::string_view s, F&& map) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    char32_t c;
    const size_t len = decode(s, i, c);
    if (len == 0) {  // not UTF-8: keep the byte
      out.push_back(s[i]);
      ++i;
      continue;
    }
    encode(map(c), out);
    i += len;
  }
  return out;
}

}  // namespace

char32_t to_lower(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  return lookup(tables().lower, c);
}

char32_t to_upper(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z' ? c - 32 : c;
  return lookup(tables().upper, c);
}

std::string utf8_lower(std::string_view s, bool turkic) {
  return convert(s, [turkic](char32_t c) -> char32_t {
    if (turkic && c == U'I') return 0x0131;
    return to_lower(c);
  });
}

std::string utf8_upper(std::string_view s, bool turkic) {
  return convert(s, [turkic](char32_t c) -> char32_t {
    if (turkic && c == U'i') return 0x0130;
    return to_upper(c);
  });
}

bool is_turkic_locale(std::string_view locale) {
  auto starts = [&](std::string_view p) {
    return locale.substr(0, p.size()) == p && (locale.size() == p.size() || locale[p.size()] == '_' ||
                                               locale[p.size()] == '-' || locale[p.size()] == '.');
  };
  return starts("tr") || starts("az");
}

}  // namespace pier::kernels::strcase
