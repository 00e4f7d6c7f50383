"""
Shared helpers of the benchmarks: servers (PostgreSQL, OpenSSH sshd, the Flex sandbox), timing, peak RSS,
and the one-line result format every bench prints.

Every bench measures "ours" (the provider's real code path) and a baseline (the raw tool) in the same
run, on the same data, against the same servers, and prints::

    RESULT | bench | size | ours | baseline | ratio | target | pass/fail

A missed target is reported, never raised: benchmarks are not timed tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.fixtures.sshd import SftpEndpoint, running_sshd, sshd_usable

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_ADMIN_DSN = os.environ.get("FLEX_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


# --- results ------------------------------------------------------------------------------------


@dataclass
class BenchResult:
    """One measured comparison. ``higher_is_better`` flips the ratio's meaning (throughput)."""

    bench: str
    size: str
    ours: float
    baseline: float
    unit: str
    target: float
    higher_is_better: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")

    @property
    def passed(self) -> bool:
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target

    @property
    def target_text(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {self.target:g}x"

    def line(self) -> str:
        return (
            f"RESULT | {self.bench} | {self.size} | {self.ours:.3f} {self.unit} | {self.baseline:.3f} {self.unit} "
            f"| {self.ratio:.2f}x | {self.target_text} | {'pass' if self.passed else 'FAIL'}"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ratio=self.ratio, passed=self.passed, target_text=self.target_text)
        return data


def report(results: list[BenchResult], json_out: str | None = None) -> None:
    """Print the table rows (and the details) and optionally append them as JSON lines to ``json_out``."""
    print("RESULT | bench | size | ours | baseline | ratio | target | pass/fail")
    for r in results:
        print(r.line())
        if r.extra:
            print(f"  details {r.bench}: {json.dumps(r.extra, default=str)}")
    print(f"  machine: {machine_line()}")
    sys.stdout.flush()
    if json_out:
        with open(json_out, "a", encoding="utf-8") as fh:
            for r in results:
                fh.write(json.dumps({**r.to_dict(), "machine": machine_line()}, default=str) + "\n")


def machine_line() -> str:
    """Cores, memory and the current load average (other developers share the machine)."""
    load = os.getloadavg()
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:  # pragma: no cover
        mem = "?"
    return f"{os.cpu_count()} cores, {mem} RAM, load {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}"


def base_parser(
    description: str, default_n: int, smoke_n: int, flag: str = "--rows"
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(flag, "--n", dest="n", type=int, default=None, help=f"size (default {default_n})")
    parser.add_argument("--smoke", action="store_true", help=f"tiny size ({smoke_n}), seconds")
    parser.add_argument("--json-out", default=None, help="append the results as JSON lines to this file")
    parser.set_defaults(default_n=default_n, smoke_n=smoke_n)
    return parser


def size_of(args: argparse.Namespace) -> int:
    if args.n is not None:
        return args.n
    return args.smoke_n if args.smoke else args.default_n


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- timing and memory --------------------------------------------------------------------------


@contextlib.contextmanager
def timed() -> Iterator[Callable[[], float]]:
    """``with timed() as t: ...`` then ``t()`` is the wall time in seconds."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def self_peak_rss_mb() -> float:
    """Peak RSS of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child_json(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 3600
) -> dict[str, Any]:
    """Run a Python child that prints one JSON object on its last stdout line; return it (plus wall time)."""
    started = time.perf_counter()
    proc = subprocess.run(
        [PY, *args], check=False, capture_output=True, text=True, env=env, timeout=timeout, cwd=str(REPO)
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"child {args} printed no JSON:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    data = json.loads(lines[-1])
    data.setdefault("child_wall_s", wall)
    return data


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop_process(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- PostgreSQL ---------------------------------------------------------------------------------


@dataclass
class PgDatabase:
    """A fresh database: ``url`` for SQLAlchemy, ``dsn`` for psycopg2/psql."""

    name: str
    host: str
    port: int
    user: str = "postgres"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.name}"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{self.name}"

    def psql_args(self) -> list[str]:
        return [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            self.user,
            self.name,
        ]

    def connect(self) -> Any:
        import psycopg2

        return psycopg2.connect(self.dsn)


class PrivateCluster:
    """A throw-away PostgreSQL cluster (initdb as user postgres, fsync off) on a free 127.0.0.1 port."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="flex-bench-pg-"))
        self.port = free_port()

    def start(self) -> PrivateCluster:
        shutil.chown(self.dir, "postgres")
        data = self.dir / "data"
        sock = self.dir / "sock"
        sock.mkdir()
        shutil.chown(sock, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*as_pg, "initdb", "-A", "trust", "--no-sync", "-U", "postgres", "-D", str(data)],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *as_pg,
                "pg_ctl",
                "-D",
                str(data),
                "-l",
                str(self.dir / "pg.log"),
                "-w",
                "-o",
                f"-p {self.port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        return self

    def stop(self) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                "pg_ctl",
                "-D",
                str(self.dir / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


def _admin_connect(host: str, port: int) -> Any:
    import psycopg2

    conn = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres", connect_timeout=3)
    conn.autocommit = True
    return conn


@contextlib.contextmanager
def fresh_database(prefix: str = "flex_bench", *, private: bool | None = None) -> Iterator[PgDatabase]:
    """
    A fresh database, dropped afterwards: on the machine's 127.0.0.1:5432 by default, or on a private
    cluster (``private=True``, or ``FLEX_BENCH_PRIVATE_PG=1``, or when 5432 does not answer).
    """
    if private is None:
        private = os.environ.get("FLEX_BENCH_PRIVATE_PG") == "1"
    cluster: PrivateCluster | None = None
    host, port = "127.0.0.1", 5432
    if not private:
        try:
            _admin_connect(host, port).close()
        except Exception:  # noqa: BLE001 - any failure: fall back to a private cluster
            private = True
    if private:
        cluster = PrivateCluster().start()
        port = cluster.port
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = _admin_connect(host, port)
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield PgDatabase(name, host, port)
    finally:
        with contextlib.suppress(Exception), admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        if cluster is not None:
            cluster.stop()


# --- OpenSSH sshd -------------------------------------------------------------------------------


@contextlib.contextmanager
def sshd_server() -> Iterator[SftpEndpoint]:
    """OpenSSH sshd on 127.0.0.1 for the SFTP benches: the test suite's own set-up (``tests/fixtures/sshd``)."""
    if not sshd_usable():
        raise RuntimeError("the SFTP benches need /usr/sbin/sshd and root (ChrootDirectory)")
    etc = Path(tempfile.mkdtemp(prefix="flex-bench-sshd-"))
    try:
        # Many short sessions at once (the upload bench): raise sshd's unauthenticated-connection cap.
        with running_sshd(etc, "flex-bench", max_startups=100) as endpoint:
            yield endpoint
    finally:
        shutil.rmtree(etc, ignore_errors=True)


# --- the Flex sandbox ---------------------------------------------------------------------------


@contextlib.contextmanager
def sandbox_server(extra_args: list[str] | None = None, timeout: float = 60.0) -> Iterator[dict[str, Any]]:
    """Run ``python -m flex_provider.sandbox serve`` in a subprocess; yield its ``sandbox.json``."""
    data_dir = Path(tempfile.mkdtemp(prefix="flex-bench-sandbox-"))
    log_path = data_dir.parent / f"{data_dir.name}.log"
    info_path = data_dir / "sandbox.json"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [PY, "-m", "flex_provider.sandbox", "serve", "--data-dir", str(data_dir), "--port", "0", "--sftp-port", "0",
             *(extra_args or [])],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=str(REPO),
            env={**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while not info_path.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"sandbox exited with {proc.returncode}: {log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"sandbox did not write sandbox.json in {timeout}s: {log_path.read_text()[-3000:]}"
                )
            time.sleep(0.1)
        info = json.loads(info_path.read_text())
        info["_pid"] = proc.pid
        yield info
    finally:
        stop_process(proc, timeout=15)
        shutil.rmtree(data_dir, ignore_errors=True)
        log_path.unlink(missing_ok=True)


def airflow_env(tmp: Path) -> dict[str, str]:
    """Environment for a child that uses Airflow hooks: private AIRFLOW_HOME, no examples."""
    home = tmp / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
    }
