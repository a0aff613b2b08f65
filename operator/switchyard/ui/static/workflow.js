"use strict";
// The Workflow page: its tree, DAG drawing (laid out in layout-worker.js), node details, logs and actions.
// Loaded before app.js, whose helpers (el, svg, api, stream, ...) it calls once the page renders.

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
  let eventsLoaded = 0, lastPhase = "", drawn = 0, nodesNow = new Map();

  const worker = new Worker("/static/layout-worker.js");
  cleanup.push(() => worker.terminate());
  worker.onmessage = (message) => drawGraph({ ...message.data, received: performance.now() });

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
    nodesNow = new Map(wf.nodes.map((node) => [node.name, node]));
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

  // Drawn in slices of DRAW_SLICE nodes, one per frame, leftmost (the visible part of an LR layout) first, so
  // a huge DAG never blocks the page; the edges are one path (one element, not one per edge).
  function drawGraph(placed) {
    if (!current) return;
    const drawing = ++drawn;
    svgNodes.clear();
    const root = svg("svg", { width: placed.width + 20, height: placed.height + 20, role: "img",
      "aria-label": `DAG of ${current.name}: ${current.nodes.length} nodes` });
    root.append(svg("path", { class: "edge",
      d: placed.edges.map(([, , points]) => "M" + points.map((p) => p.join(",")).join("L")).join("") }));
    const layer = svg("g");
    root.append(layer);
    graph.replaceChildren(root);
    const byName = new Map(current.nodes.map((node) => [node.name, node]));
    const order = Object.keys(placed.nodes).filter((n) => byName.has(n))
      .sort((a, b) => placed.nodes[a][0] - placed.nodes[b][0] || placed.nodes[a][1] - placed.nodes[b][1]);
    const slice = (from) => {
      if (drawing !== drawn) return; // a newer layout replaced this one
      const part = document.createDocumentFragment();
      for (const nodeName of order.slice(from, from + DRAW_SLICE)) part.append(nodeShape(byName.get(nodeName), placed.nodes[nodeName]));
      layer.append(part);
      for (const nodeName of order.slice(from, from + DRAW_SLICE)) paint(nodesNow.get(nodeName) || byName.get(nodeName));
      if (from + DRAW_SLICE < order.length) { requestAnimationFrame(() => slice(from + DRAW_SLICE)); return; }
      graph.dataset.layoutMs = Math.round(placed.ms);
      graph.dataset.drawMs = Math.round(performance.now() - placed.received);
    };
    slice(0);
  }

  function nodeShape(node, [x, y, w, h]) {
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
    return g;
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
