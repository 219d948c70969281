"""The sensorhub policy pack: rules in ``rules.py``, the pack server in ``__main__.py``."""
