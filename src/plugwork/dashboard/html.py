"""Server-rendered HTML of the dashboard: the page shell and the fragments its script swaps in.

Every value from a job, an action or a service goes through :func:`esc` (or :func:`pretty`, which
escapes too): the fragments are inserted with ``innerHTML``, so escaping here is what keeps a job's payload
from becoming markup. The shell has no inline script or style, so the page's Content-Security-Policy can
forbid both (a second wall should one value ever slip through).
"""

from __future__ import annotations

import time
from datetime import datetime
from html import escape
from typing import Any

import orjson

from ..queue.jobs import Job, JobStatus

STATUSES = [s.value for s in JobStatus]
ACTIONS_ON = {
    "retry": {"failed", "dead", "cancelled"},
    "cancel": {"ready", "failed", "assigned", "processing"},
    "run_now": {"ready", "failed"},
}


def esc(value: object) -> str:
    """``value`` as HTML text (quotes escaped too, so it is safe inside attributes)."""
    return escape("" if value is None else str(value), quote=True)


def pretty(value: Any) -> str:
    """``value`` as indented JSON, escaped for a ``<pre>``."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        text = repr(value)
    return esc(text)


def when(value: datetime | None) -> str:
    """A time as ``<time>``, its ISO form in ``datetime`` (the script shows it in local time)."""
    if value is None:
        return "<span class=muted>—</span>"
    iso = value.isoformat()
    return f'<time datetime="{esc(iso)}">{esc(iso[:19].replace("T", " "))} UTC</time>'


APP_TABS = ("jobs", "actions", "services")


def shell(base: str, tabs: tuple[str, ...] = APP_TABS) -> str:
    """The page: tabs, filters and empty panels; the script fills them from the ``api/`` routes."""
    nav = "".join(f'<a href="#{t}" data-tab="{t}">{t.capitalize()}</a>' for t in tabs)
    others = "".join(f'<section id="tab-{t}" class="tab" hidden></section>' for t in tabs if t != "jobs")
    jobs = _jobs_tab() if "jobs" in tabs else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Plugwork dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{base}/static/dashboard.css">
<script src="{base}/static/dashboard.js" defer></script></head>
<body data-base="{base}">
<header><strong>Plugwork</strong>
<nav>{nav}</nav>
<span id="who"></span></header>
<section id="signin" hidden><form id="signin-form"><label>Bearer token
<input type="password" name="token" autocomplete="off" required></label><button>Sign in</button>
<p class=muted>Kept in this tab's session storage only; sent as an Authorization header.</p></form></section>
<main>{jobs}{others}</main><div id="toast" role="status"></div></body></html>"""


def _jobs_tab() -> str:
    options = "".join(f'<option value="{s}">{s}</option>' for s in STATUSES)
    return f"""<section id="tab-jobs" class="tab">
<div id="counts" aria-live="polite"></div>
<form id="filters"><select name="status"><option value="">any status</option>{options}</select>
<input name="action" placeholder="action"><input name="queue" placeholder="queue">
<input name="text" placeholder="text, job or correlation id" maxlength="200"><button>Filter</button></form>
<div id="bulk"><button data-bulk="retry">Retry selected</button>
<button data-bulk="cancel">Cancel selected</button>
<button data-bulk="run_now">Run selected now</button></div>
<div id="jobs"></div><div id="job" class="panel"></div></section>"""


def _status(job: Job, now: float) -> str:
    label = job.status.value
    if job.status in (JobStatus.READY, JobStatus.FAILED) and job.run_at and job.run_at.timestamp() > now:
        label += " · scheduled"
    return f'<span class="badge {esc(job.status.value)}">{esc(label)}</span>'


def _error_line(job: Job) -> str:
    error = job.error
    if isinstance(error, dict):
        return esc(f"{error.get('error_code', '')}: {error.get('error_message', '')}"[:160])
    return esc(str(error)[:160]) if error else ""


def jobs_table(jobs: list[Job], next_before: str | None) -> str:
    """One page of jobs, newest first, with a checkbox per job and the link to the next page."""
    now = time.time()
    rows = "".join(
        f'<tr data-job="{esc(j.id)}"><td><input type=checkbox name=pick value="{esc(j.id)}"></td>'
        f'<td><a href="#job-{esc(j.id)}" data-open="{esc(j.id)}">{esc(j.id)}</a></td>'
        f"<td>{_status(j, now)}</td><td>{esc(j.action)}</td><td>{esc(j.queue)}</td>"
        f"<td>{j.attempts}/{j.max_attempts}</td><td>{when(j.created_at)}</td>"
        f'<td class="error">{_error_line(j)}</td></tr>'
        for j in jobs
    )
    if not rows:
        rows = '<tr><td colspan=8 class="muted">No jobs match.</td></tr>'
    more = f'<button data-page="{esc(next_before)}">Older jobs →</button>' if next_before is not None else ""
    return (
        "<table><thead><tr><th><input type=checkbox id=pick-all></th><th>id</th><th>status</th>"
        "<th>action</th><th>queue</th><th>attempts</th><th>created</th><th>error</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><div class=pager>{more}</div>"
    )


def job_detail(job: Job) -> str:
    """Everything about one job, with the buttons its status allows."""
    headers = job.headers or {}
    fields = [
        ("status", _status(job, time.time())),
        ("action", esc(job.action)),
        ("queue", esc(job.queue)),
        ("priority", esc(job.priority)),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("correlation id", esc(job.correlation_id or "—")),
        ("trace", esc(headers.get("traceparent", "—"))),
        ("worker", esc(job.worker_id or "—")),
        ("created", when(job.created_at)),
        ("run at", when(job.run_at)),
        ("started", when(job.started_at)),
        ("finished", when(job.finished_at)),
    ]
    rows = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in fields)
    status = job.status.value
    buttons = "".join(
        f'<button data-act="{act}" data-id="{esc(job.id)}">{label}</button>'
        for act, label in (("retry", "Retry"), ("cancel", "Cancel"), ("run_now", "Run now"))
        if status in ACTIONS_ON[act]
    )
    outcome = ""
    if job.error is not None:
        outcome += f'<h3>Error</h3><pre class="error">{pretty(job.error)}</pre>'
    if job.result is not None:
        outcome += f"<h3>Result</h3><pre>{pretty(job.result)}</pre>"
    return (
        f'<h2>Job {esc(job.id)}</h2><div class="buttons">{buttons}</div><table class="fields">{rows}</table>'
        f"{outcome}<h3>Payload</h3><pre>{pretty(job.payload)}</pre>"
    )
