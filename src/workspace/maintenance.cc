// Registry::check and Registry::gc: verify every row and blob; remove what
// interrupted operations left behind.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>

#include "workspace/error.h"
#include "workspace/registry.h"
#include "workspace/sha256.h"
#include "workspace/sqlite.h"
#include "workspace/staging.h"

namespace pier::ws {

namespace {

std::string ref_str(const std::string& name, int64_t version) { return name + ":" + std::to_string(version); }

// Runs fn; an Error becomes a line in `errors` prefixed with `what`.
template <typename Fn>
void expect(std::vector<std::string>& errors, const std::string& what, Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    errors.push_back(what + ": " + e.what());
  }
}

bool old_enough(const fs::path& p) {
  std::error_code ec;
  const auto t = fs::last_write_time(p, ec);
  return !ec && fs::file_time_type::clock::now() - t > std::chrono::seconds(60);
}

}  // namespace

CheckReport Registry::check() {
  CheckReport r;
  auto& err = r.errors;
  {
    Stmt q(*db_, "PRAGMA integrity_check");
    while (q.step())
      if (q.col_text(0) != "ok") err.push_back("database: " + q.col_text(0));
  }
  std::map<std::string, int64_t> referenced;  // sha -> size
  std::map<std::string, std::string> first_user;  // sha -> "name:version"
  {
    Tx tx(*db_, Tx::kRead);
    {
      Stmt q(*db_, "PRAGMA foreign_key_check");
      while (q.step()) err.push_back("database: a row of table " + q.col_text(0) + " refers to a missing " + q.col_text(2));
    }
    std::map<std::string, int64_t> next;
    {
      Stmt q(*db_, "SELECT name, next_version FROM models");
      while (q.step()) {
        const std::string name = q.col_text(0);
        ++r.models;
        expect(err, "model " + quote_str(name), [&] { validate_name(name, "model name"); });
        next[name] = q.col_int(1);
      }
    }
    Stmt q(*db_,
           "SELECT name, version, sha256, size, description, properties, inputs, outputs, opsets, warnings, created "
           "FROM versions");
    while (q.step()) {
      ++r.versions;
      const std::string name = q.col_text(0);
      const int64_t version = q.col_int(1);
      const std::string what = "version " + ref_str(name, version);
      const std::string sha = q.col_text(2);
      const int64_t size = q.col_int(3);
      expect(err, what, [&] { validate_name(name, "model name"); });
      if (version < 1) err.push_back(what + ": version is not positive");
      if (auto it = next.find(name); it != next.end() && version >= it->second)
        err.push_back(what + ": version is not below the model's next version " + std::to_string(it->second));
      if (!is_sha256_hex(sha)) {
        err.push_back(what + ": sha256 " + quote_str(sha) + " is not a digest");
        continue;
      }
      if (size < 0) err.push_back(what + ": negative size");
      expect(err, what, [&] { validate_description(q.col_text(4)); });
      expect(err, what, [&] { decode_map(q.col_text(5)); });
      expect(err, what, [&] { decode_signatures(q.col_text(6)); });
      expect(err, what, [&] { decode_signatures(q.col_text(7)); });
      expect(err, what, [&] { decode_opsets(q.col_text(8)); });
      expect(err, what, [&] { decode_strings(q.col_text(9)); });
      if (q.col_text(10).empty()) err.push_back(what + ": no creation time");
      auto [it, fresh] = referenced.emplace(sha, size);
      if (fresh) first_user[sha] = ref_str(name, version);
      else if (it->second != size)
        err.push_back(what + ": size " + std::to_string(size) + " differs from " + first_user[sha] + "'s " +
                      std::to_string(it->second) + " for the same sha256");
    }
    Stmt t(*db_, "SELECT name, version, key, value FROM tags");
    while (t.step()) {
      const std::string what = "tag of " + ref_str(t.col_text(0), t.col_int(1));
      expect(err, what, [&] { validate_name(t.col_text(2), "tag key"); });
      expect(err, what, [&] { validate_value(t.col_text(3), "tag value"); });
    }
    Stmt a(*db_, "SELECT name, alias FROM aliases");
    while (a.step()) expect(err, "alias of " + quote_str(a.col_text(0)), [&] { validate_alias(a.col_text(1)); });
  }

  // Blobs, outside the transaction (hashing takes a while). A blob that a
  // concurrent delete removed is only an error if a row still uses it.
  std::vector<std::pair<std::string, std::string>> bad;  // sha, problem
  for (const auto& [sha, size] : referenced) {
    const int64_t have = blobs_.size_of(sha);
    if (have < 0) bad.emplace_back(sha, "is missing");
    else if (have != size) bad.emplace_back(sha, "has " + std::to_string(have) + " bytes, not " + std::to_string(size));
    else if (blobs_.hash(sha) != sha) bad.emplace_back(sha, "does not match its sha256 (corrupt)");
  }
  if (!bad.empty()) {
    Tx tx(*db_, Tx::kRead);
    Stmt q(*db_, "SELECT name, version FROM versions WHERE sha256 = ? ORDER BY name, version");
    for (const auto& [sha, problem] : bad) {
      q.reset();
      q.bind(1, sha);
      std::string users;
      while (q.step()) users += (users.empty() ? "" : ", ") + ref_str(q.col_text(0), q.col_int(1));
      if (!users.empty()) err.push_back("blob " + sha + " (used by " + users + ") " + problem);
    }
  }
  for (const auto& e : blobs_.list()) {
    ++r.blobs;
    if (e.sha.empty()) r.info.push_back("unexpected file in the blob store: " + e.path.string());
    else if (!referenced.count(e.sha))
      r.info.push_back("orphan blob (no version uses it; `pier workspace gc` removes it): " + e.sha);
  }
  for (const auto& s : list_staging(paths_.tmp())) {
    if (s.active) r.info.push_back("register in progress: " + s.path.string());
    else r.info.push_back("left by an interrupted register (`pier workspace gc` removes it): " + s.path.string());
  }
  return r;
}

GcReport Registry::gc() {
  GcReport r;
  for (const auto& s : list_staging(paths_.tmp()))
    if (!s.active && remove_stale_staging(s.path)) r.staging_removed.push_back(s.path.string());
  // Under the write lock: no register can commit a row for a blob while it
  // is being judged unused (a register whose blob went re-puts it).
  Tx tx(*db_, Tx::kWrite);
  std::set<std::string> used;
  {
    Stmt q(*db_, "SELECT DISTINCT sha256 FROM versions");
    while (q.step()) used.insert(q.col_text(0));
  }
  for (const auto& e : blobs_.list()) {
    if (!e.sha.empty()) {
      if (!used.count(e.sha) && blobs_.remove(e.sha)) {
        r.blobs_removed.push_back(e.sha);
        r.bytes_freed += e.size;
      }
    } else if (e.path.filename().string().rfind('.', 0) == 0 &&
               e.path.filename().string().find(".tmp-") != std::string::npos && old_enough(e.path)) {
      // A temporary file from an interrupted put().
      std::error_code ec;
      if (fs::remove(e.path, ec)) r.staging_removed.push_back(e.path.string());
    }
  }
  tx.commit();
  return r;
}

}  // namespace pier::ws
