"""CreativeOps settings. Every value that changes between environments is read in `creativeops.env`.

The embedded defaults (SQLite, eager Celery, a local MLflow store, files under ./var) exist so that
`make run` works on a bare laptop; production sets DATABASE_URL, CELERY_BROKER_URL, REDIS_URL,
MLFLOW_TRACKING_URI and SECRET_KEY. With DEBUG off the embedded defaults are refused (a missing URL
stops the process naming the variable) unless CREATIVEOPS_EMBEDDED=1 asks for a single-machine install.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url

from creativeops.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_required,
    env_service_url,
    env_str,
)
from creativeops.queues import TASK_ROUTES, Queue

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("CREATIVEOPS_DATA_DIR") or BASE_DIR / "var").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# SQLite, tasks in process and a file cache: allowed by default only with DEBUG on (`make run`).
EMBEDDED = env_bool("CREATIVEOPS_EMBEDDED", DEBUG)


def _secret_key() -> str:
    """Production must set SECRET_KEY. A debug install keeps a random key of its own under DATA_DIR."""
    configured = env_str("SECRET_KEY")
    if configured:
        return configured
    if not DEBUG:
        return env_required("SECRET_KEY", why="it signs sessions and CSRF tokens; set it when DEBUG is off.")
    key_file = DATA_DIR / "dev_secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(64))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_celery_beat",
    "django_prometheus",
    "creativeops.core",
    "products",
    "training",
    "registry",
    "inference",
    "creativeops.pipeline",
    "creativeops.monitoring",
    "creativeops.console",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "creativeops.core.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "creativeops.urls"
WSGI_APPLICATION = "creativeops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_service_url("DATABASE_URL", embedded=EMBEDDED, what="the PostgreSQL database (postgres://…)")
        or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite is the laptop default only; a busy timeout keeps the in-process worker and the web
    # thread from failing on each other's short write locks.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (also carries the registry's "production changed" version key) -------------------
REDIS_URL = env_service_url(
    "REDIS_URL", embedded=EMBEDDED, what="the Redis cache every web process shares (redis://…)"
)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Installations (or a benchmark's sandbox server) sharing one Redis keep apart by prefix.
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", ""),
        }
    }
else:
    # A file cache, not local memory: several gunicorn workers on one laptop must see one key.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/creatives/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files and artifact storage ------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("CREATIVEOPS_ARTIFACT_ROOT") or DATA_DIR / "artifacts")
MEDIA_URL = "/artifacts/"
STORAGES = {
    # Artifacts (dataset snapshots, model folders) go through Django's storage API so a shared
    # volume or an S3-compatible bucket can replace the local folder without code changes.
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security (manage.py check --deploy is clean when DEBUG is off) --------------------------
SECURE_SSL_REDIRECT = env_bool("CREATIVEOPS_SECURE_SSL_REDIRECT", not DEBUG)
# Probes and scrapes arrive over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = 0 if DEBUG else env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Request limits -------------------------------------------------------------------------
# Bodies above this get a 413 naming the limit before any parsing (see RequestSizeLimitMiddleware).
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
IMPORT_MAX_FILE_BYTES = env_int("IMPORT_MAX_FILE_BYTES", 20_000_000)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5_000_000

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's TokenAuthentication with the token lookup cached and invalidated on change.
        "creativeops.core.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser with a nesting-depth limit (creativeops/core/json_input.py).
    "DEFAULT_PARSER_CLASSES": ["creativeops.core.api.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "creativeops.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "creativeops.core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "predict": env_str("THROTTLE_PREDICT", "120/min"),
        "batch_predict": env_str("THROTTLE_BATCH_PREDICT", "20/min"),
        "catalog": env_str("THROTTLE_CATALOG", "30/min"),
        "operator": env_str("THROTTLE_OPERATOR", "30/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CreativeOps API",
    "DESCRIPTION": "Ad creatives (headline, body, call to action) from the production model; the catalog.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation also documents the errors of the layers outside its view (401, 429, 400/413/415
    # for a body, 404 for a path parameter): creativeops/core/schema.py.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "creativeops.core.schema.complete_error_responses",
    ],
    # `unseen` and `not_checked` of a predict answer share one list of signals: one enum, one name.
    "ENUM_NAME_OVERRIDES": {"NoveltySignalEnum": "inference.services.novelty.SIGNALS"},
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_service_url(
    "CELERY_BROKER_URL", embedded=EMBEDDED, what="the Celery broker the workers consume (redis://…)"
)
# No broker: tasks run in process (the laptop default); the same chain, the same services.
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = Queue.DEFAULT.value
# Which task goes to which queue (the `queue=` task attribute is deprecated since Celery 5.5).
CELERY_TASK_ROUTES = TASK_ROUTES
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Training is long and CPU bound: a worker must not hold a second training message it cannot start.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Longest training we allow (hard limit) plus margin: the broker must not hand an unacked message to
# another worker while the first is still legitimately training.
TRAINING_SOFT_TIME_LIMIT = env_int("TRAINING_SOFT_TIME_LIMIT", 2 * 3600)
TRAINING_HARD_TIME_LIMIT = TRAINING_SOFT_TIME_LIMIT + 300
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": TRAINING_HARD_TIME_LIMIT + 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- MLflow ---------------------------------------------------------------------------------
MLFLOW_TRACKING_URI = env_str("MLFLOW_TRACKING_URI") or f"sqlite:///{DATA_DIR / 'mlflow.db'}"
MLFLOW_ARTIFACT_ROOT = env_str("MLFLOW_ARTIFACT_ROOT") or (DATA_DIR / "mlartifacts").as_uri()
MLFLOW_EXPERIMENT_NAME = env_str("MLFLOW_EXPERIMENT_NAME", "creativeops")

# --- The model and its lifecycle ------------------------------------------------------------
CREATIVEOPS = {
    "DEFAULT_MODEL_NAME": env_str("CREATIVEOPS_MODEL_NAME", "creative-generator"),
    # Gate on ROUGE-L F1 against reference creatives (higher is better); see training/ml/evaluate.py.
    "PRIMARY_METRIC": env_str("CREATIVEOPS_PRIMARY_METRIC", "rouge_l"),
    "GATE_MIN_IMPROVEMENT_ABS": env_float("GATE_MIN_IMPROVEMENT_ABS", 0.0),
    "GATE_MIN_IMPROVEMENT_REL": env_float("GATE_MIN_IMPROVEMENT_REL", 0.0),
    "GATE_FIDELITY_TOLERANCE": env_float("GATE_FIDELITY_TOLERANCE", 0.02),
    "GATE_MAX_LATENCY_RATIO": env_float("GATE_MAX_LATENCY_RATIO", 1.5),
    # Pass only when the paired bootstrap 95 % interval of the primary metric's change lies above the
    # minimum improvement (registry/services/gate.py), not merely its mean.
    "GATE_REQUIRE_SIGNIFICANT": env_bool("GATE_REQUIRE_SIGNIFICANT", True),
    "GOLDEN_SET_SEED": env_int("GOLDEN_SET_SEED", 20240601),
    "GOLDEN_SET_SIZE": env_int("GOLDEN_SET_SIZE", 200),
    "AUTO_PROMOTE": env_bool("AUTO_PROMOTE", False),
    "GENERATE_MAX_COUNT": env_int("GENERATE_MAX_COUNT", 10_000),
    "PREDICT_MAX_BATCH": env_int("PREDICT_MAX_BATCH", 64),
    "PREDICT_MAX_VARIANTS": 5,
    "PREDICT_MAX_NEW_TOKENS": env_int("PREDICT_MAX_NEW_TOKENS", 96),
    "PREDICT_MAX_TITLE_CHARS": 200,
    "PREDICT_MAX_DESCRIPTION_CHARS": env_int("PREDICT_MAX_DESCRIPTION_CHARS", 2000),
    # The work one batch_predict request may ask for: items × num_variants × max_new_tokens (default: a
    # full batch of 64 single variants of 96 tokens). Larger requests get a 400 naming the product.
    "PREDICT_MAX_BATCH_TOKENS": env_int("PREDICT_MAX_BATCH_TOKENS", 64 * 96),
    # Batch generations running at once per web process; one more is answered 503 with Retry-After, so
    # single predictions never queue behind several batches (inference/services/admission.py).
    "PREDICT_BATCH_CONCURRENCY": env_int("PREDICT_BATCH_CONCURRENCY", 1),
    "MODEL_CHECK_INTERVAL_SECONDS": env_float("MODEL_CHECK_INTERVAL_SECONDS", 3.0),
    # An input whose title and description have more than this share of words the training data never
    # held is flagged "vocabulary" (inference.services.novelty). Against a generated training catalog,
    # generated products have share 0 and every product of the out-of-distribution set is flagged
    # (tests/inference/test_novelty.py).
    "NOVELTY_MAX_UNSEEN_WORD_SHARE": env_float("NOVELTY_MAX_UNSEEN_WORD_SHARE", 0.25),
    "PRELOAD_MODEL": env_bool("CREATIVEOPS_PRELOAD_MODEL", False),
    "TORCH_NUM_THREADS": env_int("TORCH_NUM_THREADS", 0),
    # Intra-op threads for a generation call of 8+ rows (batch_predict, the catalog refresh); 0 keeps
    # TORCH_NUM_THREADS. A batch is compute-bound and gains from a second core; a single prediction
    # is not, so the per-worker count stays 1 (see deploy/gunicorn.conf.py).
    "BATCH_TORCH_THREADS": env_int("BATCH_TORCH_THREADS", 2),
    # Dynamic batching (inference/batching.py): concurrent predictions of a process share one
    # generation of at most BATCH_MAX_ROWS rows; under load the first waits up to BATCH_WAIT_MS for
    # others. BATCH_MAX_ROWS=0 turns it off (each request generates in its own thread).
    "BATCH_MAX_ROWS": env_int("BATCH_MAX_ROWS", 32),
    "BATCH_WAIT_MS": env_float("BATCH_WAIT_MS", 5.0),
    "RETENTION_DAYS": env_int("RETENTION_DAYS", 30),
    # A float: a run (training or pipeline) without a sign of life for this long lost its worker.
    "STALE_RUN_MINUTES": env_float("STALE_RUN_MINUTES", 10.0),
    "DRIFT_PSI_THRESHOLD": env_float("DRIFT_PSI_THRESHOLD", 0.2),
    "DRIFT_TRIGGERS_PIPELINE": env_bool("DRIFT_TRIGGERS_PIPELINE", False),
    # /metrics: a bearer token Prometheus must send (then it may come from anywhere); without one,
    # requests relayed by a proxy (the Ingress) are refused unless METRICS_ALLOW_PROXIED is set.
    "METRICS_TOKEN": env_str("METRICS_TOKEN", ""),
    "METRICS_ALLOW_PROXIED": env_bool("METRICS_ALLOW_PROXIED", False),
    # How long a verified API token stays in the cache (a save or delete of the token or its user
    # drops it at once; see creativeops/core/authentication.py).
    "TOKEN_CACHE_SECONDS": env_int("TOKEN_CACHE_SECONDS", 60),
    # PredictionLog rows are written by a background thread per process, in batches (see
    # inference/services/prediction_logs.py); 0 writes each request's rows after its response.
    "PREDICTION_LOG_FLUSH_SECONDS": env_float("PREDICTION_LOG_FLUSH_SECONDS", 1.0),
    "PREDICTION_LOG_BATCH": env_int("PREDICTION_LOG_BATCH", 500),
    # Live experiments (inference/live_experiments.py, inference/services/experiment_samples.py): the
    # samples kept per experiment (items with each arm's output), the requests a process's experiment
    # worker may have waiting (a shadow request beyond it is dropped and counted, never waited for),
    # and whether that worker is a thread (off: the work runs after each response, as in the tests).
    "EXPERIMENT_MAX_SAMPLES": env_int("EXPERIMENT_MAX_SAMPLES", 10_000),
    "EXPERIMENT_QUEUE_MAX": env_int("EXPERIMENT_QUEUE_MAX", 32),
    "EXPERIMENT_WORKER_THREAD": env_bool("EXPERIMENT_WORKER_THREAD", True),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Brute-force protection ------------------------------------------------------------------
# Admin and page logins (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one account, or
# from one client address, further attempts are refused with a 429 for AXES_COOLOFF_MINUTES. Operators
# see the attempts and lockouts in the admin ("Access attempts"); deleting an attempt, or
# `manage.py axes_reset_username <name>` / `axes_reset_ip <address>` / `axes_reset`, unlocks at once.
INSTALLED_APPS += ["axes"]
# Last, as axes requires: it turns a lockout noticed during authentication into the lockout page.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out login before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_MINUTES", 15.0) / 60  # hours
# Each one on its own: an account is locked whatever address tries it, an address whatever account.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "creativeops.core.clients.client_address"
# How many proxies in front of the app append to X-Forwarded-For (1 behind the Ingress); 0 trusts only
# REMOTE_ADDR. Used for login lockouts and the failed-token throttle (creativeops/core/clients.py).
CLIENT_IP_PROXY_COUNT = env_int("CLIENT_IP_PROXY_COUNT", 0)
# API tokens: after API_TOKEN_FAILURE_LIMIT invalid tokens from one client address within
# API_TOKEN_FAILURE_WINDOW_SECONDS, every token request from that address is a 429 until the window
# has passed (creativeops/core/authentication.py).
API_TOKEN_FAILURE_LIMIT = env_int("API_TOKEN_FAILURE_LIMIT", 20)
API_TOKEN_FAILURE_WINDOW_SECONDS = env_int("API_TOKEN_FAILURE_WINDOW_SECONDS", 300)

# --- Content-Security-Policy (creativeops/core/middleware.py) --------------------------------------
# Scripts only from this site's own files: no inline script, no event-handler attribute, no eval, so
# an XSS payload that reached a page could not run. Inline *styles* stay allowed: the admin's status
# badges, progress bars and charts are styled with style attributes, and CSS cannot run code.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "creativeops.core.middleware.ContentSecurityPolicyMiddleware")  # fmt: skip
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# The Swagger UI (drf-spectacular) loads its bundle from this CDN; only its page allows it.
CONTENT_SECURITY_POLICY_EXTRA_SOURCES = {"/api/docs/": ["https://cdn.jsdelivr.net"]}
