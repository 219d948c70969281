"""The platform, one component per concern (each with its settings beside it)."""
