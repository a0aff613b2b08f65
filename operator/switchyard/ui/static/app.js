/* The Switchyard page: two scripts (workflow.js, the Workflow page, then this one), no framework, no build.
   Routes on location.pathname (deep links /workflows/NS/NAME, /components/NS/NAME, /routingrules/NS/NAME,
   /triggers/NS/NAME), live through the server's event streams (EventSource), every text set with
   textContent (no HTML from the cluster). */
"use strict";

const PHASES = ["Pending", "Running", "Retrying", "Succeeded", "Failed", "Skipped", "FellBack", "Invalid"];
const KINDS = { workflows: "Workflow", components: "Component", routingrules: "RoutingRule", triggers: "Trigger" };
const SVGNS = "http://www.w3.org/2000/svg";
const DRAW_SLICE = 400; // DAG nodes drawn per frame
let cleanup = []; // closers of the current view's streams and workers

/* ---- small helpers ------------------------------------------------------------------------------------ */

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function phaseBadge(phase) {
  return el("span", { class: `phase phase-${phase}`, text: phase });
}

function showAlert(status, message) {
  if (status === 401) { login(message); return; }
  const box = document.getElementById("alert");
  const label = status === 403 ? "403 Forbidden" : status ? `Error ${status}` : "Error";
  box.textContent = `${label}: ${message}`;
  box.hidden = false;
}

function clearAlert() {
  const box = document.getElementById("alert");
  box.hidden = true;
  box.textContent = "";
}

function age(iso) {
  if (!iso) return "";
  return span(Date.now() - Date.parse(iso));
}

