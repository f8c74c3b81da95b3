#include "workspace/registry.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <new>
#include <set>

#include "pier/engine.h"
#include "workspace/error.h"
#include "workspace/fs_util.h"
#include "workspace/schema.h"
#include "workspace/sha256.h"
#include "workspace/sqlite.h"
#include "workspace/staging.h"

namespace pier::ws {

namespace {

void validate_request(const RegisterRequest& req) {
  validate_name(req.name, "model name");
  for (const auto& [k, v] : req.tags) {
    validate_name(k, "tag key");
    validate_value(v, "tag value");
  }
  for (const auto& [k, v] : req.properties) {
    validate_name(k, "property key");
    validate_value(v, "property value");
  }
  validate_description(req.description);
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

// Runs the engine's validation on the staged copy. Messages name the
// user's file, not the staging path.
ModelInfo validate_model(const fs::path& staged, const std::string& label, const std::string& source_dir) {
  std::string msg;
  try {
    return inspect_model(staged.string());
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    msg = e.what();
  }
  replace_all(msg, staged.string(), label);
  replace_all(msg, staged.parent_path().string(), source_dir);
  if (msg.find("external data") != std::string::npos)
    fail(ErrorKind::kInvalidModel,
         label + ": the model keeps tensors in external data files; the registry stores single-file models only "
                 "(save it with the weights inside: onnx.save(model, path, save_as_external_data=False))");
  if (msg.rfind(label, 0) != 0) msg = label + ": " + msg;
  fail(ErrorKind::kInvalidModel, msg);
}

ModelRecord record_from(const RegisterRequest& req, const ModelInfo& info, const std::string& sha, int64_t size) {
  ModelRecord r;
  r.name = req.name;
  r.sha256 = sha;
  r.size = size;
  r.tags = req.tags;
  r.properties = req.properties;
  r.description = req.description;
  for (const auto& v : info.inputs) r.inputs.push_back(signature_of(v));
  for (const auto& v : info.outputs) r.outputs.push_back(signature_of(v));
  for (auto* list : {&r.inputs, &r.outputs})
    for (auto& s : *list) {
      s.name = sanitize_utf8(s.name);
      for (auto& d : s.dims) d.param = sanitize_utf8(d.param);
    }
  for (const auto& [d, v] : info.opsets) r.opsets.emplace_back(d.empty() ? "ai.onnx" : sanitize_utf8(d), v);
  r.producer_name = sanitize_utf8(info.producer_name);
  r.producer_version = sanitize_utf8(info.producer_version);
  r.ir_version = info.ir_version;
  for (const auto& u : info.unsupported) r.warnings.push_back(sanitize_utf8(u));
  r.created = now_iso8601();
  return r;
}

[[noreturn]] void not_found(const std::string& msg) { fail(ErrorKind::kNotFound, msg); }

// Fault injection for the crash tests: with PIER_CRASH_AT=POINT in the
// environment, the process kills itself (SIGKILL) on reaching POINT.
void crash_point(const char* point) {
  static const char* at = std::getenv("PIER_CRASH_AT");
  if (at && std::strcmp(at, point) == 0) ::raise(SIGKILL);
}

}  // namespace

Registry::Registry(WorkspacePaths paths)
    : paths_(std::move(paths)), blobs_(paths_.blobs()), db_(open_registry_db(paths_.db())) {}

Registry::~Registry() = default;

ModelRecord Registry::register_file(const fs::path& src, const RegisterRequest& req) {
  validate_request(req);
  const std::string label = src.string();
  Staging st(paths_.tmp());
  const auto w = st.write_from_file(src, label);
  crash_point("staged");
  fs::path dir = src.parent_path();
  return register_staged(st, w.sha256, w.size, label, dir.empty() ? "." : dir.string(), req);
}

ModelRecord Registry::register_bytes(std::string_view bytes, const RegisterRequest& req) {
  validate_request(req);
  if (bytes.empty()) fail(ErrorKind::kInvalidModel, "the upload is empty, not an ONNX model");
  Staging st(paths_.tmp());
  const auto w = st.write_bytes(bytes);
  return register_staged(st, w.sha256, w.size, "upload", "(upload)", req);
}

ModelRecord Registry::register_staged(Staging& st, const std::string& sha, int64_t size, const std::string& label,
                                      const std::string& source_dir, const RegisterRequest& req) {
  const ModelInfo info = validate_model(st.file(), label, source_dir);
  ModelRecord r = record_from(req, info, sha, size);
  crash_point("validated");
  blobs_.put(st.file(), sha, size);
  crash_point("blob-stored");

  Tx tx(*db_, Tx::kWrite);
  // A delete or gc may have removed the blob between put() and here (it was
  // unused then); both remove blobs only while holding the write lock, so
  // this check and the insert below cannot interleave with them.
  if (blobs_.size_of(sha) != size) blobs_.put(st.file(), sha, size);
  Stmt(*db_, "INSERT OR IGNORE INTO models(name, next_version, created) VALUES(?, 1, ?)")
      .bind(1, r.name).bind(2, r.created).run();
  {
    Stmt q(*db_, "SELECT next_version FROM models WHERE name = ?");
    q.bind(1, r.name);
    if (!q.step()) fail(ErrorKind::kIO, "registry database: the model row vanished inside a transaction");
    r.version = q.col_int(0);
  }
  Stmt ins(*db_,
           "INSERT INTO versions(name, version, sha256, size, description, properties, inputs, outputs, opsets, "
           "producer_name, producer_version, ir_version, warnings, created) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  ins.bind(1, r.name).bind(2, r.version).bind(3, r.sha256).bind(4, r.size).bind(5, r.description);
  ins.bind(6, encode_map(r.properties)).bind(7, encode_signatures(r.inputs)).bind(8, encode_signatures(r.outputs));
  ins.bind(9, encode_opsets(r.opsets)).bind(10, r.producer_name).bind(11, r.producer_version);
  ins.bind(12, r.ir_version).bind(13, encode_strings(r.warnings)).bind(14, r.created);
  ins.run();
  Stmt(*db_, "UPDATE models SET next_version = ? WHERE name = ?").bind(1, r.version + 1).bind(2, r.name).run();
  Stmt tag(*db_, "INSERT INTO tags(name, version, key, value) VALUES(?, ?, ?, ?)");
  for (const auto& [k, v] : r.tags) {
    tag.reset();
    tag.bind(1, r.name).bind(2, r.version).bind(3, k).bind(4, v).run();
  }
  crash_point("before-commit");
  tx.commit();
  crash_point("committed");
  return r;
}

int64_t Registry::resolve(const ModelRef& ref) {
  if (ref.version) {
    Stmt q(*db_, "SELECT 1 FROM versions WHERE name = ? AND version = ?");
    q.bind(1, ref.name).bind(2, *ref.version);
    if (q.step()) return *ref.version;
  } else if (ref.alias) {
    Stmt q(*db_, "SELECT version FROM aliases WHERE name = ? AND alias = ?");
    q.bind(1, ref.name).bind(2, *ref.alias);
    if (q.step()) return q.col_int(0);
  } else {
    Stmt q(*db_, "SELECT max(version) FROM versions WHERE name = ?");
    q.bind(1, ref.name);
    if (q.step() && !q.col_null(0)) return q.col_int(0);
  }
  Stmt m(*db_, "SELECT (SELECT max(version) FROM versions WHERE name = ?1) FROM models WHERE name = ?1");
  m.bind(1, ref.name);
  if (!m.step()) not_found("no model named " + quote_str(ref.name));
  const std::string latest = m.col_null(0) ? "it has no versions" : "its latest version is " + std::to_string(m.col_int(0));
  if (ref.version) not_found("model " + quote_str(ref.name) + " has no version " + std::to_string(*ref.version) + " (" + latest + ")");
  if (ref.alias) not_found("model " + quote_str(ref.name) + " has no alias " + quote_str(*ref.alias));
  not_found("model " + quote_str(ref.name) + " has no versions");
}

ModelRecord Registry::load(const std::string& name, int64_t version) {
  Stmt q(*db_,
         "SELECT sha256, size, description, properties, inputs, outputs, opsets, producer_name, producer_version, "
         "ir_version, warnings, created FROM versions WHERE name = ? AND version = ?");
  q.bind(1, name).bind(2, version);
  if (!q.step()) not_found("model " + quote_str(name) + " has no version " + std::to_string(version));
  ModelRecord r;
  r.name = name;
  r.version = version;
  r.sha256 = q.col_text(0);
  r.size = q.col_int(1);
  r.description = q.col_text(2);
  r.properties = decode_map(q.col_text(3));
  r.inputs = decode_signatures(q.col_text(4));
  r.outputs = decode_signatures(q.col_text(5));
  r.opsets = decode_opsets(q.col_text(6));
  r.producer_name = q.col_text(7);
  r.producer_version = q.col_text(8);
  r.ir_version = q.col_int(9);
  r.warnings = decode_strings(q.col_text(10));
  r.created = q.col_text(11);
  Stmt t(*db_, "SELECT key, value FROM tags WHERE name = ? AND version = ? ORDER BY key");
  t.bind(1, name).bind(2, version);
  while (t.step()) r.tags[t.col_text(0)] = t.col_text(1);
  Stmt a(*db_, "SELECT alias FROM aliases WHERE name = ? AND version = ? ORDER BY alias");
  a.bind(1, name).bind(2, version);
  while (a.step()) r.aliases.push_back(a.col_text(0));
  return r;
}

ModelRecord Registry::get(const ModelRef& ref) {
  Tx tx(*db_, Tx::kRead);
  return load(ref.name, resolve(ref));
}

std::vector<ModelRecord> Registry::list(const ListFilter& filter) {
  if (!filter.name.empty()) validate_name(filter.name, "model name");
  std::string sql = "SELECT name, version FROM versions v WHERE 1";
  if (!filter.name.empty()) sql += " AND v.name = ?";
  for (const auto& t : filter.tags) {
    validate_name(t.key, "tag key");
    sql += " AND EXISTS (SELECT 1 FROM tags t WHERE t.name = v.name AND t.version = v.version AND t.key = ?";
    sql += t.value ? " AND t.value = ?)" : ")";
  }
  sql += " ORDER BY v.name, v.version";
  Tx tx(*db_, Tx::kRead);
  Stmt q(*db_, sql.c_str());
  int i = 1;
  if (!filter.name.empty()) q.bind(i++, filter.name);
  for (const auto& t : filter.tags) {
    q.bind(i++, t.key);
    if (t.value) q.bind(i++, *t.value);
  }
  std::vector<std::pair<std::string, int64_t>> keys;
  while (q.step()) keys.emplace_back(q.col_text(0), q.col_int(1));
  std::vector<ModelRecord> out;
  for (const auto& [n, v] : keys) out.push_back(load(n, v));
  return out;
}

std::map<std::string, int64_t> Registry::aliases(const std::string& name) {
  validate_name(name, "model name");
  Tx tx(*db_, Tx::kRead);
  Stmt m(*db_, "SELECT 1 FROM models WHERE name = ?");
  m.bind(1, name);
  if (!m.step()) not_found("no model named " + quote_str(name));
  Stmt q(*db_, "SELECT alias, version FROM aliases WHERE name = ? ORDER BY alias");
  q.bind(1, name);
  std::map<std::string, int64_t> out;
  while (q.step()) out[q.col_text(0)] = q.col_int(1);
  return out;
}

ModelRecord Registry::update_tags(const ModelRef& ref, const std::map<std::string, std::string>& set,
                                  const std::vector<std::string>& remove, bool must_exist) {
  if (!ref.names_version())
    fail(ErrorKind::kInvalidArgument, "name one version to tag: " + ref.name + ":VERSION or " + ref.name + "@ALIAS");
  for (const auto& [k, v] : set) {
    validate_name(k, "tag key");
    validate_value(v, "tag value");
  }
  for (const auto& k : remove) {
    validate_name(k, "tag key");
    if (set.count(k)) fail(ErrorKind::kInvalidArgument, "tag " + quote_str(k) + " is both set and removed");
  }
  Tx tx(*db_, Tx::kWrite);
  const int64_t v = resolve(ref);
  Stmt del(*db_, "DELETE FROM tags WHERE name = ? AND version = ? AND key = ?");
  for (const auto& k : remove) {
    del.reset();
    del.bind(1, ref.name).bind(2, v).bind(3, k).run();
    if (must_exist && db_->changes() == 0)
      not_found("model " + ref.name + ":" + std::to_string(v) + " has no tag " + quote_str(k));
  }
  Stmt up(*db_,
          "INSERT INTO tags(name, version, key, value) VALUES(?, ?, ?, ?) "
          "ON CONFLICT(name, version, key) DO UPDATE SET value = excluded.value");
  for (const auto& [k, val] : set) {
    up.reset();
    up.bind(1, ref.name).bind(2, v).bind(3, k).bind(4, val).run();
  }
  ModelRecord r = load(ref.name, v);
  tx.commit();
  return r;
}

std::optional<int64_t> Registry::set_alias(const std::string& name, const std::string& alias, int64_t version) {
  validate_name(name, "model name");
  validate_alias(alias);
  if (version < 1) fail(ErrorKind::kInvalidArgument, "invalid version " + std::to_string(version) + ": versions start at 1");
  Tx tx(*db_, Tx::kWrite);
  ModelRef ref;
  ref.name = name;
  ref.version = version;
  resolve(ref);  // the version must exist
  std::optional<int64_t> before;
  {
    Stmt q(*db_, "SELECT version FROM aliases WHERE name = ? AND alias = ?");
    q.bind(1, name).bind(2, alias);
    if (q.step()) before = q.col_int(0);
  }
  Stmt(*db_,
       "INSERT INTO aliases(name, alias, version) VALUES(?, ?, ?) "
       "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version")
      .bind(1, name).bind(2, alias).bind(3, version).run();
  tx.commit();
  return before;
}

int64_t Registry::remove_alias(const std::string& name, const std::string& alias) {
  validate_name(name, "model name");
  validate_alias(alias);
  Tx tx(*db_, Tx::kWrite);
  ModelRef ref;
  ref.name = name;
  ref.alias = alias;
  const int64_t v = resolve(ref);
  Stmt(*db_, "DELETE FROM aliases WHERE name = ? AND alias = ?").bind(1, name).bind(2, alias).run();
  tx.commit();
  return v;
}

DeleteResult Registry::remove(const ModelRef& ref) {
  DeleteResult out;
  out.name = ref.name;
  std::vector<std::string> shas;
  {
    Tx tx(*db_, Tx::kWrite);
    if (ref.names_version()) {
      const int64_t v = resolve(ref);
      Stmt q(*db_, "SELECT sha256 FROM versions WHERE name = ? AND version = ?");
      q.bind(1, ref.name).bind(2, v);
      if (q.step()) shas.push_back(q.col_text(0));
      refuse_if_deployed(ref.name, v);
      Stmt(*db_, "DELETE FROM versions WHERE name = ? AND version = ?").bind(1, ref.name).bind(2, v).run();
      out.versions.push_back(v);
    } else {
      Stmt m(*db_, "SELECT 1 FROM models WHERE name = ?");
      m.bind(1, ref.name);
      if (!m.step()) not_found("no model named " + quote_str(ref.name));
      Stmt q(*db_, "SELECT version, sha256 FROM versions WHERE name = ? ORDER BY version");
      q.bind(1, ref.name);
      while (q.step()) {
        out.versions.push_back(q.col_int(0));
        shas.push_back(q.col_text(1));
      }
      refuse_if_deployed(ref.name, 0);
      // Versions, their tags and aliases go with the model (ON DELETE CASCADE).
      Stmt(*db_, "DELETE FROM models WHERE name = ?").bind(1, ref.name).run();
    }
    tx.commit();
  }
  // A crash here leaves orphan blobs, which are harmless (gc removes them).
  crash_point("rows-deleted");
  remove_unused_blobs(shas, out);
  return out;
}

void Registry::refuse_if_deployed(const std::string& name, int64_t version) {
  Stmt q(*db_, version ? "SELECT deployment, version FROM deployment_models WHERE name = ? AND version = ? ORDER BY 1"
                       : "SELECT deployment, version FROM deployment_models WHERE name = ? ORDER BY 1");
  q.bind(1, name);
  if (version) q.bind(2, version);
  if (q.step())
    fail(ErrorKind::kConflict, name + ":" + std::to_string(q.col_int(1)) + " is served by the deployment " +
                                   quote_str(q.col_text(0)) + "; update or delete that deployment first");
}

void Registry::remove_unused_blobs(const std::vector<std::string>& shas, DeleteResult& out) {
  const std::set<std::string> unique(shas.begin(), shas.end());
  if (unique.empty()) return;
  // Under the write lock, so that no register commits a row for one of these
  // blobs between the count and the unlink.
  Tx tx(*db_, Tx::kWrite);
  Stmt q(*db_, "SELECT count(*) FROM versions WHERE sha256 = ?");
  for (const auto& sha : unique) {
    q.reset();
    q.bind(1, sha);
    if (q.step() && q.col_int(0) == 0 && blobs_.remove(sha)) out.blobs_removed.push_back(sha);
  }
  tx.commit();
}

void Registry::read_blob(const ModelRecord& rec, const std::function<void(const char*, size_t)>& sink) {
  verified_blob(rec, sink);
}

int Registry::open_blob(const ModelRecord& rec) {
  Fd fd = verified_blob(rec, [](const char*, size_t) {});
  if (::lseek(fd.get(), 0, SEEK_SET) != 0)
    fail(ErrorKind::kIO, "the stored file of " + rec.name + ":" + std::to_string(rec.version) +
                             " cannot be rewound: " + errno_text(errno));
  return fd.release();
}

Fd Registry::verified_blob(const ModelRecord& rec, const std::function<void(const char*, size_t)>& sink) {
  const fs::path p = blobs_.path_for(rec.sha256);
  const std::string what = rec.name + ":" + std::to_string(rec.version);
  Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd)
    fail(errno == ENOENT ? ErrorKind::kCorrupt : ErrorKind::kIO,
         "the stored file of " + what + " (" + p.string() + ") cannot be opened: " + errno_text(errno) +
             "; run `pier workspace check`");
  Sha256 h;
  int64_t total = 0;
  std::vector<char> buf(1 << 20);
  for (;;) {
    const size_t n = read_some(fd.get(), buf.data(), buf.size(), p);
    if (n == 0) break;
    h.update(buf.data(), n);
    total += static_cast<int64_t>(n);
    sink(buf.data(), n);
  }
  if (total != rec.size || h.hex() != rec.sha256)
    fail(ErrorKind::kCorrupt, "the stored file of " + what + " (" + p.string() +
                                  ") does not match its sha256 and size; run `pier workspace check`");
  return fd;
}

fs::path Registry::download(const ModelRecord& rec, const fs::path& out) {
  fs::path target = out;
  std::error_code ec;
  if (fs::is_directory(target, ec)) target /= rec.name + "-" + std::to_string(rec.version) + ".onnx";
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    // A device, FIFO or socket (/dev/stdout, a pipe): write into it. The
    // rename below would replace the node itself with a regular file.
    Fd out_fd(::open(target.c_str(), O_WRONLY | O_CLOEXEC));
    if (!out_fd) fail(ErrorKind::kIO, target.string() + ": cannot open for writing (" + errno_text(errno) + ")");
    read_blob(rec, [&](const char* p, size_t n) { write_all(out_fd.get(), p, n, target); });
    return target;
  }
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, ec)) fail(ErrorKind::kNotFound, dir.string() + ": no such folder");
  const fs::path tmp = dir / temp_path_beside(target).filename();
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) fail(ErrorKind::kIO, tmp.string() + ": cannot create (" + errno_text(errno) + ")");
  try {
    read_blob(rec, [&](const char* p, size_t n) { write_all(fd.get(), p, n, tmp); });
    fsync_fd(fd.get(), tmp);
    fd = Fd();
    if (::rename(tmp.c_str(), target.c_str()) != 0)
      fail(ErrorKind::kIO, target.string() + ": cannot write (" + errno_text(errno) + ")");
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  return target;
}

}  // namespace pier::ws
