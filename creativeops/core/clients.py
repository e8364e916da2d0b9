"""Which client address a request came from: the one answer for login lockouts and the API's
failed-token throttle.

Behind a proxy (the Ingress), REMOTE_ADDR is the proxy. With CLIENT_IP_PROXY_COUNT = N (the number of
proxies in front of the app that append to X-Forwarded-For), the client is the N-th address from the
right of that header, the first one a proxy we trust wrote; addresses further left were written by the
client and can be forged. With 0 (the default) only REMOTE_ADDR is used and the header is ignored.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address, or None when the request has none (an internal request object)."""
    remote = _valid(request.META.get("REMOTE_ADDR"))
    proxies = int(getattr(settings, "CLIENT_IP_PROXY_COUNT", 0))
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    addresses = [address.strip() for address in forwarded.split(",") if address.strip()]
    if not addresses:
        return remote
    return _valid(addresses[-min(proxies, len(addresses))]) or remote


def _valid(address: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None
