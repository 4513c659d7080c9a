"""The program definition language (pydantic models) and its pure evaluation.

For now a program earns by one simple setting (points per currency unit). ``earning.calculator_for``
is the seam that the declarative earn-rules engine replaces.
"""
