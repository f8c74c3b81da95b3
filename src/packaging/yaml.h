// A small YAML writer for Kubernetes manifests: a tree of maps (in
// insertion order), sequences and scalars, written in block style. Strings
// that YAML could read as anything else (numbers, booleans, null, strings
// with special characters) are double-quoted, so every reader, YAML 1.1 or
// 1.2, reads back exactly what was written.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace pier::pkg {

class Yaml {
 public:
  enum class Kind { kMap, kSeq, kStr, kInt, kBool };

  Yaml() : kind_(Kind::kMap) {}
  Yaml(const char* s) : kind_(Kind::kStr), str_(s) {}
  Yaml(std::string s) : kind_(Kind::kStr), str_(std::move(s)) {}
  Yaml(int v) : kind_(Kind::kInt), int_(v) {}
  Yaml(int64_t v) : kind_(Kind::kInt), int_(v) {}
  Yaml(bool b) : kind_(Kind::kBool), bool_(b) {}
  static Yaml map() { return Yaml(); }
  static Yaml seq(std::vector<Yaml> items = {}) {
    Yaml y;
    y.kind_ = Kind::kSeq;
    y.items_ = std::move(items);
    return y;
  }
  // A map from pairs, in order.
  static Yaml object(std::initializer_list<std::pair<std::string, Yaml>> kv) {
    Yaml y;
    for (const auto& [k, v] : kv) y.set(k, v);
    return y;
  }

  Yaml& set(const std::string& key, Yaml value);  // map: adds or replaces
  Yaml& push(Yaml value);                          // seq: appends
  Kind kind() const { return kind_; }

  // The document, ending with a newline.
  std::string dump() const;

 private:
  void write(std::string& out, int indent, bool after_dash) const;

  Kind kind_;
  std::string str_;
  int64_t int_ = 0;
  bool bool_ = false;
  std::vector<std::pair<std::string, Yaml>> fields_;
  std::vector<Yaml> items_;
};

// A string as a YAML scalar: plain when that is unambiguous, else quoted.
std::string yaml_scalar(const std::string& s);

}  // namespace pier::pkg
