"""The app's own settings (aimlweb.settings), with static files collected into the benchmark's temp dir.

Only STATIC_ROOT differs, so `collectstatic` never writes into the shared
staticfiles/ folder of the checkout while a benchmark runs. Everything else,
including every tunable the benchmark reports, comes from aimlweb.settings
and the environment the benchmark sets.
"""

import os
from pathlib import Path

from aimlweb.settings import *  # noqa: F403

if os.environ.get("BENCH_STATIC_ROOT"):
    STATIC_ROOT = Path(os.environ["BENCH_STATIC_ROOT"])
