# The two commands a new user needs: `make demo` (main job on the embedded sandbox) and `make test`.
# Both set up everything first (system packages, a virtualenv from the lock file); setup is idempotent.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: setup demo ui test lint bench-smoke lock compose-test

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	@bash scripts/setup.sh "$(VENV)"
	@touch $@

demo: setup
	$(PY) -m flex_provider.demo

# The demo in the Airflow UI: sandbox + api-server/scheduler/dag-processor/triggerer, Ctrl-C stops all.
PORT ?= 8080
ui: setup
	$(PY) -m flex_provider.ui.launch --port $(PORT)

test: setup
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check .

bench-smoke: setup
	$(PY) bench/run_all.py --smoke

lock:
	uv pip compile pyproject.toml --extra test --extra postgres --extra celery -o requirements.lock -q -p 3.11

# docker-compose.yaml started for real (tests/deploy/test_compose_up.py): installs and starts a Docker
# engine with host networking only, builds stand-in images from Debian packages (no registry reachable
# here), brings the stack up, runs flex_mit_daily, posts a webhook, takes it down. Not part of `make test`.
compose-test: setup
	FLEX_COMPOSE_TEST=1 $(VENV)/bin/pytest -q -s tests/deploy/test_compose_up.py
