"""``GET /schema``: the API reference as one self-contained HTML page, rendered on the server
from the OpenAPI document (no script, stylesheet or font from another host: it works offline
and behind a strict Content-Security-Policy). The document itself stays at
``/schema/openapi.json`` (and ``.yaml``) for tools and generated clients."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, YamlRenderPlugin

_STYLE = """<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1d2433}
h2{margin-top:2.5rem;border-bottom:1px solid #ccd}h3{margin:1.6rem 0 .3rem;font-size:1rem}
code,pre{font:13px ui-monospace,monospace;background:#f3f4f8;border-radius:3px}pre{padding:.6rem;overflow:auto}
.m{display:inline-block;min-width:4.5rem;font-weight:700}.get{color:#16794c}.post{color:#1f5fbf}
.put,.patch{color:#a05a00}.delete{color:#b3261e}table{border-collapse:collapse;margin:.3rem 0}
td,th{border:1px solid #dde;padding:.2rem .5rem;text-align:left;vertical-align:top}
</style>"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _schema_text(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    parts = [str(schema.get("type", "") or "")]
    for key in ("enum", "pattern", "minimum", "maximum", "minLength", "maxLength", "default"):
        if key in schema:
            parts.append(f"{key}: {json.dumps(schema[key])}")
    return ", ".join(p for p in parts if p)


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    out = [
        f'<h3 id="{_e(op.get("operationId", ""))}"><span class="m {method}">{method.upper()}</span>'
        f"<code>{_e(path)}</code> {_e(op.get('summary', ''))}</h3>"
    ]
    if op.get("description"):
        out.append(f"<p>{_e(op['description'])}</p>")
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
            f"<td>{'yes' if p.get('required') else ''}</td><td>{_e(_schema_text(p.get('schema', {})))}</td>"
            f"<td>{_e(p.get('description', ''))}</td></tr>"
            for p in params
        )
        out.append(
            f"<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th><th></th></tr>{rows}</table>"
        )
    for media, content in (op.get("requestBody") or {}).get("content", {}).items():
        example = content.get("example")
        shown = json.dumps(example, indent=2) if example is not None and not isinstance(example, str) else example
        out.append(f"<p>Body <code>{_e(media)}</code>: {_e(_schema_text(content.get('schema', {})))}</p>")
        if shown:
            out.append(f"<pre>{_e(shown)}</pre>")
    responses = "".join(
        f"<tr><td>{_e(code)}</td><td>{_e(r.get('description', ''))}</td>"
        f"<td>{_e(', '.join(r.get('headers', {})))}</td></tr>"
        for code, r in sorted(op.get("responses", {}).items())
    )
    out.append(f"<table><tr><th>status</th><th>meaning</th><th>headers</th></tr>{responses}</table>")
    return "\n".join(out)


def render_page(doc: dict[str, Any]) -> str:
    info = doc.get("info", {})
    sections: dict[str, list[str]] = {}
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            if isinstance(op, dict) and "responses" in op:
                tag = (op.get("tags") or ["other"])[0]
                sections.setdefault(tag, []).append(_operation(method, path, op))
    body = "".join(f"<h2>{_e(tag)}</h2>" + "\n".join(ops) for tag, ops in sections.items())
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(info.get('title', 'API'))}</title>"
        f"<meta name='viewport' content='width=device-width'>{_STYLE}</head><body>"
        f"<h1>{_e(info.get('title', ''))} {_e(info.get('version', ''))}</h1><p>{_e(info.get('description', ''))}</p>"
        "<p>The OpenAPI document: <a href='/schema/openapi.json'>openapi.json</a>, "
        "<a href='/schema/openapi.yaml'>openapi.yaml</a>. Every endpoint except <code>/health/*</code>, "
        "<code>/metrics</code> and <code>/schema*</code> needs <code>Authorization: Bearer &lt;key&gt;</code>.</p>"
        f"{body}</body></html>"
    )


class SelfContainedPage(OpenAPIRenderPlugin):
    def __init__(self, path: str | Sequence[str] = "/") -> None:
        super().__init__(path=path, favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return render_page(openapi_schema).encode()


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """What ``/schema`` serves: the page, and the document as JSON and YAML (no CDN-backed viewers)."""
    return [SelfContainedPage(), JsonRenderPlugin(), YamlRenderPlugin(path=["/openapi.yaml", "/openapi.yml"])]
