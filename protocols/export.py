"""Export a chaos or heterogeneity-grid result file in the study's pickle format.

The suite replaces the chaos code of the spiking-RNN heterogeneity study,
whose users have scripts that read ``chaos_results_session_<session>.pkl``: a
list of plain dicts, one per ``(v_th_std, g_std)`` point, ordered
``v_th_std``-major then ``g_std`` (their scripts reshape ``lz_mean`` into an
``(n_v_th, n_g)`` grid on that assumption).  :func:`export_pickle` writes that
file, and the study's ``experiment_summary_session_<session>.txt``, from a
``results.h5`` of the experiments ``chaos`` (one point) or
``heterogeneity_grid``.  The study's fields hold the study's measures (the
datasets ``lz_study`` and ``hamming_slope_study``), so ``lz_mean`` and
``hamming_mean`` mean what they meant there; the suite's own measures ride
along under new keys (``lz76``, ``lz76_normalised``, ``hamming_growth_slope``).
The field table is in ``docs/results.md`` ("Exporting the study's pickle").

Run it::

    snnsuite export results/grid/results.h5 --format pickle            # beside results.h5
    snnsuite export results/grid/results.h5 --format pickle --out exported --overwrite

Nothing is replaced unless ``overwrite=True`` (``--overwrite``); both files
are written under temporary names, synced, then renamed (atomic on POSIX), so a
killed export leaves either the old file or the new one, never half of one.
"""
from __future__ import annotations

import os
import pickle
import time
import warnings
from pathlib import Path

import numpy as np

from analysis.results import DamagedFileError, load
from protocols.config import UsageError

FORMATS = ("pickle",)  # --format choices
EXPERIMENTS = ("chaos", "heterogeneity_grid")  # protocols whose points carry the study's measures
PICKLE_PROTOCOL = 4  # readable by every Python 3 since 3.4 (5, the 3.11 default, needs 3.8)

# what every point must hold (written since the study's measures were added to chaos.measure)
STUDY_DATA = ("lz_study", "hamming_slope_study")          # the study's LZ count, slope (neurons/ms)
SUITE_DATA = ("lz", "lz_phrases", "hamming_slope", "perturbed_neurons")  # per trial
POINT_ATTRS = ("v_th_std", "g_std", "n_trials", "n_neurons", "block_id", "compute_time_s",
               "rate_mean", "cv_mean", "trials")


class PartialGridWarning(UserWarning):
    """A grid exported before all its points were computed (the study's reshape fails on it)."""


def pickle_name(session: int) -> str:
    """File name of the study's result pickle.

    >>> pickle_name(3)
    'chaos_results_session_3.pkl'
    """
    return f"chaos_results_session_{int(session)}.pkl"


def summary_name(session: int) -> str:
    """File name of the study's plain-text summary.

    >>> summary_name(3)
    'experiment_summary_session_3.txt'
    """
    return f"experiment_summary_session_{int(session)}.txt"


def _counts(values) -> np.ndarray:
    """Phrase counts as ``int64`` when they are whole numbers (stored as floats), else as stored.

    >>> _counts(np.array([3.0, 5.0])).dtype.name, _counts(np.array([3.0, np.nan])).dtype.name
    ('int64', 'float64')
    """
    values = np.array(values)
    whole = values.dtype.kind == "f" and np.isfinite(values).all() \
        and (values == np.round(values)).all()
    return values.astype(np.int64) if whole else values


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """``np.mean`` and ``np.std`` (ddof 0) as the study computed them; NaN for no trials."""
    if values.size == 0:
        return float("nan"), float("nan")
    return float(np.mean(values)), float(np.std(values))


