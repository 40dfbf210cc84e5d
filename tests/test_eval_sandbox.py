"""The evaluation sandbox: real child interpreters, real limits, real sockets."""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

from coassist.eval.sandbox import run_python


def test_a_passing_program_is_ok() -> None:
    result = run_python("def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\n")
    assert result.ok and not result.timed_out


def test_an_assertion_failure_is_reported_with_its_line() -> None:
    result = run_python("x = 1\nassert x == 2, 'x is not two'\n")
    assert not result.ok and not result.timed_out
    assert "AssertionError: x is not two" in result.detail
    assert 'File "program.py", line 2' in result.detail


def test_an_infinite_loop_times_out_quickly() -> None:
    started = time.perf_counter()
    result = run_python("while True:\n    pass\n", timeout_s=1.0)
    assert result.timed_out and not result.ok
    assert result.detail == "timed out after 1 s"
    assert time.perf_counter() - started < 5


def test_a_child_process_left_sleeping_is_killed_with_the_group() -> None:
    # The program starts a grandchild that outlives it; the timeout must not wait on its pipes.
    source = "import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    started = time.perf_counter()
    result = run_python(source + "import time\ntime.sleep(60)\n", timeout_s=1.0)
    assert result.timed_out
    assert time.perf_counter() - started < 5


def test_a_4_gib_allocation_fails() -> None:
    result = run_python("block = bytearray(4 * 1024**3)\n")
    assert not result.ok and not result.timed_out
    assert "MemoryError" in result.detail


def test_connecting_to_a_listening_local_port_fails() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        result = run_python(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n")
    assert not result.ok
    assert "OSError" in result.detail


def test_a_written_file_lands_only_in_the_temporary_directory() -> None:
    # The program reports where it ran by exiting with that path as its message.
    source = (
        "import os\n"
        "open('answer.txt', 'w').write('42')\n"
        "assert os.environ['HOME'] == os.getcwd() == os.environ['TMPDIR']\n"
        "raise SystemExit(os.path.join(os.getcwd(), 'answer.txt'))\n"
    )
    result = run_python(source)
    written = Path(result.detail.strip())
    assert written.name == "answer.txt" and written.parent.parent == Path(tempfile.gettempdir()), result.detail
    assert not written.parent.exists()  # the directory went with the run
    assert not (Path.cwd() / "answer.txt").exists()
