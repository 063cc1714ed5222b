"""The app as real processes on loopback: fake upstream, gunicorn and the Huey consumer.

Each Stack has its own DATA_DIR (database, queue file) in a temp dir. Every
process runs in its own session (process group) and `stop()` ends each group:
SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
# The app under test: this checkout, or another one (--app-dir, e.g. a patched copy).
APP_DIR = Path(os.environ.get("BENCH_APP_DIR", ROOT)).resolve()
VENV_BIN = Path(sys.executable).parent
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
ACCESS_LINE = re.compile(r'\[([^\]]+)\] "(GET|POST|HEAD) (\S+) HTTP/[\d.]+" (\d{3}) \S+ ".*" ".*" (\d+)$')

# Settings the benchmark decides itself; any other app variable inherited from
# the caller's environment is dropped so a stray export cannot skew a run.
APP_PREFIXES = ("AIMLAPI_", "HUEY_", "TURN_", "LIVE_", "DJANGO_", "DATABASE_URL", "DATA_DIR", "SECRET_KEY", "WEB_")
BENCH_PASSWORD = "bench-" + secrets.token_hex(8)
# gunicorn's default access log format plus %(D)s, the time the server spent on the
# request in microseconds (from when a thread picked it up to the last byte).
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'


def code_fingerprint() -> str:
    """A short hash of the app's code and config, to tell which version a figure belongs to."""
    digest = hashlib.sha256()
    patterns = ("aimlweb/*.py", "conversations/**/*.py", "conversations/templates/**/*.html", "templates/**/*.html",
                "static/js/*.js", "Procfile", "gunicorn.conf.py", "requirements.txt")  # fmt: skip
    for pattern in patterns:
        for path in sorted(APP_DIR.glob(pattern)):
            if "migrations" not in path.parts and path.is_file():
                digest.update(str(path.relative_to(APP_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def base_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(APP_PREFIXES)}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    # The app first; this checkout's `benchmarks` package after it (for benchmarks.settings).
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(APP_DIR), str(ROOT)]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# --- /proc readings ---------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (kB) and Threads of a process, from /proc (one process: all its threads)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def proc_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used (busy time of every core, from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def background_cores(seconds: float = 3.0) -> float:
    """Cores busy on the machine over a short window (call while none of our processes run)."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / seconds


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def proc_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, PermissionError):
        return 0


def proc_children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return children


class Sampler:
    """Samples RSS, threads and open files of the named processes every `interval` seconds."""

    def __init__(self, pids: dict[str, list[int]], interval: float = 0.25):
        self.pids = pids
        self.interval = interval
        self.peak: dict[str, dict[str, int]] = {name: {} for name in pids}
        self.cpu: list[tuple[float, dict[str, float]]] = []  # (time, CPU seconds so far) per sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self):
        cpu = {name: sum(proc_cpu_seconds(p) for p in pids) for name, pids in self.pids.items()}
        # Whatever else ran meanwhile (other jobs on a shared machine skew every figure).
        cpu["other processes"] = machine_busy_seconds() - sum(cpu.values())
        self.cpu.append((time.time(), cpu))
        for name, pids in self.pids.items():
            total = {"VmRSS": 0, "Threads": 0, "fds": 0}
            for pid in pids:
                status = proc_status(pid)
                total["VmRSS"] += status.get("VmRSS", 0)
                total["Threads"] += status.get("Threads", 0)
                total["fds"] += proc_fds(pid)
            peak = self.peak[name]
            for key, value in total.items():
                peak[key] = max(peak.get(key, 0), value)

    def start(self):
        self._thread.start()
        return self

    def cores(self, start: float, end: float) -> dict[str, float]:
        """Average CPU cores each process group used between two times."""
        inside = [(t, cpu) for t, cpu in self.cpu if start <= t <= end]
        if len(inside) < 2:
            return {}
        (t0, first), (t1, last) = inside[0], inside[-1]
        return {name: (last[name] - first[name]) / (t1 - t0) for name in first}

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()


# --- processes ----------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.popen.pid, sig)  # its own session: the process and its children
            except ProcessLookupError:
                return
            try:
                self.popen.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Children (gunicorn workers) may outlive a killed leader: end the whole group.
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class Stack:
    """Fake upstream + gunicorn + Huey consumer on a fresh DATA_DIR."""

    workdir: Path
    static_root: Path
    upstream_latency: float
    huey_workers: int
    users: int = 1
    env_overrides: dict[str, str] = field(default_factory=dict)
    web_workers: int = 2
    web_threads: int = 16
    # "wsgi": gunicorn gthread (pages poll); "asgi": uvicorn workers (pages get pushed updates).
    server: str = "wsgi"

    procs: list[Proc] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    web_port: int = 0
    fake_port: int = 0

    def __post_init__(self):
        self.data_dir = self.workdir / "data"
        self.logs = self.workdir / "logs"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.fake_stats = self.workdir / "fake-stats.json"
        self.web_port = free_port()
        self.fake_port = free_port()
        self.env = base_env(
            {
                "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
                "BENCH_STATIC_ROOT": str(self.static_root),
                "DATA_DIR": str(self.data_dir),
                "DATABASE_URL": f"sqlite:///{self.data_dir / 'db.sqlite3'}",
                "HUEY_FILENAME": str(self.data_dir / "huey.sqlite3"),
                "HUEY_IMMEDIATE": "false",
                "HUEY_WORKERS": str(self.huey_workers),
                "AIMLAPI_KEY": "bench",
                "AIMLAPI_BASE_URL": f"http://127.0.0.1:{self.fake_port}/v1",
                "DEBUG": "false",
                "SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SIGNUP_ENABLED": "true",
                # Capacity is measured here, not the per-user limits (tests/chat/test_limits.py).
                "MAX_ACTIVE_TURNS_PER_USER": "100000",
                "MAX_PROMPTS_PER_HOUR": "0",
                "PORT": str(self.web_port),
                **self.env_overrides,
            }
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "db.sqlite3"

    def _spawn(self, name: str, argv: list[str]) -> Proc:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv, cwd=APP_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def _run(self, name: str, argv: list[str], timeout: float = 120) -> str:
        result = subprocess.run(argv, cwd=APP_DIR, env=self.env, capture_output=True, text=True, timeout=timeout)
        (self.logs / f"{name}.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return result.stdout

    def collectstatic(self) -> None:
        self._run("collectstatic", [PYTHON, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"])

    def start(self) -> Stack:
        self.fake = self._spawn(
            "fake",
            [
                PYTHON, "-m", "benchmarks.fake_upstream", "--port", str(self.fake_port),
                "--latency", str(self.upstream_latency), "--stats", str(self.fake_stats),
            ],
        )  # fmt: skip
        self._run("migrate", [PYTHON, "manage.py", "migrate", "--noinput"])
        out = self._run("dbsetup", [PYTHON, "-m", "benchmarks.dbsetup", "--users", str(self.users),
                                    "--password", BENCH_PASSWORD])  # fmt: skip
        self.settings = json.loads(out.strip().splitlines()[-1])
        if self.server == "asgi":
            # As gunicorn.conf.py runs it (uvicorn logs its own access format, without the time).
            app = ["aimlweb.asgi:application", "--worker-class", "aimlweb.asgi_worker.Worker"]
        else:
            app = ["aimlweb.wsgi", "--worker-class", "gthread", "--threads", str(self.web_threads)]
        self.web = self._spawn(
            "gunicorn",
            [
                str(VENV_BIN / "gunicorn"), *app, "--bind", f"127.0.0.1:{self.web_port}",
                "--workers", str(self.web_workers),
                "--timeout", "60", "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT,
            ],
        )  # fmt: skip
        self.worker = self._spawn(
            "huey", [PYTHON, "manage.py", "run_huey", "-k", "thread", "-w", str(self.huey_workers)]
        )
        self._wait_ready()
        return self

    def _check_alive(self):
        for proc in self.procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")

    def _wait_ready(self) -> None:
        def fake_up():
            self._check_alive()
            return self.fake_stats.exists()

        def web_up():
            self._check_alive()
            try:
                return requests.get(f"{self.base_url}/login/", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        def worker_up():
            self._check_alive()
            return "consumer started" in self.worker.log.read_text(errors="replace").lower()

        wait_until(fake_up, 30, "the fake upstream")
        wait_until(web_up, 60, "gunicorn")
        wait_until(worker_up, 60, "the Huey consumer")
        # Its worker threads start right after the banner.
        wait_until(lambda: proc_status(self.worker.pid).get("Threads", 0) > self.huey_workers, 30, "worker threads")

    def access_log(self) -> list[tuple[float, str, str, int, float]]:
        """(time, method, path, status, server seconds) of every request gunicorn logged so far.

        The time is when the request was logged (its end), to the second.
        """
        out = []
        for line in self.web.log.read_text(errors="replace").splitlines():
            match = ACCESS_LINE.search(line)
            if match:
                when, method, path, status, micros = match.groups()
                logged = datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z").timestamp()
                out.append((logged, method, path, int(status), int(micros) / 1e6))
        return out

    def web_pids(self) -> list[int]:
        return [self.web.pid, *proc_children(self.web.pid)]

    def fake_stats_after(self, moment: float, timeout: float = 5.0) -> dict:
        """The fake's stats as written after `moment` (it rewrites them every 0.5 s)."""

        def fresh():
            try:
                data = json.loads(self.fake_stats.read_text())
            except (FileNotFoundError, ValueError):
                return None
            return data if data["written_at"] > moment else None

        return wait_until(fresh, timeout, "fresh fake upstream stats")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
