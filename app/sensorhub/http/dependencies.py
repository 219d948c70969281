"""Typed pieces of the process's :class:`~sensorhub.runtime.Services` for controllers (Litestar
``Provide``): each controller names what it uses in its ``dependencies`` and takes each as an
``Injected[...]`` parameter of the same name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import asyncpg
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

from sensorhub.application.ports import EventStore
from sensorhub.eventstore.codec import EventTypeRegistry
from sensorhub.http.commands import Commands
from sensorhub.http.problems import ProblemError
from sensorhub.http.reads import ReadModels
from sensorhub.runtime import Services, TimeSeries, UnitOfWorkFactory
from sensorhub.settings import Settings

T = TypeVar("T")
# An explicit dependency, not validated per request (ports are Protocols, not classes).
Injected = NamedDependency[SkipValidation[T]]


def services_of(state: State) -> Services:
    services: Services = state.services
    return services


def _pool(state: State) -> asyncpg.Pool:
    return services_of(state).pool


def _read_models(state: State) -> ReadModels:
    services = services_of(state)
    return ReadModels(services.pool, services.read_cache, services.settings.read_wait_timeout_s)


def _timeseries(state: State) -> TimeSeries:
    found = services_of(state).timeseries
    if found is None:
        raise ProblemError(
            503, "the time-series store is not available (see /health/ready)", headers={"Retry-After": "5"}
        )
    return found


def _settings(state: State) -> Settings:
    return services_of(state).settings


def _codec(state: State) -> EventTypeRegistry:
    return services_of(state).codec


def _event_store(state: State) -> EventStore:
    return services_of(state).events


def _unit_of_work(state: State) -> UnitOfWorkFactory:
    return services_of(state).unit_of_work


def _commands(state: State) -> Commands:
    services = services_of(state)
    return Commands(services.unit_of_work, services.idempotency)


def _clock(state: State) -> Callable[[], datetime]:
    return services_of(state).clock


SERVICES = Provide(services_of, sync_to_thread=False)
POOL = Provide(_pool, sync_to_thread=False)
SETTINGS = Provide(_settings, sync_to_thread=False)
CODEC = Provide(_codec, sync_to_thread=False)
EVENT_STORE = Provide(_event_store, sync_to_thread=False)
UNIT_OF_WORK = Provide(_unit_of_work, sync_to_thread=False)
COMMANDS = Provide(_commands, sync_to_thread=False)
CLOCK = Provide(_clock, sync_to_thread=False)
READ_MODELS = Provide(_read_models, sync_to_thread=False)
TIMESERIES = Provide(_timeseries, sync_to_thread=False)
