#include "workspace/names.h"

#include <algorithm>
#include <cstdio>

#include "workspace/error.h"

namespace pier::ws {

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.';
}

[[noreturn]] void bad(const std::string& msg) { fail(ErrorKind::kInvalidArgument, msg); }

// Length of the well-formed UTF-8 sequence at s[i] (no overlong forms, no
// surrogates, at most U+10FFFF), or 0 if it is malformed.
size_t utf8_len(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if ((c >> 5) == 0x6) n = 2, cp = c & 0x1f;
  else if ((c >> 4) == 0xE) n = 3, cp = c & 0x0f;
  else if ((c >> 3) == 0x1E) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b >> 6) != 0x2) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

std::string quote_str(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = utf8_len(s, i);
    if (n > 1) {  // a well-formed non-ASCII character
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += s[i];
    }
    ++i;
  }
  return out + "\"";
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_len(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

void validate_name(std::string_view s, const char* what) {
  if (s.empty()) bad(std::string(what) + " is empty");
  if (s.size() > kMaxNameLength)
    bad(std::string(what) + " is " + std::to_string(s.size()) + " characters long; the limit is " +
        std::to_string(kMaxNameLength));
  for (size_t i = 0; i < s.size(); ++i) {
    if (!name_char(s[i])) {
      const size_t n = std::max<size_t>(1, utf8_len(s, i));
      bad("invalid " + std::string(what) + " " + quote_str(s) + ": character " + quote_str(s.substr(i, n)) +
          " at byte " + std::to_string(i + 1) + "; only ASCII letters, digits, '-', '_' and '.' are allowed");
    }
  }
  if (s == "." || s == "..") bad("invalid " + std::string(what) + " " + quote_str(s) + ": \".\" and \"..\" are reserved");
}

void validate_alias(std::string_view s) {
  validate_name(s, "alias");
  if (s.find_first_not_of("0123456789") == std::string_view::npos)
    bad("invalid alias " + quote_str(s) + ": an alias must not be all digits (it would read as a version)");
}

void validate_value(std::string_view s, const char* what) {
  if (s.size() > kMaxTagValueLength)
    bad(std::string(what) + " is " + std::to_string(s.size()) + " bytes long; the limit is " +
        std::to_string(kMaxTagValueLength));
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_len(s, i);
    if (n == 0) bad(std::string(what) + " is not valid UTF-8");
    if (n == 1 && (static_cast<unsigned char>(s[i]) < 0x20 || s[i] == 0x7f) && s[i] != '\t')
      bad(std::string(what) + " " + quote_str(s) + " contains a control character");
    i += n;
  }
}

void validate_description(std::string_view s) {
  if (s.size() > kMaxDescriptionLength)
    bad("description is " + std::to_string(s.size()) + " bytes long; the limit is " +
        std::to_string(kMaxDescriptionLength));
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_len(s, i);
    if (n == 0) bad("description is not valid UTF-8");
    if (n == 1 && static_cast<unsigned char>(s[i]) < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
      bad("description contains a control character");
    i += n;
  }
}

int64_t parse_version(std::string_view s) {
  constexpr int64_t kMax = int64_t{1} << 53;
  if (s.empty()) bad("version is empty");
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') bad("invalid version " + quote_str(s) + ": expected a positive integer");
    v = v * 10 + (c - '0');
    if (v > kMax) bad("invalid version " + quote_str(s) + ": too large");
  }
  if (v < 1) bad("invalid version " + quote_str(s) + ": versions start at 1");
  return v;
}

std::string ModelRef::str() const {
  if (version) return name + ":" + std::to_string(*version);
  if (alias) return name + "@" + *alias;
  return name;
}

ModelRef parse_ref(std::string_view s) {
  ModelRef ref;
  const size_t colon = s.find(':');
  const size_t at = s.find('@');
  if (colon != std::string_view::npos && at != std::string_view::npos)
    bad("invalid model reference " + quote_str(s) + ": use NAME, NAME:VERSION or NAME@ALIAS");
  if (colon != std::string_view::npos) {
    ref.name = s.substr(0, colon);
    validate_name(ref.name, "model name");
    ref.version = parse_version(s.substr(colon + 1));
  } else if (at != std::string_view::npos) {
    ref.name = s.substr(0, at);
    validate_name(ref.name, "model name");
    const auto alias = s.substr(at + 1);
    validate_alias(alias);
    ref.alias = std::string(alias);
  } else {
    ref.name = s;
    validate_name(ref.name, "model name");
  }
  return ref;
}

std::pair<std::string, std::string> parse_tag(std::string_view s) {
  const size_t eq = s.find('=');
  std::string key(s.substr(0, eq));
  std::string value(eq == std::string_view::npos ? std::string_view() : s.substr(eq + 1));
  validate_name(key, "tag key");
  validate_value(value, "tag value");
  return {std::move(key), std::move(value)};
}

std::pair<std::string, std::string> parse_property(std::string_view s) {
  const size_t eq = s.find('=');
  if (eq == std::string_view::npos) bad("invalid property " + quote_str(s) + ": expected KEY=VALUE");
  std::string key(s.substr(0, eq));
  std::string value(s.substr(eq + 1));
  validate_name(key, "property key");
  validate_value(value, "property value");
  return {std::move(key), std::move(value)};
}

}  // namespace pier::ws
