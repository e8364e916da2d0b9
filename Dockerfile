# syntax=docker/dockerfile:1
#
# One image for every CreativeOps process: the command picks web (default), worker-training,
# worker-default, beat, migrate or mlflow (see deploy/entrypoint.sh).
#
# Stage 1 builds a virtualenv with a compiler-free toolchain; stage 2 copies only that venv and the
# source into a slim runtime, so build caches, pip and the source tree's junk never reach production.
# The base tag is pinned to a Python patch release and a Debian release so a rebuild is reproducible;
# bump both FROM lines together.

FROM python:3.11.14-slim-bookworm AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

# torch comes first and from PyTorch's CPU index: the pyproject pin (torch==2.13.0) is then already
# satisfied by 2.13.0+cpu, so the project install below never resolves the 2 GB CUDA build from PyPI.
# Keep TORCH_VERSION equal to the pin in pyproject.toml (tests/deploy/test_dockerfile.py checks it).
ARG TORCH_VERSION=2.13.0
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu

WORKDIR /app

# Dependencies before source: this layer is rebuilt only when pyproject.toml changes, not on every
# code edit. The requirement list is read from pyproject.toml itself, so there is no second list to
# keep in sync.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt

COPY . .
RUN pip install --no-cache-dir --no-deps . \
 && python -c "import importlib.metadata as m, sys, torch; gpu = sorted(d.metadata['Name'] for d in m.distributions() if d.metadata['Name'].lower().startswith(('nvidia-', 'triton'))); sys.exit(f'CUDA packages in the image: {gpu}' if gpu or torch.version.cuda else 0)"

# Static files are collected once, at build time, into /app/staticfiles (whitenoise serves them).
# Settings refuse to start without SECRET_KEY (and the service URLs) when DEBUG is off, so this one RUN
# line gets a throwaway key and the embedded defaults in its own environment: it is not an ENV, so it is
# in no layer's config and no container sees it.
RUN SECRET_KEY=build-only-collectstatic-not-a-secret DEBUG=0 CREATIVEOPS_EMBEDDED=1 CREATIVEOPS_PRELOAD_MODEL=0 \
    python manage.py collectstatic --noinput


FROM python:3.11.14-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="creativeops" \
      org.opencontainers.image.description="CreativeOps MLOps console: web, Celery workers, beat, MLflow"

# HF_HUB_OFFLINE: nothing is fetched from a model hub at run time (see ARCHITECTURE.md).
# The cache directories point into /tmp because Kubernetes runs this image with a read-only root
# filesystem and an emptyDir on /tmp; $HOME is not writable there.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=creativeops.settings \
    CREATIVEOPS_DATA_DIR=/data \
    HF_HUB_OFFLINE=1 \
    HF_HOME=/tmp/huggingface \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/.cache

# A fixed numeric uid/gid: Kubernetes' runAsNonRoot can only verify a numeric USER, and the shared
# volumes (/data, /mlflow-artifacts) are chowned to it so that a fresh Docker named volume inherits a
# directory the app may write.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/app --create-home --shell /usr/sbin/nologin app \
 && mkdir -p /data /mlflow-artifacts \
 && chown 10001:10001 /data /mlflow-artifacts

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Source and static files stay owned by root: the app user can read but not modify its own code.
COPY . /app
COPY --from=builder /app/staticfiles /app/staticfiles
RUN chmod 0755 /app/deploy/entrypoint.sh

USER 10001:10001
EXPOSE 8000

# Web only (the workers, beat and mlflow override it in compose). Python's urllib, so the image needs
# no curl; urlopen raises on a non-2xx answer or a timeout, which exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
