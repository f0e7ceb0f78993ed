"""Observability: logging, metrics, tracing and health."""
