"""What a command handler returns: the aggregate's state after the command, its version, and the
global position of its last event (the consistency token a client can wait for)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sensorhub.application.unit_of_work import CommitResult
from sensorhub.domain.aggregate import Aggregate

S = TypeVar("S")


@dataclass(frozen=True)
class CommandResult(Generic[S]):
    state: S
    version: int
    position: int
    appended: int  # events this command wrote (0 for a command that changed nothing)


def result_of(aggregate: Aggregate[Any], commit: CommitResult) -> CommandResult[Any]:
    appended = sum(len(a.positions) for a in commit.appends if a.stream_id == aggregate.id and not a.replayed)
    return CommandResult(aggregate.state, aggregate.version, aggregate.position, appended)
