"""sensorhub: IoT telemetry platform service."""
