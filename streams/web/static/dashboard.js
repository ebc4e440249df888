// The live dashboard: one page of units (server-side filter, sort and paging, so 10,000 units
// cost the browser no more than 50), refreshed every second.
"use strict";

(() => {
  const state = { sort: "received_60m", order: "desc", offset: 0, last: {}, busy: false, data: null };
  const $ = (id) => document.getElementById(id);

  function params() {
    const p = new URLSearchParams({
      sort: state.sort, order: state.order, offset: String(state.offset),
      limit: $("limit").value, trend: "true",
    });
    if ($("q").value.trim()) p.set("q", $("q").value.trim());
    if ($("kind").value) p.set("kind", $("kind").value);
    if ($("status").value) p.set("status", $("status").value);
    if ($("silent").checked) p.set("silent", "true");
    return p;
  }

  function cell(row, key, text, cls) {
    // Flash a cell whose value changed since the previous refresh.
    const id = row.unit_code + ":" + key;
    const changed = state.last[id] !== undefined && state.last[id] !== row[key];
    state.last[id] = row[key];
    return '<td class="' + (cls || "num") + (changed ? " changed" : "") + '" data-key="' + key + '">' + text + "</td>";
  }

  function render() {
    const data = state.data;
    if (!data) return;
    const now = data.now_ms;
    const tot = data.totals;
    $("summary").innerHTML =
      "<b>" + EMC.num(tot.units) + "</b> " + EMC.t("units") + " · <b>" + EMC.num(tot.active_60m) + "</b> " +
      EMC.t("active") + " · <b class=\"warn\">" + EMC.num(tot.silent) + "</b> " + EMC.t("silent_units") +
      " · <b>" + EMC.num(tot.received_60m) + "</b> " + EMC.t("received") + " (60') · " + EMC.t("online_share") +
      " <b>" + EMC.pct(tot.received_60m ? tot.online_60m / tot.received_60m : null) + "</b> · " +
      EMC.t("updated") + " " + EMC.localTime(now, false) + ":" + String(new Date(now).getUTCSeconds()).padStart(2, "0");
    const body = data.rows.map((r) => {
      const href = "/emc/dashboard/units/" + encodeURIComponent(r.unit_code);
      const silent = r.silent ? ' <span class="badge">' + EMC.esc(EMC.t("silent")) + "</span>" : "";
      return '<tr data-unit="' + EMC.esc(r.unit_code) + '" class="' + (r.silent ? "silent" : "") + '">' +
        '<td class="name"><a href="' + href + '">' + EMC.esc(r.name_vi) + "</a> <small>" + EMC.esc(r.unit_code) + "</small>" + silent + "</td>" +
        "<td>" + EMC.esc(EMC.t(r.kind)) + "</td>" +
        cell(r, "last_receipt_at_ms", EMC.ago(r.last_receipt_at_ms, now), "when") +
        cell(r, "received_1m", EMC.num(r.received_1m)) +
        cell(r, "received_60m", EMC.num(r.received_60m)) +
        cell(r, "received_24h", EMC.num(r.received_24h)) +
        cell(r, "online_rate_60m", EMC.pct(r.online_rate_60m)) +
        cell(r, "online_rate_24h", EMC.pct(r.online_rate_24h)) +
        cell(r, "remote_rate_60m", EMC.pct(r.remote_rate_60m)) +
        cell(r, "remote_rate_24h", EMC.pct(r.remote_rate_24h)) +
        cell(r, "on_time_rate_30d", EMC.pct(r.on_time_rate_30d)) +
        cell(r, "satisfaction_rate_30d", EMC.pct(r.satisfaction_rate_30d)) +
        cell(r, "status", EMC.esc(EMC.statusText(r)), "status") +
        cell(r, "rejected", EMC.num(r.rejected || 0)) +
        '<td class="trend">' + EMC.sparkline(r.trend, 120, 24) + "</td></tr>";
    });
    document.querySelector("#units tbody").innerHTML = body.join("");
    const first = data.total ? data.offset + 1 : 0;
    $("range").textContent = first + "–" + (data.offset + data.rows.length) + " " + EMC.t("of") + " " + EMC.num(data.total);
    $("prev").disabled = data.offset === 0;
    $("next").disabled = data.offset + data.rows.length >= data.total;
    const select = $("status");
    const known = new Set([...select.options].map((o) => o.value));
    (data.status_values || []).forEach((v) => {
      if (!known.has(v)) select.add(new Option((data.status_labels || {})[v] || v, v));
    });
    document.querySelectorAll("#units th[data-sort]").forEach((th) => {
      th.classList.toggle("sorted", th.dataset.sort === state.sort);
      th.classList.toggle("asc", th.dataset.sort === state.sort && state.order === "asc");
    });
  }

  async function refresh() {
    if (state.busy) return;
    state.busy = true;
    try {
      state.data = await EMC.getJSON("/emc/api/units?" + params().toString());
      render();
    } catch (err) {
      $("summary").textContent = String(err);
    } finally {
      state.busy = false;
    }
  }

  function restart() { state.offset = 0; state.last = {}; refresh(); }

  document.addEventListener("DOMContentLoaded", () => {
    let typing = null;
    $("q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(restart, 250); });
    ["kind", "status", "silent", "limit"].forEach((id) => $(id).addEventListener("change", restart));
    $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - Number($("limit").value)); refresh(); });
    $("next").addEventListener("click", () => { state.offset += Number($("limit").value); refresh(); });
    document.querySelectorAll("#units th[data-sort]").forEach((th) => th.addEventListener("click", () => {
      if (state.sort === th.dataset.sort) state.order = state.order === "desc" ? "asc" : "desc";
      else { state.sort = th.dataset.sort; state.order = th.dataset.sort === "name_vi" ? "asc" : "desc"; }
      restart();
    }));
    EMC.onLanguage(render);
    refresh();
    setInterval(refresh, 1000);
  });
})();