function span(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  s %= 60;
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${m}m`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

function duration(start, end) {
  if (!start) return "";
  return span((end ? Date.parse(end) : Date.now()) - Date.parse(start));
}

function stream(url, handlers) {
  const source = new EventSource(url);
  for (const [event, handler] of Object.entries(handlers)) {
    source.addEventListener(event, (e) => handler(JSON.parse(e.data)));
  }
  cleanup.push(() => source.close());
  return source;
}

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json", "X-Switchyard": "1" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({ message: response.statusText }));
  if (!response.ok) throw Object.assign(new Error(data.message || response.statusText), { status: response.status });
  return data;
}

function confirmAction(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

function namespace() {
  return document.getElementById("namespace").value;
}

function table(columns) {
  const tbody = el("tbody");
  const head = el("tr", {}, ...columns.map((c) => el("th", { scope: "col", text: c })));
  return { table: el("table", {}, el("thead", {}, head), tbody), tbody };
}

function link(kind, row) {
  return el("a", { href: `/${kind}/${row.namespace}/${row.name}`, "data-link": "", text: row.name });
}

function login(message) {
  // in a cluster (`switchyard ui --auth token`): a Kubernetes bearer token, kept by the server in an HttpOnly cookie
  for (const close of cleanup) close();
  cleanup = [];
  const token = el("input", { type: "password", id: "token", autocomplete: "off", "aria-label": "Kubernetes bearer token" });
  const why = el("p", { id: "login-message", text: message });
  const form = el("form", { id: "login" }, el("h1", { text: "Sign in" }), why,
    el("label", {}, "Kubernetes bearer token (kubectl create token NAME) ", token), " ",
    el("button", { type: "submit", text: "Sign in" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await api("POST", "/api/login", { token: token.value }); render(); }
    catch (error) { why.textContent = error.message; }
  });
  document.getElementById("main").replaceChildren(form);
  token.focus();
}

/* ---- routing ------------------------------------------------------------------------------------------ */

function navigate(path) {
  history.pushState({}, "", path);
  render();
}

function render() {
  for (const close of cleanup) close();
  cleanup = [];
  clearAlert();
  const main = document.getElementById("main");
  main.replaceChildren();
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const kind = KINDS[parts[0]] ? parts[0] : "workflows";
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === kind) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (parts.length >= 3) {
    if (kind === "workflows") workflowPage(main, parts[1], parts[2]);
    else resourcePage(main, kind, parts[1], parts[2]);
  } else if (kind === "workflows") workflowList(main);
  else resourceList(main, kind);
}

/* ---- the Workflow list -------------------------------------------------------------------------------- */

function matchesLabels(labels, selector) {
  for (const term of selector.split(",").map((t) => t.trim()).filter(Boolean)) {
    const [key, value] = term.split("=").map((t) => t.trim());
    if (value === undefined ? !(key in labels) : labels[key] !== value) return false;
  }
  return true;
}

function workflowList(main) {
  document.title = "Workflows · Switchyard";
  const rows = new Map();
  const search = el("input", { type: "search", id: "search", placeholder: "name contains" });
  const phase = el("select", { id: "phase-filter" }, el("option", { value: "", text: "any phase" }),
    ...PHASES.map((p) => el("option", { value: p, text: p })));
  const labels = el("input", { id: "label-filter", placeholder: "key=value,key2" });
  const count = el("span", { class: "muted", id: "count", "aria-live": "polite" });
  const { table: grid, tbody } = table(["Name", "Namespace", "Phase", "Progress", "Route", "Age", "Duration"]);
  grid.id = "workflows";
  main.append(el("h1", { text: "Workflows" }),
    el("div", { class: "filters" },
      el("label", {}, "Search", search), el("label", {}, "Phase", phase), el("label", {}, "Labels", labels), count),
    grid);

  const draw = () => {
    const term = search.value.trim().toLowerCase();
    const shown = [...rows.values()]
      .filter((r) => !term || r.name.toLowerCase().includes(term))
      .filter((r) => !phase.value || r.phase === phase.value)
      .filter((r) => matchesLabels(r.labels, labels.value))
      .sort((a, b) => (b.created || "").localeCompare(a.created || "") || a.name.localeCompare(b.name));
    tbody.replaceChildren(...shown.map((r) => el("tr", { "data-name": r.name, "data-namespace": r.namespace },
      el("td", {}, link("workflows", r)), el("td", { text: r.namespace }), el("td", {}, phaseBadge(r.phase)),
      el("td", { text: r.progress }), el("td", { text: r.route }), el("td", { text: age(r.created) }),
      el("td", { text: duration(r.startedAt, r.finishedAt) }))));
    count.textContent = `${shown.length} of ${rows.size}`;
  };
  for (const input of [search, phase, labels]) input.addEventListener("input", draw);
  const key = (r) => `${r.namespace}/${r.name}`;
  stream(`/api/stream/workflows?namespace=${encodeURIComponent(namespace())}`, {
    snapshot: (items) => { rows.clear(); for (const r of items) rows.set(key(r), r); clearAlert(); draw(); },
    upsert: (r) => { rows.set(key(r), r); draw(); },
    delete: (r) => { rows.delete(key(r)); draw(); },
    failure: (f) => showAlert(f.status, f.message),
  });
  const ticker = setInterval(draw, 5000); // ages and durations
  cleanup.push(() => clearInterval(ticker));
}

/* ---- Components, RoutingRules, Triggers ----------------------------------------------------------------- */

const COLUMNS = {
  components: [["Breaker", (r) => r.status.breaker?.state || "Closed"], ["Runs", (r) => r.status.runs ?? 0],
    ["Failures", (r) => r.status.failures ?? 0],
    ["Last failure", (r) => { const f = r.status.breaker?.lastFailure; return f ? `${f.workflow}/${f.node}: ${f.reason} (${age(f.time)} ago)` : ""; }]],
  routingrules: [["Priority", (r) => r.spec.priority ?? 0], ["Valid", (r) => r.status.valid === undefined || r.status.valid === null ? "?" : String(r.status.valid)],
    ["Matches", (r) => r.status.matches ?? 0], ["Last matched", (r) => age(r.status.lastMatchedAt)], ["Message", (r) => r.status.message || ""]],
  triggers: [["Received", (r) => r.status.received ?? 0], ["Accepted", (r) => r.status.accepted ?? 0],
    ["Rejected", (r) => r.status.rejected ?? 0], ["Workflows", (r) => r.status.workflowsCreated ?? 0],
    ["Running/Succeeded/Failed", (r) => { const w = r.status.workflows || {}; return `${w.running ?? 0}/${w.succeeded ?? 0}/${w.failed ?? 0}`; }],
    ["Schedule", (r) => r.spec.schedule || ""], ["Last event", (r) => age(r.status.lastEventTime)], ["Last error", (r) => r.status.lastError || ""]],
};

function resourceList(main, kind) {
  document.title = `${KINDS[kind]}s · Switchyard`;
  const rows = new Map();
  const { table: grid, tbody } = table(["Name", "Namespace", ...COLUMNS[kind].map(([c]) => c)]);
  grid.id = kind;
  main.append(el("h1", { text: `${KINDS[kind]}s` }), grid);
  if (kind === "routingrules") main.append(tryBox());
  const draw = () => tbody.replaceChildren(...[...rows.values()].sort((a, b) => a.name.localeCompare(b.name))
    .map((r) => el("tr", { "data-name": r.name }, el("td", {}, link(kind, r)), el("td", { text: r.namespace }),
      ...COLUMNS[kind].map(([, value]) => el("td", { text: String(value(r)) })))));
  const key = (r) => `${r.namespace}/${r.name}`;
  stream(`/api/stream/${kind}?namespace=${encodeURIComponent(namespace())}`, {
    snapshot: (items) => { rows.clear(); for (const r of items) rows.set(key(r), r); clearAlert(); draw(); },
    upsert: (r) => { rows.set(key(r), r); draw(); },
    delete: (r) => { rows.delete(key(r)); draw(); },
    failure: (f) => showAlert(f.status, f.message),
  });
}

function tryBox() {
  const data = el("textarea", { id: "try-data", rows: 5, cols: 60, "aria-label": "Data to route" });
  const type = el("input", { id: "try-type", value: "application/json", "aria-label": "Content type" });
  const out = el("div", { id: "try-result", "aria-live": "polite" });
  const run = el("button", { id: "try-run", text: "Route it" });
  run.addEventListener("click", async () => {
    try {
      const answer = await api("POST", "/api/route", { namespace: namespace(), data: data.value, contentType: type.value });
      const { table: grid, tbody } = table(["Rule", "Priority", "Result", "Why"]);
      tbody.append(...answer.results.map((r) => el("tr", {}, el("td", { text: r.name }), el("td", { text: String(r.priority) }),
        el("td", { text: r.outcome + (r.chosen ? " (chosen)" : "") }), el("td", { text: r.detail }))));
      const d = answer.decision;
      out.replaceChildren(el("p", { text: `Input: ${answer.input.size} bytes, ${answer.input.contentType}, isJson=${answer.input.isJson}` }), grid,
        el("p", { id: "try-route", text: d ? `Route: ${d.source === "Rule" ? "rule " + d.rule : "analysis"}: ${d.path.join(" → ")} — ${d.reason}` : `No route: ${answer.error}` }));
    } catch (error) { showAlert(error.status, error.message); }
  });
  return el("section", {}, el("h2", { text: "Try the rules on pasted data" }), el("label", {}, "Data ", data),
    el("label", {}, " Content type ", type), " ", run, out);
}

function resourcePage(main, kind, ns, name) {
  document.title = `${name} · ${KINDS[kind]} · Switchyard`;
  const body = el("div", {});
  main.append(el("h1", { text: `${KINDS[kind]} ${name}` }), body);
  stream(`/api/stream/${kind}/${ns}/${name}`, {
    object: async (r) => {
      clearAlert();
      const facts = el("dl", {}, ...COLUMNS[kind].flatMap(([label, value]) => [el("dt", { text: label }), el("dd", { text: String(value(r)) })]));
      const conds = (r.status.conditions || []).map((c) => el("li", { text: `${c.type}=${c.status} ${c.reason || ""}: ${c.message || ""}` }));
      let events = [];
      try { events = (await api("GET", `/api/${kind}/${ns}/${name}/events`)).events; } catch (e) { events = [{ type: "", reason: String(e.status || ""), message: e.message }]; }
      body.replaceChildren(facts, el("h2", { text: "Conditions" }), el("ul", {}, ...conds),
        el("h2", { text: "Events" }), el("ul", {}, ...events.map((e) => el("li", { text: `${e.type} ${e.reason}: ${e.message}` }))),
        el("h2", { text: "Spec" }), el("pre", { text: JSON.stringify(r.spec, null, 2) }),
        el("h2", { text: "Status" }), el("pre", { text: JSON.stringify(r.status, null, 2) }));
    },
    failure: (f) => showAlert(f.status, f.message),
  });
}

/* ---- start -------------------------------------------------------------------------------------------- */

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link], header nav a");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", render);

(async () => {
  const select = document.getElementById("namespace");
  const wanted = new URLSearchParams(location.search).get("namespace");
  try {
    const answer = await api("GET", "/api/namespaces");
    for (const ns of answer.namespaces) select.append(el("option", { value: ns, text: ns }));
    if (wanted !== null) {
      if (![...select.options].some((o) => o.value === wanted)) select.append(el("option", { value: wanted, text: wanted }));
      select.value = wanted;
    }
  } catch (error) { showAlert(error.status, error.message); }
  select.addEventListener("change", () => {
    const url = new URL(location.href);
    if (select.value) url.searchParams.set("namespace", select.value); else url.searchParams.delete("namespace");
    history.replaceState({}, "", url);
    render();
  });
  render();
})();
