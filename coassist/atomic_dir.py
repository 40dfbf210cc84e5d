"""Write a directory so that readers see all of it or none of it.

Model caches, training checkpoints and trained adapters are trusted by their mere existence on
the next run; a process killed half-way through writing one must not leave a directory that
looks complete, and a directory being replaced must stay whole until its replacement is.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_directory(target: Path, keep: Collection[str] = ()) -> Iterator[Path]:
    """Yield an empty staging directory beside `target`; on success it replaces `target`.

    On an exception the staging directory is removed and `target` is left as it was. The old
    `target` is renamed aside (never deleted in place) only once the new one is complete, then
    the new one is renamed in and the old one removed; so a crash leaves either the old
    directory, or the new one, or (between the two renames) the old one whole under a
    ``.replaced-`` name beside it, and never a half of either.

    Parameters
    ----------
    target:
        The directory to write.
    keep:
        Names of entries of the old `target` to move into the new one (when the new one has
        no entry of that name), e.g. a training run's ``checkpoints``.

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
        _replace(target, staging, keep)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _replace(target: Path, staging: Path, keep: Collection[str]) -> None:
    if not target.exists():
        staging.rename(target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".replaced-{target.name}-", dir=target.parent)) / target.name
    target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        old.rename(target)  # put the old one back rather than leave nothing
        raise
    for name in keep:
        if (old / name).exists() and not (target / name).exists():
            (old / name).rename(target / name)
    shutil.rmtree(old.parent, ignore_errors=True)
