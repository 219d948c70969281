"""The event store: PostgreSQL (``postgres``), an in-memory fake (``memory``), the type registry
with upcasters (``registry``, ``catalog``), and the gap-safe global feed (``feed``)."""
