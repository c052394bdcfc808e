"""The development server does not keep a PostgreSQL connection per request thread (issue 10: a burst on runserver
exhausted max_connections); other processes (gunicorn workers, Celery) keep theirs for DB_CONN_MAX_AGE."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import sys; sys.argv = {argv!r}; import json, dealercrm.settings as s; "
         "print(json.dumps(s.DATABASES['default']['CONN_MAX_AGE']))")


def conn_max_age(argv, **env):
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DB_CONN_MAX_AGE"}}
    clean.update({"DEBUG": "1", "DATABASE_URL": "postgres://u:p@127.0.0.1:5432/x", **env})
    proc = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], cwd=ROOT, env=clean, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout)


def test_runserver_closes_its_connection_after_each_request():
    assert conn_max_age(["manage.py", "runserver", "127.0.0.1:8000"]) == 0
    assert conn_max_age(["manage.py", "runserver"], DB_CONN_MAX_AGE="600") == 0


def test_other_processes_keep_a_connection_for_db_conn_max_age():
    assert conn_max_age(["gunicorn", "dealercrm.wsgi:application"]) == 60
    assert conn_max_age(["manage.py", "migrate"], DB_CONN_MAX_AGE="30") == 30
