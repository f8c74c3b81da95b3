// The registry's tables, and the settings every connection uses.
#pragma once

#include <filesystem>
#include <memory>

#include "workspace/sqlite.h"

namespace pier::ws {

// 1: the registry; 2: + deployments (a version-1 database is migrated when
// it is opened).
inline constexpr int kSchemaVersion = 2;

// Creates the database file in WAL mode with the registry's tables.
void create_schema(const std::filesystem::path& db);

// Opens an existing registry database: foreign keys on, synchronous=FULL,
// busy timeout. Migrates an older schema; refuses one newer than this
// build knows.
std::unique_ptr<Db> open_registry_db(const std::filesystem::path& db);

}  // namespace pier::ws
