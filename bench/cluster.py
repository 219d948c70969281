"""Private PostgreSQL clusters for benchmarks and destructive tests.

The benchmark needs *durable* clusters (``fsync``, ``synchronous_commit`` and
``full_page_writes`` on, unlike the test clusters), one per time-series engine:
TimescaleDB (Apache edition, ``shared_preload_libraries = timescaledb``) and
plain PostgreSQL. The database-restart reliability test needs a throwaway
cluster it may stop and start without disturbing anybody else's tests.

Both are made the way ``scripts/provision.sh`` makes the test clusters:
``initdb`` into a directory under ``.local/``, a free port, trust auth on
127.0.0.1, run as user ``postgres`` when we are root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pg_bin() -> Path:
    """PostgreSQL 17's executables: scripts/provision.sh names their directory in .local/test.env and pg.env."""
    value = os.environ.get("SENSORHUB_TEST_PG_BIN", "")
    env_file = ROOT / ".local" / "pg.env"
    if not value and env_file.exists():
        value = env_file.read_text().partition("SENSORHUB_TEST_PG_BIN=")[2].strip()
    if not value:
        raise RuntimeError("SENSORHUB_TEST_PG_BIN is not set: run scripts/provision.sh binaries (or make bench)")
    return Path(value)


def _bin_major() -> str:
    out = subprocess.run([str(_pg_bin() / "pg_ctl"), "--version"], check=True, capture_output=True, text=True)
    return out.stdout.split()[2].split(".")[0]  # "pg_ctl (PostgreSQL) 17.12 (Debian ...)"


def _as_owner() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def free_port(start: int) -> int:
    port = start
    while True:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                port += 1
                continue
            return port


@dataclass
class Cluster:
    data: Path
    timescaledb: bool
    durable: bool = True
    port: int = 0

    @property
    def run_dir(self) -> Path:
        return self.data.with_name(self.data.name + ".run")

    @property
    def log_file(self) -> Path:
        return self.run_dir / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_as_owner(), *args], check=check, capture_output=True, text=True, timeout=timeout
        )

    def ensure(self, first_port: int = 55440) -> Cluster:
        """initdb if needed, then start if not running. Idempotent."""
        self.data.parent.mkdir(parents=True, exist_ok=True)
        version = self.data / "PG_VERSION"
        if version.exists() and version.read_text().strip() != _bin_major():
            # Bench and throwaway clusters hold generated data only: re-initialised by the current major.
            self.destroy()
        fresh = not (self.data / "PG_VERSION").exists()
        if fresh:
            self.data.mkdir(mode=0o700, exist_ok=True)
            self.run_dir.mkdir(exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.data, "postgres")
                shutil.chown(self.run_dir, "postgres")
            self._run(
                str(_pg_bin() / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--locale=C.UTF-8",
            )
            self.port = free_port(first_port)
            conf = [
                "# --- sensorhub bench/cluster.py ---",
                "listen_addresses = '127.0.0.1'",
                f"port = {self.port}",
                f"unix_socket_directories = '{self.run_dir}'",
                "max_connections = 300",
                "shared_buffers = 256MB",
            ]
            if self.timescaledb:
                conf += [
                    "shared_preload_libraries = 'timescaledb'",
                    "timescaledb.telemetry_level = off",
                    "timescaledb.max_background_workers = 4",
                ]
            if self.durable:
                conf += ["fsync = on", "synchronous_commit = on", "full_page_writes = on"]
            else:
                # A throwaway cluster: no fsync (an OS crash may lose it), but a commit is acknowledged only
                # once its WAL is written, so a PostgreSQL restart never loses an acknowledged write.
                conf += ["fsync = off", "synchronous_commit = on", "full_page_writes = off"]
            with (self.data / "postgresql.conf").open("a") as f:
                f.write("\n".join(conf) + "\n")
        else:
            for line in (self.data / "postgresql.conf").read_text().splitlines():
                if line.startswith("port = "):
                    self.port = int(line.split("=")[1])
        if not self.running():
            if not fresh and not _port_is_free(self.port):
                raise RuntimeError(f"port {self.port} of {self.data} is taken by another server")
            self.start()
        return self

    def running(self) -> bool:
        return self._run(str(_pg_bin() / "pg_ctl"), "-D", str(self.data), "status", check=False).returncode == 0

    def start(self) -> None:
        result = self._run(
            str(_pg_bin() / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_file), "-w", "-t", "60", "start",
            check=False,
        )
        if result.returncode != 0:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"pg_ctl start failed for {self.data}: {result.stderr}\n{tail}")

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            self._run(str(_pg_bin() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def bench_clusters(engines: tuple[str, ...] = ("timescaledb", "postgres")) -> dict[str, Cluster]:
    """The durable benchmark clusters under ``.local/pg/bench-*`` (created and started on demand)."""
    out: dict[str, Cluster] = {}
    for engine in engines:
        name = "bench-tsdb" if engine == "timescaledb" else "bench-plain"
        out[engine] = Cluster(ROOT / ".local" / "pg" / name, timescaledb=engine == "timescaledb").ensure(55440)
    return out


def throwaway_cluster(name: str, *, timescaledb: bool = True) -> Cluster:
    """A fresh non-durable cluster under ``.local/pg/<name>-<pid>`` for a destructive test."""
    data = ROOT / ".local" / "pg" / f"{name}-{os.getpid()}-{time.monotonic_ns() % 100000}"
    return Cluster(data, timescaledb=timescaledb, durable=False).ensure(55460)


def wait_until_accepting(cluster: Cluster, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _pg_isready(cluster):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{cluster.data} is not accepting connections after {timeout}s")


def _pg_isready(cluster: Cluster) -> bool:
    return subprocess.run(
        [str(_pg_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(cluster.port), "-q"], check=False
    ).returncode == 0
