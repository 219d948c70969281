"""Policy pack entry point: `pulumi preview --policy-pack infra/policy`."""

import sys
from pathlib import Path

# The pack runs as a script directory; make the repository's `infra` package importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policy.rules import policies

PolicyPack(name="sensorhub", enforcement_level=EnforcementLevel.MANDATORY, policies=policies())
