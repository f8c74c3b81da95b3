#include "workspace/schema.h"

#include "workspace/error.h"

namespace pier::ws {

namespace {

// Tags and aliases hang off a version and go with it (ON DELETE CASCADE).
// models.next_version only grows, so a deleted version's number is never
// given to different content; deleting a whole model removes its row.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS models(
  name TEXT PRIMARY KEY NOT NULL,
  next_version INTEGER NOT NULL CHECK(next_version >= 1),
  created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions(
  name TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
  version INTEGER NOT NULL CHECK(version >= 1),
  sha256 TEXT NOT NULL CHECK(length(sha256) = 64),
  size INTEGER NOT NULL CHECK(size >= 0),
  description TEXT NOT NULL,
  properties TEXT NOT NULL,
  inputs TEXT NOT NULL,
  outputs TEXT NOT NULL,
  opsets TEXT NOT NULL,
  producer_name TEXT NOT NULL,
  producer_version TEXT NOT NULL,
  ir_version INTEGER NOT NULL,
  warnings TEXT NOT NULL,
  created TEXT NOT NULL,
  PRIMARY KEY(name, version)
);
CREATE INDEX IF NOT EXISTS versions_by_sha ON versions(sha256);
CREATE TABLE IF NOT EXISTS tags(
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY(name, version, key),
  FOREIGN KEY(name, version) REFERENCES versions(name, version) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tags_by_key ON tags(key, value);
CREATE TABLE IF NOT EXISTS aliases(
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY(name, alias),
  FOREIGN KEY(name, version) REFERENCES versions(name, version) ON DELETE CASCADE
);
)sql";

// Version 2: local deployments (src/deploy/, docs/deployment.md). A
// deployment serves the models of its current generation; during an update
// the next generation's models are there too. A version that a deployment
// serves cannot be deleted (the foreign key has no ON DELETE action, and
// Registry::remove says which deployment uses it).
constexpr const char* kDeploymentsSchema = R"sql(
CREATE TABLE IF NOT EXISTS deployments(
  name TEXT PRIMARY KEY NOT NULL,
  state TEXT NOT NULL CHECK(state IN ('Creating', 'Healthy', 'Updating', 'Failed', 'Deleting')),
  host TEXT NOT NULL,
  port INTEGER NOT NULL CHECK(port BETWEEN 1 AND 65535),
  generation INTEGER NOT NULL CHECK(generation >= 1),
  target_generation INTEGER NOT NULL CHECK(target_generation >= generation),
  spec TEXT NOT NULL,
  target_spec TEXT NOT NULL,
  supervisor_pid INTEGER NOT NULL DEFAULT 0,
  supervisor_start INTEGER NOT NULL DEFAULT 0,
  servers TEXT NOT NULL DEFAULT '[]',
  restarts INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  created TEXT NOT NULL,
  updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deployment_models(
  deployment TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,
  generation INTEGER NOT NULL,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY(deployment, generation, position),
  FOREIGN KEY(name, version) REFERENCES versions(name, version)
);
CREATE INDEX IF NOT EXISTS deployment_models_by_version ON deployment_models(name, version);
)sql";

// synchronous=FULL: in WAL mode NORMAL is also crash-consistent, but a
// commit can be lost to a power cut after the command said "registered";
// registers are rare and already fsync the model file, so the one extra
// fsync per commit is cheap insurance.
void configure(Db& db) {
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA synchronous = FULL");
}

}  // namespace

void create_schema(const std::filesystem::path& path) {
  Db db(path, /*create=*/true);
  if (db.query_text("PRAGMA journal_mode = WAL") != "wal")
    fail(ErrorKind::kIO, path.string() + ": the file system does not support SQLite's WAL mode");
  configure(db);
  Tx tx(db, Tx::kWrite);
  db.exec(kSchema);
  db.exec(kDeploymentsSchema);
  db.exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
  tx.commit();
}

std::unique_ptr<Db> open_registry_db(const std::filesystem::path& path) {
  auto db = std::make_unique<Db>(path, /*create=*/false);
  configure(*db);
  std::string v = db->query_text("PRAGMA user_version");
  if (v == "1") {
    // A workspace from before deployments: add their tables, once, under
    // the write lock (another process may be doing the same).
    Tx tx(*db, Tx::kWrite);
    v = db->query_text("PRAGMA user_version");
    if (v == "1") {
      db->exec(kDeploymentsSchema);
      db->exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
      v = std::to_string(kSchemaVersion);
    }
    tx.commit();
  }
  if (v != std::to_string(kSchemaVersion)) {
    if (v == "0") fail(ErrorKind::kCorrupt, path.string() + ": the registry database has no schema");
    fail(ErrorKind::kConflict, path.string() + ": the registry's schema version " + v +
                                   " is not the one this pier knows (" + std::to_string(kSchemaVersion) + ")");
  }
  return db;
}

}  // namespace pier::ws
