"""Use cases: the verbs of the engine. They are the only layer that commits a transaction.

Each use case takes a ``Context`` (how to open a unit of work, and the clock) and a command (a
frozen dataclass), and returns a result dataclass. Writes from outside carry idempotency keys.
"""
