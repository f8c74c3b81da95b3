// The workspace names blobs by SHA-256: see common/sha256.h.
#pragma once

#include "common/sha256.h"

namespace pier::ws {

using pier::is_sha256_hex;
using pier::Sha256;
using pier::sha256_hex;

}  // namespace pier::ws
