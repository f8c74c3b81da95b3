#include "packaging/yaml.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace pier::pkg {

Yaml& Yaml::set(const std::string& key, Yaml value) {
  for (auto& [k, v] : fields_)
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  fields_.emplace_back(key, std::move(value));
  return *this;
}

Yaml& Yaml::push(Yaml value) {
  items_.push_back(std::move(value));
  return *this;
}

std::string yaml_scalar(const std::string& s) {
  // Plain: starts with a letter, '_' or '/', then letters, digits, _ . / -;
  // and not a word YAML 1.1 reads as a boolean or null.
  bool plain = !s.empty() && (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_' || s[0] == '/');
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/' || c == '-')) plain = false;
  if (plain) {
    std::string l = s;
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    static const char* words[] = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"};
    for (const char* w : words)
      if (l == w) plain = false;
  }
  if (plain) return s;
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void Yaml::write(std::string& out, int indent, bool after_dash) const {
  const std::string pad(static_cast<size_t>(indent), ' ');
  switch (kind_) {
    case Kind::kStr: out += yaml_scalar(str_) + "\n"; return;
    case Kind::kInt: out += std::to_string(int_) + "\n"; return;
    case Kind::kBool: out += (bool_ ? "true\n" : "false\n"); return;
    case Kind::kMap:
      if (fields_.empty()) {
        out += "{}\n";
        return;
      }
      for (size_t i = 0; i < fields_.size(); ++i) {
        const auto& [k, v] = fields_[i];
        if (!(i == 0 && after_dash)) out += pad;
        out += yaml_scalar(k) + ":";
        const bool block = (v.kind_ == Kind::kMap && !v.fields_.empty()) || (v.kind_ == Kind::kSeq && !v.items_.empty());
        if (block) {
          out += "\n";
          v.write(out, indent + 2, false);
        } else {
          out += " ";
          v.write(out, indent + 2, false);
        }
      }
      return;
    case Kind::kSeq:
      if (items_.empty()) {
        out += "[]\n";
        return;
      }
      for (const auto& item : items_) {
        out += pad + "- ";
        if (item.kind_ == Kind::kSeq && !item.items_.empty()) {
          out += "\n";
          item.write(out, indent + 2, false);
        } else {
          item.write(out, indent + 2, true);
        }
      }
      return;
  }
}

std::string Yaml::dump() const {
  std::string out;
  write(out, 0, false);
  return out;
}

}  // namespace pier::pkg
