"""Markdown reports beside result files."""
from __future__ import annotations

import json
from pathlib import Path


def write_report(out_dir, lines, figures=(), versions=None, footer=()) -> Path:
    """Write ``out_dir/report.md``: ``lines``, the figures (relative links), versions, footer.

    >>> import tempfile
    >>> path = write_report(tempfile.mkdtemp(), ["# Title"], ["figures/a.png"], {"numpy": "1"})
    >>> "![a](figures/a.png)" in path.read_text()
    True
    """
    text = list(lines)
    if figures:
        text += ["", "## Figures", ""]
        text += [f"![{Path(p).stem}](figures/{Path(p).name})" for p in figures]
    text += list(footer)
    if versions is not None:
        text += ["", "## Versions", "", "```", json.dumps(versions, indent=2), "```"]
    path = Path(out_dir) / "report.md"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path
