"""Schemathesis hooks for ``make fuzz-api`` (loaded through ``SCHEMATHESIS_HOOKS`` by scripts/fuzz_api.py).

A replayed creation answers what the first call answered (docs/api.md, "Commands"): ``201`` even for
a device deleted in between. Hypothesis generates the same short ``Idempotency-Key`` (``"0"``) in many
cases, so the stateful phase would replay a registration of a since-deleted device and its
``ensure_resource_availability`` check would report the following ``GET`` → 404 as a bug. Creations
therefore get a fresh key per call in the stateful phase's positive cases; every other case keeps
the generated one (a reused key with another body → 422 stays fuzzed). Other phases are left alone:
an edit makes schemathesis revalidate the case, and a coverage case "without Authorization" then
went out with the header (ST203 reported the resulting 200).
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis

CREATIONS = frozenset({"registerDevice", "registerDevices"})


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    meta = getattr(case, "_meta", None)
    stateful = meta is not None and meta.phase.name == "stateful" and meta.generation.mode == "positive"
    if not stateful or case.operation.definition.raw.get("operationId") not in CREATIONS or not case.headers:
        return
    for name in list(case.headers):
        if name.lower() == "idempotency-key":
            case.headers[name] = f"fuzz-{uuid.uuid4()}"
