"""The exceptions this service raises, under one root.

OrchestratorError
├── ConfigurationError      invalid settings; the CLI prints it and exits 2
└── StoreError              the Redis-compatible store
    ├── EmbeddedServerError the private valkey-server could not start or stop
    └── StoreUnavailableError  the store does not answer (connection refused, timeout)
        └── NotReplicatedError fewer replicas than REDIS_WAIT_REPLICAS confirmed a write
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigurationError(OrchestratorError):
    """Settings are invalid; the message names each variable and its problem."""


class HttpServerError(OrchestratorError):
    """The HTTP server could not start listening."""


class RegistryError(OrchestratorError):
    """A brand operation that cannot be done as asked."""

    def __init__(self, slug: str, message: str) -> None:
        super().__init__(message)
        self.slug = slug


class BrandNotFoundError(RegistryError):
    def __init__(self, slug: str) -> None:
        super().__init__(slug, f"no brand {slug!r}")


class BrandExistsError(RegistryError):
    def __init__(self, slug: str) -> None:
        super().__init__(slug, f"a brand {slug!r} exists already")


class VersionConflictError(RegistryError):
    def __init__(self, slug: str, current: int) -> None:
        super().__init__(slug, f"brand {slug!r} is at version {current}: fetch it again")
        self.current = current


class BrandPausedError(RegistryError):
    def __init__(self, slug: str) -> None:
        super().__init__(slug, f"brand {slug!r} is paused")


class StoreError(OrchestratorError):
    """Something went wrong with the Redis-compatible store."""


class EmbeddedServerError(StoreError):
    """The embedded valkey-server could not be started."""


class StoreUnavailableError(StoreError):
    """The store did not answer in time."""


class NotReplicatedError(StoreUnavailableError):
    """Fewer replicas than asked (``REDIS_WAIT_REPLICAS``) confirmed a write in time: it is
    stored on the primary, but a failover could still lose it, so it is not acknowledged."""
