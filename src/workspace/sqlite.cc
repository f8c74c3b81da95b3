#include "workspace/sqlite.h"

#include <sqlite3.h>

#include "workspace/error.h"

namespace pier::ws {

Db::Db(const std::filesystem::path& path, bool create, int busy_timeout_ms) {
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    fail(rc == SQLITE_CANTOPEN ? ErrorKind::kNotFound : ErrorKind::kIO,
         path.string() + ": cannot open the registry database (" + msg + ")");
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
}

Db::~Db() { sqlite3_close_v2(db_); }

void Db::raise(int rc, std::string_view context) {
  const int primary = rc & 0xff;
  std::string msg = "registry database: " + std::string(context) + ": " + sqlite3_errmsg(db_);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
    fail(ErrorKind::kBusy, msg + " (another process held the workspace's write lock for too long; try again)");
  if (primary == SQLITE_CONSTRAINT) fail(ErrorKind::kConflict, msg);
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) fail(ErrorKind::kCorrupt, msg);
  fail(ErrorKind::kIO, msg);
}

void Db::exec(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    sqlite3_free(err);
    raise(rc, sql);
  }
}

int64_t Db::changes() { return sqlite3_changes64(db_); }

std::string Db::query_text(const char* sql) {
  Stmt st(*this, sql);
  return st.step() ? st.col_text(0) : std::string();
}

Stmt::Stmt(Db& db, const char* sql) : db_(db), sql_(sql) {
  const int rc = sqlite3_prepare_v2(db.raw(), sql, -1, &st_, nullptr);
  if (rc != SQLITE_OK) db_.raise(rc, sql);
}

Stmt::~Stmt() { sqlite3_finalize(st_); }

Stmt& Stmt::bind(int i, std::string_view v) {
  const int rc = sqlite3_bind_text64(st_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) db_.raise(rc, sql_);
  return *this;
}

Stmt& Stmt::bind(int i, int64_t v) {
  const int rc = sqlite3_bind_int64(st_, i, v);
  if (rc != SQLITE_OK) db_.raise(rc, sql_);
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  const int rc = sqlite3_bind_null(st_, i);
  if (rc != SQLITE_OK) db_.raise(rc, sql_);
  return *this;
}

bool Stmt::step() {
  const int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(st_);
  db_.raise(rc, sql_);
}

void Stmt::run() {
  while (step()) {
  }
}

void Stmt::reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}

int64_t Stmt::col_int(int i) const { return sqlite3_column_int64(st_, i); }

std::string Stmt::col_text(int i) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, i));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, i))) : std::string();
}

bool Stmt::col_null(int i) const { return sqlite3_column_type(st_, i) == SQLITE_NULL; }

Tx::Tx(Db& db, Mode mode) : db_(db) {
  db_.exec(mode == kWrite ? "BEGIN IMMEDIATE" : "BEGIN");
  open_ = true;
}

Tx::~Tx() {
  if (open_) sqlite3_exec(db_.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Tx::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

}  // namespace pier::ws
