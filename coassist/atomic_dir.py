"""Write a directory so that readers see all of it or none of it.

Model caches and training checkpoints are trusted by their mere existence on the next run; a
process killed half-way through writing one must not leave a directory that looks complete.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield an empty staging directory beside `target`; on success it replaces `target`.

    On an exception the staging directory is removed and `target` is left as it was.

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_directory(root / "out") as staging:
    ...     _ = (staging / "weights.bin").write_text("w")
    >>> sorted(p.name for p in root.iterdir()), (root / "out" / "weights.bin").read_text()
    (['out'], 'w')
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        yield staging
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
