"""The Lua scripts in ``orchestrator/lua``, registered once per client (EVALSHA, reloaded if
the server restarted and lost its script cache).

In a pipeline a script is queued with :meth:`Script.queue`, never awaited: awaiting a command
of a cluster pipeline re-initializes the pipeline and silently drops what was queued before it
(redis-py's ``ClusterPipeline.__await__``), and a cluster pipeline does not load the scripts a
node lacks (a promoted replica has none: ``SCRIPT LOAD`` is not replicated), so there the
script travels whole (EVAL; the server caches it by its digest).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.typing import EncodableT, KeyT


class Script(AsyncScript):
    """A registered script: ``await script(keys=..., args=...)`` runs it at once,
    ``script.queue(pipe, keys, args)`` adds it to a pipeline."""

    def queue(self, pipe: Pipeline, keys: Sequence[KeyT], args: Sequence[EncodableT] = ()) -> None:
        """Queue the script on ``pipe``; its reply comes with ``pipe.execute()``."""
        if isinstance(pipe, Pipeline):  # a standalone pipeline loads missing scripts first
            pipe.scripts.add(self)  # type: ignore[arg-type]  # typed for the sync Script
            pipe.evalsha(self.sha, len(keys), *keys, *args)
        else:
            pipe.eval(self.script, len(keys), *keys, *args)


def load_script(client: Redis, name: str) -> Script:
    """Register ``lua/<name>.lua`` with ``client``."""
    source = (resources.files("orchestrator") / "lua" / f"{name}.lua").read_text()
    return Script(client, source)
