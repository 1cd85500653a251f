// Placeholder dashboard: shows the gateway's status snapshot and events from
// /ws. Every string from the server goes through textContent, never innerHTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let lastSeq = 0, retries = 0;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function showStatus(s) {
    $("system").textContent = s.system_status;
    $("system").className = s.system_status;
    const comps = $("components");
    comps.replaceChildren();
    for (const [k, v] of Object.entries(s.components || {})) comps.append(el("li", k + ": " + v, v));
    const rows = $("services");
    rows.replaceChildren();
    for (const svc of s.services || []) {
      const tr = document.createElement("tr");
      tr.append(el("td", svc.service), el("td", svc.instance), el("td", svc.status, svc.status),
                el("td", Math.round(svc.uptime_s || 0) + " s"));
      rows.append(tr);
    }
    if (s.health) {
      $("health").textContent = s.health.status + " (score " + s.health.score + ", " +
        s.health.healthy_checks + "/" + s.health.total_checks + " healthy)";
      $("health").className = s.health.status;
    }
  }

  function showEvent(f) {
    const list = $("events");
    list.prepend(el("li", new Date().toLocaleTimeString() + " " + f.topic + " " + JSON.stringify(f.data)));
    while (list.children.length > 50) list.lastChild.remove();
  }

  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onopen = () => {
      $("conn").textContent = "live";
      retries = 0;
      if (lastSeq) ws.send(JSON.stringify({ resume: lastSeq }));
    };
    ws.onmessage = (m) => {
      let f;
      try { f = JSON.parse(m.data); } catch (e) { return; }
      if (typeof f.seq === "number") lastSeq = Math.max(lastSeq, f.seq);
      if (f.topic === "status") showStatus(f.data);
      else if (f.topic !== "pong" && f.topic !== "subscribed") showEvent(f);
    };
    ws.onclose = () => {
      $("conn").textContent = "disconnected; retrying";
      setTimeout(connect, Math.min(30000, 1000 * 2 ** retries++));
    };
  }
  fetch("/api/status").then((r) => r.json()).then(showStatus).catch(() => {});
  connect();
})();
