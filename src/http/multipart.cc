#include "http/multipart.h"

#include <algorithm>
#include <functional>

namespace pier::http {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Parameters of a header value: `type; a=b; c="d e"` -> {a: b, c: d e}.
// The first item (the type) is returned under "".
std::vector<std::pair<std::string, std::string>> header_params(std::string_view v) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = 0;
  bool first = true;
  while (i <= v.size()) {
    // key
    size_t j = i;
    while (j < v.size() && v[j] != ';' && v[j] != '=') ++j;
    std::string key = lower(trim(v.substr(i, j - i)));
    std::string value;
    if (j < v.size() && v[j] == '=') {
      ++j;
      while (j < v.size() && (v[j] == ' ' || v[j] == '\t')) ++j;
      if (j < v.size() && v[j] == '"') {
        ++j;
        while (j < v.size() && v[j] != '"') {
          if (v[j] == '\\' && j + 1 < v.size()) ++j;
          value += v[j++];
        }
        ++j;  // closing quote
        while (j < v.size() && v[j] != ';') ++j;
      } else {
        const size_t k = j;
        while (j < v.size() && v[j] != ';') ++j;
        value = std::string(trim(v.substr(k, j - k)));
      }
    }
    if (first) out.emplace_back("", key);
    else if (!key.empty()) out.emplace_back(key, value);
    first = false;
    i = j + 1;
  }
  return out;
}

std::string param(const std::vector<std::pair<std::string, std::string>>& ps, std::string_view key) {
  for (const auto& [k, v] : ps)
    if (k == key) return v;
  return {};
}

size_t find(std::string_view hay, std::string_view needle, size_t from) {
  if (from > hay.size()) return std::string_view::npos;
  auto it = std::search(hay.begin() + static_cast<std::ptrdiff_t>(from), hay.end(),
                        std::boyer_moore_horspool_searcher(needle.begin(), needle.end()));
  return it == hay.end() ? std::string_view::npos : static_cast<size_t>(it - hay.begin());
}

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument("malformed multipart/form-data: " + msg); }

}  // namespace

bool is_multipart_form(std::string_view content_type) {
  auto ps = header_params(content_type);
  return !ps.empty() && ps.front().second == "multipart/form-data";
}

std::vector<FormPart> parse_multipart_form(std::string_view content_type, std::string_view body) {
  const auto ps = header_params(content_type);
  const std::string boundary = param(ps, "boundary");
  if (boundary.empty() || boundary.size() > 200) bad("the Content-Type has no usable boundary");
  const std::string delim = "--" + boundary;
  const std::string sep = "\r\n" + delim;
  std::vector<FormPart> parts;
  // The first delimiter may start the body or follow a preamble.
  size_t pos = body.substr(0, delim.size()) == delim ? 0 : find(body, sep, 0);
  if (pos == std::string_view::npos) bad("no boundary line");
  pos += pos == 0 ? delim.size() : sep.size();
  for (;;) {
    if (body.substr(pos, 2) == "--") return parts;  // closing delimiter
    // Rest of the delimiter line (transport padding allowed).
    const size_t eol = body.find("\r\n", pos);
    if (eol == std::string_view::npos) bad("truncated after a boundary");
    pos = eol + 2;
    FormPart part;
    bool has_disposition = false;
    for (;;) {
      const size_t e = body.find("\r\n", pos);
      if (e == std::string_view::npos) bad("truncated part header");
      const std::string_view line = body.substr(pos, e - pos);
      pos = e + 2;
      if (line.empty()) break;
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) bad("part header line without ':'");
      const std::string key = lower(trim(line.substr(0, colon)));
      const std::string_view value = trim(line.substr(colon + 1));
      if (key == "content-disposition") {
        const auto dp = header_params(value);
        if (dp.empty() || dp.front().second != "form-data") bad("a part's Content-Disposition is not form-data");
        part.name = param(dp, "name");
        part.filename = param(dp, "filename");
        has_disposition = true;
      } else if (key == "content-type") {
        part.content_type = std::string(value);
      }
    }
    if (!has_disposition) bad("a part has no Content-Disposition");
    const size_t end = find(body, sep, pos);
    if (end == std::string_view::npos) bad("the last part is not closed by the boundary");
    part.data = body.substr(pos, end - pos);
    parts.push_back(std::move(part));
    pos = end + sep.size();
  }
}

}  // namespace pier::http
