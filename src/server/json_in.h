// JSON arrays to engine tensors (simdjson DOM).
//
// Shapes are checked before anything is allocated: a nested array must be
// rectangular, and a tensor's element count can never exceed the number of
// leaves actually present in the document.
#pragma once

#include <simdjson.h>

#include <string>

#include "pier/engine.h"

namespace pier::server {

// Parses `text` with this thread's parser; the result stays valid until the
// thread's next parse_json. Invalid JSON, including invalid UTF-8, throws
// RequestError(400) with simdjson's reason; `what` names the text ("the
// body", "the inference header").
simdjson::dom::element parse_json(std::string_view text, const char* what);

// The shape given by nested arrays (a scalar gives []), after checking that
// every array at depth d has the same length and every leaf is at the same
// depth. Throws RequestError(400) naming `who` ("input \"x\"").
Shape nested_shape(simdjson::dom::element data, const std::string& who);

// Converts the leaves of `data`, in row-major order, to a tensor of `dtype`
// and `shape`. `data` must already be known to hold exactly numel(shape)
// leaves (nested_shape, or a flat array of that length). Numbers are cast to
// dtype: integers must be integral and in range, booleans take true/false
// or 0/1, strings take JSON strings. Throws RequestError(400) naming the
// offending element.
Tensor json_to_tensor(simdjson::dom::element data, DataType dtype, const Shape& shape, const std::string& who);

// "[0,3]": the index of flat element `k` in `shape`.
std::string index_str(const Shape& shape, int64_t k);

}  // namespace pier::server
