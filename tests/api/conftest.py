"""Fixtures of the API tests, on top of ``client`` and ``ctx`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from loyalty.domain.members import Member
from loyalty.services.context import Context
from tests.builders import a_member, a_program


@pytest.fixture
def ada(ctx: Context) -> Member:
    """The program "shop" (EUR, Europe/Paris, 1 point per EUR) and its member with card 1234."""
    a_program(ctx)
    return a_member(ctx, "card:1234")
