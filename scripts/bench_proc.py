"""What the benchmarks share: peak RSS of a block of code, and a child process run under a memory cap."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path


def rss_mb(pid: int | str = "self") -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((int(line.split()[1]) / 1024.0 for line in fh if line.startswith("VmRSS:")), 0.0)
    except OSError:
        return 0.0


class PeakRss:
    """Highest RSS of this process seen while the block runs (sampled every 20 ms)."""

    def __enter__(self):
        self.peak, self._stop = rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def run_child(script: str, args: list[str], log: Path, max_rss_mb: float, env: dict | None = None) -> dict:
    """Runs `script` with `args` in a fresh process, killing it above max_rss_mb; never raises on its failure.
    The child prints one JSON object as its last line of stdout."""
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, script, *args], stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        seen, killed = 0.0, False
        while proc.poll() is None:  # stdout is one JSON line, so the pipe cannot fill while we wait
            seen = max(seen, rss_mb(proc.pid))
            if seen > max_rss_mb and not killed:
                proc.kill()
                killed = True
            time.sleep(0.05)
        out = proc.stdout.read()
    if killed:
        return {"status": f"killed above {max_rss_mb / 1024:.0f} GB", "peak_rss_mb": seen}
    if proc.returncode != 0:
        last = (log.read_text().strip().splitlines() or ["no stderr"])[-1]
        return {"status": f"failed (rc {proc.returncode}): {last[:160]}", "peak_rss_mb": seen}
    return {"status": "ok", **json.loads(out.strip().splitlines()[-1])}
