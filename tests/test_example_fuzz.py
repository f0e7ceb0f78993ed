"""Schemathesis against the greeter example's own OpenAPI document, served by a real uvicorn with the options
``plugwork run`` builds: every generated request, valid or not, is answered, and never with a 5xx.

Bounded and repeatable: a fixed number of examples per operation, derandomized (Hypothesis derives the
seed from the test), and no example database carried between runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error

from core_helpers import EXAMPLE_DIR, OFFLINE, load_example
from live_server import LiveServer, live_server
from plugwork.http.limits import HttpLimits
from plugwork.server import uvicorn_defaults

pytestmark = pytest.mark.timeout(300)

EXAMPLES = 60  # per operation, each of valid and invalid requests


@pytest.fixture(scope="module")
def greeter() -> Iterator[LiveServer]:
    app = load_example().app
    app.configure(EXAMPLE_DIR / "plugwork.yaml", **OFFLINE)
    with live_server(app.asgi, **uvicorn_defaults(HttpLimits.from_settings(app.settings))) as server:
        yield server


def test_no_generated_request_is_a_server_error(greeter: LiveServer) -> None:
    # The document as the running app serves it (plugins add paths), each operation fuzzed in turn.
    # (schemathesis' pytest fixture loader does not support this pytest yet: its strategies are used here.)
    schema = schemathesis.openapi.from_url(f"{greeter.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert any(op.path == "/actions/greet" for op in operations)
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    for operation, mode in itertools.product(operations, modes):

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: Any) -> None:
            response = case.call(base_url=greeter.url, timeout=10)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            no_server_error()
        except Unsatisfiable:
            # an operation without a body or a parameter (GET /health) has no invalid form to generate
            assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
