// Peers: the table, and a picture of the overlay (this node, the peers it
// knows, and its active-view links).
import { api, apiOptional, ago, bytes, card, clear, h, pill, short, when, debounce }
  from "/static/util.js";

function overlaySvg(self, peers, activeView) {
  const size = 360, c = size / 2, r = 140;
  const active = new Set(activeView);
  const nodes = peers.map((p, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, peers.length) - Math.PI / 2;
    return { ...p, x: c + r * Math.cos(a), y: c + r * Math.sin(a) };
  });
  const colour = { active: "#1a8a4a", stale: "#b26a00", dead: "#c62828" };
  return h("svg", { class: "overlay", id: "overlay", width: size, height: size,
                    viewBox: `0 0 ${size} ${size}`, role: "img",
                    "aria-label": `overlay: this node and ${peers.length} peers` },
    nodes.map((n) => h("line", {
      x1: c, y1: c, x2: n.x, y2: n.y, "stroke-width": active.has(n.node_id) ? 2.5 : 1,
      stroke: active.has(n.node_id) ? "#2f6fde" : "#c9ced8",
      "stroke-dasharray": active.has(n.node_id) ? null : "4 4",
      dataset: { link: n.node_id, active: active.has(n.node_id) ? "1" : "0" } })),
    h("circle", { cx: c, cy: c, r: 14, fill: "#1d2330" }, h("title", {}, `this node ${self}`)),
    h("text", { x: c, y: c + 30, "text-anchor": "middle" }, short(self)),
    nodes.map((n) => h("g", { dataset: { peer: n.node_id } },
      h("circle", { cx: n.x, cy: n.y, r: 10, fill: colour[n.status] || "#6b7280" },
        h("title", {}, `${n.node_id}\n${n.tier} ${n.status}`)),
      h("text", { x: n.x, y: n.y + 24, "text-anchor": "middle" }, short(n.node_id).slice(0, 8)))));
}

async function load() {
  const [peers, trust, node] = await Promise.all([
    api("/api/v1/peers"), apiOptional("/api/v1/trust"), api("/api/v1/node")]);
  const judged = new Map(((trust && trust.peers) || []).map((p) => [p.node_id, p]));
  return { peers, judged, node };
}

// The open link's figures (``link``: bytes each way, the Ping's round trip),
// null while no link to the peer is open.
function traffic(p) {
  const link = p.link;
  if (!link) return h("span", { class: "muted" }, "no link");
  return `↑ ${bytes(link.bytes_out)} ↓ ${bytes(link.bytes_in)}`;
}

function roundTrip(p) {
  const rtt = p.link && p.link.rtt_ms;
  return rtt === null || rtt === undefined ? h("span", { class: "muted" }, "—") : `${rtt} ms`;
}

export default {
  title: "Peers",
  async render(el) {
    let data = await load();
    const draw = () => {
      const { peers, judged, node } = data;
      const activeView = (node.overlay && node.overlay.active_view) || [];
      clear(el,
        h("h1", {}, `Peers (${peers.length})`),
        h("div", { class: "row" },
          h("div", { class: "grow" },
            h("table", { id: "peers-table" },
              h("thead", {}, h("tr", {}, ["Node", "Tier", "Region", "Status", "Score",
                "Quarantine", "Last seen", "Round trip", "Traffic"].map((t) => h("th", {}, t)))),
              h("tbody", {}, peers.length ? peers.map((p) => {
                const j = judged.get(p.node_id) || {};
                const quarantined = j.quarantine_until_ms && j.quarantine_until_ms > Date.now();
                return h("tr", { dataset: { node: p.node_id } },
                  h("td", { class: "mono", title: p.node_id }, short(p.node_id),
                    p.neighbour ? h("span", { class: "muted" }, " · link") : null),
                  h("td", {}, p.tier, p.claimed_tier && p.claimed_tier !== p.tier
                    ? h("span", { class: "muted" }, ` (claims ${p.claimed_tier})`) : null),
                  h("td", {}, p.region || "—"),
                  h("td", {}, pill(p.status)),
                  h("td", {}, j.score === undefined || j.score === null ? "—"
                    : Number(j.score).toFixed(3)),
                  h("td", {}, quarantined ? pill(`until ${when(j.quarantine_until_ms)}`, "quarantined")
                    : j.integrity_status ? pill(j.integrity_status) : "—"),
                  h("td", {}, ago(p.last_seen_ms)),
                  h("td", {}, roundTrip(p)),
                  h("td", { class: "traffic" }, traffic(p)));
              }) : h("tr", {}, h("td", { colspan: 9, class: "muted" }, "no peers known yet"))))),
          card("Overlay", overlaySvg(node.node_id, peers, activeView),
            h("p", { class: "muted" }, "solid: active-view links; dashed: known peers"))));
    };
    draw();
    const reload = debounce(async () => { data = await load(); draw(); }, 300);
    return { live: (m) => { if (m.type === "status") reload(); } };
  },
};
