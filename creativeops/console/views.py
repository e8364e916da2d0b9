"""Process-level endpoints that sit outside the versioned API: liveness, readiness, metrics.

They compose the apps (readiness asks inference, /metrics reads every layer's gauges), so they live in
the console, not in the ground package."""

import hmac
import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from creativeops.core.metrics import metrics_payload
from creativeops.monitoring.metrics import drift_gauges
from creativeops.pipeline.metrics import pipeline_gauges
from inference.metrics import registry_gauges
from inference.selectors import serving_readiness

logger = logging.getLogger(__name__)

# The gauges /metrics reads from the database at scrape time, one source per layer that owns the rows.
DATABASE_GAUGES = (pipeline_gauges, registry_gauges, drift_gauges)


@require_GET
def health(request):
    """Liveness: the process answers. No dependency is checked, so a database outage does not make
    Kubernetes restart every web pod at once (readiness at /ready covers dependencies)."""
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request):
    """Readiness: the database answers and a model is loaded (the first call loads it).

    503 `{"status": "unavailable", "reasons": [...]}` takes the pod out of the Service until both hold.
    A promoted version that failed to load while the previous one keeps serving answers 200 with
    status "degraded" and the reason: every pod would fail the same way, and dropping them all would
    turn one bad artifact into an outage.
    """
    reasons = _database_problems()
    model_ready, body = serving_readiness() if not reasons else (False, {"reasons": []})
    reasons += body.get("reasons", [])
    if reasons and not model_ready:
        return JsonResponse({"status": "unavailable", "reasons": reasons}, status=503)
    return JsonResponse(
        {"status": "degraded" if reasons else "ok", "model": body["model"], "reasons": reasons}
    )


def _database_problems() -> list[str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        logger.warning("/ready: database unreachable: %s", error)
        return [f"database unreachable: {error}".strip()]
    return []


# Headers a reverse proxy (ingress-nginx, a load balancer) adds; Prometheus scraping a pod directly
# sends none of them.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def _metrics_refusal(request) -> HttpResponse | None:
    """Why this scrape is refused, or None.

    With METRICS_TOKEN set, a scrape must send `Authorization: Bearer <token>` (Prometheus'
    `authorization` scrape setting) and is then accepted from anywhere. Without one, /metrics is for
    in-cluster scrapes only: a request relayed by a proxy gets 404, so the public Ingress does not
    publish model versions, request rates and table sizes (METRICS_ALLOW_PROXIED=1 lifts this).
    """
    config = settings.CREATIVEOPS
    token = config["METRICS_TOKEN"]
    if token:
        supplied = request.headers.get("Authorization", "")
        if hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
            return None
        response = HttpResponse(
            "/metrics needs the header Authorization: Bearer <METRICS_TOKEN>.\n", status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not config["METRICS_ALLOW_PROXIED"] and any(header in request.META for header in PROXY_HEADERS):
        return HttpResponse("Not found.\n", status=404)
    return None


@require_GET
def metrics(request):
    """Prometheus scrape: django-prometheus' and CreativeOps' metrics, summed over the gunicorn workers
    when PROMETHEUS_MULTIPROC_DIR is set, plus gauges read from the database at scrape time."""
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal

    payload, content_type = metrics_payload(DATABASE_GAUGES)
    return HttpResponse(payload, content_type=content_type)
