# DealerCRM. `make run` serves the demo on 127.0.0.1:8000 (`make run PORT=8010` for another port); `make test` runs the suite on PostgreSQL.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Tests run on PostgreSQL (Django creates test_<name>_gw<n>_<pid> beside it, one per process) and Redis (process
# gw<n> uses database <n> above TEST_REDIS_URL's), in TEST_WORKERS processes (pytest-xdist; TEST_WORKERS=0 runs them
# in this one process, e.g. to use --pdb).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/dealercrm
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
TEST_WORKERS ?= 2
PYTEST_ARGS ?=
# The port `make run` serves on.
PORT ?= 8000

.PHONY: run test venv migrate worker beat jobs messages check clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || { python=$$(scripts/find-python) && echo "Creating $(VENV) with $$python" && "$$python" -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

# The embedded default: SQLite and in-process jobs unless DATABASE_URL / REDIS_URL are set. run_jobs catches the
# daily jobs up at start (no beat runs here); it is idempotent, so restarting is harmless.
# Each step says what it does and how long it took (the first run installs and seeds for a few minutes).
run:
	@set -eo pipefail; export DEBUG=$${DEBUG:-1}; t=$$SECONDS; \
	if $(MAKE) -q $(VENV)/.installed 2>/dev/null; then echo "1/4 requirements are up to date"; else \
		echo "1/4 installing requirements into $(VENV) (pip, quietly; the first time takes a few minutes)…"; \
		$(MAKE) --no-print-directory venv >/dev/null; echo "    done in $$((SECONDS - t)) s"; fi; \
	t=$$SECONDS; echo "2/4 migrating the database and collecting static files…"; \
	$(PY) manage.py prepare --verbosity 0; echo "    done in $$((SECONDS - t)) s"; \
	t=$$SECONDS; echo "3/4 seeding the demo dealer group (once, on an empty database)…"; \
	$(PY) manage.py seed_demo --if-empty; echo "    done in $$((SECONDS - t)) s"; \
	t=$$SECONDS; echo "4/4 catching up the daily jobs…"; \
	$(PY) manage.py run_jobs | sed "s/^/    /"; echo "    done in $$((SECONDS - t)) s"; \
	echo "Serving http://127.0.0.1:$(PORT)/ (log in as pudong_manager, password demo1234; Ctrl-C stops)"; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

test: venv
	@DATABASE_URL="$(TEST_DATABASE_URL)" $(PY) scripts/check-services || exit 1
	DEBUG=1 SECRET_KEY=test-only DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" \
		$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The daily jobs, now, in this process (what the worker runs on schedule).
jobs: venv
	DEBUG=$${DEBUG:-1} $(PY) manage.py run_jobs

worker: venv
	$(PY) -m celery -A dealercrm worker --loglevel=INFO

beat: venv
	$(PY) -m celery -A dealercrm beat --loglevel=INFO

messages: venv
	DEBUG=1 $(PY) manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=staticfiles --ignore=benchmarks
	DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) staticfiles

# The benchmark data set (benchmarks/README.md): LEADS leads in their own database, created and migrated when
# missing. Refuses when the bench group is already there: `make bench-seed BENCH_ARGS=--reset` reloads it. Its shape
# follows LEADS unless BENCH_ARGS say (--stores, --months): 10 stores over 13 months, 50 over 36 from 5M leads on.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/dealercrm_bench
LEADS ?= 1000000
BENCH_ARGS ?=

.PHONY: bench-seed
bench-seed: venv
	$(PY) -c 'import sys, benchmarks; print("database", sys.argv[1].rsplit("/", 1)[-1], "created" if benchmarks.ensure_database(sys.argv[1]) else "exists")' \
		"$(BENCH_DATABASE_URL)"
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py migrate --verbosity 0
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" \
		$(PY) manage.py seed_bench --leads $(LEADS) $(BENCH_ARGS)

# The whole bench data set in one go, each part timed: the leads (BENCH_ARGS go to seed_bench), then their base
# clients and defeats, both scaled to the leads, the confirmed defeats' leads defeated as the services leave them
# (--update-leads), then what the funnel keeps of all of it counted once (bench-rollups): the leads' and the defeats'
# seeds leave it (--defer-rollups). `make bench-seed-all LEADS=10000000` is the ten-million-lead bench.
.PHONY: bench-seed-all bench-rollups
bench-seed-all: venv
	@set -eo pipefail; t0=$$SECONDS; \
	$(MAKE) --no-print-directory bench-seed BENCH_ARGS="$(BENCH_ARGS) --defer-rollups"; t1=$$SECONDS; \
	$(MAKE) --no-print-directory bench-baseclients-seed BENCH_ARGS=; t2=$$SECONDS; \
	$(MAKE) --no-print-directory bench-defeats-seed BENCH_ARGS="--update-leads --defer-rollups"; t3=$$SECONDS; \
	$(MAKE) --no-print-directory bench-rollups; t4=$$SECONDS; \
	echo "bench-seed-all: leads $$((t1 - t0)) s, base clients $$((t2 - t1)) s, defeats $$((t3 - t2)) s," \
		"rollups $$((t4 - t3)) s, $$((t4 - t0)) s in all"

