"""Settings are read from the environment: import them in a clean interpreter with a chosen environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, dealercrm.settings as s; print(json.dumps({'debug': s.DEBUG, 'engine': s.DATABASES['default']['ENGINE'],"
    " 'db_name': str(s.DATABASES['default']['NAME']), 'db_host': s.DATABASES['default'].get('HOST'),"
    " 'tz': s.TIME_ZONE, 'lang': s.LANGUAGE_CODE, 'langs': [c for c, _ in s.LANGUAGES], 'eager': s.CELERY_TASK_ALWAYS_EAGER,"
    " 'broker': s.CELERY_BROKER_URL, 'cache': s.CACHES['default']['BACKEND'], 'hosts': s.ALLOWED_HOSTS,"
    " 'secret': s.SECRET_KEY, 'hsts': getattr(s, 'SECURE_HSTS_SECONDS', None)}))"
)


def load(**env):
    clean = {k: v for k, v in os.environ.items() if k not in {
        "DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "TIME_ZONE", "LANGUAGE_CODE"}}
    clean.update(env)
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True)
    return proc


def test_embedded_defaults_sqlite_in_process_jobs_shanghai_chinese():
    proc = load(DEBUG="1")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["debug"] is True
    assert s["engine"] == "django.db.backends.sqlite3" and s["db_name"].endswith("db.sqlite3")
    assert s["eager"] is True and s["broker"] == "memory://"
    assert s["cache"].endswith("LocMemCache")
    assert (s["tz"], s["lang"], s["langs"]) == ("Asia/Shanghai", "zh-hans", ["zh-hans", "en"])


def test_database_redis_and_hosts_come_from_the_environment():
    proc = load(
        SECRET_KEY="k" * 50,
        DATABASE_URL="postgres://crm:pw@db.internal:5433/crm",
        REDIS_URL="redis://cache.internal:6379/2",
        ALLOWED_HOSTS="crm.example.cn, www.crm.example.cn",
    )
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["debug"] is False
    assert s["engine"] == "django.db.backends.postgresql"
    assert (s["db_name"], s["db_host"]) == ("crm", "db.internal")
    assert s["eager"] is False and s["broker"] == "redis://cache.internal:6379/2"
    assert s["cache"].endswith("RedisCache")
    assert s["hosts"] == ["crm.example.cn", "www.crm.example.cn"]
    assert s["secret"] == "k" * 50
    assert s["hsts"] == 31536000


def test_a_production_start_without_secret_key_fails():
    proc = load(DEBUG="0")
    assert proc.returncode != 0
    assert "SECRET_KEY must be set" in proc.stderr


def test_a_malformed_boolean_is_an_error_not_a_guess():
    proc = load(DEBUG="maybe")
    assert proc.returncode != 0
    assert "DEBUG must be a boolean" in proc.stderr


@pytest.mark.django_db
def test_check_deploy_passes_with_production_settings():
    # (The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for their own process; a deployment never has it.)
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(DEBUG="0", SECRET_KEY="x9" * 30 + "-prod-secret-for-the-check", ALLOWED_HOSTS="crm.example.cn")
    # The checks read the server's version (a generated column's check does): point at the test database.
    from django.db import connection

    env["DATABASE_URL"] = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**{
        k: connection.settings_dict[k] or "" for k in ("USER", "HOST", "PORT", "NAME")})
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
