"""Sentry, with personal data kept out (logging: ``bot.log_safety``).

Sentry events are scrubbed in ``before_send``: no request bodies, query strings,
cookies or headers, no user, no breadcrumbs (they can carry log text), no local
variables, and exception values are replaced by their type, because an
exception message can quote a woman's message.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk

from bot.settings import Settings

_REDACTED = "[redacted]"


def scrub_event(event: dict[str, Any], _hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Remove everything from a Sentry event that could identify a woman or quote her."""
    request = event.get("request")
    if isinstance(request, dict):
        event["request"] = {k: request[k] for k in ("method",) if k in request}
        if "url" in request:
            event["request"]["url"] = str(request["url"]).split("?", 1)[0]
    for key in ("user", "breadcrumbs", "extra", "contexts_user"):
        event.pop(key, None)
    for exception in (event.get("exception") or {}).get("values", []):
        exception["value"] = _REDACTED
        for frame in (exception.get("stacktrace") or {}).get("frames", []):
            frame.pop("vars", None)
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        logentry.pop("params", None)
        logentry["formatted"] = logentry.get("message", _REDACTED)
    event.pop("message", None)
    return event


def init_sentry(settings: Settings, component: str) -> bool:
    """Enable Sentry when ``SENTRY_DSN`` is set; return whether it is on."""
    if settings.sentry_dsn is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment,
        server_name=component,
        send_default_pii=False,
        include_local_variables=False,
        max_breadcrumbs=0,
        before_send=scrub_event,
    )
    return True
