// SPDX-License-Identifier: MIT
// The JSON Schema (draft 2020-12) of the spec file format, as `forkspawn
// schema` prints it. It describes what the spec's validator (src/spec)
// accepts as to keys and types: an unknown key, a value of the wrong type, a
// name outside an enum or a command field on a nursery is rejected by both.
// What only the validator can judge (a sibling named in `after`, cycles, a
// regular expression's syntax, a signal that exists, the 8760h limit) stays
// the validator's; the schema's patterns are no narrower than it.
#pragma once

#include <string_view>

namespace forkspawn::spec {

// The schema as JSON text, one object, ending in a newline.
std::string_view json_schema();

} // namespace forkspawn::spec
