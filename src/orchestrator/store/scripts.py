"""The Lua scripts in ``orchestrator/lua``, registered once per client (EVALSHA, reloaded if
the server restarted and lost its script cache)."""

from __future__ import annotations

from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript


def load_script(client: Redis, name: str) -> AsyncScript:
    """Register ``lua/<name>.lua`` with ``client``."""
    source = (resources.files("orchestrator") / "lua" / f"{name}.lua").read_text()
    return client.register_script(source)
