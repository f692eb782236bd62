// SPDX-License-Identifier: MIT
// An actor that measures what it uses, for the usage tests: `cpu MS FILE`
// spins until it has used MS milliseconds of CPU, `alloc MIB FILE` touches
// MIB MiB of memory; each then writes its own measure to FILE and _exits at
// once (an interpreter's exit can cost more CPU than the work measured).
//   cpu:   "USER_MS SYSTEM_MS" (getrusage of itself)
//   alloc: "KIB" (its peak resident size, VmHWM of /proc/self/status)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/resource.h>
#include <unistd.h>

namespace {

double cpu_ms() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

double ms(const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 4) return 2;
    const long amount = std::strtol(argv[2], nullptr, 10);
    FILE* out = std::fopen(argv[3], "w");
    if (!out) return 2;
    if (std::strcmp(argv[1], "cpu") == 0) {
        volatile unsigned long sink = 0;
        const double until = cpu_ms() + static_cast<double>(amount);
        while (cpu_ms() < until)
            for (int k = 0; k < 100000; ++k)
                sink = sink + static_cast<unsigned long>(k);
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        std::fprintf(out, "%f %f\n", ms(ru.ru_utime), ms(ru.ru_stime));
    } else if (std::strcmp(argv[1], "alloc") == 0) {
        const std::size_t size = static_cast<std::size_t>(amount) << 20;
        char* p = static_cast<char*>(std::malloc(size));
        if (!p) return 3;
        for (std::size_t k = 0; k < size; k += 4096)
            p[k] = 1;
        FILE* status = std::fopen("/proc/self/status", "r");
        char line[256];
        while (status && std::fgets(line, sizeof line, status))
            if (std::strncmp(line, "VmHWM:", 6) == 0)
                std::fprintf(out, "%ld\n", std::atol(line + 6));
    } else {
        return 2;
    }
    std::fflush(out);
    _exit(0);
}
