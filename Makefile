# aimlweb: `make run` starts the app, `make test` runs every test. Both set up
# what they need on a fresh machine: a .venv with requirements.txt (what runs in
# production) for `make run`, plus requirements-dev.txt (tests, lint, types) for the rest.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# make demo's fake model: DEMO_PORT (default 8765, else a free port: ops/demo_port.py), DEMO_LATENCY seconds (6).
DEMO_PORT ?=
DEMO_LATENCY ?= 6
# Tests run in parallel (one process per core); browser tests need Chromium.
PYTEST_ARGS ?= -n auto --dist loadfile

# axe-core (npm, test-only): injected into pages by tests/e2e/test_accessibility.py, never served by the app.
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js

.PHONY: run demo test bench bench-render bench-export bench-import bench-history bench-usage bench-push bench-web lint audit format clean help setup chromium axe

help:
	@echo "make run    start web + worker on http://127.0.0.1:$${PORT:-8000} (SQLite)"
	@echo "make demo   the same, answered by a local fake model (no API key needed)"
	@echo "make test   the whole test suite (installs Chromium with apt-get if missing)"
	@echo "make bench  latency, concurrency, export, pushed-update and web server benchmarks (slow)"

$(STAMP): requirements.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(DEV_STAMP)

setup: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0

run: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -p $${PORT:-8000} --env /dev/null -f Procfile web worker

# honcho's -p: the web process on PORT (8000), as `make run`, not honcho's own default (5000).
demo: setup
	@port=$$(DEMO_PORT="$(DEMO_PORT)" $(PY) -m ops.demo_port) || exit 1; \
	echo "The app: http://127.0.0.1:$${PORT:-8000} (demo model on port $$port)"; \
	AIMLAPI_KEY=demo-key AIMLAPI_DEMO=true AIMLAPI_BASE_URL=http://127.0.0.1:$$port/v1 \
	AIMLAPI_MODE=$${AIMLAPI_MODE:-stream} DEMO_PORT=$$port DEMO_LATENCY="$(DEMO_LATENCY)" \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -p $${PORT:-8000} --env /dev/null -f Procfile.demo

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

# The accessibility checker for the browser tests, as the lock file pins it (needs Node.js's npm).
$(AXE): tests/e2e/axe/package.json tests/e2e/axe/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "Installing Debian's nodejs and npm for axe-core (the accessibility tests)"; \
	  SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --prefix tests/e2e/axe --no-audit --no-fund --loglevel=error
	touch $(AXE)

axe: $(AXE)

# collectstatic: the tests that start the app as in production (gunicorn, HTTPS_ONLY) need the
# hashed static files, as a deployment has them.
test: $(DEV_STAMP) chromium $(AXE)
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) -m pytest $(PYTEST_ARGS) $(ARGS)

bench: $(DEV_STAMP) chromium
	$(PY) -m benchmarks.run $(ARGS)
	$(PY) -m benchmarks.export $(EXPORT_ARGS)
	$(PY) -m benchmarks.imports $(IMPORT_ARGS)
	$(PY) -m benchmarks.history $(HISTORY_ARGS)
	$(PY) -m benchmarks.push $(PUSH_ARGS)
	$(PY) -m benchmarks.web $(WEB_ARGS)
	$(PY) -m benchmarks.render $(RENDER_ARGS)
	$(PY) -m benchmarks.usage $(USAGE_ARGS)

# Only the re-rendering of a streamed answer (a few seconds): RENDER_ARGS="--chars 60000".
bench-render: $(DEV_STAMP)
	$(PY) -m benchmarks.render $(RENDER_ARGS)

# Only the pushed live updates (a real browser; then 50/100/200 open tabs): PUSH_ARGS="--only latency".
bench-push: $(DEV_STAMP) chromium
	$(PY) -m benchmarks.push $(PUSH_ARGS)

# Only the web server matrix (gthread WSGI / uvicorn ASGI, 1-2 processes, SQLite / PostgreSQL).
bench-web: $(DEV_STAMP)
	$(PY) -m benchmarks.web $(WEB_ARGS)

# The usage dashboard and admin at 1,000,000 turns on SQLite and PostgreSQL (seeded once, then reused; also
# `python -m benchmarks.run usage`): USAGE_ARGS="--db sqlite --turns 100000" to shrink it.
bench-usage: $(DEV_STAMP)
	$(PY) -m benchmarks.usage $(USAGE_ARGS)

# History at scale: the list, search and 20/200-turn conversations for a user with 10,000 conversations and
# 200,000 turns, compared with one with 100 (also `make bench ARGS=history`): HISTORY_ARGS="--workdir /tmp/h"
# keeps the seeded database for the next run.
bench-history: $(DEV_STAMP)
	$(PY) -m benchmarks.history $(HISTORY_ARGS)

# Only the export/import benchmark (10,000 conversations): EXPORT_ARGS="--conversations 2000" to shrink it.
bench-export: $(DEV_STAMP)
	$(PY) -m benchmarks.export $(EXPORT_ARGS)
	$(PY) -m benchmarks.imports $(IMPORT_ARGS)

# Only the import benchmark of issue 15 (a ~95 MB export of 10,000 conversations; pages of another user
# meanwhile; the 1 MB nested file): IMPORT_ARGS="--quiet-wait 600" waits for a quiet machine first.
bench-import: $(DEV_STAMP)
	$(PY) -m benchmarks.imports $(IMPORT_ARGS)

# Security: bandit (no high-severity finding) and pip-audit on requirements.txt (docs/security.md).
audit: $(DEV_STAMP)
	$(VENV)/bin/bandit -q -r . -x ./.venv,./tests,./benchmarks,./staticfiles -lll
	$(PY) .ci/pip_audit.py

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy conversations accounts aimlweb ops
	$(PY) manage.py makemigrations --check --dry-run

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache tests/e2e/axe/node_modules
