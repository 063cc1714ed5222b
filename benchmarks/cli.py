"""What every benchmark's command does around its measuring.

The results' first fields (when, which command), SIGTERM unwinding like Ctrl-C so that every process a
run started is stopped, the run's temp dir (kept when asked or when the run failed), and the end: the
report printed, the figures written as JSON and the report as Markdown where --json and --markdown say.
"""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


def header(module: str, argv: list[str] | None) -> dict:
    """When the run started and the command that started it (`argv`, or this process's arguments)."""
    return {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)]),
    }


def output_arguments(parser) -> None:
    """The options every benchmark takes: where its figures go, and its temp dir."""
    parser.add_argument("--json", type=Path, help="write all figures here")
    parser.add_argument("--markdown", type=Path, help="write the results table here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    parser.add_argument("--tmp", type=Path, default=None)


def stop_on_sigterm() -> None:
    """SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so every started process is stopped."""
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(KeyboardInterrupt()))


@contextmanager
def scratch(prefix: str, tmp: Path | None = None, keep: bool = False, path: Path | None = None) -> Iterator[Path]:
    """The run's temp dir (under `tmp`, or `path` itself): removed when the run went well, unless `keep`
    or `path`; else kept, with a line saying where."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
    workdir = path or Path(tempfile.mkdtemp(prefix=prefix, dir=tmp))
    ok = False
    try:
        yield workdir
        ok = True
    finally:
        if keep or path is not None or not ok:
            print(f"logs and databases kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def reported(results: dict, report: Callable[[dict], str], args, prefix: str) -> Iterator[Path]:
    """The run's temp dir (`scratch`, with --tmp and --keep); then `report(results)` published with --json and
    --markdown, and when the run failed, the figures it has so far (JSON)."""
    text = ""
    try:
        with scratch(prefix, getattr(args, "tmp", None), args.keep) as workdir:
            yield workdir
        text = report(results)
    finally:
        publish(results, text, args.json, args.markdown)


def publish(results: dict, text: str, json_path: Path | None, markdown_path: Path | None) -> None:
    """The report printed, the figures written as JSON (even of a failed run) and the report as Markdown."""
    if text:
        print()
        print(text)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2, default=str))
    if markdown_path and text:
        markdown_path.write_text(text.rstrip("\n") + "\n")


def env_overrides(pairs: list[str]) -> dict[str, str]:
    """The app settings given as --env KEY=VALUE (repeatable), for the web and worker processes."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env wants KEY=VALUE, not {pair!r}")
        out[key] = value
    return out
