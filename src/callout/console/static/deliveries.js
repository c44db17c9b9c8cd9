// callout console, Deliveries list: new deliveries appear without a reload (docs/console.md, Deliveries).
// Polls /console/deliveries/rows with the page's filters and the newest row's cursor, inserts the new rows
// at the top (text only, never HTML from the server), and announces them in the page's live region.
// Without this script the page works the same, with its Refresh link.
"use strict";
(() => {
  const POLL_MS = 3000;
  const table = document.querySelector("table.deliveries[data-rows-url]");
  if (!table) {
    return;
  }
  const body = table.tBodies[0];
  const status = document.getElementById("live-status");
  let after = table.dataset.after;

  function cell(row, content) {
    const td = row.insertCell();
    if (content instanceof Node) {
      td.append(content);
    } else {
      td.textContent = content;
    }
    return td;
  }

  function element(name, text, attributes) {
    const node = document.createElement(name);
    node.textContent = text;
    for (const [key, value] of Object.entries(attributes || {})) {
      node.setAttribute(key, value);
    }
    return node;
  }

  function addRow(data, position) {
    if (body.querySelector(`tr[data-id="${CSS.escape(data.id)}"]`)) {
      return false;
    }
    const row = body.insertRow(position);
    row.dataset.id = data.id;
    row.classList.add("new-row");
    const link = element("a", "", { href: data.url });
    link.append(element("time", data.createdText, { datetime: data.created }));
    cell(row, link);
    cell(row, element("span", data.stateText, { class: `badge ${data.state}` }));
    cell(row, data.target);
    cell(row, element("code", data.execution));
    cell(row, String(data.attempts));
    cell(row, data.lastStatus);
    return true;
  }

  function url() {
    const target = new URL(table.dataset.rowsUrl, window.location.href);
    target.searchParams.set("after", after);
    return target;
  }

  async function poll() {
    try {
      const response = await fetch(url(), { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok || !(response.headers.get("content-type") || "").includes("json")) {
        return; // signed out or refused: stop quietly; the Refresh link still works
      }
      const answer = await response.json();
      after = answer.after;
      // Oldest first from the server; each goes to the top, so the newest ends first.
      const added = answer.rows.filter((data) => addRow(data, 0)).length;
      if (added > 0) {
        for (const empty of document.querySelectorAll(".empty-log")) {
          empty.remove();
        }
        status.textContent = `${added} new ${added === 1 ? "delivery" : "deliveries"} added at the top.`;
      }
    } catch (error) {
      // The server is restarting or the network is down: try again at the next tick.
    }
    window.setTimeout(poll, POLL_MS);
  }

  window.setTimeout(poll, POLL_MS);
})();
