"""Run the real service (``sensorhub serve``) in a child process on a free port.

Used by the HTTP ingest benchmark (peak memory is the child's VmHWM) and by the
security and reliability tests that want the service as clients see it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.cluster import free_port

ADMIN_KEY = "bench-admin-key-0123456789abcdef"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for children of tests and benchmarks: SIGTERM when the parent dies, so a run
    ended by a timeout (``os._exit``) or a kill leaves no service or projector behind (Linux only).
    Start such children from the main thread: the signal follows the thread that forked."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


class Service:
    def __init__(
        self, database_url: str, *, redis_url: str | None = None, log_file: Path | None = None, **env: str
    ) -> None:
        self.port = free_port(18000 + os.getpid() % 1000)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.admin_key = ADMIN_KEY
        self.log_file = log_file
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SENSORHUB_")},
            "SENSORHUB_ENV": "test",
            "SENSORHUB_DATABASE_URL": database_url,
            "SENSORHUB_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
            "SENSORHUB_REQUIRE_PROJECTOR": "false",
            "SENSORHUB_LOG_LEVEL": "warning",
            "SENSORHUB_HOST": "127.0.0.1",
            "SENSORHUB_PORT": str(self.port),
            **({"SENSORHUB_REDIS_URL": redis_url} if redis_url else {}),
            **{f"SENSORHUB_{k.upper()}": v for k, v in env.items()},
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Service:
        out = self.log_file.open("wb") if self.log_file else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "sensorhub"), "serve"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - no threads run between fork and exec here
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited with {self.proc.returncode} (log: {self.log_file})")
            try:
                if httpx.get(f"{self.base_url}/health/live", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"the service did not come up in {timeout}s (log: {self.log_file})")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_key}"}

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
