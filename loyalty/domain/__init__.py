"""The pure domain: values and rules of the points ledger, with no I/O.

Nothing here imports a database or web library; every function that needs the time takes ``now``.
"""
