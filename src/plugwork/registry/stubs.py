""":class:`Stub`: a remote service's actions as methods, payloads checked against its published schemas.

``billing = await registry.remote("billing").stub()`` reads the schema record of the newest live version
once; ``await billing.charge(amount=12.5)`` validates the payload against the action's ``input_schema``
(JSON Schema, with the ``jsonschema`` package) and raises :class:`~plugwork.errors.InvalidInput` naming
the fields *before* anything leaves the process; an unknown action is :class:`UnknownAction` at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, UnknownAction
from ..extras import require
from .models import SchemaRecord

jsonschema = require("jsonschema", extra="registry")

if TYPE_CHECKING:
    from .remote import Remote


class Stub:
    """Methods named after the actions of one published service version (see the module docstring)."""

    def __init__(self, remote: Remote, record: SchemaRecord) -> None:
        self._remote = remote
        self.record = record
        self._validators: dict[str, Any] = {}
        for entry in record.actions:
            schema = entry.get("input_schema") or {}
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            self._validators[str(entry["name"])] = cls(schema)

    @property
    def actions(self) -> list[str]:
        """The names of the actions this stub calls."""
        return sorted(self._validators)

    def validate(self, action: str, payload: Mapping[str, Any]) -> None:
        """Raise :class:`UnknownAction` or :class:`InvalidInput` (with field details) for a bad call."""
        validator = self._validators.get(action)
        if validator is None:
            raise UnknownAction(f"{self.record.key} has no action {action!r}")
        errors = sorted(validator.iter_errors(dict(payload)), key=lambda e: list(e.absolute_path))
        if errors:
            details = [
                {
                    "field": ".".join(str(p) for p in e.absolute_path) or "(body)",
                    "message": e.message,
                    "type": str(e.validator),
                }
                for e in errors[:50]
            ]
            raise InvalidInput(f"Invalid input for {self.record.service_name}.{action}", details=details)

    async def call(self, action: str, payload: Mapping[str, Any] | None = None, /, **options: Any) -> Any:
        """Validate ``payload`` then :meth:`Remote.call` it (``options``: key, timeout, idempotent)."""
        body = dict(payload or {})
        self.validate(action, body)
        return await self._remote.call(action, body, **options)

    def __getattr__(self, action: str) -> Callable[..., Awaitable[Any]]:
        if action.startswith("_") or action not in self._validators:
            raise AttributeError(f"{self.record.key} has no action {action!r}")

        async def method(payload: Mapping[str, Any] | None = None, /, **fields: Any) -> Any:
            return await self.call(action, {**(payload or {}), **fields})

        method.__name__ = action
        return method
