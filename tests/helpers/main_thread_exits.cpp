// SPDX-License-Identifier: MIT
// A process whose main thread exits while another thread runs on: /proc
// shows its leader as a zombie ('Z') and its environ as empty, yet it is
// alive and would be until killed. It leaves its actor's process group
// (setsid) so that only a sweep can find it. Used by the teardown tests.
#include <pthread.h>
#include <unistd.h>

namespace {

void* wait_forever(void*) {
    for (;;)
        ::pause();
}

} // namespace

int main() {
    if (::setsid() < 0) return 1;
    pthread_t thread;
    if (::pthread_create(&thread, nullptr, wait_forever, nullptr) != 0) return 1;
    ::pthread_exit(nullptr);
}
