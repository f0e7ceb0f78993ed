// Plugwork dashboard: a few hundred lines of plain JavaScript, no build step, no dependency.
// The server renders every fragment (escaped); this script fetches them with the bearer token from
// sessionStorage and the X-Plugwork-Dashboard header (the CSRF guard of every POST), and wires buttons.
"use strict";
(function () {
  const base = document.body.dataset.base;
  const api = base + "/api";
  const $ = (sel) => document.querySelector(sel);
  const POLL_MS = 3000;
  let filters = new URLSearchParams();
  let pageStack = [];

  function headers(json) {
    const h = { "X-Plugwork-Dashboard": "1" };
    const token = sessionStorage.getItem("plugwork-token");
    if (token) h["Authorization"] = "Bearer " + token;
    if (json) h["Content-Type"] = "application/json";
    return h;
  }

  async function call(method, path, body) {
    const res = await fetch(path, {
      method, headers: headers(body !== undefined), credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) { showSignin(); throw new Error("sign in first"); }
    if (!res.ok) {
      let msg = res.status + "";
      try { const e = await res.json(); msg = e.error_message || msg; } catch (_) { /* not JSON */ }
      throw new Error(msg);
    }
    return res;
  }

  function toast(text, bad) {
    if (bad && !$("#signin").hidden) return; // a 401: the sign-in box says it already
    const t = $("#toast");
    t.textContent = text;
    t.className = bad ? "bad show" : "show";
    setTimeout(() => { t.className = ""; }, 3000);
  }

  function showSignin() { $("#signin").hidden = false; }

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      el.title = el.textContent;
      el.textContent = new Date(el.getAttribute("datetime")).toLocaleString();
    });
  }

  async function fill(selector, path) {
    const res = await call("GET", path);
    const el = $(selector);
    el.innerHTML = await res.text();
    localTimes(el);
    return el;
  }

  // Live counts: a cheap JSON route, polled while the jobs tab is visible.
  async function refreshCounts() {
    try {
      const data = await (await call("GET", api + "/counts")).json();
      const el = $("#counts");
      el.textContent = "";
      for (const [status, n] of Object.entries(data.statuses)) {
        const b = document.createElement("button");
        b.className = "count badge " + status;
        b.dataset.status = status;
        b.textContent = status + " " + n;
        el.appendChild(b);
      }
      const q = document.createElement("span");
      q.className = "muted queues";
      q.textContent = Object.entries(data.queues).map(([name, c]) =>
        name + ": " + Object.entries(c).map(([s, n]) => s + " " + n).join(", ")).join(" · ");
      el.appendChild(q);
    } catch (_) { /* shown by the list's own error */ }
  }

  async function loadJobs(before) {
    const params = new URLSearchParams(filters);
    if (before) params.set("before", before);
    try { await fill("#jobs", api + "/jobs?" + params); } catch (e) { toast(e.message, true); }
  }

  // An open job that is not finished is re-read every 2 s, so a retried job is seen to complete.
  let jobTimer = null;
  const UNFINISHED = ["ready", "assigned", "processing", "failed"];
  async function openJob(id, refresh) {
    clearTimeout(jobTimer);
    try {
      const el = await fill("#job", api + "/jobs/" + encodeURIComponent(id));
      if (!refresh) el.scrollIntoView({ block: "nearest" });
      const badge = el.querySelector(".badge");
      if (badge && UNFINISHED.some((s) => badge.classList.contains(s))) {
        jobTimer = setTimeout(() => openJob(id, true), 2000);
      }
    } catch (e) { toast(e.message, true); }
  }

  async function operate(op, ids) {
    if (!ids.length) { toast("Select jobs first", true); return; }
    try {
      const data = await (await call("POST", api + "/jobs/" + op, { ids })).json();
      toast(op.replace("_", " ") + ": " + Object.entries(data.jobs).map(([i, s]) => i + " → " + s).join(", "));
    } catch (e) { toast(e.message, true); }
    await Promise.all([loadJobs(pageStack[pageStack.length - 1]), refreshCounts()]);
    const open = $("#job h2");
    if (open && ids.length === 1) await openJob(ids[0]);
  }

  function formValue(input) {
    const type = input.dataset.type;
    if (type === "boolean") return input.checked;
    if (input.value === "") return undefined;
    if (type === "integer") return parseInt(input.value, 10);
    if (type === "number") return parseFloat(input.value);
    if (type === "json") return JSON.parse(input.value);
    return input.value;
  }

  async function tryAction(form) {
    const out = form.querySelector(".outcome");
    out.hidden = false;
    const body = {};
    try {
      form.querySelectorAll("[name]").forEach((el) => {
        const v = formValue(el);
        if (v !== undefined) body[el.name] = v;
      });
    } catch (e) { out.textContent = "Invalid JSON: " + e.message; return; }
    const res = await fetch("/actions/" + encodeURIComponent(form.dataset.action), {
      method: "POST", headers: headers(true), credentials: "omit", body: JSON.stringify(body),
    });
    const text = await res.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
    out.textContent = res.status + "\n" + shown;
    out.className = "outcome " + (res.ok ? "ok" : "error");
  }

  // Start and stop are the management API's own routes, called with the same bearer token.
  async function serviceOp(name, op) {
    try {
      await call("POST", "/services/" + encodeURIComponent(name) + "/" + op);
      toast(name + ": " + op + " done");
    } catch (e) { toast(name + " " + op + ": " + e.message, true); }
    await showTab("services");
  }

  let timer = null;
  async function showTab(name) {
    document.querySelectorAll(".tab").forEach((el) => { el.hidden = el.id !== "tab-" + name; });
    document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("on", a.dataset.tab === name));
    clearInterval(timer);
    try {
      if (name === "jobs") {
        await Promise.all([refreshCounts(), loadJobs()]);
        timer = setInterval(refreshCounts, POLL_MS);
      } else {
        await fill("#tab-" + name, api + "/" + name);
      }
    } catch (e) { toast(e.message, true); }
  }

  document.addEventListener("click", (ev) => {
    const t = ev.target.closest("button, a, input");
    if (!t) return;
    if (t.dataset.tab) { ev.preventDefault(); location.hash = t.dataset.tab; showTab(t.dataset.tab); }
    else if (t.dataset.open) { ev.preventDefault(); openJob(t.dataset.open); }
    else if (t.dataset.act) { operate(t.dataset.act, [t.dataset.id]); }
    else if (t.dataset.bulk) {
      operate(t.dataset.bulk, [...document.querySelectorAll("input[name=pick]:checked")].map((c) => c.value));
    } else if (t.dataset.page) { pageStack.push(t.dataset.page); loadJobs(t.dataset.page); }
    else if (t.dataset.status && t.classList.contains("count")) {
      $("#filters [name=status]").value = t.dataset.status;
      $("#filters").requestSubmit();
    } else if (t.dataset.service) { serviceOp(t.dataset.service, t.dataset.op); }
    else if (t.id === "pick-all") {
      document.querySelectorAll("input[name=pick]").forEach((c) => { c.checked = t.checked; });
    }
  });

  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    ev.preventDefault();
    if (form.id === "filters") {
      filters = new URLSearchParams();
      for (const [k, v] of new FormData(form)) if (v) filters.set(k, v);
      pageStack = [];
      loadJobs();
    } else if (form.id === "signin-form") {
      sessionStorage.setItem("plugwork-token", form.token.value);
      form.reset();
      $("#signin").hidden = true;
      $("#toast").className = "";
      showTab(currentTab());
    } else if (form.classList.contains("try")) {
      tryAction(form);
    }
  });

  function currentTab() {
    const tabs = [...document.querySelectorAll("nav a[data-tab]")].map((a) => a.dataset.tab);
    const h = location.hash.replace("#", "");
    return tabs.includes(h) ? h : tabs[0];
  }

  showTab(currentTab());
})();
