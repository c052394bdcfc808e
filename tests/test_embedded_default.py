"""`make run`'s embedded default (SQLite, in-process jobs) on a fresh file: the migrations apply, the demo seeds, and
every main page and analysis answers for each role. The app's fast paths use PostgreSQL's SQL; each has a portable
form for SQLite, and this is where a PostgreSQL-only statement on a demo's page would show."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

WALK = r'''
import django, os
django.setup()
from django.test import Client
from dealercrm.models import Role, User
urls = ["/", "/leads/", "/leads/?grade=B", "/leads/reviews/", "/leads/allocation/", "/leads/stale/", "/leads/pool/",
        "/funnel/", "/funnel/?period=last_12", "/funnel/?store=all", "/base-clients/", "/reports/",
        "/reports/monthly-pack/", "/reports/concentration/", "/reports/referrals/", "/reports/defeat-analysis/",
        "/leads/export.csv", "/api/v1/leads/", "/api/v1/base-clients/analytics/region/",
        "/api/v1/base-clients/analytics/industry-segment/", "/api/v1/defeats/metrics/",
        "/api/v1/reports/monthly-pack/"]
failed = []
for role in (Role.CONSULTANT, Role.MANAGER, Role.GROUP_ADMIN):
    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.filter(role=role, is_active=True).order_by("pk").first())
    for url in urls:
        status = client.get(url).status_code
        if status >= 500 or status == 400:
            failed.append((role, url, status))
print("FAILED", failed)
'''


@pytest.mark.django_db(databases=[])
def test_make_runs_embedded_default_migrates_seeds_and_serves_every_page(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}", "DEBUG": "1",
           "DJANGO_SETTINGS_MODULE": "dealercrm.settings"}
    env.pop("REDIS_URL", None)
    prepared = subprocess.run([sys.executable, "manage.py", "prepare", "--seed-demo"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    walked = subprocess.run([sys.executable, "-c", WALK], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert walked.returncode == 0, walked.stderr[-3000:]
    assert "FAILED []" in walked.stdout, walked.stdout[-2000:] + walked.stderr[-3000:]
