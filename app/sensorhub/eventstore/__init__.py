"""The event store: PostgreSQL (``postgres``), an in-memory fake (``memory``), the event codec
(``codec``) with every stored event type and its upcasters (``event_types``), the gap-safe global
feed (``feed``), the unit of work on PostgreSQL and the post-commit notifier (``notify``)."""