def _check_points(result, path: Path) -> None:
    """Refuse a result that is not a chaos experiment or lacks what the pickle needs."""
    if result.protocol not in EXPERIMENTS:
        raise UsageError(f"{path}: a {result.protocol!r} result; the study's pickle is made from "
                         f"the experiments {' or '.join(map(repr, EXPERIMENTS))} "
                         "(snnsuite run configs/heterogeneity_grid.yaml)")
    if not result.points:
        raise UsageError(f"{path}: holds no complete point yet; resume the run (snnsuite run "
                         f"CONFIG --out {path.parent} --resume), then export")
    lacking = {}
    for point in result.points.values():
        missing = [k for k in STUDY_DATA + SUITE_DATA if k not in point.data] + \
                  [f"attribute {k}" for k in POINT_ATTRS if k not in point.attrs]
        if missing:
            lacking[point.name] = missing
    if lacking:
        name, missing = next(iter(lacking.items()))
        others = f" (and {len(lacking) - 1} more points)" if len(lacking) > 1 else ""
        written_by = result.versions.get("snnsuite", "(version unknown)")
        raise UsageError(f"{path}: point {name!r}{others} lacks {', '.join(missing)}, which the "
                         f"study's pickle needs; the file was written by snnsuite {written_by} "
                         "before the study's measures were stored: rerun the experiment with "
                         "this version (snnsuite run CONFIG --out NEW_FOLDER) and export that")
    for point in result.points.values():
        n_trials = int(point.attrs["n_trials"])
        for key in STUDY_DATA + SUITE_DATA:
            shape = np.shape(point.data[key])
            if shape != (n_trials,):
                raise UsageError(f"{path}: point {point.name!r}: dataset {key!r} has shape "
                                 f"{shape}, not one value per trial (n_trials={n_trials}); "
                                 "the file is inconsistent: rerun the experiment")


def study_records(result) -> list[dict]:
    """The study's list of dicts from a loaded chaos or grid :class:`~analysis.results.Result`.

    One plain dict (Python and numpy types only) per point, sorted by
    ``v_th_std`` then ``g_std`` (ascending values).  ``lz_complexities`` and
    ``hamming_slopes`` are the datasets ``lz_study`` and
    ``hamming_slope_study`` (counts as ``int64`` when whole, as the study's
    were); ``lz_mean``, ``lz_std``, ``hamming_mean`` and
    ``hamming_std`` are ``np.mean`` and ``np.std`` (ddof 0) of those arrays, as
    in the study.  The suite's measures are added as ``lz76`` (LZ76 phrase
    counts c), ``lz76_normalised`` (c log2(n) / n) and ``hamming_growth_slope``
    (neurons/s), with the context keys ``n_neurons``, ``trials``, ``session``,
    ``rate_mean`` (Hz) and ``cv_mean``.  Call :func:`export_pickle` for the
    checks and the files.
    """
    records = []
    for point in result.points.values():
        a, d = point.attrs, point.data
        lz_counts = _counts(d["lz_study"])                  # the study's LZ count per trial
        slopes_per_ms = np.array(d["hamming_slope_study"])  # the study's slope, neurons/ms
        lz_mean, lz_std = _mean_std(lz_counts)
        hamming_mean, hamming_std = _mean_std(slopes_per_ms)
        records.append({
            # the study's fields, in the study's order and meaning
            "v_th_std": float(a["v_th_std"]),        # threshold spread, mV
            "g_std": float(a["g_std"]),              # weight spread, mV/ms
            "lz_complexities": lz_counts,
            "hamming_slopes": slopes_per_ms,
            "lz_mean": lz_mean, "lz_std": lz_std,
            "hamming_mean": hamming_mean, "hamming_std": hamming_std,
            "n_trials": int(a["n_trials"]),
            "computation_time": float(a["compute_time_s"]),  # seconds
            "block_id": int(a["block_id"]),
            "perturbation_neurons": [int(k) for k in np.asarray(d["perturbed_neurons"]).ravel()],
            # the suite's measures of the same trials
            "lz76": _counts(d["lz_phrases"]),
            "lz76_normalised": np.array(d["lz"]),
            "hamming_growth_slope": np.array(d["hamming_slope"]),  # neurons/s
            # context
            "n_neurons": int(a["n_neurons"]),
            "trials": str(a["trials"]),
            "session": int(result.seed),
            "rate_mean": float(a["rate_mean"]),      # Hz, the control run
            "cv_mean": float(a["cv_mean"]),
        })
    records.sort(key=lambda r: (r["v_th_std"], r["g_std"]))  # v_th_std-major, as the study
    return records


def _values(values) -> str:
    return ", ".join(f"{v:.6g}" for v in values)


