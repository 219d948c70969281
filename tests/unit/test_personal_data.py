"""Personal data: the AES-GCM envelope (round trip, tamper detection, erased marker), the key
wrappers (key file, KMS against moto), and the domain's owner and address rules."""

from __future__ import annotations

import base64
import dataclasses
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from cryptography.exceptions import InvalidTag
from moto.server import ThreadedMotoServer
from sensorhub.application.ports import DataKey
from sensorhub.domain.device import Device
from sensorhub.domain.device_commands import RegisterDevice, UpdateDevice
from sensorhub.domain.errors import InvalidCommand
from sensorhub.domain.personal_data import Owner
from sensorhub.domain.values import Metric
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.key_wrappers import KmsKeyWrapper, LocalKeyWrapper
from sensorhub.eventstore.personal_data import (
    PERSONAL_EVENT_TYPES,
    TamperedEnvelope,
    open_envelope,
    reveal_payload,
    seal,
    seal_payload,
)

KEY = DataKey("subject-1", "k-1", os.urandom(32))
PAYLOAD = {
    "device_id": "d-1",
    "name": "Boiler",
    "owner": {"subject_id": "subject-1", "name": "Ada Lovelace", "email": "ada@example.com", "erased": False},
    "address": "12 St James's Square",
}


def test_a_sealed_payload_keeps_nothing_personal_and_opens_back_to_the_same() -> None:
    sealed = seal_payload(PAYLOAD, {"subject-1": KEY})
    text = repr(sealed)
    assert "Ada" not in text and "ada@" not in text and "James" not in text
    assert sealed["owner"]["subject_id"] == "subject-1" and sealed["address"] is None
    assert sealed["name"] == "Boiler"  # what is not personal stays readable
    assert reveal_payload(sealed, {"subject-1": KEY}) == PAYLOAD
    # a fresh nonce each time: the same plaintext never gives the same ciphertext
    assert seal_payload(PAYLOAD, {"subject-1": KEY})["owner"]["sealed"]["ct"] != sealed["owner"]["sealed"]["ct"]


def test_without_the_key_the_payload_reads_as_erased_never_as_ciphertext() -> None:
    sealed = seal_payload(PAYLOAD, {"subject-1": KEY})
    erased = reveal_payload(sealed, {})
    assert erased["owner"] == {"subject_id": "subject-1", "name": None, "email": None, "erased": True}
    assert erased["address"] is None and "sealed" not in repr(erased)
    # a newer key of the same subject (forgotten, then seen again) does not open the old envelope
    newer = DataKey("subject-1", "k-2", os.urandom(32))
    assert reveal_payload(sealed, {"subject-1": newer})["owner"]["erased"] is True


def test_a_tampered_envelope_is_detected() -> None:
    envelope = seal(KEY, {"name": "Ada"})
    assert open_envelope(KEY, envelope) == {"name": "Ada"}
    flipped = bytearray(base64.b64decode(envelope["ct"]))
    flipped[0] ^= 1
    with pytest.raises(TamperedEnvelope):
        open_envelope(KEY, {**envelope, "ct": base64.b64encode(bytes(flipped)).decode()})
    with pytest.raises(TamperedEnvelope):  # moved onto another subject (the associated data differs)
        open_envelope(DataKey("subject-2", "k-1", KEY.secret), envelope)
    with pytest.raises(TamperedEnvelope):
        open_envelope(DataKey("subject-1", "k-1", os.urandom(32)), envelope)
    # on a read path, a tampered envelope is shown as erased (and logged), not raised
    sealed = seal_payload(PAYLOAD, {"subject-1": KEY})
    sealed["owner"]["sealed"]["nonce"] = base64.b64encode(os.urandom(12)).decode()
    assert reveal_payload(sealed, {"subject-1": KEY})["owner"]["erased"] is True


def test_an_erased_owner_is_stored_erased_and_nothing_else_is_touched() -> None:
    erased = {**PAYLOAD, "owner": {"subject_id": "subject-1", "name": None, "email": None, "erased": True}}
    assert seal_payload(erased, {}) == {
        **PAYLOAD,
        "owner": {"subject_id": "subject-1", "erased": True},
        "address": None,
    }
    plain = {"device_id": "d-2", "owner": None, "address": None}
    assert seal_payload(plain, {}) is plain and reveal_payload(plain, {}) is plain


async def test_the_key_file_is_made_on_first_use_with_mode_0600_and_wraps_per_subject(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "kek"
    wrapper = LocalKeyWrapper(path)
    wrapped = await wrapper.wrap("subject-1", KEY.secret)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) == 32
    assert await LocalKeyWrapper(path).unwrap("subject-1", wrapped) == KEY.secret  # read back from the file
    with pytest.raises(InvalidTag):
        await wrapper.unwrap("subject-2", wrapped)  # bound to its subject


@pytest.fixture(scope="module")
def kms_endpoint() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


async def test_kms_wraps_with_the_subject_as_encryption_context(
    kms_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("kms", endpoint_url=kms_endpoint)
    key_id = client.create_key(Description="personal data")["KeyMetadata"]["KeyId"]
    wrapper = KmsKeyWrapper(client, key_id)
    wrapped = await wrapper.wrap("subject-1", KEY.secret)
    assert KEY.secret not in wrapped
    assert await wrapper.unwrap("subject-1", wrapped) == KEY.secret
    with pytest.raises(client.exceptions.ClientError):
        await wrapper.unwrap("subject-2", wrapped)  # another subject's context does not decrypt it


def _register(owner: Owner | None = None, address: str | None = None) -> Device:
    return Device.register(
        RegisterDevice("d-1", "Boiler", "plant-a", "thermo", (Metric("temperature", "C"),), owner, address)
    )


def test_the_domain_checks_the_owner_and_ties_the_address_to_it() -> None:
    device = _register(Owner("subject-1", " Ada ", "ada@example.com"), "12 St James's Square")
    assert device.state.owner == Owner("subject-1", "Ada", "ada@example.com")
    for owner, address, words in (
        (None, "somewhere", "give `owner` too"),
        (Owner("subject 1", "Ada"), None, "subject_id"),
        (Owner("subject-1"), None, "a `name`, an `email`"),
        (Owner("subject-1", "Ada", "not-an-email"), None, "email"),
    ):
        with pytest.raises(InvalidCommand, match=words):
            _register(owner, address)
    # a new owner replaces the old one and its address; an address alone is the current owner's
    device.update(UpdateDevice("d-1", owner=Owner("subject-2", "Grace")))
    assert (device.state.owner, device.state.address) == (Owner("subject-2", "Grace"), None)
    device.update(UpdateDevice("d-1", address="Arlington"))
    assert (device.state.owner, device.state.address) == (Owner("subject-2", "Grace"), "Arlington")
    before = len(device.pending)
    device.update(UpdateDevice("d-1", owner=Owner("subject-2", "Grace"), address="Arlington"))
    assert len(device.pending) == before  # no change, no event


def test_every_event_type_that_can_carry_an_owner_is_opened_on_the_load_path() -> None:
    registry = build_registry()
    with_owner = {
        name
        for name in registry.names()
        if "owner" in {f.name for f in dataclasses.fields(registry._entry(name).cls)}
    }
    assert with_owner == PERSONAL_EVENT_TYPES
