/* The Switchyard page: one script, no framework, no build. Routes on location.pathname (deep links
   /workflows/NS/NAME, /components/NS/NAME, /routingrules/NS/NAME, /triggers/NS/NAME), live through the
   server's event streams (EventSource), every text set with textContent (no HTML from the cluster). */
"use strict";

const PHASES = ["Pending", "Running", "Retrying", "Succeeded", "Failed", "Skipped", "FellBack", "Invalid"];
const KINDS = { workflows: "Workflow", components: "Component", routingrules: "RoutingRule", triggers: "Trigger" };
const SVGNS = "http://www.w3.org/2000/svg";
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

/* ---- a Workflow page ---------------------------------------------------------------------------------- */

function workflowPage(main, ns, name) {
  document.title = `${name} · Workflow · Switchyard`;
  let current = null, selected = null, shape = "", logSource = null;
  const header = el("div", {});
  const summary = el("p", { id: "summary", "aria-live": "polite" });
  const actions = el("div", { class: "actions" });
  const stopButton = el("button", { id: "stop", class: "danger", text: "Stop…" });
  const retryButton = el("button", { id: "retry", text: "Retry…" });
  actions.append(stopButton, retryButton);
  const graph = el("div", { id: "graph", role: "group", "aria-label": "DAG" },
    el("p", { class: "layout-note", text: "Laying out the DAG…" }));
  const list = el("ul", { id: "node-list", "aria-label": "Nodes" });
  const nodes = el("details", { class: "nodes-list", open: true },
    el("summary", { text: "Nodes as a list" }), list);
  const panel = el("aside", { id: "panel", "aria-label": "Node", hidden: true });
  const layout = el("div", { class: "wf-layout no-panel" }, el("div", {}, graph, nodes), panel);
  const route = el("section", { id: "route" });
  const conditions = el("section", { id: "conditions" });
  const events = el("section", { id: "events" });
  main.append(header, summary, actions, layout, route, conditions, events);
  const svgNodes = new Map(), listItems = new Map(), painted = new Map();
  let eventsLoaded = 0, lastPhase = "";

  const worker = new Worker("/static/layout-worker.js");
  cleanup.push(() => worker.terminate());
  worker.onmessage = (message) => drawGraph(message.data);

  stopButton.addEventListener("click", async () => {
    if (!(await confirmAction(`Stop workflow ${name}? Its running Jobs are deleted and it fails as Stopped.`))) return;
    try { await api("POST", `/api/workflows/${ns}/${name}/stop`, {}); clearAlert(); }
    catch (error) { showAlert(error.status, error.message); }
  });
  retryButton.addEventListener("click", async () => {
    if (!(await confirmAction(`Retry workflow ${name} as a new Workflow reusing its succeeded outputs?`))) return;
    try {
      const made = await api("POST", `/api/workflows/${ns}/${name}/retry`, {});
      navigate(`/workflows/${ns}/${made.created}`);
    } catch (error) { showAlert(error.status, error.message); }
  });

  function update(wf) {
    for (const node of wf.nodes) { node.dependsOn ||= []; node.artifacts ||= []; node.attempts ||= 0; }
    current = wf;
    header.replaceChildren(el("h1", {}, `${wf.name} `, phaseBadge(wf.phase)));
    summary.textContent = `${wf.namespace} · ${wf.nodes.length} nodes · progress ${wf.progress || "–"}` +
      (wf.startedAt ? ` · ran ${duration(wf.startedAt, wf.finishedAt)}` : "") + (wf.message ? ` · ${wf.message}` : "");
    stopButton.disabled = ["Succeeded", "Failed", "Invalid"].includes(wf.phase);
    retryButton.disabled = wf.phase !== "Failed";
    const newShape = wf.nodes.map((n) => `${n.name}<${n.dependsOn.join(",")}`).join(";");
    if (newShape !== shape) {
      shape = newShape;
      buildList(wf.nodes);
      const names = new Set(wf.nodes.map((n) => n.name));
      worker.postMessage({ id: shape.length, nodes: wf.nodes.map((n) => ({ name: n.name, width: labelWidth(n) })),
        edges: wf.nodes.flatMap((n) => n.dependsOn.filter((d) => names.has(d)).map((d) => [d, n.name])) });
      if (!wf.nodes.length) graph.replaceChildren(el("p", { class: "layout-note", text: "No nodes yet (a routed Workflow has nodes once it is routed)." }));
    }
    for (const node of wf.nodes) if (painted.get(node.name) !== node.phase) paint(node); // only what changed
    drawRoute(wf);
    drawConditions(wf);
    if (selected) showNode(selected, false);
  }

  function labelWidth(node) {
    return Math.min(260, 16 + 7 * Math.max(node.name.length, node.phase.length + 2));
  }

  function buildList(items) {
    listItems.clear();
    painted.clear();
    list.replaceChildren(...items.map((node) => {
      const button = el("button", { type: "button", "data-node": node.name, onclick: () => showNode(node.name, true) });
      listItems.set(node.name, button);
      return el("li", {}, button);
    }));
    performance.mark("switchyard:nodes-listed"); // time to interactive, read by the browser test
  }

  function paint(node) {
    painted.set(node.name, node.phase);
    const item = listItems.get(node.name);
    if (item) {
      item.textContent = `${node.name} — ${node.phase}`;
      item.className = `phase-text phase-${node.phase}`;
      item.dataset.phase = node.phase;
    }
    const g = svgNodes.get(node.name);
    if (g) {
      g.setAttribute("class", `node phase-${node.phase}${selected === node.name ? " selected" : ""}`);
      g.dataset.phase = node.phase;
      g.querySelector("title").textContent = `${node.name}: ${node.phase}`;
      g.setAttribute("aria-label", `${node.name}: ${node.phase}`);
    }
  }

  function drawGraph(placed) {
    if (!current) return;
    svgNodes.clear();
    const root = svg("svg", { width: placed.width + 20, height: placed.height + 20, role: "img",
      "aria-label": `DAG of ${current.name}: ${current.nodes.length} nodes` });
    const edges = svg("g");
    for (const [, , points] of placed.edges) {
      edges.append(svg("path", { class: "edge", d: "M" + points.map((p) => p.join(",")).join("L") }));
    }
    const layer = svg("g");
    for (const node of current.nodes) {
      const at = placed.nodes[node.name];
      if (!at) continue;
      const [x, y, w, h] = at;
      const g = svg("g", { class: "node", tabindex: "0", role: "button", "data-node": node.name,
        transform: `translate(${x - w / 2},${y - h / 2})` });
      g.append(svg("title"), svg("rect", { width: w, height: h }));
      const text = svg("text", { x: 8, y: 18 });
      text.textContent = node.name;
      g.append(text);
      g.addEventListener("click", () => showNode(node.name, true));
      g.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); showNode(node.name, true); }
      });
      svgNodes.set(node.name, g);
      layer.append(g);
    }
    root.append(edges, layer);
    graph.replaceChildren(root);
    graph.dataset.layoutMs = Math.round(placed.ms);
    for (const node of current.nodes) paint(node);
  }

  function drawRoute(wf) {
    route.replaceChildren(el("h2", { text: "Route" }));
    if (!wf.route) { route.append(el("p", { class: "muted", text: "Not routed yet." })); return; }
    const via = wf.route.source === "Rule" ? `rule ${wf.route.rule}` : wf.route.source.toLowerCase();
    const path = wf.route.source !== "Explicit" && wf.route.path.length ? `: ${wf.route.path.join(" → ")}` : "";
    route.append(el("p", { id: "route-decision", text: `${via}${path || (wf.route.source === "Explicit" ? " (the nodes of its spec)" : "")}` }),
      el("p", { id: "route-reason", text: `Why: ${wf.route.reason || "–"}` }));
  }

  function drawConditions(wf) {
    const { table: grid, tbody } = table(["Type", "Status", "Reason", "Message", "Since"]);
    tbody.append(...wf.conditions.map((c) => el("tr", {}, el("td", { text: c.type }), el("td", { text: c.status }),
      el("td", { text: c.reason || "" }), el("td", { text: c.message || "" }), el("td", { text: age(c.lastTransitionTime) }))));
    conditions.replaceChildren(el("h2", { text: "Conditions" }), grid);
  }

  async function loadEvents() {
    try {
      const { events: found } = await api("GET", `/api/workflows/${ns}/${name}/events`);
      const { table: grid, tbody } = table(["Type", "Reason", "Message", "Age"]);
      tbody.append(...found.map((e) => el("tr", {}, el("td", { text: e.type }), el("td", { text: e.reason }),
        el("td", { text: e.message }), el("td", { text: age(e.time) }))));
      events.replaceChildren(el("h2", { text: "Events" }), grid);
    } catch (error) {
      events.replaceChildren(el("h2", { text: "Events" }), el("p", { text: `${error.status || ""} ${error.message}` }));
    }
  }

  function showNode(nodeName, focus) {
    const node = current && current.nodes.find((n) => n.name === nodeName);
    if (!node) return;
    const changed = selected !== nodeName;
    const previous = svgNodes.get(selected);
    if (previous) previous.classList.remove("selected");
    selected = nodeName;
    const g = svgNodes.get(nodeName);
    if (g) g.classList.add("selected");
    layout.classList.remove("no-panel");
    panel.hidden = false;
    const rows = [["Component", node.component], ["Phase", node.phase], ["Attempts", node.attempts],
      ["Reason", node.reason], ["Message", node.message], ["Job", node.job], ["Fallback", node.fallback],
      ["Started", node.startedAt], ["Finished", node.finishedAt], ["Next retry", node.nextRetryAt],
      ["Duration", duration(node.startedAt, node.finishedAt)]];
    const details = el("dl", {}, ...rows.filter(([, v]) => v !== null && v !== undefined && v !== "")
      .flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { "data-field": k.toLowerCase(), text: String(v) })]));
    const artifacts = node.artifacts.length ? artifactList(node, node.artifacts)
      : node.artifactManifest ? el("p", { class: "muted", id: "artifacts-loading", text: "Reading the artifact manifest…" })
      : el("p", { class: "muted", text: "No artifacts." });
    if (!node.artifacts.length && node.artifactManifest) listArtifacts(node, artifacts);
    const close = el("button", { id: "panel-close", text: "Close", onclick: () => closePanel() });
    const logBox = panel.querySelector("#log") && !changed ? panel.querySelector("#log") : el("pre", { id: "log", "aria-live": "off" });
    const follow = el("button", { id: "follow", text: logSource ? "Stop following" : "Log (follow)" });
    follow.addEventListener("click", () => (logSource ? stopLog() : followLog(node, logBox, follow)));
    panel.replaceChildren(el("h2", { tabindex: "-1", id: "panel-title", text: `Node ${node.name}` }), close, details,
      el("h2", { text: "Result preview" }), el("pre", { id: "output", text: node.output || "(none yet)" }),
      el("h2", { text: "Artifacts" }), artifacts, el("h2", { text: "Log" }), follow, logBox);
    if (changed) { stopLog(); logBox.textContent = ""; follow.textContent = "Log (follow)"; }
    if (focus) panel.querySelector("#panel-title").focus();
  }

  function artifactUrl(node, a) {
    return `/api/workflows/${ns}/${name}/nodes/${encodeURIComponent(node.name)}/artifacts/` +
      a.name.split("/").map(encodeURIComponent).join("/");
  }

  function artifactList(node, list) {
    return el("ul", { id: "artifacts" }, ...list.map((a) => {
      const item = el("li", { "data-artifact": a.name || "" }, el("span", { text: artifactText(a) }));
      if (a.name) {
        const note = el("span", { class: "artifact-error", role: "alert" });
        item.append(" ", el("button", { class: "download", text: `Download ${a.name}`,
          onclick: () => downloadArtifact(artifactUrl(node, a), note) }), note);
      }
      return item;
    }));
  }

  async function listArtifacts(node, placeholder) {
    const response = await fetch(`/api/workflows/${ns}/${name}/nodes/${encodeURIComponent(node.name)}/artifacts`);
    const body = await response.json();
    if (!placeholder.isConnected) return;
    if (!response.ok) {
      placeholder.textContent = `${response.status === 403 ? "403 Forbidden" : "Error " + response.status}: ${body.message}`;
      return;
    }
    placeholder.replaceWith(body.artifacts.length ? artifactList(node, body.artifacts)
      : el("p", { class: "muted", text: "No artifacts." }));
  }

  // Asked first (?check=1: the store, its Secret with your credentials, the object), so a refusal shows here;
  // then the browser downloads the streamed bytes itself.
  async function downloadArtifact(url, note) {
    note.textContent = "";
    const response = await fetch(`${url}?check=1`);
    if (!response.ok) {
      const body = await response.json().catch(() => ({ message: response.statusText }));
      note.textContent = `${response.status === 403 ? "403 Forbidden" : "Error " + response.status}: ${body.message}`;
      return;
    }
    const link = el("a", { href: url, download: "" });
    document.body.append(link);
    link.click();
    link.remove();
  }

  function artifactText(a) {
    if (typeof a === "string") return a;
    return [a.name, a.uri || a.url || a.key, a.size !== undefined ? `${a.size} bytes` : "", a.digest || ""]
      .filter(Boolean).join(" · ");
  }

  function followLog(node, box, button) {
    box.textContent = "";
    logSource = new EventSource(`/api/workflows/${ns}/${name}/nodes/${encodeURIComponent(node.name)}/log`);
    button.textContent = "Stop following";
    const add = (text) => { box.append(text + "\n"); box.scrollTop = box.scrollHeight; };
    logSource.addEventListener("pod", (e) => add(`— pod ${JSON.parse(e.data).pod} —`));
    logSource.addEventListener("line", (e) => add(JSON.parse(e.data)));
    logSource.addEventListener("end", (e) => { add(`— ${JSON.parse(e.data).message} —`); stopLog(); button.textContent = "Log (follow)"; });
    logSource.addEventListener("failure", (e) => {
      const f = JSON.parse(e.data);
      add(`— ${f.status === 403 ? "403 Forbidden" : "error " + f.status}: ${f.message} —`);
      stopLog(); button.textContent = "Log (follow)";
    });
  }

  function stopLog() {
    if (logSource) logSource.close();
    logSource = null;
  }
  cleanup.push(stopLog);

  function closePanel() {
    const was = selected;
    stopLog();
    selected = null;
    const g = svgNodes.get(was);
    if (g) g.classList.remove("selected");
    panel.hidden = true;
    layout.classList.add("no-panel");
    const back = listItems.get(was);
    if (back) back.focus();
  }

  const onKey = (e) => { if (e.key === "Escape" && selected && !document.getElementById("confirm").open) closePanel(); };
  document.addEventListener("keydown", onKey);
  cleanup.push(() => document.removeEventListener("keydown", onKey));

  stream(`/api/stream/workflows/${ns}/${name}`, {
    object: (wf) => {
      clearAlert();
      update(wf);
      // Events again when the phase changes, else at most every 5 s (a busy run sends several updates a second)
      if (wf.phase !== lastPhase || performance.now() - eventsLoaded > 5000) {
        lastPhase = wf.phase;
        eventsLoaded = performance.now();
        loadEvents();
      }
    },
    failure: (f) => { showAlert(f.status, f.message); if (!current) header.replaceChildren(el("h1", { text: name })); },
  });
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
