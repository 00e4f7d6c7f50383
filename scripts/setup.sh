#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: system packages the tests need, services, the virtualenv.
set -euo pipefail
VENV="${1:-.venv}"
cd "$(dirname "$0")/.."

apt_needed=()
[ -x /usr/sbin/sshd ] || apt_needed+=(openssh-server)
command -v docker-compose >/dev/null || apt_needed+=(docker-compose)
# Redis is the Celery broker of the scale-out test (tests/deploy/test_celery_run.py).
command -v redis-server >/dev/null || apt_needed+=(redis-server)
# Debian's Chromium drives the checkout page test (Playwright cannot download its own browser here).
[ -x /usr/bin/chromium ] || apt_needed+=(chromium)
if [ ${#apt_needed[@]} -gt 0 ]; then
  echo "setup: installing ${apt_needed[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${apt_needed[@]}" >/dev/null
fi

# PostgreSQL serves the ledger and merchant-DB tests; start it when it is down.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi

if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi

command -v uv >/dev/null || python3 -m pip install -q uv
[ -x "$VENV/bin/python" ] || uv venv -q -p 3.11 "$VENV"
uv pip install -q --python "$VENV/bin/python" -r requirements.lock
uv pip install -q --python "$VENV/bin/python" --no-deps -e .
# The environment may set PYTHONDONTWRITEBYTECODE: compile once so every Airflow subprocess starts fast.
"$VENV/bin/python" -m compileall -q -j 0 "$VENV/lib" >/dev/null 2>&1 || true
echo "setup: ready ($("$VENV/bin/python" -c 'import airflow; print("airflow", airflow.__version__)'))"
