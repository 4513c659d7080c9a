"""A request's fingerprint is the SHA-256 of one canonical JSON text, however it is written.

Fingerprints are stored with idempotency keys and compared when a key comes back, possibly
years later: the fast writer (orjson) must give exactly the bytes of the canonical one
(``json.dumps`` with sorted keys and no spaces) whenever it is used.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.services.idempotency import fingerprint_json

TEXT = st.text(alphabet=st.characters(max_codepoint=0x2FF), max_size=12) | st.text(max_size=4)
LEAVES = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | TEXT
DOCUMENTS = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


def canonical(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@settings(max_examples=600, deadline=None)
@given(DOCUMENTS)
def test_a_fingerprint_is_the_hash_of_the_canonical_json_text(document):
    assert fingerprint_json(document) == canonical(document)


def test_control_characters_delete_and_accents_are_escaped_as_the_canonical_text_escapes_them():
    document = {"b": "".join(chr(i) for i in range(160)), "a": ["été", "\x7f", "x\ny"]}
    assert fingerprint_json(document) == canonical(document)


def test_values_the_fast_writer_refuses_are_fingerprinted_all_the_same():
    document = {"big": 2**80, "keys": {1: "one"}, "other": {1, 2}.__class__.__name__}
    assert fingerprint_json(document) == canonical(document)
