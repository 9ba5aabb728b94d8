"""Who may see the dashboard's pages: everyone, unless ``READ_API_KEY`` is set.

With ``READ_API_KEY`` set the JSON API wants ``Authorization: Bearer <key>``, which a browser
cannot send when it follows a link. The pages take the same keys (``READ_API_KEY`` or
``API_KEY``) through HTTP Basic authentication instead: the browser asks once (any user name,
the key as password) and sends it with every page, event stream and script request. Bearer
works too. Mutations never ride on this: the buttons send ``API_KEY`` as a bearer header.
"""

from __future__ import annotations

import base64
import binascii

from starlette.exceptions import HTTPException
from starlette.requests import Request

from orchestrator.app.auth import matches
from orchestrator.app.deps import ServicesDep

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="orchestrator dashboard", charset="UTF-8"'}


def presented_key(authorization: str) -> bytes | None:
    """The key in a ``Bearer <key>`` header, or the password of a ``Basic`` one."""
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if not credentials:
        return None
    if scheme.lower() == "bearer":
        return credentials.encode()
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials, validate=True)
    except (binascii.Error, ValueError):
        return None
    _, colon, password = decoded.partition(b":")
    return password if colon and password else None


async def require_page_read(request: Request, services: ServicesDep) -> None:
    settings = services.settings
    if settings.read_api_key is None:
        return
    key = presented_key(request.headers.get("authorization", ""))
    if not matches(key, [settings.read_api_key, settings.api_key]):
        raise HTTPException(401, "the dashboard needs the read key", headers=_CHALLENGE)