# What the funnel keeps of the bench data set (rollups, time in stage, the state now) counted from its rows.
bench-rollups: venv
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py seed_bench_rollups

# The pages people open, per role, on the bench data set: p50/p95, queries, and the page's SQL floor.
.PHONY: bench-pages bench-load
# The static files collected first, as gunicorn serves them in bench-load (without them every page warns).
bench-pages: venv
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} $(PY) manage.py collectstatic --noinput --verbosity 0
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py bench_pages $(BENCH_ARGS)

# The load test's cache (shared by the gunicorn workers, as in production) in a Redis database of its own.
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/3

# A mixed load (12 consultants, 8 managers) against gunicorn (BENCH_WEB_WORKERS sync workers, 3 unless given) on
# 127.0.0.1:8010 and the bench data.
BENCH_WEB_WORKERS ?= 3
bench-load: venv
	@set -eo pipefail; export DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" \
		REDIS_URL="$(BENCH_REDIS_URL)" ALLOWED_HOSTS=localhost,127.0.0.1 SECURE_SSL_REDIRECT=0 DB_CONN_MAX_AGE=60; \
	$(PY) manage.py collectstatic --noinput --verbosity 0; \
	echo "gunicorn: $(BENCH_WEB_WORKERS) sync workers"; \
	$(PY) -m gunicorn dealercrm.wsgi:application --bind 127.0.0.1:8010 --workers $(BENCH_WEB_WORKERS) \
		--log-level warning & pid=$$!; \
	trap "kill $$pid" EXIT; sleep 3; $(PY) manage.py bench_load --url http://127.0.0.1:8010 $(BENCH_ARGS)

# The bench data set's base clients (~90k, vehicles, tiers, two years of care), added to an existing bench database
# without reloading its leads (idempotent), and their benchmark: list page/API, care job, concentration analyses.
.PHONY: bench-baseclients-seed bench-baseclients
bench-baseclients-seed: venv
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py migrate baseclients --verbosity 0
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py seed_bench_baseclients $(BENCH_ARGS)

bench-baseclients: venv
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py bench_baseclients $(BENCH_ARGS)

# Defeats on the bench data set, added to its leads (idempotent; BENCH_ARGS=--reset redoes them, --update-leads also
# marks the leads), and the defeat metrics API against its SQL floor: p50/p95 (benchmarks/README.md, "Defeats").
.PHONY: bench-defeats-seed bench-defeats
bench-defeats-seed: venv
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py migrate defeats --verbosity 0
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py seed_bench_defeats $(BENCH_ARGS)

bench-defeats: venv
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py bench_defeats $(BENCH_ARGS)

# Each counted part of the funnel dashboard on its own, cold (no figures cache): first call and median
# (benchmarks/README.md, "Dashboard parts").
.PHONY: bench-dashboard-parts
bench-dashboard-parts: venv
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py bench_dashboard_parts $(BENCH_ARGS)

# The Excel imports on the bench data set: a generated 50,000-row lead workbook and a 5,000-row sales workbook (base
# clients) imported into a bench store, dry run and commit, rows/s with the machine's load; on a copy of the database
# dropped at the end (BENCH_ARGS=--rollback: in one transaction rolled back). benchmarks/README.md, "Imports".
.PHONY: bench-imports
bench-imports: venv
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py bench_imports $(BENCH_ARGS)

# Every published figure from one command, as a real morning finds the system: a freshly seeded bench (leads, base
# clients, defeats), the nightly jobs run over it, the conditions printed (machine load, data, jobs, statistics), then
# the pages, the mixed load, the funnel API and the defeats against their floors, the imports (on a copy of the
# database, or rolled back when the disk has no room for one). benchmarks/README.md quotes its output.
.PHONY: bench-all
bench-all: venv
	$(MAKE) --no-print-directory bench-seed-all BENCH_ARGS=--reset
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py run_jobs
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py bench_state
	$(MAKE) --no-print-directory bench-pages BENCH_ARGS=
	$(MAKE) --no-print-directory bench-load BENCH_ARGS=
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py bench_funnel
	$(MAKE) --no-print-directory bench-defeats BENCH_ARGS=
	$(MAKE) --no-print-directory bench-imports BENCH_ARGS=
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-bench-only} DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) manage.py bench_state
