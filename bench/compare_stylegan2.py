#!/usr/bin/python3
"""StyleGAN2 forward timings: the PyTorch reference model (tests/reference/stylegan2_torch.py,
NVIDIA stylegan2-ada-pytorch semantics) against vkgrad's, on the full config-f networks.

Run with Debian's python3-torch:
  /usr/bin/python3 bench/compare_stylegan2.py [--only torch|vkgrad|both] [--reps 3] [--cases G256,D512x4]
                                              [--upconv transpose,zero_insert]

Cases (config-f: channel_base 32768, channel_max 512, z = w = 512, 8 mapping layers; float32, CPU,
2 threads, torch.no_grad, deterministic parameters as in tests/reference/make_stylegan2_fixtures.py):
  G256, G512, G1024   generator, batch 1, psi 1, noise const, z = RandomState(0).randn(1, 512)
  D512x1, D512x4      discriminator at 512 px, batch 1 and 4, mbstd group 4, det 'd_input' images

Each side's time is the median of --reps requests after one warm-up request; the two sides'
requests are interleaved with short pauses (PyTorch's OpenMP workers spin for a few ms after each
call; on two cores they would steal the CPUs from whichever side runs next). Every torch case runs
in its own worker process, so its peak RSS (getrusage ru_maxrss of that process) is per case. It
includes the Python + torch runtime (~225 MB with Debian's torch 1.13) and the parameters;
torch_rss_after_build_mb is the same measure taken before the first forward.

The generator is timed twice by default: "transpose" runs the up-sampling conv with
F.conv_transpose2d as NVIDIA's code does (on CPU this is aten::slow_conv_transpose2d, no oneDNN),
"zero_insert" with a zero-inserted F.conv2d (oneDNN, 3-4x faster). The discriminator has no
transposed conv, so it runs once.

Output: progress lines on stderr, one JSON document on stdout:
  {"threads": 2, "reps": 3, "cases": [{"case": "G256", "torch_ms": {"transpose": .., "zero_insert": ..},
   "torch_peak_rss_mb": {...}, "vkgrad_ms": null, "vkgrad_peak_rss_mb": null}, ...]}
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.normpath(os.path.join(HERE, "..", "tests", "reference"))

CASES = {  # name: (kind, resolution, batch)
    "G256": ("G", 256, 1),
    "G512": ("G", 512, 1),
    "G1024": ("G", 1024, 1),
    "D512x1": ("D", 512, 1),
    "D512x4": ("D", 512, 4),
}
THREADS = 2
PAUSE_S = 0.03


# ------------------------------------------------------------------------------------------ vkgrad

BUILD = os.environ.get("VKGRAD_BUILD", os.path.normpath(os.path.join(HERE, "..", "build")))
_VK = {}  # case -> running bench_stylegan2 process
_VK_RSS = {}


def _vk_worker(case):
    if case not in _VK:
        exe = os.path.join(BUILD, "bench", "bench_stylegan2")
        if not os.path.exists(exe):
            sys.exit(f"{exe} not found: configure with -Dbenchmarks=true and build (or set VKGRAD_BUILD)")
        kind, res, batch = CASES[case]
        p = subprocess.Popen([exe, str(THREADS), kind, str(res), str(batch)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, bufsize=1)
        out = p.stdout.readline().split()
        if len(out) != 2 or out[0] != "ready":
            sys.exit(f"bench_stylegan2 for {case} did not start: {out}")
        _VK[case] = p
    return _VK[case]


def run_vkgrad(case):
    """Milliseconds of one vkgrad forward of `case` (build/bench/bench_stylegan2, one process per
    case kept alive across requests), or None in the --only torch mode."""
    if not WITH_VKGRAD:
        return None
    p = _vk_worker(case)
    p.stdin.write("run\n")
    out = p.stdout.readline().strip()
    try:
        return float(out)
    except ValueError:
        sys.exit(f"bench_stylegan2 failed on {case}: {out!r}")


def vkgrad_peak_rss_mb(case):
    """Peak RSS (MB) of the vkgrad process for `case`; ends that process."""
    if case in _VK_RSS:
        return _VK_RSS[case]
    if case not in _VK:
        return None
    p = _VK.pop(case)
    p.stdin.write("quit\n")
    _VK_RSS[case] = float(p.stdout.readline().strip())
    p.wait()
    return _VK_RSS[case]


WITH_VKGRAD = True


# ------------------------------------------------------------------------------------------ torch

def worker(case, upconv):
    """Runs in a child process: build the model, then answer 'run' with the ms of one forward,
    'quit' with the peak RSS in MB."""
    sys.path.insert(0, REF)
    import numpy as np
    import torch

    import stylegan2_torch as S
    from detparam import det_tensor
    from make_stylegan2_fixtures import det_fill

    torch.set_num_threads(THREADS)
    S.set_upconv_impl(upconv)
    kind, res, batch = CASES[case]
    if kind == "G":
        model = det_fill(S.Generator(S.Config(resolution=res)))
        inp = torch.from_numpy(np.random.RandomState(0).randn(batch, 512).astype(np.float32))

        def fwd():
            return model(inp, psi=1.0, noise_mode="const")
    else:
        model = det_fill(S.Discriminator(S.Config(resolution=res, mbstd_group=4)))
        inp = torch.from_numpy(det_tensor([batch, 3, res, res], 11, "d_input", 1.0))

        def fwd():
            return model(inp)
    print(f"ready {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "run":
            with torch.no_grad():
                t0 = time.perf_counter()
                fwd()
                ms = (time.perf_counter() - t0) * 1e3
            print(f"{ms:.3f}", flush=True)
        elif cmd == "quit":
            print(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}", flush=True)
            return


class TorchWorker:
    def __init__(self, case, upconv):
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", case, "--upconv", upconv],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        out = self.p.stdout.readline().split()
        if len(out) != 2 or out[0] != "ready":
            sys.exit(f"torch worker for {case} did not start: {out}")
        self.rss_after_build = float(out[1])  # MB: torch runtime + parameters + det_fill temporaries

    def _ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        out = self.p.stdout.readline().strip()
        try:
            return float(out)
        except ValueError:
            sys.exit(f"torch worker failed on '{cmd}': {out!r}")

    def run(self):
        return self._ask("run")

    def close(self):
        rss = self._ask("quit")
        self.p.wait()
        return rss


def bench_case(case, upconvs, reps, with_torch=True):
    kind = CASES[case][0]
    res = {"case": case, "torch_ms": {}, "torch_peak_rss_mb": {}, "torch_rss_after_build_mb": {},
           "vkgrad_ms": None, "vkgrad_peak_rss_mb": None}
    impls = upconvs if kind == "G" else ["transpose"]
    vk_times = []
    for n, impl in enumerate(impls):
        tw = TorchWorker(case, impl) if with_torch else None
        if tw:
            tw.run()  # warm-up
        if n == 0:
            run_vkgrad(case)  # warm-up
        tt = []
        for _ in range(reps):
            if n == 0:
                time.sleep(PAUSE_S)
                v = run_vkgrad(case)
                if v is not None:
                    vk_times.append(v)
            if tw:
                time.sleep(PAUSE_S)
                tt.append(tw.run())
        if tw:
            key = impl if kind == "G" else "default"
            res["torch_ms"][key] = round(statistics.median(tt), 1)
            res["torch_peak_rss_mb"][key] = tw.close()
            res["torch_rss_after_build_mb"][key] = tw.rss_after_build
            print(f"{case:<8} torch {key:<12} {res['torch_ms'][key]:>10.1f} ms  (all {[round(t) for t in tt]}), "
                  f"peak RSS {res['torch_peak_rss_mb'][key]:.0f} MB ({tw.rss_after_build:.0f} MB before the "
                  f"first forward)", file=sys.stderr, flush=True)
    if vk_times:
        res["vkgrad_ms"] = round(statistics.median(vk_times), 1)
        res["vkgrad_peak_rss_mb"] = vkgrad_peak_rss_mb(case)
        print(f"{case:<8} vkgrad {res['vkgrad_ms']:>10.1f} ms", file=sys.stderr, flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["torch", "vkgrad", "both"], default="both",
                    help="which side to time")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--upconv", default="transpose,zero_insert",
                    help="generator up-conv implementations to time (transpose, zero_insert)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.upconv)
        return
    global WITH_VKGRAD
    WITH_VKGRAD = args.only in ("vkgrad", "both")
    cases = [c for c in args.cases.split(",") if c]
    for c in cases:
        if c not in CASES:
            sys.exit(f"unknown case {c}; known: {', '.join(CASES)}")
    upconvs = [u for u in args.upconv.split(",") if u]
    out = {"threads": THREADS, "reps": args.reps, "statistic": "median after 1 warm-up", "dtype": "float32",
           "config": "config-f (channel_base 32768, channel_max 512, z=w=512, 8 mapping layers)",
           "generator": "batch 1, psi 1, noise const", "discriminator": "mbstd group 4", "cases": []}
    for c in cases:
        out["cases"].append(bench_case(c, upconvs, args.reps, with_torch=args.only in ("torch", "both")))
    print_table(out["cases"])
    print(json.dumps(out, indent=1))


def gflop(case):
    """Multiply-adds x 2 of the convolutions and linear layers (everything else is < 1%)."""
    kind, R, N = CASES[case]
    C = lambda r: min(32768 // r, 512)
    macs = 0
    if kind == "G":
        macs += 8 * 512 * 512
        r = 4
        while r <= R:
            macs += 9 * C(r) ** 2 * r * r                           # conv1
            if r > 4:
                macs += 9 * C(r // 2) * C(r) * (r // 2) ** 2      # conv0: transposed, at the input size
            macs += 3 * C(r) * r * r + 3 * 512 * C(r)             # toRGB and the affines
            r *= 2
    else:
        macs += 3 * C(R) * R * R
        r = R
        while r >= 8:
            macs += 9 * C(r) ** 2 * r * r + 9 * C(r) * C(r // 2) * (r // 2) ** 2 + C(r) * C(r // 2) * (r // 2) ** 2
            r //= 2
        macs += 9 * (C(4) + 1) * C(4) * 16 + 16 * C(4) * C(4) + C(4)
    return 2 * macs * N / 1e9


def print_table(rows):
    print(f"{'case':<8} {'vkgrad ms':>10} {'torch ms':>10} {'(other)':>10} {'ratio':>6} {'GF/s vk':>8} {'GF/s t':>7} "
          f"{'RSS vk MB':>10} {'RSS t MB':>9}", file=sys.stderr)
    for r in rows:
        t = r["torch_ms"]
        if not t or r["vkgrad_ms"] is None:
            continue
        best = min(t, key=t.get)  # compare with PyTorch's faster variant
        other = [v for k, v in t.items() if k != best]
        g = gflop(r["case"])
        print(f"{r['case']:<8} {r['vkgrad_ms']:>10.1f} {t[best]:>10.1f} {other[0] if other else float('nan'):>10.1f} "
              f"{r['vkgrad_ms'] / t[best]:>6.2f} {g / r['vkgrad_ms'] * 1e3:>8.1f} {g / t[best] * 1e3:>7.1f} "
              f"{r['vkgrad_peak_rss_mb'] or float('nan'):>10.0f} {r['torch_peak_rss_mb'][best]:>9.0f}", file=sys.stderr)


if __name__ == "__main__":
    main()
