"""CORS for browser pages served from other origins (``SENSORHUB_CORS_ORIGINS``)."""

from __future__ import annotations

from litestar.config.cors import CORSConfig

from sensorhub.settings import Settings

# Request headers a browser page may send, and response headers its script may read.
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "Idempotency-Key",
    "X-Min-Position",
    "X-Request-Id",
    "X-Correlation-Id",
    "Last-Event-ID",
]
CORS_EXPOSED_HEADERS = [
    "ETag",
    "Location",
    "X-Position",
    "X-Stale",
    "Idempotent-Replayed",
    "X-Request-Id",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
]


def cors_config(settings: Settings) -> CORSConfig | None:
    """CORS for ``SENSORHUB_CORS_ORIGINS`` only; none configured: no CORS headers at all. Keys travel
    in ``Authorization``, never cookies, so credentials are not allowed."""
    origins = settings.cors_origin_list
    if not origins:
        return None
    return CORSConfig(
        allow_origins=origins,
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=600,
    )
