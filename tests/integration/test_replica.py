"""The read replica, against a real one: a PostgreSQL primary and a streaming replica made from it by
pg_basebackup, both started here on ports of their own, and the app's request stack running in a separate process
(replica_probe.py) with DATABASE_URL and DATABASE_REPLICA_URL pointing at them.

The replica's replay is paused between two writes, so what each page reads shows which server answered it."""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*args: str) -> None:
    # PostgreSQL refuses to run as root; CI and the sessions run as root.
    cmd = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)


@pytest.fixture(scope="module")
def primary_and_replica():
    if not PG_BIN or not shutil.which("pg_basebackup"):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are not installed")
    bin_dir = PG_BIN[-1]
    base = tempfile.mkdtemp(prefix="dealercrm-replica-")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    primary, replica = os.path.join(base, "primary"), os.path.join(base, "replica")
    p_port, r_port = _free_port(), _free_port()
    started = []
    try:
        # --no-sync: a throw-away cluster need not wait for its files to reach the disk.
        _as_postgres(f"{bin_dir}/initdb", "-D", primary, "-A", "trust", "-U", "postgres", "--no-sync")
        with open(os.path.join(primary, "postgresql.conf"), "a") as conf:
            conf.write(f"port={p_port}\nlisten_addresses='127.0.0.1'\nunix_socket_directories='{base}'\n"
                       "wal_level=replica\nfsync=off\nmax_connections=30\n")
        with open(os.path.join(primary, "pg_hba.conf"), "a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        _as_postgres(f"{bin_dir}/pg_ctl", "-D", primary, "-l", f"{base}/primary.log", "-w", "start")
        started.append(primary)
        _as_postgres(f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(p_port), "-U", "postgres", "dealercrm")
        # A fast checkpoint: the default (spread) one paces its writes over most of checkpoint_timeout, and the
        # backup waits for it.
        _as_postgres("pg_basebackup", "-h", "127.0.0.1", "-p", str(p_port), "-U", "postgres", "-D", replica,
                     "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
        with open(os.path.join(replica, "postgresql.conf"), "a") as conf:
            conf.write(f"port={r_port}\n")
        _as_postgres(f"{bin_dir}/pg_ctl", "-D", replica, "-l", f"{base}/replica.log", "-w", "start")
        started.append(replica)
        yield (f"postgres://postgres@127.0.0.1:{p_port}/dealercrm", f"postgres://postgres@127.0.0.1:{r_port}/dealercrm")
    finally:
        for data in reversed(started):
            try:
                _as_postgres(f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(base, ignore_errors=True)


def test_heavy_reads_come_from_the_replica_and_own_writes_from_the_primary(primary_and_replica):
    primary_url, replica_url = primary_and_replica
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_REPLICA_URL"}}
    env.update(DATABASE_URL=primary_url, DATABASE_REPLICA_URL=replica_url, DEBUG="1", SECRET_KEY="test-only",
               DB_CONN_MAX_AGE="0", ALLOWED_HOSTS="testserver")
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("replica_probe.py"))], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    # Replay paused after the first lead: the export (a replica route) sees one lead, the API list (primary) two.
    assert seen["export_rows_paused"] == 1
    assert seen["export_replica_queries_paused"] > 0
    assert seen["api_count_paused"] == 2
    # After the user's own write their reads are pinned to the primary: the export sees both leads.
    assert seen["pin_cookie_set"] is True
    assert seen["export_rows_pinned"] == 2
    assert seen["export_replica_queries_pinned"] == 0
    # Once the replica has replayed, it answers again, with both leads.
    assert seen["export_rows_resumed"] == 2
    assert seen["export_replica_queries_resumed"] > 0
