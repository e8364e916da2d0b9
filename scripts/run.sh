#!/usr/bin/env bash
# `make run`: migrate, create the operator account, seed a catalog, train and register a first model,
# then serve on http://127.0.0.1:8000. With CELERY_BROKER_URL set, also one worker per queue and beat.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE=creativeops.settings
PORT="${PORT:-8000}"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Migrating the database"
$PY manage.py migrate --noinput

step "Operator account"
$PY manage.py create_operator

if [ "$($PY manage.py shell -c 'from products.models import Product; print(Product.objects.exists())' 2>/dev/null | tail -1)" != "True" ]; then
  step "Seeding a catalog (2,000 products, seed 7)"
  $PY manage.py generate_products --count 2000 --seed 7
fi

if [ "$($PY manage.py shell -c 'from registry.models import ModelVersion; print(ModelVersion.objects.exists())' 2>/dev/null | tail -1)" != "True" ]; then
  step "Running the pipeline once (snapshot, train 'small', evaluate, register)"
  $PY manage.py run_pipeline --preset "${CREATIVEOPS_RUN_PRESET:-small}" --new-products 0 --wait
  step "Promoting the first model so the marketers' pages have creatives"
  $PY manage.py promote_first_candidate --reason "First model of this installation, promoted by make run"
fi

if [ -n "${CELERY_BROKER_URL:-}" ]; then
  step "Starting web, one worker per queue and beat (Procfile) on http://127.0.0.1:${PORT}"
  exec .venv/bin/honcho start -f Procfile
fi
step "Serving on http://127.0.0.1:${PORT} (admin: /admin/, marketers: /creatives/, API docs: /api/docs/)"
exec .venv/bin/gunicorn creativeops.wsgi:application -c deploy/gunicorn.conf.py --bind "127.0.0.1:${PORT}"
