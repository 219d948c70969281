"""Offline tooling: the program under Pulumi mocks, `make plan`/`plan-diff`, manifests for scanners."""
