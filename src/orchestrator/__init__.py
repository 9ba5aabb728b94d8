"""Orchestrator of a multi-brand, real-time brand-monitoring platform."""

__version__ = "0.1.0"
