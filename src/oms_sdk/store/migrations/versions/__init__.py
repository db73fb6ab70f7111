"""Revisions of the SDK's core tables, oldest first: ``v0001_…``, ``v0002_…``."""
