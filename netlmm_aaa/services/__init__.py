"""Composition roots: daemons built from configuration, adapters, data plane and store."""

from __future__ import annotations
