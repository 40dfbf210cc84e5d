"""Which review database the JupyterLab sidebar reads while a notebook is the current one.

The sidebar reads the server's own database (`CoassistServer.db_url`) unless the current notebook
says otherwise. A notebook that works in another database (the examples use a scratch SQLite
file) calls `show_in_sidebar(store)`: its kernel writes the database's URL to a link file beside
its own connection file, ``coassist-sidebar-<kernel id>.json`` in Jupyter's runtime directory,
which only the user can read. The sidebar sends the current notebook's kernel id with every
request, and the server reads that kernel's link (`linked_url`).

Only code running in the kernel can make a link, so no request can point the server at a
database of the requester's choosing (an authenticated reader could otherwise make the server
open any file or connect to any host); the server honours links of the kernels it runs only.

    from coassist.server import show_in_sidebar
    show_in_sidebar(store)   # the sidebar shows this store while this notebook is current
"""

from __future__ import annotations

import atexit
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from coassist.errors import InvalidOption

if TYPE_CHECKING:
    from coassist.review import ReviewStore

LINK_PREFIX = "coassist-sidebar-"
_CONNECTION_FILE = re.compile(r"kernel-(?P<id>[0-9A-Za-z-]+)\.json")
_linked: set[Path] = set()
"""Link files this kernel wrote; removed when it exits, so a restarted kernel id never inherits one."""


def link_path(connection_file: Path) -> Path | None:
    """The link file of the kernel whose connection file is `connection_file` (Jupyter names it
    ``kernel-<id>.json``); None for a connection file named otherwise.

    >>> link_path(Path("/run/jupyter/kernel-4f1c.json"))
    PosixPath('/run/jupyter/coassist-sidebar-4f1c.json')
    >>> link_path(Path("/tmp/my-kernel.json")) is None
    True
    """
    match = _CONNECTION_FILE.fullmatch(connection_file.name)
    if match is None:
        return None
    return connection_file.with_name(f"{LINK_PREFIX}{match['id']}.json")


def show_in_sidebar(store: ReviewStore) -> bool:
    """Make the JupyterLab sidebar read `store` while this notebook is the current one, and say
    so in one line. Call it again with another store to switch; the link ends with the kernel.

    Returns False, and says so, where no sidebar can follow: in a kernel that no Jupyter server
    started (nbclient, ``coassist demo``, a script), so a notebook that calls it runs anywhere.

    Raises
    ------
    InvalidOption
        `store` is an in-memory database, which no other process can open.
    """
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise InvalidOption(
            "store",
            "an in-memory database lives only in this kernel, so the sidebar cannot read it; "
            "open the store on a file or a database server",
        )
    path = _this_kernels_link()
    if path is None:
        print(f"No JupyterLab started this kernel, so no sidebar shows {store.url}.")
        return False
    _write_private(path, json.dumps({"url": url.render_as_string(hide_password=False)}))
    if not _linked:
        atexit.register(_remove_links)
    _linked.add(path)
    print(f"The coassist sidebar shows {store.url} while this notebook is the current one.")
    return True


def linked_url(connection_file: Path) -> str | None:
    """The database URL the kernel with this connection file linked, or None when it linked none."""
    path = link_path(connection_file)
    if path is None:
        return None
    try:
        url = json.loads(path.read_text(encoding="utf-8"))["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no link, or one being replaced right now: the server's database meanwhile
    return url if isinstance(url, str) and url else None


def is_missing_file(url: str) -> bool:
    """True for an SQLite URL whose file does not exist: opening it would create an empty one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return False
    return not Path(parsed.database).expanduser().exists()


def _this_kernels_link() -> Path | None:
    """This kernel's link file; None outside a kernel, or in one no Jupyter server started
    (its connection file is not named ``kernel-<id>.json``)."""
    try:
        from ipykernel.connect import get_connection_file

        connection_file = Path(get_connection_file())
    except (ImportError, RuntimeError):
        return None
    return link_path(connection_file)


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by this user only (it may hold a database password),
    whole or not at all: the server may read it at any moment."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)


def _remove_links() -> None:
    for path in _linked:
        path.unlink(missing_ok=True)
