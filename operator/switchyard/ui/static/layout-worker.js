/* Lays out a Workflow's DAG off the page's thread with dagre (vendor/dagre.min.js), so a 5,000-node page
   stays interactive while the layout runs. In: {id, nodes: [{name, width}], edges: [[from, to]]}.
   Out: {id, nodes: {name: [x, y, w, h]}, edges: [[from, to, [[x, y], ...]]], width, height, ms}.
   Above HUGE nodes, dagre's cheaper options: longest-path ranking and no crossing-minimisation sweeps (about
   half the time, more crossings: a 5,000-node DAG is read through its node list and panel anyway). */
importScripts("/static/vendor/dagre.min.js");
const HUGE = 1000;

self.onmessage = (message) => {
  const { id, nodes, edges } = message.data;
  const started = performance.now();
  const g = new dagre.graphlib.Graph();
  const huge = nodes.length > HUGE;
  g.setGraph({ rankdir: "LR", nodesep: 12, ranksep: 40, marginx: 10, marginy: 10,
    ...(huge ? { ranker: "longest-path" } : {}) });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) g.setNode(node.name, { width: node.width, height: 28 });
  for (const [from, to] of edges) g.setEdge(from, to);
  dagre.layout(g, huge ? { disableOptimalOrderHeuristic: true } : {});
  const placed = {};
  for (const name of g.nodes()) {
    const n = g.node(name);
    placed[name] = [n.x, n.y, n.width, n.height];
  }
  const routed = g.edges().map((e) => [e.v, e.w, g.edge(e).points.map((p) => [p.x, p.y])]);
  const graph = g.graph();
  self.postMessage({ id, nodes: placed, edges: routed, width: graph.width, height: graph.height,
    ms: performance.now() - started, huge });
};
