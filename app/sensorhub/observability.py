"""Structured logging and the service's Prometheus metrics.

Metric objects live in the default registry (the Prometheus idiom); the names
are the contract with ``compose/`` dashboards and alert rules, and a test
compares those files against what ``/metrics`` actually exports.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram

EVENTS_APPENDED = Counter("sensorhub_events_appended_total", "Events appended to the event store", ["stream_type"])
READINGS_INGESTED = Counter(
    "sensorhub_readings_ingested_total", "Readings accepted by ingest (new rows stored)", ["engine"]
)
READINGS_REJECTED = Counter("sensorhub_readings_rejected_total", "Reading rows rejected by ingest", ["reason"])
READINGS_DUPLICATE = Counter("sensorhub_readings_duplicate_total", "Reading rows that were already stored")
INGEST_BATCH_SECONDS = Histogram(
    "sensorhub_ingest_batch_seconds",
    "Time to store one ingest request",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
READINGS_BYTES_PER_READING = Gauge(
    "sensorhub_readings_bytes_per_reading", "On-disk bytes per stored reading, incl. indexes", ["form"]
)
READINGS_DAYS_COMPRESSED = Gauge("sensorhub_readings_days_compressed", "UTC days with packed (compressed) readings")
PROJECTION_LAG_EVENTS = Gauge("sensorhub_projection_lag_events", "Events not yet applied", ["projection"])
PROJECTION_LAG_SECONDS = Gauge(
    "sensorhub_projection_lag_seconds", "Age of the oldest event not yet applied", ["projection"]
)
PROJECTION_EVENTS_APPLIED = Counter(
    "sensorhub_projection_events_applied_total", "Events applied by a projection", ["projection"]
)
FEED_HORIZON_AGE_SECONDS = Gauge(
    "sensorhub_feed_horizon_age_seconds",
    "Age of the oldest open writing transaction on the cluster: the gap-safe feed (and every projection) waits for it",
)
OPEN_ALERTS = Gauge("sensorhub_open_alerts", "Alerts open or acknowledged", ["severity"])
DATABASE_UP = Gauge("sensorhub_database_up", "1 when the last database check succeeded")
REDIS_UP = Gauge("sensorhub_redis_up", "1 when Redis is configured and reachable")


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Route structlog and stdlib logging to stdout as JSON (or console) lines."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # format_exc_info: a library's log.exception() shows its traceback, not "<traceback object>".
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
