"""Timing vkgrad against PyTorch in the same run, request by request (used by compare_*.py).

A vkgrad bench program reads one request per line on stdin and answers with its time in
milliseconds; `Interleaved` keeps one running and times each request alternately with a PyTorch
function doing the same work, so both see the same machine load. These machines are shared and
noisy: only the ratio of the two medians is meant to be read.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time


def parse_args(description):
    """The options every compare_*.py takes: --build DIR, --reps N (default 5), --filter TEXT."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--filter", default="", help="only the rows whose name contains this")
    return ap.parse_args()


class Interleaved:
    def __init__(self, build, program, threads=2):
        exe = os.path.join(build, "bench", program)
        if not os.path.exists(exe):
            sys.exit(f"{exe} not found: configure with  meson setup {build} -Dbenchmarks=true  and build it")
        self.program = program
        self.proc = subprocess.Popen([exe, str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     bufsize=1)

    def vkgrad_ms(self, request):
        self.proc.stdin.write(request + "\n")
        out = self.proc.stdout.readline().strip()
        try:
            return float(out)
        except ValueError:
            sys.exit(f"{self.program} failed on '{request}': {out}")

    def medians(self, request, torch_ms, reps):
        """(vkgrad median, torch median) in ms over `reps` alternating runs, after one warm-up
        of each; torch_ms() runs the PyTorch side once and returns its time in ms."""
        self.vkgrad_ms(request)
        torch_ms()
        tv, tt = [], []
        for _ in range(reps):
            # PyTorch's OpenMP workers spin for a few ms after each call; on two cores they would
            # steal the CPUs from whichever side runs next. A pause lets both start quiet.
            time.sleep(0.03)
            tv.append(self.vkgrad_ms(request))
            time.sleep(0.03)
            tt.append(torch_ms())
        return statistics.median(tv), statistics.median(tt)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def timed_ms(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3
