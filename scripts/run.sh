#!/usr/bin/env bash
# `make run`: migrate, create the operator account, seed a catalog, train and register a first model,
# then serve on http://127.0.0.1:8000. With CELERY_BROKER_URL set, also one worker per queue and beat.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE=creativeops.settings
# A laptop run: debug settings (a random SECRET_KEY kept under the data dir) unless told otherwise.
export DEBUG="${DEBUG:-1}"
export PYTHONUNBUFFERED=1
PORT="${PORT:-8000}"
PRESET="${CREATIVEOPS_RUN_PRESET:-small}"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Migrating the database"
$PY manage.py migrate --noinput

step "Operator account"
$PY manage.py create_operator

exists() { $PY manage.py shell -c "from $1 import $2; print($2.objects.exists())" 2>/dev/null | tail -1; }

if [ "$(exists registry.models ModelVersion)" != "True" ]; then
  NEW_PRODUCTS=0
  if [ "$(exists products.models Product)" != "True" ]; then NEW_PRODUCTS=2000; fi
  # The first model is trained here, in this process (an empty CELERY_BROKER_URL means eager), even
  # when a broker is configured: the workers start only afterwards.
  step "Running the pipeline once: generate ${NEW_PRODUCTS} products (seed 7), snapshot, train '${PRESET}', evaluate, register"
  # Every core torch would use: left to itself, training counts the cores the load average says are
  # busy (training/ml/preparation.py auto_thread_count), and right after the install above that
  # average is high although nothing else runs now; on one thread instead of two the `small` model
  # trains in about 150 s instead of 90.
  THREADS="$($PY -c 'import torch; print(torch.get_num_threads())')"
  CELERY_BROKER_URL= $PY manage.py run_pipeline --preset "$PRESET" --new-products "$NEW_PRODUCTS" --seed 7 --wait \
    --hyperparameters "{\"num_threads\": ${THREADS}}"
  step "Promoting the first model so the marketers' pages have creatives"
  CELERY_BROKER_URL= $PY manage.py promote_first_candidate \
    --reason "First model of this installation, promoted by make run"
fi

if [ -n "${CELERY_BROKER_URL:-}" ]; then
  step "Starting web, one worker per queue and beat (Procfile) on http://127.0.0.1:${PORT}"
  # -p: honcho gives each process a PORT from this base; the web process is the first line.
  exec .venv/bin/honcho start -f Procfile -p "$PORT"
fi
step "Serving on http://127.0.0.1:${PORT} (admin: /admin/, marketers: /creatives/, API docs: /api/docs/)"
exec .venv/bin/gunicorn creativeops.wsgi:application -c deploy/gunicorn.conf.py --bind "127.0.0.1:${PORT}"
