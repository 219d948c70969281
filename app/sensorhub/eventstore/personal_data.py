"""Personal data in stored events and snapshots: sealed with the data subject's key on the way in,
opened (or shown as erased) on the way out (crypto-shredding; docs/personal-data.md).

A payload (event or snapshot state) carries personal data as a top-level ``owner`` object
``{"subject_id", "name", "email"}`` and an ``address`` (the owner's). Stored, the personal fields
are one AES-256-GCM envelope under ``owner.sealed``, and ``address`` is null::

    "owner": {"subject_id": "s-1", "sealed": {"v": 1, "alg": "A256GCM", "kid": "<key id>",
              "nonce": "<b64>", "ct": "<b64 of {name, email, address} + tag>"}}, "address": null

The associated data binds the envelope to its subject and key, so an envelope moved to another
subject does not open. Read back, ``owner`` is ``{"subject_id", "name", "email", "erased": false}``
with ``address`` restored, or — the subject's key destroyed, or an envelope that fails to
authenticate — ``{"subject_id", "name": null, "email": null, "erased": true}`` and a null address:
never the ciphertext, never an error. :class:`PersonalDataEventStore` applies this to every read
and write of an :class:`~sensorhub.application.ports.EventStore`; :func:`reveal_records` to the feed.
"""

from __future__ import annotations

import base64
import json
import operator
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sensorhub.application.ports import DataKey, EventStore, SubjectKeys
from sensorhub.application.stored_events import (
    AppendCondition,
    AppendResult,
    ArchivedStream,
    MatchingEvents,
    QueryItem,
    RecordedEvent,
    Snapshot,
    StreamAppend,
    StreamEvent,
)
from sensorhub.observability import get_logger

log = get_logger("sensorhub.personal_data")
ENVELOPE_VERSION = 1
ALGORITHM = "A256GCM"
_SEALED_MARK = '"sealed"'  # a stored payload without it has nothing to open (the fast path)
# The event types whose payloads may carry personal data: the load path opens only these (a test
# checks that every registered event type with an ``owner`` field is here). Sealing on write is
# not limited to them.
PERSONAL_EVENT_TYPES = frozenset({"DeviceRegistered", "DeviceOwnerChanged"})
_EVENT_TYPE = operator.itemgetter(2)  # StreamEvent.type

Payload = dict[str, Any]


class TamperedEnvelope(ValueError):
    """The envelope does not authenticate under the key it names (altered, or moved)."""


def _associated_data(subject_id: str, key_id: str) -> bytes:
    return f"sensorhub:personal-data:v{ENVELOPE_VERSION}:{subject_id}:{key_id}".encode()


def seal(key: DataKey, plaintext: Mapping[str, Any]) -> Payload:
    """An envelope of ``plaintext`` (JSON) under ``key``, a fresh 96-bit nonce each time."""
    nonce = os.urandom(12)
    data = json.dumps(plaintext, separators=(",", ":"), ensure_ascii=False).encode()
    ciphertext = AESGCM(key.secret).encrypt(nonce, data, _associated_data(key.subject_id, key.key_id))
    return {
        "v": ENVELOPE_VERSION,
        "alg": ALGORITHM,
        "kid": key.key_id,
        "nonce": base64.b64encode(nonce).decode(),
        "ct": base64.b64encode(ciphertext).decode(),
    }


def open_envelope(key: DataKey, envelope: Mapping[str, Any]) -> Payload:
    """The plaintext sealed in ``envelope``; TamperedEnvelope when it does not authenticate."""
    if envelope.get("v") != ENVELOPE_VERSION or envelope.get("alg") != ALGORITHM or envelope.get("kid") != key.key_id:
        raise TamperedEnvelope(f"envelope is not a v{ENVELOPE_VERSION} {ALGORITHM} envelope of key {key.key_id}")
    try:
        nonce = base64.b64decode(envelope["nonce"], validate=True)
        ciphertext = base64.b64decode(envelope["ct"], validate=True)
        data = AESGCM(key.secret).decrypt(nonce, ciphertext, _associated_data(key.subject_id, key.key_id))
    except (InvalidTag, ValueError, KeyError, TypeError) as exc:
        raise TamperedEnvelope(f"envelope of subject {key.subject_id} does not authenticate") from exc
    opened: Payload = json.loads(data)
    return opened


def erased(subject_id: str) -> Payload:
    return {"subject_id": subject_id, "name": None, "email": None, "erased": True}


def to_seal(payload: Mapping[str, Any]) -> str | None:
    """The subject whose plain personal data ``payload`` carries (None: nothing to seal)."""
    owner = payload.get("owner")
    if not isinstance(owner, dict) or "sealed" in owner or owner.get("erased"):
        return None
    return str(owner["subject_id"])


def sealed_with(payload: Mapping[str, Any]) -> str | None:
    """The subject whose sealed envelope ``payload`` carries (None: nothing sealed)."""
    owner = payload.get("owner")
    return str(owner["subject_id"]) if isinstance(owner, dict) and "sealed" in owner else None


def seal_payload(payload: Payload, keys: Mapping[str, DataKey]) -> Payload:
    """``payload`` as stored: plain personal data sealed, an erased owner kept as erased."""
    owner = payload.get("owner")
    if not isinstance(owner, dict) or "sealed" in owner:
        return payload
    subject_id = str(owner["subject_id"])
    if owner.get("erased"):
        return {**payload, "owner": {"subject_id": subject_id, "erased": True}, "address": None}
    plaintext = {"name": owner.get("name"), "email": owner.get("email"), "address": payload.get("address")}
    envelope = seal(keys[subject_id], plaintext)
    return {**payload, "owner": {"subject_id": subject_id, "sealed": envelope}, "address": None}


