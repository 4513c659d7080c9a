"""Opaque cursors for lists paged newest first on (instant, id): survey answers, referrals."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from loyalty.domain.errors import InvalidRequest
from loyalty.domain.time import utc


def encode_cursor(at: datetime, ident: str) -> str:
    """The boundary after which the next page starts, opaque to the caller."""
    text = f"{utc(at).isoformat()}|{ident}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (instant, id) of a cursor this API gave; ``InvalidRequest`` for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, ident = text.split("|", 1)
        instant = datetime.fromisoformat(at)
        if instant.tzinfo is None or not ident:
            raise ValueError(cursor)
        return utc(instant), ident
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidRequest("this cursor was not given by this API", field="cursor") from None