def summary_text(records: list[dict], result, results_path: Path) -> str:
    """The study's ``experiment_summary_session_<session>.txt`` for ``records``."""
    try:
        from importlib import metadata

        version = metadata.version("snnsuite")
    except Exception:  # noqa: BLE001 -- not installed as a distribution
        version = "unknown"
    axes = dict(zip(result.axis_names, result.axes))  # the whole grid, computed or not
    v_values = sorted(axes.get("v_th_std", {r["v_th_std"] for r in records}))
    g_values = sorted(axes.get("g_std", {r["g_std"] for r in records}))
    n_total = len(v_values) * len(g_values)
    first = records[0]
    lz = np.array([r["lz_mean"] for r in records])
    hamming = np.array([r["hamming_mean"] for r in records])
    total_s = sum(r["computation_time"] for r in records)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines = [
        "Spiking RNN Chaos Experiment Summary",
        "====================================",
        f"Written by snnsuite {version} at {stamp} from {Path(results_path).resolve()} "
        f"(experiment {result.protocol!r}, computed by snnsuite "
        f"{result.versions.get('snnsuite', 'unknown')}).",
        "Numbers are the study's measures: LZ = the study's Lempel-Ziv count of the sorted "
        "spike-difference matrix (lz_complexities; a count), Hamming = the study's growth "
        "slope of the Hamming distance (hamming_slopes; neurons/ms). The suite's measures "
        "are in the pickle as lz76, lz76_normalised and hamming_growth_slope (neurons/s).",
        "",
        "Experiment Configuration:",
        f"  Session ID: {first['session']}",
        f"  Network size: {first['n_neurons']} neurons",
        f"  Trials per point: {first['n_trials']} ({first['trials']})",
        f"  Parameter grid: {len(v_values)} x {len(g_values)} = {n_total} combinations "
        f"({len(records)} computed)",
        f"  v_th_std values (mV): {_values(v_values)}",
        f"  g_std values (mV/ms): {_values(g_values)}",
        "",
        "Per point (the pickle's order: v_th_std-major, then g_std):",
        f"  {'block':>5}  {'v_th_std (mV)':>13}  {'g_std (mV/ms)':>13}  {'LZ mean ± std':^21}  "
        f"{'Hamming (neurons/ms) mean ± std':^31}  {'time (s)':>9}",
    ]
    for r in records:
        lines.append(f"  {r['block_id']:>5}  {r['v_th_std']:>13.6g}  {r['g_std']:>13.6g}  "
                     f"{r['lz_mean']:>10.4g} ± {r['lz_std']:<8.3g}  "
                     f"{r['hamming_mean']:>18.4g} ± {r['hamming_std']:<10.3g}  "
                     f"{r['computation_time']:>9.2f}")
    lines += [
        "",
        "Totals:",
        f"  Combinations exported: {len(records)}/{n_total}",
        f"  Total computation time: {total_s / 3600:.3g} hours ({total_s:.1f} s)",
        f"  Average time per combination: {total_s / len(records):.1f}s",
        f"  LZ complexity range: {np.nanmin(lz):.4g} - {np.nanmax(lz):.4g}"
        if np.isfinite(lz).any() else "  LZ complexity range: none computable",
        f"  Hamming slope range: {np.nanmin(hamming):.4g} - {np.nanmax(hamming):.4g} neurons/ms"
        if np.isfinite(hamming).any() else "  Hamming slope range: none computable",
        "",
        "Most chaotic point (highest LZ mean):",
    ]
    if np.isfinite(lz).any():
        best = records[int(np.nanargmax(lz))]
        lines.append(f"  v_th_std = {best['v_th_std']:.6g} mV, g_std = {best['g_std']:.6g} mV/ms "
                     f"(block {best['block_id']}): LZ = {best['lz_mean']:.4g} ± "
                     f"{best['lz_std']:.3g}, Hamming slope = {best['hamming_mean']:.4g} ± "
                     f"{best['hamming_std']:.3g} neurons/ms")
    else:
        lines.append("  none: no point has a finite LZ mean")
    return "\n".join(lines) + "\n"


