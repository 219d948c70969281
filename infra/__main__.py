"""Pulumi entry point: read the stack's settings, declare the platform."""

import sys
from pathlib import Path

# Pulumi runs this directory as a script; make `infra` importable as a package from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.program import build, load_settings

build(load_settings())
