// Caxton's observer page: polls the node's /api/overview twice a second and redraws.
// Plain JavaScript, no build step, no dependencies: it ships inside the Python package.
"use strict";

const POLL_MS = 500;
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function bytes(n) {
  if (n == null) return "-";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function duration(s) {
  if (s == null) return "-";
  if (s < 60) return `${s.toFixed(0)} s`;
  if (s < 3600) return `${(s / 60).toFixed(0)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function clock(t) { return new Date(t * 1000).toLocaleTimeString(); }

function renderNode(node) {
  $("node-name").textContent = node.name;
  const facts = [`pid ${node.pid}`, `up ${duration(node.uptime_s)}`, `${node.agents} agents`];
  if (node.recovering) facts.push(`recovering ${node.recovering.done}/${node.recovering.total}`);
  $("node-facts").textContent = facts.join(" · ");
}

function renderTree(data) {
  const root = el("li", {}, el("strong", {}, `node ${data.node.name}`), " ",
                  el("span", { class: "pid" }, `pid ${data.node.pid}`));
  const children = el("ul");
  for (const a of data.agents) {
    const worker = a.pid != null
      ? el("li", {}, `instance `, el("span", { class: "pid" }, `pid ${a.pid}`), ` ${a.health}`)
      : el("li", { class: "empty" }, "no instance");
    children.append(el("li", { "data-agent": a.name },
      `${a.supervisor || "agent:" + a.name} `,
      el("span", { class: `state-${a.state}` }, a.state), el("ul", {}, worker)));
  }
  root.append(children);
  $("tree").replaceChildren(root);
}

function renderAgents(agents) {
  const rows = agents.map((a) => {
    const ratio = a.memory_limit_bytes ? a.memory_bytes / a.memory_limit_bytes : 0;
    const bar = el("span", { class: ratio > 0.9 ? "bar high" : "bar" },
                   el("i", { style: `width:${Math.min(100, ratio * 100).toFixed(1)}%` }));
    return el("tr", { "data-agent": a.name },
      el("td", {}, a.name),
      el("td", { class: `state-${a.state}` }, a.state),
      el("td", {}, Object.keys(a.versions).join(", ")),
      el("td", { class: "num" }, a.instances),
      el("td", { class: "num" }, a.rate.toFixed(1)),
      el("td", { class: "num" }, a.p99_ms == null ? "-" : `${a.p99_ms.toFixed(2)} ms`),
      el("td", { class: "num" }, a.restarts),
      el("td", {}, bar, `${bytes(a.memory_bytes)} / ${bytes(a.memory_limit_bytes)}`),
      el("td", { class: "num" }, a.mailbox_depth),
      el("td", {}, a.health));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 10, class: "empty" }, "no agents")));
  $("agents").tBodies[0].replaceChildren(...rows);
}

function renderDowns(downs) {
  const items = downs.map((d) => el("li", { "data-agent": d.agent },
    el("time", {}, clock(d.time)), " ", el("strong", {}, d.agent), ` pid ${d.pid} `,
    el("span", { class: `reason ${d.kind}` }, d.reason),
    d.restarting ? " → restarting" : " → stays down",
    d.crash ? ` (crash #${d.crash})` : ""));
  if (!items.length) items.push(el("li", { class: "empty" }, "none yet"));
  $("downs").replaceChildren(...items);
}

function renderDeployments(deployments) {
  const rows = deployments.map((d) => el("tr", {},
    el("td", {}, d.id), el("td", {}, d.agent), el("td", {}, d.version),
    el("td", {}, d.strategy), el("td", {}, d.stage), el("td", { class: "num" }, `${d.percentage}%`),
    el("td", {}, Object.entries(d.metrics).map(([k, v]) => `${k} ${v}`).join(", ") || "-"),
    el("td", { class: "num" }, duration(d.elapsed_s))));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 8, class: "empty" }, "none")));
  $("deployments").tBodies[0].replaceChildren(...rows);
}

async function poll() {
  try {
    const response = await fetch("/api/overview", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    renderNode(data.node);
    renderTree(data);
    renderAgents(data.agents);
    renderDowns(data.downs);
    renderDeployments(data.deployments);
    $("status").textContent = `live · ${new Date().toLocaleTimeString()}`;
    $("status").className = "status";
  } catch (error) {
    $("status").textContent = `node unreachable (${error.message})`;
    $("status").className = "status stale";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
