// The registry's tables, and the settings every connection uses.
#pragma once

#include <filesystem>
#include <memory>

#include "workspace/sqlite.h"

namespace pier::ws {

inline constexpr int kSchemaVersion = 1;

// Creates the database file in WAL mode with the registry's tables.
void create_schema(const std::filesystem::path& db);

// Opens an existing registry database: foreign keys on, synchronous=FULL,
// busy timeout. Refuses a schema newer than this build knows.
std::unique_ptr<Db> open_registry_db(const std::filesystem::path& db);

}  // namespace pier::ws
