"""Helpers shared by the core tests: settings that ignore the machine's environment, the example app."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from plugwork.observability import logging as pw_logging

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DIR = ROOT / "examples" / "greeter"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# No job queue (the queue is tested on its own) and no Plugboard connection.
OFFLINE: dict[str, Any] = {"queue_url": "none", "plugboard_url": ""}

_loaded = 0


def load_example() -> ModuleType:
    """A fresh copy of ``examples/greeter/app.py`` under a unique module name (so each test owns its App)."""
    global _loaded
    _loaded += 1
    name = f"greeter_example_{_loaded}"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE_DIR / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the App discovers its actions by this module's name
    spec.loader.exec_module(module)
    return module


class LogCapture:
    """JSON log lines written while it is active, parsed; restores the default set-up on exit."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def __enter__(self) -> LogCapture:
        pw_logging.configure_logging(json=True, level="DEBUG", stream=self.stream)
        return self

    def __exit__(self, *exc: object) -> None:
        pw_logging._reset_for_tests()

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == event]


def metric_samples(text: str | bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition: ``(name, labels) -> value``."""
    from prometheus_client.parser import text_string_to_metric_families

    if isinstance(text, bytes):
        text = text.decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample's value (KeyError when absent)."""
    return samples[(name, frozenset(labels.items()))]
