"""Benchmarks: each compares sensorhub against a baseline measured in the same run."""
