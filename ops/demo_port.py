"""`make demo`'s port for its fake model: DEMO_PORT when set, else 8765, else any free port.

    python -m ops.demo_port    # prints the port; one line on stderr when it had to pick another

A port given in DEMO_PORT that is taken stops the demo with one line naming the variable (exit 1), never
a traceback. Plain Python (no Django): it runs before anything else of `make demo`.
"""

from __future__ import annotations

import os
import socket
import sys

PREFERRED = 8765
HOST = "127.0.0.1"


def port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def any_free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def demo_port(requested: str, preferred: int = PREFERRED) -> tuple[int | None, str]:
    """(the port, a line to print) — or (None, why not) when the requested one cannot be used."""
    if requested.strip():
        try:
            port = int(requested)
        except ValueError:
            return None, f"make demo: DEMO_PORT={requested!r} is not a port number (e.g. DEMO_PORT=8766)."
        if not 0 < port < 65536:
            return None, f"make demo: DEMO_PORT={port} is not a port number (1-65535)."
        if not port_free(port):
            return None, f"make demo: port {port} (DEMO_PORT) is taken; set DEMO_PORT to a free one, or leave it unset."
        return port, ""
    if port_free(preferred):
        return preferred, ""
    port = any_free_port()
    return port, f"make demo: port {preferred} is taken, so the demo model listens on {port} (DEMO_PORT chooses it)."


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    preferred = int(args[args.index("--preferred") + 1]) if "--preferred" in args else PREFERRED
    port, line = demo_port(os.environ.get("DEMO_PORT", ""), preferred)
    if line:
        print(line, file=sys.stderr)
    if port is None:
        return 1
    print(port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