def reveal_payload(payload: Payload, keys: Mapping[str, DataKey]) -> Payload:
    """``payload`` as the domain and the API see it: personal data opened, or erased."""
    owner = payload.get("owner")
    if not isinstance(owner, dict):
        return payload
    subject_id = str(owner["subject_id"])
    if "sealed" not in owner:
        if owner.get("erased"):
            return {**payload, "owner": erased(subject_id), "address": None}
        return payload
    key = keys.get(subject_id)
    if key is None or key.key_id != owner["sealed"].get("kid"):
        return {**payload, "owner": erased(subject_id), "address": None}
    try:
        opened = open_envelope(key, owner["sealed"])
    except TamperedEnvelope as exc:
        log.error("personal data does not authenticate: shown as erased", subject_id=subject_id, error=str(exc))
        return {**payload, "owner": erased(subject_id), "address": None}
    revealed = {"subject_id": subject_id, "name": opened.get("name"), "email": opened.get("email"), "erased": False}
    return {**payload, "owner": revealed, "address": opened.get("address")}


async def reveal_records(records: Sequence[RecordedEvent], keys: SubjectKeys) -> list[RecordedEvent]:
    """``records`` with their personal data opened or erased (one key lookup for the lot)."""
    subjects = {s for r in records if (s := sealed_with(r.data)) is not None}
    if not subjects:
        return list(records)
    found = await keys.find(subjects)
    return [replace(r, data=reveal_payload(r.data, found)) if sealed_with(r.data) else r for r in records]


async def reveal_stream_events(events: Sequence[StreamEvent], keys: SubjectKeys) -> list[StreamEvent]:
    """The load path's events (payloads as JSON text) with personal data opened or erased."""
    if PERSONAL_EVENT_TYPES.isdisjoint(map(_EVENT_TYPE, events)):  # the common case, tested in C
        return list(events)
    sealed = [i for i, e in enumerate(events) if e.type in PERSONAL_EVENT_TYPES and _SEALED_MARK in e.data]
    parsed = {i: json.loads(events[i].data) for i in sealed}
    subjects = {s for p in parsed.values() if (s := sealed_with(p)) is not None}
    if not subjects:
        return list(events)
    found = await keys.find(subjects)
    revealed = list(events)
    for i, payload in parsed.items():
        if sealed_with(payload) is not None:
            revealed[i] = events[i]._replace(data=json.dumps(reveal_payload(payload, found), ensure_ascii=False))
    return revealed


async def sealed_payloads(payloads: Sequence[Payload], keys: SubjectKeys) -> list[Payload]:
    subjects = {s for p in payloads if (s := to_seal(p)) is not None}
    found = await keys.ensure(subjects) if subjects else {}
    return [seal_payload(p, found) for p in payloads]


class PersonalDataEventStore:
    """An :class:`EventStore` that seals personal data on every write (events, snapshots) and opens
    it on every read, with ``keys``; everything else passes through to ``inner``."""

    def __init__(self, inner: EventStore, keys: SubjectKeys) -> None:
        self.inner = inner
        self.keys = keys

    async def append_many(
        self, appends: Sequence[StreamAppend], condition: AppendCondition | None = None
    ) -> list[AppendResult]:
        events = [e for a in appends for e in a.events]
        if not any(to_seal(e.data) for e in events):
            return await self.inner.append_many(appends, condition)
        payloads = iter(await sealed_payloads([e.data for e in events], self.keys))
        sealed = [replace(a, events=tuple(replace(e, data=next(payloads)) for e in a.events)) for a in appends]
        return await self.inner.append_many(sealed, condition)

    async def read_matching(self, items: Sequence[QueryItem]) -> MatchingEvents:
        found = await self.inner.read_matching(items)
        return MatchingEvents(await reveal_records(found.events, self.keys), found.position)

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
        until: datetime | None = None,
    ) -> list[RecordedEvent]:
        records = await self.inner.read_stream(
            stream_id, from_version=from_version, limit=limit, backwards=backwards, until=until
        )
        return await reveal_records(records, self.keys)

    async def read_for_replay(
        self, stream_id: str, *, from_version: int = 1, limit: int | None = None, until: datetime | None = None
    ) -> list[StreamEvent]:
        events = await self.inner.read_for_replay(stream_id, from_version=from_version, limit=limit, until=until)
        return await reveal_stream_events(events, self.keys)

    async def load_snapshot(self, stream_id: str, schema_version: int) -> Snapshot | None:
        snapshot = await self.inner.load_snapshot(stream_id, schema_version)
        subject = sealed_with(snapshot.state) if snapshot is not None else None
        if snapshot is None or subject is None:
            return snapshot
        return replace(snapshot, state=reveal_payload(snapshot.state, await self.keys.find([subject])))

    async def archived(self, stream_id: str) -> ArchivedStream | None:
        return await self.inner.archived(stream_id)  # a tombstone holds no personal data

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        if to_seal(snapshot.state) is None and sealed_with(snapshot.state) is None:
            await self.inner.save_snapshot(snapshot)
            return
        [state] = await sealed_payloads([snapshot.state], self.keys)
        await self.inner.save_snapshot(replace(snapshot, state=state))
