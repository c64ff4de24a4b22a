"""Time the compiled LZ counters against their numpy / Python references.

Three comparisons, each in this one run, on random binary matrices (and a
periodic and a half-repeated one) of the sizes the chaos protocol uses:

* LZ76 phrase count (``analysis.complexity``) on 1000 x 500 matrices: the
  suffix-array counter in numpy (the reference), the compiled suffix
  automaton, and ``lempel_ziv``, which picks one of them by density.
  ``--kaspar-schuster`` adds the classic Kaspar & Schuster (1987) loop,
  compiled: tens of seconds per matrix.
* The study's LZ count (``analysis.chaos_study.lz_study``) on 1000 x 5001
  matrices (0.1 ms bins over 0.5 s); the Python-set reference is timed on
  a 1000 x 501 slice (it takes seconds per million symbols).
* The study's Hamming slope on a 1000 x 501 matrix (1 ms bins): prefix sums
  against ``np.polyfit`` per window.

Every pair must give the same result (the script stops otherwise).  Times
are medians of ``--repeats`` runs (``time.perf_counter``), after a warm-up
that compiles the numba kernels.

    python benchmarks/lz_counter.py
    python benchmarks/lz_counter.py --repeats 7 --kaspar-schuster
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from analysis import chaos_study, complexity

DENSITIES_LZ76 = (0.001, 0.005, 0.01, 0.02, 0.2, 0.5)
DENSITIES_STUDY = (0.001, 0.01, 0.05, 0.5)


def median_time(function, *args, repeats=5):
    """Result of ``function(*args)`` and the median of ``repeats`` wall times in s."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return result, float(np.median(times))


def kaspar_schuster_count(s):
    """The Kaspar & Schuster (1987) phrase-count loop on a uint8 0/1 array (compile with numba).

    For each phrase it rescans all earlier starts from position 0, so it
    costs about n times the number of phrases, more with long runs.
    """
    n = s.size
    if n < 2:
        return n
    i, k, l, c, k_max = 0, 1, 1, 1, 1
    while True:
        if s[i + k - 1] == s[l + k - 1]:
            k += 1
            if l + k > n:
                c += 1
                break
        else:
            if k > k_max:
                k_max = k
            i += 1
            if i == l:  # no earlier start gives a longer copy: the phrase ends
                c += 1
                l += k_max
                if l + 1 > n:
                    break
                i, k, k_max = 0, 1, 1
            else:
                k = 1
    return c


def lz76_inputs(rng):
    """Named (1000 x 500) bool matrices: random densities, periodic, half repeated."""
    inputs = {f"density {p:g}": rng.random((1000, 500)) < p for p in DENSITIES_LZ76}
    inputs["periodic (7 bins), 0.3"] = np.tile(rng.random((1000, 7)) < 0.3, (1, 72))[:, :500]
    half = rng.random((1000, 500)) < 0.5
    half[:, :250] = half[:, 250:]
    inputs["half repeated, 0.5"] = half
    return inputs


def bench_lz76(rng, repeats, with_kaspar_schuster):
    print("LZ76 phrase count, 1000 x 500 (500 000 symbols), ms:")
    print(f"  {'input':24s} {'count':>7s} {'numpy':>8s} {'compiled':>9s} {'ratio':>6s} "
          f"{'lempel_ziv':>10s}" + ("  Kaspar-Schuster" if with_kaspar_schuster else ""))
    ks = None
    if with_kaspar_schuster:
        import numba

        ks = numba.njit(kaspar_schuster_count)
        ks(np.zeros(3, dtype=np.uint8))
    for name, x in lz76_inputs(rng).items():
        bits = complexity._as_binary_sequence(x)
        ref, t_ref = median_time(complexity._phrase_count_numpy, bits, repeats=repeats)
        fast, t_fast = median_time(complexity._phrase_count_compiled, bits, repeats=repeats)
        chosen, t_chosen = median_time(complexity.lempel_ziv, x, repeats=repeats)
        if not ref == fast == chosen:
            raise SystemExit(f"{name}: counts differ: numpy {ref}, compiled {fast}, "
                             f"lempel_ziv {chosen}")
        line = (f"  {name:24s} {ref:7d} {t_ref * 1e3:8.1f} {t_fast * 1e3:9.1f} "
                f"{t_ref / t_fast:6.1f} {t_chosen * 1e3:10.1f}")
        if ks is not None:
            count, t_ks = median_time(ks, bits.view(np.uint8), repeats=1)
            if count != ref:
                raise SystemExit(f"{name}: Kaspar-Schuster gives {count}, numpy {ref}")
            line += f"  {t_ks * 1e3:15.0f}"
        print(line, flush=True)


def bench_lz_study(rng, repeats):
    print("study LZ (dictionary parse), ms:")
    print(f"  {'density':>8s} {'1000x5001':>10s} {'phrases':>8s} | {'1000x501':>9s} "
          f"{'reference':>10s} {'ratio':>7s}")
    for p in DENSITIES_STUDY:
        x = (rng.random((1000, 5001)) < p).astype(np.uint8)
        count, t_full = median_time(chaos_study.lz_study, x, repeats=repeats)
        part = x[:, :501]
        fast, t_fast = median_time(chaos_study.lz_study, part, repeats=repeats)
        ref, t_ref = median_time(chaos_study.lz_study_reference, part, repeats=1)
        if fast != ref:
            raise SystemExit(f"density {p}: lz_study {fast}, reference {ref}")
        print(f"  {p:8g} {t_full * 1e3:10.1f} {count:8d} | {t_fast * 1e3:9.2f} "
              f"{t_ref * 1e3:10.0f} {t_ref / t_fast:7.0f}", flush=True)


def bench_slope(rng, repeats):
    bins = np.arange(501)
    distance = np.clip(2.0 * (bins - 60) + rng.normal(0, 5, bins.size), 0, 999).astype(int)
    x = (np.arange(1000)[:, None] < distance[None, :]).astype(np.uint8)
    fast, t_fast = median_time(chaos_study.hamming_slope_study, x, repeats=repeats)
    ref, t_ref = median_time(chaos_study.hamming_slope_study_reference, x, repeats=1)
    if not np.isclose(fast, ref, rtol=1e-9, atol=0):
        raise SystemExit(f"slopes differ: {fast} and {ref}")
    print(f"study Hamming slope, 1000 x 501: prefix sums {t_fast * 1e3:.2f} ms, "
          f"polyfit per window {t_ref * 1e3:.0f} ms, ratio {t_ref / t_fast:.0f} "
          f"(slope {fast:.4f} neurons/ms)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per timing (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kaspar-schuster", action="store_true",
                        help="also time the compiled Kaspar-Schuster loop (minutes)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print("warm-up (compiles or loads the numba kernels) ...", flush=True)
    complexity._phrase_count_compiled(np.array([True, False]))
    chaos_study.lz_study([[0, 1]])
    bench_lz76(rng, args.repeats, args.kaspar_schuster)
    bench_lz_study(rng, args.repeats)
    bench_slope(rng, args.repeats)


if __name__ == "__main__":
    main()
