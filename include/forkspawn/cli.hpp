// SPDX-License-Identifier: MIT
// The command line: parses arguments (CLI11), dispatches to check/run/
// backends, and is the only place that prints errors for people and chooses
// the exit code.
#pragma once

namespace forkspawn::cli {

int run(int argc, char** argv);

} // namespace forkspawn::cli
