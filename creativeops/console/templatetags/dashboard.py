"""`{% operator_dashboard as dashboard %}`: the dashboard's data for users who may see the registry."""

from __future__ import annotations

from django import template

from creativeops.console.dashboard import OperatorDashboard
from creativeops.console.dashboard import operator_dashboard as build_operator_dashboard

register = template.Library()

DASHBOARD_PERMISSION = "registry.view_modelversion"


@register.simple_tag(takes_context=True)
def operator_dashboard(context) -> OperatorDashboard | None:
    request = context.get("request")
    if request is None or not request.user.has_perm(DASHBOARD_PERMISSION):
        return None
    return build_operator_dashboard()


@register.filter
def signed(value, digits: int = 4) -> str:
    """+0.0123 / −0.0040: a change with its sign, for metric deltas."""
    if value is None:
        return "—"
    number = float(value)
    sign = "+" if number > 0 else "−" if number < 0 else "±"
    return f"{sign}{abs(number):.{int(digits)}f}"
