"""Benchmarks of the orchestrator against its peers (see docs/benchmarks.md)."""
