"""What the scripts that start a local server share: a free port on 127.0.0.1, and stopping the process by PID.

Imported by scripts in this folder (run as `python scripts/NAME.py`, which puts the folder on the import path).
"""

from __future__ import annotations

import signal
import socket
import subprocess

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, grace_s: float = 15.0) -> None:
    """SIGTERM, so the server shuts down cleanly; SIGKILL if it is still there after `grace_s`."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
