"""Output folders: a run writes only into a folder it may own.

The rule, the same for every protocol and for ``snnsuite report``:

- a **new** folder (created, with its parents), or an **empty** one, becomes
  the run's: the marker file :data:`MARKER` is written into it *first*;
- a folder holding the marker of the **same experiment** is the run's own
  (a rerun, a ``--resume``, a report written again);
- a folder that an earlier version of the suite wrote for the same experiment
  (a ``results.h5`` whose root attributes name it, but no marker yet) is
  adopted: the marker is added, nothing else is touched;
- anything else (a folder of another experiment, a folder with the user's own
  files, a file, the current folder given as ``--out ""``) is refused with a
  :class:`~protocols.config.UsageError` *before anything is written*.

So a run never deletes or overwrites what it did not write.  The marker is a
small JSON file (suite, experiment, when and by which version it was made);
deleting the folder removes the run.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> claim(root / "run1", "chaos").name
'run1'
>>> claim(root / "run1", "chaos").name        # its own folder again: fine
'run1'
>>> claim(root / "run1", "plasticity")
Traceback (most recent call last):
...
protocols.config.UsageError: ...run1: holds a 'chaos' run, not a 'plasticity' one; choose another --out (nothing was written)
"""
from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

from protocols.config import UsageError

MARKER = ".snnsuite-run.json"
SUITE = "snnsuite"


def _read_marker(folder: Path) -> dict | None:
    """The marker's content; ``None`` when there is none; a damaged one names itself."""
    path = folder / MARKER
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable run marker ({exc}); this folder's owner is "
                         "unknown, so nothing is written into it; choose another --out") from None
    if not isinstance(data, dict) or data.get("suite") != SUITE or \
            not isinstance(data.get("experiment"), str):
        raise UsageError(f"{path}: not a {SUITE} run marker; choose another --out "
                         "(nothing was written)")
    return data


def _legacy_owner(folder: Path) -> str | None:
    """The experiment of a ``results.h5`` written before markers existed, else ``None``."""
    path = folder / "results.h5"
    if not path.is_file():
        return None
    try:
        import h5py

        with h5py.File(path, "r") as f:
            if f.attrs.get("suite") != SUITE:
                return None
            protocol = f.attrs.get("protocol")
    except Exception:  # unreadable: not evidence of ownership  # noqa: BLE001
        return None
    if isinstance(protocol, bytes):
        protocol = protocol.decode(errors="replace")
    return protocol if isinstance(protocol, str) else None


def owner(folder) -> str | None:
    """The experiment that owns ``folder`` (marker, or an old run's results.h5), else None."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    marker = _read_marker(folder)
    return marker["experiment"] if marker else _legacy_owner(folder)


def _write_marker(folder: Path, experiment: str) -> None:
    try:
        from importlib import metadata

        version = metadata.version(SUITE)
    except Exception:  # noqa: BLE001  (not installed as a distribution)
        version = "unknown"
    data = {"suite": SUITE, "experiment": experiment, "version": version,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "pid": os.getpid()}
    tmp = folder / f"{MARKER}.tmp"
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MARKER)


def _os_problem(exc: OSError, what: Path) -> UsageError:
    reason = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
              errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on the device",
              errno.ENOTDIR: "a part of the path is a file, not a folder",
              errno.EEXIST: "exists and is not a folder"}.get(exc.errno, exc.strerror or str(exc))
    return UsageError(f"{what}: cannot write the output folder ({reason}); choose another --out")


def check_text(text: str) -> Path:
    """An ``--out`` argument as a path; the empty text (the current folder) is refused."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError("--out: empty; give a folder for the results, e.g. --out results/run1 "
                         "(the current folder is never used as an output folder)")
    return Path(text)


def claim(out_dir, experiment: str, *, dry_run: bool = False, adopt: bool = False) -> Path:
    """Make ``out_dir`` this experiment's output folder, or refuse without writing.

    Returns the folder.  ``dry_run=True`` checks the same without creating the
    folder or its marker.  ``adopt=True``: the caller has verified that the
    folder's ``results.h5`` is this experiment's result file (``snnsuite
    report`` on it), so an unmarked folder is taken as the run's own.  Raises :class:`~protocols.config.UsageError` (one
    line: the folder, why, what to do) when the folder is not new, not empty
    and not this experiment's own, when it is a file, or when it cannot be
    written.  The marker is written before anything else.
    """
    folder = Path(out_dir)
    if str(out_dir) in ("", ".") or folder.resolve() == Path.cwd().resolve():
        raise UsageError(f"--out {str(out_dir)!r}: the current folder is never used as an output "
                         "folder; give a new folder, e.g. --out results/run1")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: exists and is a file, not a folder; choose another --out "
                         "(nothing was written)")
    if folder.is_dir():
        marker = _read_marker(folder)
        found = marker["experiment"] if marker else (experiment if adopt else
                                                       _legacy_owner(folder))
        if found is not None and found != experiment:
            raise UsageError(f"{folder}: holds a {found!r} run, not a {experiment!r} one; choose "
                             "another --out (nothing was written)")
        if marker is not None:
            return folder
        if found is None:
            try:
                entries = sorted(p.name for p in folder.iterdir())
            except OSError as exc:
                raise _os_problem(exc, folder) from None
            if entries:
                shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
                raise UsageError(f"{folder}: not empty ({shown}) and not written by a {SUITE} "
                                 f"{experiment!r} run; a run writes only into a new or empty "
                                 "folder or its own; choose another --out (nothing was written)")
        if dry_run:
            return folder
    if dry_run:
        parent = next((p for p in folder.absolute().parents if p.exists()), None)
        if parent is not None and not (parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)):
            raise UsageError(f"{folder}: cannot create the output folder ({parent} is not a "
                             "writable folder); choose another --out")
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_marker(folder, experiment)
    except OSError as exc:
        raise _os_problem(exc, folder) from None
    return folder


def check_input_inside(out_dir, config_path, resolved_text: str) -> None:
    """Refuse to replace the user's config: ``config_path`` is ``out_dir/config.yaml``
    (the file a run writes) with other content than the resolved config."""
    if config_path is None:
        return
    target = Path(out_dir) / "config.yaml"
    try:
        same = Path(config_path).resolve() == target.resolve()
    except OSError:
        return
    if not same:
        return
    try:
        current = Path(config_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if current != resolved_text:
        raise UsageError(f"{config_path}: is the config.yaml this run would write into --out "
                         f"{out_dir}; copy it elsewhere and run that copy, or choose another "
                         "--out (nothing was written)")
