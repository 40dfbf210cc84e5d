"""Run untrusted Python (a model's answer plus its tests) in a throwaway child process.

Model output is untrusted text: checking an answer means running it, and running it must
not touch this process, the user's files or the network, nor hang the harness. Each program
gets a fresh interpreter (``python -I``: no user site, no PYTHON* variables, no cwd on the
path) in its own temporary directory (cwd, HOME and TMPDIR), with resource limits set before
it starts, no network (a new network namespace where the kernel allows it, and a preamble
that disables sockets either way), and its whole process group killed on timeout.

This is a guard against accidents (a runaway loop, a huge allocation, a stray file or
connection), not a security boundary against a hostile program: code that sets out to escape
(ctypes, fork bombs within the limits) may. Run evaluations as an unprivileged user.

>>> run_python("assert 1 + 1 == 2").ok
True
>>> run_python("raise SystemExit(3)").ok
False
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

ADDRESS_SPACE_BYTES = 2 * 1024**3
FILE_SIZE_BYTES = 16 * 1024**2
OPEN_FILES = 64
DETAIL_LINES = 20
_CLONE_NEWNET = 0x40000000

# Runs before the program: any socket the program (or a library it imports) opens fails.
_NO_NETWORK_PREAMBLE = '''\
import socket as _coassist_socket


def _coassist_no_network(*args, **kwargs):
    raise OSError("network access is disabled in the coassist evaluation sandbox")


_coassist_socket.socket = _coassist_no_network
_coassist_socket.create_connection = _coassist_no_network
_coassist_socket.socketpair = _coassist_no_network
del _coassist_socket, _coassist_no_network
'''
# Then the program itself, compiled under its own file name so tracebacks give its line numbers.
_RUN_PROGRAM = '''
with open("program.py", encoding="utf-8") as _coassist_file:
    _coassist_code = compile(_coassist_file.read(), "program.py", "exec")
exec(_coassist_code, {"__name__": "__main__", "__builtins__": __builtins__})
'''


@dataclass(frozen=True)
class RunResult:
    """How one sandboxed run ended.

    `ok` is True only for exit status 0 within the time limit; `detail` is the tail of the
    program's stderr (its stdout when stderr is empty) or "timed out after N s", for ``--verbose`` and
    the JSON report.
    """

    ok: bool
    timed_out: bool
    detail: str


def run_python(source: str, timeout_s: float = 10.0) -> RunResult:
    """Run `source` in a fresh, limited interpreter; never in this process."""
    unshare = _libc_unshare()  # looked up here: the child, between fork and exec, must not dlopen
    workdir = tempfile.mkdtemp(prefix="coassist-eval-")
    try:
        program = os.path.join(workdir, "program.py")
        with open(program, "w", encoding="utf-8") as file:
            file.write(source)
        child = subprocess.Popen(
            [sys.executable, "-I", "-c", _NO_NETWORK_PREAMBLE + _RUN_PROGRAM],
            cwd=workdir,
            env=_minimal_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills everything it started
            preexec_fn=lambda: _limit_child(timeout_s, unshare),
        )
        try:
            stdout, stderr = child.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(child)
            child.communicate()
            return RunResult(ok=False, timed_out=True, detail=f"timed out after {timeout_s:g} s")
        except BaseException:
            _kill_group(child)  # Ctrl-C reaches only the harness: the program is in its own session
            child.wait()
            raise
        _kill_group(child)  # anything it left running in the background
        if child.returncode == 0:
            return RunResult(ok=True, timed_out=False, detail="")
        return RunResult(ok=False, timed_out=False, detail=_tail(stderr, stdout, child.returncode))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _minimal_env(workdir: str) -> dict[str, str]:
    """Only what an interpreter needs: nothing of the user's environment leaks in."""
    return {
        "HOME": workdir,
        "TMPDIR": workdir,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _libc_unshare() -> Callable[[int], int] | None:
    try:
        return cast(Callable[[int], int], ctypes.CDLL(None, use_errno=True).unshare)
    except (OSError, AttributeError):
        return None


def _limit_child(timeout_s: float, unshare: Callable[[int], int] | None) -> None:
    """In the child, before exec: cap memory, CPU, file size and descriptors; cut the network."""
    cpu_seconds = int(timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_BYTES, FILE_SIZE_BYTES))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if unshare is not None:
        # A private network namespace has only a downed loopback: needs CAP_SYS_ADMIN (root);
        # without it the call fails (ignored) and the preamble's socket guard stops connections.
        unshare(_CLONE_NEWNET)


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(stderr: bytes, stdout: bytes, returncode: int) -> str:
    """The last lines of what the program printed, errors first, for a readable failure reason."""
    text = stderr.decode("utf-8", "replace").strip() or stdout.decode("utf-8", "replace").strip()
    lines = text.splitlines()[-DETAIL_LINES:]
    if lines:
        return "\n".join(lines)
    return f"exited with status {returncode}" if returncode >= 0 else f"killed by signal {-returncode}"
