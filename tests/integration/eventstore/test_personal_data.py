"""Personal data through the event store, on both backends: sealed in what is stored (events and
snapshots), opened on every read, erased on every read once the subject is forgotten; the forget
is an event; a forgotten subject seen again gets a new key and its old data stays erased."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from sensorhub.application.devices import register_device, update_device
from sensorhub.application.ports import SubjectKeys
from sensorhub.application.repository import Repository
from sensorhub.application.stored_events import NewEvent, QueryItem, StreamAppend
from sensorhub.application.subjects import ForgetSubject, forget_subject
from sensorhub.application.unit_of_work import UnitOfWork
from sensorhub.domain.device import Device, name_tag
from sensorhub.domain.device_commands import RegisterDevice, UpdateDevice
from sensorhub.domain.personal_data import Owner
from sensorhub.domain.values import Metric
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.key_wrappers import LocalKeyWrapper
from sensorhub.eventstore.memory import InMemoryEventStore
from sensorhub.eventstore.personal_data import PersonalDataEventStore
from sensorhub.eventstore.postgres import PostgresEventStore
from sensorhub.eventstore.subject_keys import InMemorySubjectKeys, KeyCache, PostgresSubjectKeys

CODEC = build_registry()
ADA = Owner("subject-ada", "Ada Lovelace", "ada@example.com")
GRACE = Owner("subject-grace", "Grace Hopper", "grace@example.com")
ERASED = Owner("subject-ada", None, None, erased=True)


@dataclass
class Backend:
    raw: PostgresEventStore | InMemoryEventStore
    keys: SubjectKeys

    @property
    def store(self) -> PersonalDataEventStore:
        return PersonalDataEventStore(self.raw, self.keys)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.store, CODEC, snapshot_every={"Device": 2})


@pytest.fixture(params=["postgres", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "memory":
        raw = InMemoryEventStore()
        return Backend(raw, InMemorySubjectKeys(raw))
    pool: asyncpg.Pool = request.getfixturevalue("pool")
    return Backend(PostgresEventStore(pool), PostgresSubjectKeys(pool, LocalKeyWrapper(tmp_path / "kek"), KeyCache()))


def _command(device_id: str, owner: Owner) -> RegisterDevice:
    return RegisterDevice(
        device_id, f"name-{device_id}", "plant-a", "thermo", (Metric("temperature", "C"),), owner, "Somewhere 1"
    )


async def _raw_text(backend: Backend, stream_id: str) -> str:
    records = await backend.raw.read_stream(stream_id)
    snapshot = await backend.raw.load_snapshot(stream_id, Device.SNAPSHOT_VERSION)
    return json.dumps([r.data for r in records]) + json.dumps(snapshot.state if snapshot else None)


async def test_sealed_when_stored_open_on_read_erased_after_forget(backend: Backend) -> None:
    await register_device(_command("d-ada", ADA), backend.uow())
    await register_device(_command("d-grace", GRACE), backend.uow())
    await update_device(UpdateDevice("d-ada", name="renamed"), backend.uow())  # version 2: a snapshot
    assert await backend.raw.load_snapshot("d-ada", Device.SNAPSHOT_VERSION) is not None
    stored = await _raw_text(backend, "d-ada")
    assert "Ada" not in stored and "ada@" not in stored and "Somewhere" not in stored and '"sealed"' in stored

    device = await Repository(Device, backend.store, CODEC, snapshot_every=2).get("d-ada")  # snapshot path
    assert (device.state.owner, device.state.address) == (ADA, "Somewhere 1")
    read = await backend.store.read_stream("d-ada")
    assert read[0].data["owner"] == {**vars(ADA), "erased": False}

    forgotten = await forget_subject(ForgetSubject("subject-ada"), backend.keys, CODEC)
    assert forgotten.key_destroyed and forgotten.position > 0
    [audit] = await backend.raw.read_stream("subject-subject-ada")
    assert audit.type == "SubjectForgotten" and audit.data == {"subject_id": "subject-ada", "key_destroyed": True}

    for snapshot_every in (2, 0):  # from the snapshot, and from the events alone
        device = await Repository(Device, backend.store, CODEC, snapshot_every=snapshot_every).get("d-ada")
        assert (device.state.owner, device.state.address, device.state.name) == (ERASED, None, "renamed")
    past = await Repository(Device, backend.store, CODEC).load_as_of("d-ada", version=1)
    assert past is not None and past.state.owner == ERASED
    events = await backend.store.read_stream("d-ada")
    assert all("sealed" not in json.dumps(e.data) for e in events)
    assert events[0].data["owner"] == {"subject_id": "subject-ada", "name": None, "email": None, "erased": True}
    matching = await backend.store.read_matching(
        [QueryItem(("DeviceRegistered",), (name_tag("plant-a", "name-d-ada"),))]
    )
    assert [e.data["owner"]["erased"] for e in matching.events] == [True]
    grace = await Repository(Device, backend.store, CODEC).get("d-grace")  # another subject is untouched
    assert grace.state.owner == GRACE

    # the history stays replayable and writable: a command on the device still works
    result = await update_device(UpdateDevice("d-ada", site="plant-b"), backend.uow())
    assert result.state.owner == ERASED and result.state.site == "plant-b"
    stored = await _raw_text(backend, "d-ada")
    assert "Ada" not in stored


async def test_forget_is_idempotent_and_a_subject_seen_again_gets_a_new_key(backend: Backend) -> None:
    never = await forget_subject(ForgetSubject("subject-unknown"), backend.keys, CODEC)
    assert not never.key_destroyed
    await register_device(_command("d-1", ADA), backend.uow())
    assert (await forget_subject(ForgetSubject("subject-ada"), backend.keys, CODEC)).key_destroyed
    assert not (await forget_subject(ForgetSubject("subject-ada"), backend.keys, CODEC)).key_destroyed
    assert len(await backend.raw.read_stream("subject-subject-ada")) == 2

    await register_device(_command("d-2", ADA), backend.uow())  # the same subject, after its forget
    assert (await Repository(Device, backend.store, CODEC).get("d-2")).state.owner == ADA
    assert (await Repository(Device, backend.store, CODEC).get("d-1")).state.owner == ERASED


async def test_a_stream_archived_and_restored_reads_erased_after_its_subjects_forget(backend: Backend) -> None:
    """Archiving moves rows as stored (sealed stays sealed): events with personal data read the same
    from the archive, erased there once the subject is forgotten, and still erased after a restore."""
    owner = {"subject_id": ADA.subject_id, "name": ADA.name, "email": ADA.email}
    event = NewEvent(uuid4(), "VisitLogged", 1, {"visit": 1, "owner": owner, "address": "Somewhere 1"})
    await backend.store.append_many([StreamAppend("visit-1", "Visit", (event,), "no_stream")])
    assert "Ada" not in json.dumps((await backend.raw.read_stream("visit-1"))[0].data)

    [tombstone] = await backend.raw.archive_streams(["visit-1"])
    assert tombstone.event_count == 1
    [archived] = await backend.store.read_stream("visit-1")
    assert archived.data["owner"] == {**owner, "erased": False} and archived.data["address"] == "Somewhere 1"

    await forget_subject(ForgetSubject(ADA.subject_id), backend.keys, CODEC)
    erased = {"subject_id": ADA.subject_id, "name": None, "email": None, "erased": True}
    [from_archive] = await backend.store.read_stream("visit-1")
    assert (from_archive.data["owner"], from_archive.data["address"]) == (erased, None)
    assert await backend.raw.restore_streams(["visit-1"]) == 1
    assert await backend.store.archived("visit-1") is None
    [restored] = await backend.store.read_stream("visit-1")
    assert (restored.data["owner"], restored.data["address"], restored.data["visit"]) == (erased, None, 1)
    assert restored.position == archived.position  # the feed position never moved
