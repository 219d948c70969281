"""Personal data a device may carry: its owner (a data subject) and an address.

The domain sees these values in plain text, or as *erased*: once the subject's key is destroyed
(``POST /v1/subjects/{id}/forget``) every stored copy is unreadable, and the events decode to an
``Owner`` with ``erased=True`` and no name, email or address. Encryption happens outside the
domain, where events are stored (``sensorhub.eventstore.personal_data``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sensorhub.domain.aggregate import Event
from sensorhub.domain.errors import InvalidCommand
from sensorhub.domain.values import check_text

SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
EMAIL = re.compile(r"^[^@\s\x00]{1,64}@[^@\s\x00]{1,253}$")


@dataclass(frozen=True)
class Owner:
    """The person a device belongs to. ``subject_id`` is a pseudonymous id (never personal data
    itself: it stays readable after a forget); ``name`` and ``email`` are personal data."""

    subject_id: str
    name: str | None = None
    email: str | None = None
    erased: bool = False


def erased_owner(subject_id: str) -> Owner:
    return Owner(subject_id, None, None, erased=True)


def check_subject_id(subject_id: str) -> str:
    if not SUBJECT_ID.match(subject_id):
        raise InvalidCommand(
            f"subject_id {subject_id!r} must be 1-128 characters of letters, digits and . _ : @ - (not first)"
        )
    return subject_id


def check_owner(owner: Owner) -> Owner:
    """A valid owner from the command's: a subject id, and at least a name or an email."""
    subject_id = check_subject_id(owner.subject_id)
    if owner.name is None and owner.email is None:
        raise InvalidCommand("`owner` needs a `name`, an `email` or both besides its `subject_id`")
    name = check_text("owner.name", owner.name) if owner.name is not None else None
    email = owner.email.strip() if owner.email is not None else None
    if email is not None and (len(email) > 254 or not EMAIL.match(email)):
        raise InvalidCommand(f"`owner.email` {email!r} is not an email address (local@domain, at most 254)")
    return Owner(subject_id, name, email)


def check_address(address: str) -> str:
    return check_text("address", address, max_length=500)


@dataclass(frozen=True)
class SubjectForgotten(Event):
    """A data subject's key was destroyed: every personal field sealed with it now reads as erased.
    The audit record of a forget; it carries the subject's pseudonymous id and nothing personal."""

    subject_id: str
    key_destroyed: bool  # False: no key was held (nothing of this subject was stored, or already forgotten)
