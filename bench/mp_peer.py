#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Peer for the spawn-cost bench: Python's multiprocessing start methods.

For each of fork, forkserver and spawn: start N processes whose target does
nothing, then join them all; ms per process, one figure per repetition.
Prints one JSON object per method on stdout:
    {"method": "fork", "n": 200, "ms_per_process": [0.61, 0.58, 0.60]}
Run by forkspawn_bench_spawn_cost --mp-peer=bench/mp_peer.py; standard
library only.
"""
import json
import multiprocessing as mp
import sys
import time


def noop():
    pass


def run(ctx, n):
    t0 = time.perf_counter()
    procs = [ctx.Process(target=noop) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return (time.perf_counter() - t0) * 1000.0 / n


def main():
    quick = "--quick" in sys.argv
    reps = 2 if quick else 3
    # spawn starts a whole interpreter per process: fewer of them.
    sizes = {"fork": 200, "forkserver": 200, "spawn": 20 if quick else 40}
    if quick:
        sizes = {k: max(10, v // 2) for k, v in sizes.items()}
    for method in ("fork", "forkserver", "spawn"):
        try:
            ctx = mp.get_context(method)
        except ValueError:
            continue
        run(ctx, 2)  # warm-up: the forkserver starts here
        figures = [run(ctx, sizes[method]) for _ in range(reps)]
        print(json.dumps({"method": method, "n": sizes[method], "ms_per_process": figures}),
              flush=True)


if __name__ == "__main__":
    main()
