"""The loyalty rewards program engine.

``loyalty`` is the domain core and its use cases; it runs with no web framework.
``api`` (a sibling package) wraps it in a Flask HTTP API and a command line.
"""

__version__ = "0.1.0"
