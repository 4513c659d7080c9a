"""Storage: SQLAlchemy models, engine and session setup, repositories, the unit of work.

This is the only package that imports SQLAlchemy. The hot paths (posting, debits, expiry) use Core
statements with few round trips; the ORM classes define the schema and serve administrative reads.
"""
