"""Forgetting a data subject: destroy its key (every personal field sealed with it reads as erased
from then on) and record the forget itself as an event (``SubjectForgotten``, no personal data)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sensorhub.application.ports import EventCodec, Forgotten, SubjectKeys
from sensorhub.application.stored_events import NewEvent
from sensorhub.application.unit_of_work import CommandContext
from sensorhub.domain.personal_data import SubjectForgotten, check_subject_id


@dataclass(frozen=True)
class ForgetSubject:
    subject_id: str


async def forget_subject(
    cmd: ForgetSubject, keys: SubjectKeys, codec: EventCodec, context: CommandContext | None = None
) -> Forgotten:
    """Idempotent: a subject without a key (never seen, or forgotten before) is recorded as
    forgotten again, with ``key_destroyed`` false."""
    subject_id = check_subject_id(cmd.subject_id)
    metadata = (context or CommandContext()).metadata()

    def audit(key_destroyed: bool) -> NewEvent:
        name, version, data = codec.encode(SubjectForgotten(subject_id, key_destroyed))
        return NewEvent(uuid.uuid4(), name, version, data, metadata)

    return await keys.forget(subject_id, audit)
