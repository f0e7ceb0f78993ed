"""Server-rendered panels for actions (the catalog, with a form built from each input schema) and services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .html import esc, pretty

if TYPE_CHECKING:
    from ..actions import Action


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return dict(root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {}))
    if "anyOf" in schema:  # Optional[X]: the first branch that is not null
        for branch in schema["anyOf"]:
            if branch.get("type") != "null":
                return {**schema, **_resolve(branch, root)}
    return schema


def field(name: str, prop: dict[str, Any], required: bool, root: dict[str, Any]) -> str:
    """One input for one property: text, number, checkbox, select, or JSON for anything nested."""
    prop = _resolve(prop, root)
    kind = prop.get("type", "json")
    label = esc(prop.get("title", name)) + (" *" if required else "")
    hint = f'<small class="muted">{esc(prop["description"])}</small>' if prop.get("description") else ""
    common = f'name="{esc(name)}"' + (" required" if required else "")
    default = prop.get("default")
    if "enum" in prop:
        options = "".join(
            f"<option{' selected' if v == default else ''}>{esc(v)}</option>" for v in prop["enum"]
        )
        control = f'<select {common} data-type="{esc(kind)}">{options}</select>'
    elif kind == "boolean":
        control = f'<input type=checkbox {common.replace(" required", "")} data-type="boolean"' + (
            " checked>" if default else ">"
        )
    elif kind in ("integer", "number"):
        step = "1" if kind == "integer" else "any"
        value = f' value="{esc(default)}"' if default is not None else ""
        control = f'<input type=number step="{step}" {common} data-type="{kind}"{value}>'
    elif kind == "string":
        value = f' value="{esc(default)}"' if default is not None else ""
        limit = f' maxlength="{int(prop["maxLength"])}"' if "maxLength" in prop else ""
        control = f'<input {common} data-type="string"{value}{limit}>'
    else:
        value = esc(pretty(default)) if default is not None else ""
        control = f'<textarea {common} data-type="json" placeholder="JSON">{value}</textarea>'
    return f"<label>{label} {control} {hint}</label>"


def action_form(spec: Action) -> str:
    """A form for ``spec``'s input; the script posts it as JSON to ``POST /actions/{name}``."""
    schema = spec.input_schema()
    required = set(schema.get("required", []))
    fields = "".join(field(n, p, n in required, schema) for n, p in schema.get("properties", {}).items())
    if spec.transports is not None and "http" not in spec.transports:
        return '<p class="muted">Not offered over HTTP: it cannot be tried from here.</p>'
    return (
        f'<form class="try" data-action="{esc(spec.name)}">{fields}<button>Run {esc(spec.name)}</button>'
        '<pre class="outcome" hidden></pre></form>'
    )


def actions_panel(actions: list[Action]) -> str:
    """The catalog: each action's description, queue, schemas and a form to try it."""
    if not actions:
        return '<p class="muted">This app has no actions.</p>'
    parts = []
    for spec in actions:
        perms = ", ".join(spec.permissions) or "—"
        parts.append(
            f'<article class="action" id="action-{esc(spec.name)}"><h2>{esc(spec.name)}</h2>'
            f"<p>{esc(spec.description or '')}</p>"
            f'<p class="muted">queue {esc(spec.queue)} · version {esc(spec.version or "—")} · '
            f"permissions {esc(perms)}</p>{action_form(spec)}"
            f"<details><summary>Input schema</summary><pre>{pretty(spec.input_schema())}</pre></details>"
            f"<details><summary>Output schema</summary><pre>{pretty(spec.output_schema())}</pre></details>"
            "</article>"
        )
    return "".join(parts)


def services_panel(services: list[dict[str, Any]], health: dict[str, Any], manageable: bool) -> str:
    """Each service's lifecycle state (never its configuration: it may hold secrets) and the health
    checks; start and stop buttons when the management API is on."""
    rows = []
    for svc in services:
        name = esc(svc["name"])
        buttons = (
            f'<button data-service="{name}" data-op="start">Start</button>'
            f'<button data-service="{name}" data-op="stop">Stop</button>'
            if manageable
            else ""
        )
        rows.append(
            f'<tr><td>{name}</td><td><span class="badge {esc(svc["state"])}">{esc(svc["state"])}</span></td>'
            f'<td class="error">{esc(svc.get("error") or "")}</td><td>{buttons}</td></tr>'
        )
    body = "".join(rows) or '<tr><td colspan=4 class="muted">No services.</td></tr>'
    checks = "".join(
        f'<tr><td>{esc(name)}</td><td><span class="badge {esc(state)}">{esc(state)}</span></td></tr>'
        for name, check in health.get("checks", {}).items()
        for state in [check.get("status") if isinstance(check, dict) else check]
    )
    note = "" if manageable else '<p class="muted">Start and stop need the management API.</p>'
    return (
        f"<h2>Services</h2><table><thead><tr><th>service</th><th>state</th><th>error</th><th></th></tr></thead>"
        f"<tbody>{body}</tbody></table>{note}"
        f'<h2>Health: <span class="badge {esc(health.get("status"))}">{esc(health.get("status"))}</span></h2>'
        f"<table><tbody>{checks}</tbody></table>"
    )
