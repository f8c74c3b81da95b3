// A thin RAII layer over SQLite: a connection, prepared statements and
// transactions. Every failure becomes a ws::Error naming the statement.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace pier::ws {

class Db {
 public:
  // Opens (or, with `create`, creates) the database file, with a busy
  // timeout so that concurrent writers wait for each other.
  Db(const std::filesystem::path& path, bool create, int busy_timeout_ms = 60000);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(const char* sql);
  // First column of the first row of a query, as text ("" when none).
  std::string query_text(const char* sql);
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int64_t changes();
  sqlite3* raw() { return db_; }
  [[noreturn]] void raise(int rc, std::string_view context);

 private:
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt(Db& db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Parameters are numbered from 1.
  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, int64_t v);
  Stmt& bind_null(int i);
  // True when a row is ready; false when the statement is done.
  bool step();
  // step() that must finish without a row.
  void run();
  void reset();

  int64_t col_int(int i) const;
  std::string col_text(int i) const;
  bool col_null(int i) const;

 private:
  Db& db_;
  sqlite3_stmt* st_ = nullptr;
  const char* sql_;
};

// BEGIN IMMEDIATE (takes the write lock at once, waiting up to the busy
// timeout) or BEGIN (deferred, for reads). Rolls back unless committed.
class Tx {
 public:
  enum Mode { kRead, kWrite };
  Tx(Db& db, Mode mode);
  ~Tx();
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;
  void commit();

 private:
  Db& db_;
  bool open_ = false;
};

}  // namespace pier::ws