def _write_atomically(contents: dict, *, overwrite: bool) -> list[Path]:
    """Write ``{path: bytes}``: all under temporary names first, then each renamed.

    Refuses (``UsageError``, nothing written) when a target exists and
    ``overwrite`` is false, or is a folder.
    """
    for target in contents:
        if target.is_dir():
            raise UsageError(f"{target}: is a folder; nothing was written; choose another --out")
        if (target.exists() or target.is_symlink()) and not overwrite:
            raise UsageError(f"{target}: exists; nothing was written; pass --overwrite to "
                             "replace it, or choose another --out")
    temporary = {}
    try:
        for target, payload in contents.items():
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            temporary[target] = tmp
            with open(tmp, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
        for target, tmp in temporary.items():
            os.replace(tmp, target)  # atomic: the old file or the new one, never half
    except OSError as exc:
        where = exc.filename or next(iter(contents))
        raise UsageError(f"{where}: cannot write the export ({exc.strerror or exc}); "
                         "no file was left half written; choose another --out") from None
    finally:
        for tmp in temporary.values():
            tmp.unlink(missing_ok=True)  # gone after the rename; left only by a failure
    return list(contents)


def export_pickle(results_path, out_dir, *, overwrite: bool = False) -> list[Path]:
    """Write the study's pickle and summary of a chaos or grid result file.

    Writes ``out_dir/chaos_results_session_<session>.pkl`` (the list of dicts
    of :func:`study_records`, pickle protocol 4) and
    ``out_dir/experiment_summary_session_<session>.txt``; ``out_dir`` is
    created if missing.  Returns the two paths.

    Raises :class:`~protocols.config.UsageError` (nothing written) for a result
    of another experiment, points without the study's datasets (files written
    before they existed), a target that exists (unless ``overwrite``) or
    cannot be written, and :class:`~analysis.results.ResultFileError` for a
    missing, foreign or damaged result file.  Warns
    (:class:`PartialGridWarning`) when a grid is not complete.

    >>> import pickle, tempfile, numpy as np
    >>> from analysis.results import ResultWriter
    >>> folder = Path(tempfile.mkdtemp())
    >>> writer = ResultWriter(folder / "run", "chaos", "seed: 5\\n", 5, {"snnsuite": "0.1.0"})
    >>> trials = {"lz_study": np.array([40, 44]), "hamming_slope_study": np.array([0.5, 0.7]),
    ...           "lz": np.array([0.8, 0.9]), "lz_phrases": np.array([160, 176]),
    ...           "hamming_slope": np.array([500.0, 700.0]), "perturbed_neurons": np.array([3, 9])}
    >>> writer.write_point("p0000", {"v_th_std": 0.1, "g_std": 0.2, "n_trials": 2,
    ...     "n_neurons": 100, "block_id": 0, "compute_time_s": 1.5, "rate_mean": 4.0,
    ...     "cv_mean": 0.9, "trials": "independent"}, trials)
    >>> pkl, txt = export_pickle(writer.finalize(), folder / "exported")
    >>> pkl.name, txt.name
    ('chaos_results_session_5.pkl', 'experiment_summary_session_5.txt')
    >>> [record] = pickle.loads(pkl.read_bytes())
    >>> record["lz_mean"], record["hamming_mean"], record["perturbation_neurons"]
    (42.0, 0.6, [3, 9])
    """
    results_path = Path(results_path)
    try:
        result = load(results_path)
    except DamagedFileError as exc:
        hint = ""
        if results_path.name == "results.h5" and (results_path.parent / "points").is_dir():
            hint = f"; snnsuite report {results_path} repairs it from points/, then export again"
        raise DamagedFileError(f"{exc}{hint}") from None
    _check_points(result, results_path)
    records = study_records(result)
    if result.axis_names:
        n_total = int(np.prod([len(a) for a in result.axes]))
        if len(records) < n_total:
            warnings.warn(f"{results_path}: {len(records)} of {n_total} grid points are complete; "
                          "the study's reshape to (n_v_th, n_g) needs every point: resume the run "
                          f"(snnsuite run CONFIG --out {results_path.parent} --resume) and export "
                          "again", PartialGridWarning, stacklevel=2)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is a file, not a folder; choose another --out "
                         "(nothing was written)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out_dir}: cannot create the folder ({exc.strerror or exc}); choose "
                         "another --out") from None
    session = int(result.seed)
    return _write_atomically({
        out_dir / pickle_name(session): pickle.dumps(records, protocol=PICKLE_PROTOCOL),
        out_dir / summary_name(session): summary_text(records, result, results_path).encode(),
    }, overwrite=overwrite)
