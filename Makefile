PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint check-deploy clean

# Every dependency, direct and transitive, is installed from the lock files at the version
# and with the hashes they name (pip refuses a file whose hash differs); the project itself
# is then installed without dependencies and without fetching a build environment.
LOCK := requirements-dev.lock
$(STAMP): $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

.PHONY: lock audit

## make lock: compile requirements.lock (what the console runs on) and requirements-dev.lock
## (that plus the tools and test libraries) from pyproject.toml, with every file's hash.
## After changing a pin in pyproject.toml; `make lock UPGRADE=1` moves every unpinned
## transitive dependency to its newest release too.
PIP_COMPILE = $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host $(if $(UPGRADE),--upgrade)
lock: $(STAMP)
	$(PIP_COMPILE) -o requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev -c requirements.lock -o requirements-dev.lock pyproject.toml

## make audit: pip-audit against both lock files (run by CI). Fails on any known
## vulnerability; says which dependencies the advisory source could not answer for.
audit: $(STAMP)
	$(PY) scripts/audit_dependencies.py requirements.lock requirements-dev.lock

## make run: the whole console on embedded defaults (SQLite, file broker) with demo data.
## Its last lines, once the web server answers, say how to sign in and whom to recover
## (manage.py demo_welcome). Another port: make run PORT=8001.
## The demo application that signs in through the console's OpenID provider listens on
## the next port (make run PORT=8010: 8011), or RP_PORT.
PORT ?= 8000
RP_PORT ?= $(shell expr $(PORT) + 1)
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --verbosity 0
	DEMO_RELYING_PARTY_PORT=$(RP_PORT) $(PY) manage.py seed_recovery_demo
	@# The seed delivered each notice as it played its history; the hundreds of tasks it queued
	@# for them would only find them sent, and hold the worker (and a demo self-service
	@# request) for minutes. A lost task costs nothing here: beat's sweeps redo any work.
	$(VENV)/bin/celery -A recovery_console purge -f
	CONSOLE_PORT=$(PORT) DEMO_RELYING_PARTY_PORT=$(RP_PORT) \
		SITE_URL=$${SITE_URL:-http://localhost:$(PORT)} PHONE_REGION=$${PHONE_REGION-GB} \
		WEBAUTHN_ORIGINS=$${WEBAUTHN_ORIGINS:-http://localhost:$(PORT)} \
		$(VENV)/bin/honcho start -f Procfile

TEST_WORKERS ?= auto
## make test: the whole suite, one process per core (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set).
test: $(STAMP)
	$(VENV)/bin/pytest -n $(TEST_WORKERS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/bandit -q -r accounts audit recovery_console -x '*/migrations/*'
	$(PY) manage.py makemigrations --check --dry-run

check-deploy: $(STAMP)
	DJANGO_SETTINGS_MODULE=recovery_console.production \
	SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))') \
	ALLOWED_HOSTS=console.example.org SITE_URL=https://console.example.org \
	OIDC_RSA_PRIVATE_KEY="$$($(PY) -m recovery_console.oidc.keys)" \
	$(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var staticfiles

.PHONY: release serve smoke

PRODUCTION := DJANGO_SETTINGS_MODULE=recovery_console.production

## make release: what every new version needs once before serving (static files, migrations).
release: $(STAMP)
	$(PRODUCTION) $(PY) manage.py collectstatic --noinput --verbosity 0
	$(PRODUCTION) $(PY) manage.py migrate --noinput

## make serve: production mode (gunicorn, Celery worker, one beat) against DATABASE_URL and
## REDIS_URL; needs SECRET_KEY, ALLOWED_HOSTS, SITE_URL (docs/operations.md). JSON logs on stdout.
serve: release
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start --no-colour --no-prefix \
		-f Procfile.production -p $${PORT:-8000}

## make smoke: start the production run on a scratch database and a throwaway Redis, sign in,
## load the queue, stop Redis and check readiness goes red then green, stop everything.
smoke: $(STAMP)
	VENV=$(VENV) scripts/smoke_production.sh

.PHONY: bench

## make bench: benchmarks against the local PostgreSQL (scratch databases bench_1k, bench_10k,
## bench_100k, dropped and recreated) and Redis DB 9, with gunicorn in production settings and
## wrk on loopback (apt-get install -y wrk); writes BENCHMARKS.md. About 25 minutes: not in CI.
## BENCH_SIZES=1000,10000 for a shorter run. The peer row (django-helpdesk, installed from the
## package registry into var/bench-peer-venv, its database bench_peer_<size>) adds a few minutes
## per size; BENCH_PEER=0 skips it.
bench: $(STAMP)
	PYTHON=$(CURDIR)/$(PY) $(PY) -m bench.run
