"""The real webhook sender: one HTTP POST with the standard library's ``urllib.request``.

A 2xx answer is a delivery; anything else is a failure the job retries: another status
(redirects included: they are not followed, as the Standard Webhooks spec asks), a timeout, a
connection refused or reset, a TLS error. The answer's body is read (a little of it) and
dropped.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from typing import Any

from loyalty import __version__
from loyalty.domain.webhooks import SendResult

USER_AGENT = f"loyalty-engine-webhooks/{__version__}"
_READ_AT_MOST = 64 * 1024


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


_OPENER = urllib.request.build_opener(_NoRedirects)


def send(url: str, body: bytes, headers: dict[str, str], timeout: float) -> SendResult:
    """POST ``body`` to ``url``; ``timeout`` bounds each connect and read."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={**headers, "user-agent": USER_AGENT}
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(_READ_AT_MOST)
            status = response.status
    except urllib.error.HTTPError as error:
        error.close()
        return SendResult(error.code, f"HTTP {error.code} {error.reason}")
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        return SendResult(None, f"{type(error).__name__}: {reason}")
    if not 200 <= status < 300:
        return SendResult(status, f"HTTP {status}")
    return SendResult(status)
