"""The exceptions this service raises, under one root.

OrchestratorError
├── ConfigurationError      invalid settings; the CLI prints it and exits 2
└── StoreError              the Redis-compatible store
    ├── EmbeddedServerError the private valkey-server could not start or stop
    └── StoreUnavailableError  the store does not answer (connection refused, timeout)
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigurationError(OrchestratorError):
    """Settings are invalid; the message names each variable and its problem."""


class HttpServerError(OrchestratorError):
    """The HTTP server could not start listening."""


class StoreError(OrchestratorError):
    """Something went wrong with the Redis-compatible store."""


class EmbeddedServerError(StoreError):
    """The embedded valkey-server could not be started."""


class StoreUnavailableError(StoreError):
    """The store did not answer in time."""
