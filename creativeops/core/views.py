"""Process-level endpoints that sit outside the versioned API."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def health(request):
    """Liveness: the process answers. No dependency is checked, so a database outage does not make
    Kubernetes restart every web pod at once (readiness at /ready covers dependencies)."""
    return JsonResponse({"status": "ok"})
