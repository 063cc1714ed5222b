"""`make demo` when its fake model's port is taken: another port, or one line naming DEMO_PORT; no traceback."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ops import demo_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def busy_port():
    """A port some other program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def _run(*args, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "DEMO_PORT"} | env
    return subprocess.run(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_a_taken_default_port_is_replaced_by_a_free_one(busy_port):
    port, line = demo_port.demo_port("", preferred=busy_port)
    assert port not in (None, busy_port) and demo_port.port_free(port)
    assert line == f"make demo: port {busy_port} is taken, so the demo model listens on {port} (DEMO_PORT chooses it)."
    # Free: the default, silently.
    free = demo_port.any_free_port()
    assert demo_port.demo_port("", preferred=free) == (free, "")

    done = _run("-m", "ops.demo_port", "--preferred", str(busy_port))
    assert done.returncode == 0 and int(done.stdout) != busy_port
    assert done.stderr.count("\n") == 1 and "DEMO_PORT" in done.stderr


def test_a_taken_demo_port_stops_with_one_line_naming_it(busy_port):
    done = _run("-m", "ops.demo_port", DEMO_PORT=str(busy_port))
    assert done.returncode == 1 and done.stdout == ""
    assert (
        done.stderr
        == f"make demo: port {busy_port} (DEMO_PORT) is taken; set DEMO_PORT to a free one, or leave it unset.\n"
    )
    assert _run("-m", "ops.demo_port", DEMO_PORT="http").stderr.startswith("make demo: DEMO_PORT='http' is not a port")
    free = demo_port.any_free_port()
    assert _run("-m", "ops.demo_port", DEMO_PORT=str(free)).stdout == f"{free}\n"


def test_the_fake_model_on_a_taken_port_says_so_in_one_line(busy_port):
    done = _run("tests/fake_aimlapi.py", "--port", str(busy_port), "--latency", "0")
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr
    assert f"cannot listen on 127.0.0.1:{busy_port}" in done.stdout and "DEMO_PORT" in done.stdout


def test_make_demo_uses_the_picked_port_and_the_app_port():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ndemo: setup\n", 1)[1].split("\n\n", 1)[0]
    assert "-m ops.demo_port" in recipe and "AIMLAPI_BASE_URL=http://127.0.0.1:$$port/v1" in recipe
    assert "DEMO_PORT=$$port" in recipe and "-p $${PORT:-8000}" in recipe  # not honcho's default 5000
    readme = (ROOT / "README.md").read_text()
    assert "DEMO_PORT" in readme and "DEMO_LATENCY" in readme and "on port 8765, stream" not in readme
