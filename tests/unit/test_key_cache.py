"""The cache of API keys a process has read: young entries only, bounded, and a key forgotten
(revoked) here is never put back by a read that raced with the revocation. No database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty.domain.access import Scope, hash_secret
from loyalty.services.access import KeyCache, StoredKey

NOON = datetime(2026, 5, 1, 12, tzinfo=UTC)
FIVE_SECONDS = timedelta(seconds=5)


def a_key(key_id: str = "0123456789abcdef") -> StoredKey:
    return StoredKey(key_id, "tills", "shop", frozenset({Scope.CHECKOUT}),
                     hash_secret(f"lk_{key_id}_{'x' * 32}"), None, None)


def test_a_key_is_reused_while_younger_than_the_max_age_only():
    cache = KeyCache()
    cache.put(a_key(), NOON, cache.generation)

    assert cache.get(a_key().key_id, NOON + timedelta(seconds=4), FIVE_SECONDS) == a_key()
    assert cache.get(a_key().key_id, NOON + FIVE_SECONDS, FIVE_SECONDS) is None
    assert cache.get(a_key().key_id, NOON, timedelta(0)) is None


def test_a_clock_set_back_does_not_make_an_entry_young_again():
    cache = KeyCache()
    cache.put(a_key(), NOON, cache.generation)

    assert cache.get(a_key().key_id, NOON - timedelta(hours=1), FIVE_SECONDS) is None


def test_a_forgotten_key_is_gone_at_once():
    cache = KeyCache()
    cache.put(a_key(), NOON, cache.generation)

    cache.forget(a_key().key_id)

    assert cache.get(a_key().key_id, NOON, FIVE_SECONDS) is None


def test_a_key_read_before_a_revocation_here_is_not_put_back_after_it():
    cache = KeyCache()
    generation = cache.generation  # a request starts reading the key...
    cache.forget(a_key().key_id)  # ...another thread revokes it and forgets it...
    cache.put(a_key(), NOON, generation)  # ...and the first request's stale row arrives

    assert cache.get(a_key().key_id, NOON, FIVE_SECONDS) is None
    cache.put(a_key(), NOON, cache.generation)
    assert cache.get(a_key().key_id, NOON, FIVE_SECONDS) is not None


def test_the_cache_holds_at_most_its_size_dropping_the_oldest_read():
    cache = KeyCache(size=3)
    ids = [f"{n:016d}" for n in range(5)]
    for n, key_id in enumerate(ids):
        cache.put(a_key(key_id), NOON + timedelta(milliseconds=n), cache.generation)

    assert len(cache) == 3
    later = NOON + timedelta(seconds=1)
    assert [cache.get(i, later, FIVE_SECONDS) is not None for i in ids] == [
        False, False, True, True, True]


def test_a_recorded_use_updates_the_cached_key_without_making_it_younger():
    cache = KeyCache()
    cache.put(a_key(), NOON, cache.generation)

    cache.touched(a_key().key_id, NOON + timedelta(seconds=1))
    cache.touched("fedcba9876543210", NOON)  # not cached: nothing to update, nothing added

    cached = cache.get(a_key().key_id, NOON + timedelta(seconds=1), FIVE_SECONDS)
    assert cached is not None and cached.last_used_at == NOON + timedelta(seconds=1)
    assert cache.get(a_key().key_id, NOON + FIVE_SECONDS, FIVE_SECONDS) is None
    assert len(cache) == 1
