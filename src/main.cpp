// SPDX-License-Identifier: MIT
#include "forkspawn/cli.hpp"

int main(int argc, char** argv) {
    return forkspawn::cli::run(argc, argv);
}
