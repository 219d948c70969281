#!/usr/bin/env python3
"""Generate the typed models of the Python client (``clients/python/sensorhub_client/models.py``)
from the service's OpenAPI document: one ``msgspec.Struct`` per component schema.

    .venv/bin/python scripts/client_models.py URL > clients/python/sensorhub_client/models.py
    .venv/bin/python scripts/client_models.py --check URL   # exit 1 when the committed file differs

(URL: the service's document, e.g. http://127.0.0.1:8000/schema/openapi.json.)

``tests/e2e/test_python_client.py`` runs the check against the running service, so the models
cannot drift from the document."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

TARGET = Path(__file__).resolve().parent.parent / "clients" / "python" / "sensorhub_client" / "models.py"
HEADER = '''"""Typed models of the sensorhub API, generated from its OpenAPI document by
``scripts/client_models.py``: do not edit by hand, regenerate."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
'''
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


def python_type(schema: dict[str, Any]) -> tuple[str, bool]:
    """The annotation for ``schema`` and whether it admits null."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1], False
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:
        nullable = any(b.get("type") == "null" for b in branches)
        types = [python_type(b)[0] for b in branches if b.get("type") != "null"]
        return " | ".join(dict.fromkeys(types)) or "None", nullable
    kind = schema.get("type")
    if isinstance(kind, list):
        nullable = "null" in kind
        types = [python_type({**schema, "type": k})[0] for k in kind if k != "null"]
        return " | ".join(types) or "None", nullable
    if "enum" in schema:
        values = [v for v in schema["enum"] if v is not None]
        return f"Literal[{', '.join(json.dumps(v) for v in values)}]", None in schema["enum"]
    if kind == "string" and schema.get("format") == "date-time":
        return "datetime", False
    if kind in _SCALARS:
        return _SCALARS[kind], False
    if kind == "array":
        return f"list[{python_type(schema.get('items', {}))[0]}]", False
    if kind == "object" and "properties" not in schema:
        extra = schema.get("additionalProperties")
        value = python_type(extra)[0] if isinstance(extra, dict) and extra else "Any"
        return f"dict[str, {value}]", False
    return "Any", False


def struct(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    lines = [f"class {name}(msgspec.Struct, kw_only=True, omit_defaults=True):"]
    if schema.get("description"):
        lines.append(f'    """{schema["description"].strip()}"""')
        lines.append("")
    fields = sorted(schema.get("properties", {}).items(), key=lambda kv: kv[0] not in required)
    for field, spec in fields:
        annotation, nullable = python_type(spec)
        if field in required:
            lines.append(f"    {field}: {annotation}{' | None' if nullable else ''}")
        else:
            lines.append(f"    {field}: {annotation} | None = None")
    if len(lines) == 1:
        lines.append("    pass")
    return "\n".join(lines)


def generate(doc: dict[str, Any]) -> str:
    schemas = doc.get("components", {}).get("schemas", {})
    classes = [struct(name, schemas[name]) for name in sorted(schemas) if schemas[name].get("type") == "object"]
    return HEADER + "\n\n" + "\n\n\n".join(classes) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("url", help="the service's /schema/openapi.json")
    parser.add_argument("--check", action="store_true", help=f"compare with {TARGET.name} instead of printing")
    args = parser.parse_args()
    with urllib.request.urlopen(args.url, timeout=30) as response:  # noqa: S310 (a URL the caller gives)
        doc = json.load(response)
    text = generate(doc)
    if not args.check:
        sys.stdout.write(text)
        return 0
    if TARGET.read_text() != text:
        print(f"{TARGET} is not what the document generates: regenerate it (see this script's docstring)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
