"""The read side: projections that fold the gap-safe global feed into read-model tables.

``model`` (what a projection is), ``registry_read_model`` and ``alert_history`` (the projections),
``by_name`` (all of them by name), ``store`` (checkpoints, generations, lag), ``runner``
(one projection under its leader lock: batches, rebuild, swap), ``projector`` (the process),
``fanout`` (alert changes and cache stamps after commit), ``cache`` and ``queries`` (reads).
"""
