"""DB_POOLER=pgbouncer: what the settings must set for PgBouncer in transaction pooling mode (docs/scaling.md), read in
a clean interpreter with a chosen environment and command line (as test_settings.py and test_connections.py do)."""

import configparser
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import sys; sys.argv = {argv!r}; import json, dealercrm.settings as s; "
         "print(json.dumps({{alias: {{k: db.get(k) for k in ('HOST', 'PORT', 'NAME', 'OPTIONS', 'CONN_MAX_AGE', "
         "'DISABLE_SERVER_SIDE_CURSORS', 'TEST')}} for alias, db in s.DATABASES.items()}}))")
POOLED = {"DB_POOLER": "pgbouncer", "DATABASE_URL": "postgres://crm:pw@pgbouncer:6432/crm",
          "DATABASE_DIRECT_URL": "postgres://crm:pw@db:5432/crm"}


def databases(argv=("gunicorn", "dealercrm.wsgi:application"), **env):
    clean = {k: v for k, v in os.environ.items() if k not in {
        "DATABASE_URL", "DATABASE_DIRECT_URL", "DATABASE_REPLICA_URL", "DB_POOLER", "DB_JIT", "DB_CONN_MAX_AGE"}}
    clean.update({"DEBUG": "1", **env})
    return subprocess.run([sys.executable, "-c", PROBE.format(argv=list(argv))], cwd=ROOT, env=clean,
                          capture_output=True, text=True, check=False)


def loaded(argv=("gunicorn", "dealercrm.wsgi:application"), **env) -> dict:
    proc = databases(argv, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_without_a_pooler_nothing_changes():
    dbs = loaded(DATABASE_URL="postgres://crm:pw@db:5432/crm")
    assert list(dbs) == ["default"]
    default = dbs["default"]
    assert default["DISABLE_SERVER_SIDE_CURSORS"] is False
    assert default["OPTIONS"] == {"options": "-c jit=off"}


def test_pooled_connections_keep_nothing_past_a_transaction():
    dbs = loaded(**POOLED)
    pooled = dbs["default"]
    assert (pooled["HOST"], pooled["PORT"]) == ("pgbouncer", 6432)
    # .iterator() may not open a server-side cursor (Django opens it WITH HOLD outside a transaction).
    assert pooled["DISABLE_SERVER_SIDE_CURSORS"] is True
    # No prepared statements, no server-side binding, no startup options PgBouncer would refuse (jit is set by the
    # pooler's connect_query instead).
    assert pooled["OPTIONS"] == {"prepare_threshold": None}
    assert pooled["CONN_MAX_AGE"] == 60  # a connection to PgBouncer is cheap to keep
    # The direct connection (session locks of imports and exports) reaches PostgreSQL itself, JIT off as before, and
    # reads the test database under tests.
    direct = dbs["direct"]
    assert (direct["HOST"], direct["PORT"], direct["NAME"]) == ("db", 5432, "crm")
    assert direct["OPTIONS"] == {"options": "-c jit=off"}
    assert direct["TEST"]["MIRROR"] == "default"


def test_migrations_and_the_database_shell_connect_directly():
    for command in ("migrate", "prepare", "dbshell"):
        dbs = loaded(["manage.py", command], **POOLED)
        assert list(dbs) == ["default"], command
        assert (dbs["default"]["HOST"], dbs["default"]["PORT"]) == ("db", 5432)
        assert dbs["default"]["OPTIONS"] == {"options": "-c jit=off"}
        assert not dbs["default"].get("DISABLE_SERVER_SIDE_CURSORS")
    served = loaded(["manage.py", "rollups_drain"], **POOLED)
    assert served["default"]["HOST"] == "pgbouncer"


def test_the_replica_keeps_its_own_settings():
    dbs = loaded(**POOLED, DATABASE_REPLICA_URL="postgres://crm:pw@replica:5432/crm")
    assert dbs["replica"]["HOST"] == "replica" and dbs["replica"]["OPTIONS"] == {"options": "-c jit=off"}
    assert not dbs["replica"].get("DISABLE_SERVER_SIDE_CURSORS")


def test_a_pooler_needs_postgresql_and_a_direct_url():
    proc = databases(DB_POOLER="pgbouncer", DATABASE_URL="postgres://crm:pw@pgbouncer:6432/crm")
    assert proc.returncode != 0 and "DATABASE_DIRECT_URL" in proc.stderr
    proc = databases(DB_POOLER="pgbouncer", DATABASE_DIRECT_URL="postgres://crm:pw@db:5432/crm")
    assert proc.returncode != 0 and "PostgreSQL" in proc.stderr
    proc = databases(DB_POOLER="pgpool", DATABASE_URL="postgres://crm:pw@db:5432/crm")
    assert proc.returncode != 0 and "DB_POOLER" in proc.stderr


# --- docker compose: `docker compose config` needs the compose plugin, so the file is read as YAML here -----------


def _compose_default(value: str) -> str:
    """A compose value as `docker compose config` resolves it with nothing set: ${VAR-default} / ${VAR:-default}."""
    return re.sub(r"\$\{\w+:?-([^}]*)\}", r"\1", value)


def test_compose_runs_the_app_through_pgbouncer_and_migrates_direct():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    image = services["pgbouncer"]["image"]
    assert ":" in image and not image.endswith(":latest")  # a pinned tag
    assert services["pgbouncer"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        service = services[name]  # the x-app anchor, merged
        env = {key: _compose_default(str(value)) for key, value in service["environment"].items()}
        assert env["DB_POOLER"] == "pgbouncer", name
        assert "@pgbouncer:6432/" in env["DATABASE_URL"], name
        assert "@db:5432/" in env["DATABASE_DIRECT_URL"], name
        assert service["depends_on"]["pgbouncer"]["condition"] == "service_healthy", name
    assert "manage.py prepare" in services["web"]["command"]  # prepare connects direct (POOLER_BYPASS_COMMANDS)

    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "docker" / "pgbouncer" / "pgbouncer.ini")
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    assert ini["pgbouncer"]["listen_port"] == "6432"
    assert "connect_query='SET jit = off'" in ini["databases"]["dealercrm"]
    volume = "./docker/pgbouncer/pgbouncer.ini:/etc/pgbouncer/pgbouncer.ini:ro"
    assert volume in services["pgbouncer"]["volumes"]
