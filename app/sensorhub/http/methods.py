"""``HEAD`` and ``OPTIONS`` wherever a route has ``GET`` / any method, answered around the app
(Litestar routes ``HEAD`` only to explicit handlers, and its ``Allow`` can miss methods of a path
served by two handlers of one controller).

* ``HEAD``: run as ``GET`` (same key and scope checks), headers kept, body dropped. Not for routes
  with ``opt={"head": False}`` (an endless event stream).
* ``OPTIONS`` (not a CORS preflight, which the CORS middleware answers): ``204`` with an ``Allow``
  listing every method of the path.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.types import Message, Receive, Scope, Send


def _template(path: str) -> str:
    """``/v1/devices/{device_id:str}`` → ``/v1/devices/{device_id}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def methods_by_path(app: Litestar) -> dict[str, list[str]]:
    """Each route path template and its methods, ``HEAD`` and ``OPTIONS`` included."""
    found: dict[str, set[str]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        methods = found.setdefault(_template(route.path), set())
        for method, (handler, _) in route.route_handler_map.items():
            methods.add(method)
            if method == "GET" and handler.opt.get("head", True):
                methods.add("HEAD")
        methods.add("OPTIONS")
    return {path: sorted(methods) for path, methods in found.items()}


def no_head_paths(app: Litestar) -> set[str]:
    return {
        route.path
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method, (handler, _) in route.route_handler_map.items()
        if method == "GET" and not handler.opt.get("head", True)
    }


def with_head_and_options(app: Litestar) -> None:
    """Wrap ``app``'s ASGI handler (outside routing and CORS)."""
    inner = app.asgi_handler
    state: dict[str, Any] = {}

    def allowed(template: str) -> list[str] | None:
        if "methods" not in state:  # routes are final once the app serves
            state["methods"], state["no_head"] = methods_by_path(app), no_head_paths(app)
        return state["methods"].get(template)

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("HEAD", "OPTIONS"):
            await inner(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await inner(scope, receive, _fixing_allow(scope, send, allowed))
            return
        allowed("")
        if scope["path"] in state["no_head"]:  # Litestar answers 405 with its Allow
            await inner(scope, receive, send)
            return
        scope["method"] = "GET"  # pyright: ignore[reportGeneralTypeIssues]
        await inner(scope, receive, _without_body(send))

    app.asgi_handler = handler


def _fixing_allow(scope: Scope, send: Send, allowed: Any) -> Send:
    async def fixed(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 204:
            methods = allowed(_template(str(scope.get("path_template", ""))))
            if methods:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                headers.append((b"allow", ", ".join(methods).encode()))
                message["headers"] = headers  # type: ignore[typeddict-unknown-key]
        await send(message)

    return fixed


def _without_body(send: Send) -> Send:
    ended = False

    async def headers_only(message: Message) -> None:
        nonlocal ended
        if ended:
            return
        if message["type"] == "http.response.start":
            await send(message)
        elif message["type"] == "http.response.body":
            ended = True  # one empty final body; the rest of a streamed body is dropped
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await send(message)

    return headers_only
