"""Shared check of the figure tests: a returned path holds a real PNG image."""
from pathlib import Path

import matplotlib.image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(returned, requested):
    """returned is the requested path, as a Path, and holds a non-trivial PNG image."""
    assert isinstance(returned, Path)
    assert returned == Path(requested)
    data = returned.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 2000
    height, width = matplotlib.image.imread(returned).shape[:2]
    assert height > 200 and width > 200
