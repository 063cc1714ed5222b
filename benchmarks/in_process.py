"""What the benchmarks that import the app (watcher_read, send_cpu) do before Django is set up."""

from __future__ import annotations

import argparse
import os
import sys


def app_for(parser: argparse.ArgumentParser, writes: str, settings_module: str = "aimlweb.settings") -> None:
    """Refuse to run without a database of its own (DATABASE_URL: the benchmark `writes` there), import the
    app from BENCH_APP_DIR (another commit's worktree) when set, and name the settings."""
    if not os.environ.get("DATABASE_URL"):
        parser.error(f"set DATABASE_URL to a database of its own: the benchmark writes {writes}")
    if os.environ.get("BENCH_APP_DIR"):
        sys.path.insert(0, os.environ["BENCH_APP_DIR"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
