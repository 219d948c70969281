"""The sensorhub Pulumi program (see program.py for the table of contents)."""
