"""Hypothesis strategies the answer-dump tests share: short texts, point amounts, and aware
instants at any offset (as answers carry them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

texts = st.text(max_size=12)
points = st.integers(min_value=-(10**12), max_value=10**12)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.builds(
    lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2199, 1, 1)),
    st.one_of(st.just(UTC), offsets),
)
