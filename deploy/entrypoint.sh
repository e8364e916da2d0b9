#!/bin/sh
# Entry point of the CreativeOps image: one image, the first argument picks the process.
#
# Every branch `exec`s, so the process replaces this shell as PID 1 and receives SIGTERM directly:
# gunicorn drains its workers and Celery finishes the task in hand (a warm shutdown) before the
# container's grace period runs out. Extra arguments are passed through to the process.
set -eu

command="${1:-web}"
if [ "$#" -gt 0 ]; then shift; fi

case "$command" in
  web)
    exec gunicorn creativeops.wsgi:application -c /app/deploy/gunicorn.conf.py "$@"
    ;;
  worker-training)
    # One training task at a time, and no prefetched second one: a training step holds the CPU for
    # minutes and a prefetched task would sit behind it instead of going to an idle worker.
    exec celery -A creativeops worker -Q training --concurrency 1 --prefetch-multiplier 1 \
      -n "training@%h" --loglevel "${CELERY_LOG_LEVEL:-INFO}" "$@"
    ;;
  worker-default)
    exec celery -A creativeops worker -Q default --concurrency 2 \
      -n "default@%h" --loglevel "${CELERY_LOG_LEVEL:-INFO}" "$@"
    ;;
  beat)
    # Exactly one beat may run (compose: one service; Kubernetes: replicas 1 + Recreate). The schedule
    # lives in the database (django-celery-beat), so beat keeps no state file on this container.
    exec celery -A creativeops beat --scheduler django_celery_beat.schedulers:DatabaseScheduler \
      --loglevel "${CELERY_LOG_LEVEL:-INFO}" "$@"
    ;;
  migrate)
    exec python manage.py migrate --noinput "$@"
    ;;
  wait-for-migrations)
    # Init step for web/worker/beat pods in Kubernetes: start only once the migrate Job has brought the
    # schema up to this image's migrations (`migrate --check` exits non-zero while any is unapplied).
    attempts="${MIGRATION_WAIT_ATTEMPTS:-120}"
    while ! python manage.py migrate --check >/dev/null; do
      attempts=$((attempts - 1))
      if [ "$attempts" -le 0 ]; then
        echo "wait-for-migrations: migrations still unapplied, giving up" >&2
        exit 1
      fi
      echo "wait-for-migrations: waiting for the migrate job" >&2
      sleep 5
    done
    ;;
  mlflow)
    : "${MLFLOW_BACKEND_STORE_URI:?MLFLOW_BACKEND_STORE_URI is required (postgresql+psycopg://user:password@host:5432/mlflow)}"
    # Host-header check of MLflow 3: clients reach the server as mlflow:5000, which is not in its
    # default allow-list (localhost and private IPs), so the name is allowed explicitly.
    export MLFLOW_SERVER_ALLOWED_HOSTS="${MLFLOW_SERVER_ALLOWED_HOSTS:-mlflow,mlflow:5000,localhost,localhost:5000,127.0.0.1,127.0.0.1:5000}"
    exec mlflow server \
      --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
      --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION:-/mlflow-artifacts}" \
      --serve-artifacts \
      --host 0.0.0.0 --port 5000 \
      --workers "${MLFLOW_WORKERS:-2}" "$@"
    ;;
  *)
    # Anything else runs as given, e.g. `manage.py createsuperuser` or a shell for debugging.
    exec "$command" "$@"
    ;;
esac
