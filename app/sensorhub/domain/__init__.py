"""The domain: aggregates, their commands and events. Standard library only, no I/O."""
