// Names and references: what a model, alias, tag or property may be called,
// and how "NAME", "NAME:VERSION" and "NAME@ALIAS" are parsed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace pier::ws {

inline constexpr size_t kMaxNameLength = 255;
inline constexpr size_t kMaxTagValueLength = 4096;
inline constexpr size_t kMaxDescriptionLength = 64 * 1024;

// Throws Error(kInvalidArgument) unless `s` is 1-255 ASCII letters, digits,
// '-', '_' and '.', and not "." or "..". `what` names the thing in the
// message ("model name", "alias", "tag key").
void validate_name(std::string_view s, const char* what);
// Aliases follow the name rules and must not be all digits (they would read
// as versions).
void validate_alias(std::string_view s);
// Tag and property values: at most 4096 bytes, valid UTF-8 without control
// characters other than tab.
void validate_value(std::string_view s, const char* what);
void validate_description(std::string_view s);

// A version number: a decimal integer from 1 to 2^53.
int64_t parse_version(std::string_view s);

struct ModelRef {
  std::string name;
  std::optional<int64_t> version;     // NAME:VERSION
  std::optional<std::string> alias;   // NAME@ALIAS
  bool names_version() const { return version || alias; }
  std::string str() const;
};
// "NAME", "NAME:VERSION" or "NAME@ALIAS"; each part validated.
ModelRef parse_ref(std::string_view s);

// "KEY" or "KEY=VALUE" (the value may be empty or contain '=').
std::pair<std::string, std::string> parse_tag(std::string_view s);
// "KEY=VALUE"; the '=' is required.
std::pair<std::string, std::string> parse_property(std::string_view s);

// s with each malformed UTF-8 byte replaced by U+FFFD (model files may hold
// arbitrary bytes in their strings; records are JSON).
std::string sanitize_utf8(std::string_view s);

// s in double quotes with control and non-ASCII bytes escaped, for messages.
std::string quote_str(std::string_view s);

}  // namespace pier::ws
