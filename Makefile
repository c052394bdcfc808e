# DealerCRM. `make run` serves the demo on 127.0.0.1:8000; `make test` runs the suite on PostgreSQL.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Tests run on PostgreSQL (Django creates test_<name> beside it) and Redis.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/dealercrm
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
PYTEST_ARGS ?=

.PHONY: run test venv migrate worker beat jobs messages check clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || { python=$$(scripts/find-python) && echo "Creating $(VENV) with $$python" && "$$python" -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

# The embedded default: SQLite and in-process jobs unless DATABASE_URL / REDIS_URL are set.
run: venv
	DEBUG=$${DEBUG:-1} $(PY) manage.py prepare --seed-demo
	DEBUG=$${DEBUG:-1} $(PY) manage.py runserver 127.0.0.1:8000

test: venv
	@DATABASE_URL="$(TEST_DATABASE_URL)" $(PY) scripts/check-services || exit 1
	DEBUG=1 SECRET_KEY=test-only DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" \
		$(PY) -m pytest $(PYTEST_ARGS)

worker: venv
	$(PY) -m celery -A dealercrm worker --loglevel=INFO

beat: venv
	$(PY) -m celery -A dealercrm beat --loglevel=INFO

messages: venv
	DEBUG=1 $(PY) manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=staticfiles --ignore=benchmarks
	DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) staticfiles
