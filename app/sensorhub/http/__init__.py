"""The HTTP API, one module per resource: ``devices``, ``alerts``, ``readings``, ``events``, ``keys``,
``projections``, ``health``. Shared request plumbing, one place each: ``commands`` (command context,
If-Match, Idempotency-Key), ``reads`` (read-your-writes, cache, cursors), ``problems`` (errors as
problem+json), ``views`` (wire shapes and their mappers), ``dependencies`` (typed services per
controller), ``auth``, ``request_context``, ``openapi``; ``app`` builds the Litestar application."""
