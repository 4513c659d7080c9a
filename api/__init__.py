"""The HTTP API (Flask + flask-smorest) and the command line around the loyalty engine."""

from api.app import create_app

__all__ = ["create_app"]
