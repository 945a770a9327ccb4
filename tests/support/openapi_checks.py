"""schemathesis hooks (``SCHEMATHESIS_HOOKS=tests.support.openapi_checks``) for the fuzz test.

The document declares the 500s the handlers mean (a write that failed, with Go's
``{"error": ...}``), so "no 5xx at all" is the wrong test; a crash is a 5xx that explains
nothing.
"""

from __future__ import annotations

import json

import schemathesis


@schemathesis.check
def explained_server_error(ctx, response, case) -> bool | None:
    """A 5xx must carry a handler's ``{"error": ...}``: an empty or other body is a crash."""
    if response.status_code < 500:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if not (isinstance(body, dict) and isinstance(body.get("error"), str)):
        raise AssertionError(f"unexplained {response.status_code}: {response.content[:300]!r}")
    return None
