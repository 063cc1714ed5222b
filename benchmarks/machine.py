"""The machine a benchmark runs on: what its processes use (from /proc), and how busy other jobs keep it.

Readings of one process (memory, CPU seconds, threads, open files, children), of the whole machine
(busy CPU seconds, load average), samplers that read them on a thread while a benchmark runs, and
the wait for a quiet machine before measuring (other jobs on a shared machine skew every figure).
"""

from __future__ import annotations

import os
import platform
import threading
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- readings ----------------------------------------------------------------------


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


def description() -> dict:
    """Cores, CPU model, memory, kernel and Python: the first line of a report."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    cpu = "unknown"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except StopIteration:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def wait_for_quiet(wait: float, threshold: float, label: str) -> dict:
    """Wait up to `wait` seconds until other jobs use at most `threshold` cores; say how busy the machine was."""
    deadline = time.time() + wait
    while True:
        busy = background_cores()
        if busy <= threshold or time.time() >= deadline:
            break
        print(f"[{label}] machine busy ({busy:.2f} cores used by other processes), waiting", flush=True)
        time.sleep(5)
    print(f"[{label}] background load before start: {busy:.2f} cores, load average {load_average():.1f}", flush=True)
    return {"background_cores_before": busy, "load_average_before": load_average()}


# --- sampling while a benchmark runs ------------------------------------------------


class Periodic:
    """`tick()` on a daemon thread every `interval` seconds, from start() (or entering a `with`) to stop()."""

    def __init__(self, interval: float):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def tick(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop ticking; returns once a tick under way has ended."""
        self._stop.set()
        self._thread.join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Sampler(Periodic):
    """Samples CPU, RSS, threads and open files of the named process groups every `interval` seconds."""

    def __init__(self, pids: dict[str, list[int]], interval: float = 0.25):
        super().__init__(interval)
        self.pids = pids
        self.peak: dict[str, dict[str, int]] = {name: {} for name in pids}
        self.cpu: list[tuple[float, dict[str, float]]] = []  # (time, CPU seconds so far) per sample

    def tick(self) -> None:
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

    def cores(self, start: float, end: float) -> dict[str, float]:
        """Average CPU cores each process group used between two times."""
        inside = [(t, cpu) for t, cpu in self.cpu if start <= t <= end]
        if len(inside) < 2:
            return {}
        (t0, first), (t1, last) = inside[0], inside[-1]
        return {name: (last[name] - first[name]) / (t1 - t0) for name in first}

    def stop(self) -> None:
        super().stop()
        self.tick()


class RssSampler(Periodic):
    """Peak resident memory (kB) of one process, sampled every 10 ms from /proc; `before`: at creation."""

    def __init__(self, pid: int, interval: float = 0.01):
        super().__init__(interval)
        self.pid = pid
        self.before = proc_status(pid).get("VmRSS", 0)
        self.peak = self.before

    def tick(self) -> None:
        self.peak = max(self.peak, proc_status(self.pid).get("VmRSS", 0))

    def stop(self) -> None:
        super().stop()
        self.tick()
