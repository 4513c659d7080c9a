"""The HTTP API (Flask + flask-smorest) and the command line around the loyalty engine.

The application is built by ``api.app.create_app``; this package imports nothing itself, so
that the command line (``api.cli``) starts without loading the web application."""
