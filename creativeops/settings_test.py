"""Settings for the test suite: the production settings with test-only values for what the
environment would give. Nothing here is a secret; these values never leave a test run."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-" + "k3y" * 20)
os.environ.setdefault("CREATIVEOPS_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# The suite runs on SQLite and locmem when no DATABASE_URL / REDIS_URL is given (CI gives both).
os.environ.setdefault("CREATIVEOPS_EMBEDDED", "1")

from creativeops.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Pages render `{% static %}` without a collectstatic run: no manifest in tests (the live server of the
# browser tests serves the files from the finders).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405

# Unit tests run tasks in process; integration tests start a real worker on the real broker
# (tests/integration) and switch this off for their duration.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/15"

if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": f"tests-{os.getpid()}",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Prediction log rows are written right after each response (no background writer): a test sees
# them at once, and no thread outlives the test transaction (tests/inference/test_prediction_logs.py
# covers the writer itself).
# Likewise an experiment's samples and the shadow's challenger run after each response, in the request
# thread (tests/inference/test_live_experiments.py runs the worker thread itself in real processes).
CREATIVEOPS = {**CREATIVEOPS, "PREDICTION_LOG_FLUSH_SECONDS": 0, "EXPERIMENT_WORKER_THREAD": False}  # noqa: F405
