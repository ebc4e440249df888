// One unit: live counters and rates (every second) and its windows over time from ClickHouse.
"use strict";

(() => {
  const code = document.body.dataset.unit;
  const base = "/emc/api/units/" + encodeURIComponent(code);
  const state = { unit: null, now: 0, hours: [], days: [], minutes: [] };
  const $ = (id) => document.getElementById(id);

  function card(key, value, label) {
    return '<div class="card" data-key="' + key + '"><span class="value">' + value + '</span><span class="label">' +
      EMC.esc(EMC.t(label)) + "</span></div>";
  }

  function renderLive() {
    const u = state.unit;
    if (!u) return;
    $("unit-status").innerHTML = EMC.esc(EMC.t("status")) + ": <b>" + EMC.esc(EMC.statusText(u)) + "</b>" +
      (u.status_since_ms ? " (" + EMC.t("since") + " " + EMC.localTime(u.status_since_ms, true) + ")" : "") +
      (u.status_reason ? " — " + EMC.esc(u.status_reason) : "") + " · " + EMC.esc(EMC.t("last_event")) + ": " +
      EMC.ago(u.last_receipt_at_ms, state.now) + (u.silent ? ' <span class="badge">' + EMC.esc(EMC.t("silent")) + "</span>" : "");
    $("cards").innerHTML = [
      card("received_1m", EMC.num(u.received_1m), "recv_1m"),
      card("received_60m", EMC.num(u.received_60m), "recv_60m"),
      card("received_24h", EMC.num(u.received_24h), "recv_24h"),
      card("received_30d", EMC.num(u.received_30d), "recv_30d"),
      card("online_rate_60m", EMC.pct(u.online_rate_60m), "online_60m"),
      card("online_rate_24h", EMC.pct(u.online_rate_24h), "online_24h"),
      card("remote_rate_60m", EMC.pct(u.remote_rate_60m), "remote_60m"),
      card("remote_rate_24h", EMC.pct(u.remote_rate_24h), "remote_24h"),
      card("on_time_rate_30d", EMC.pct(u.on_time_rate_30d), "on_time"),
      card("satisfaction_rate_30d", EMC.pct(u.satisfaction_rate_30d), "satisfaction"),
      card("avg_processing_s_30d", EMC.duration(u.avg_processing_s_30d), "processing"),
    ].join("");
    const minuteMs = 60000;
    const lastMinute = Math.floor(state.now / minuteMs) * minuteMs;
    const points = (u.trend || []).map((v, i, all) => ({
      value: v, label: EMC.localTime(lastMinute - (all.length - 1 - i) * minuteMs, false),
    }));
    $("chart-minutes").innerHTML = EMC.chart(points, { height: 180 });
  }

  const rateLines = [
    { key: "online_rate", cls: "online", label: "online_rate" },
    { key: "remote_rate", cls: "remote", label: "remote_rate" },
  ];

  // One slot per window (empty windows show as zero), oldest first, ending with the current one.
  function slots(rows, count, sizeMs, offsetMs, label) {
    const byStart = new Map(rows.map((r) => [r.start_ms, r]));
    const current = Math.floor((Date.now() + offsetMs) / sizeMs) * sizeMs - offsetMs;
    const out = [];
    for (let i = count - 1; i >= 0; i--) {
      const start = current - i * sizeMs;
      const r = byStart.get(start);
      out.push({
        value: r ? r.received : 0, label: label(start),
        online_rate: r ? r.online_rate : null, remote_rate: r ? r.remote_rate : null,
      });
    }
    return out;
  }

  function renderHistory() {
    const hour = 3600000, day = 86400000, vnOffset = 7 * hour;  // days start at local midnight
    $("chart-hours").innerHTML = EMC.chart(
      slots(state.hours, 48, hour, 0, (ms) => EMC.localTime(ms, true)), { lines: rateLines });
    $("chart-days").innerHTML = EMC.chart(
      slots(state.days, 30, day, vnOffset, (ms) => EMC.localTime(ms, true).slice(0, 5)), { lines: rateLines });
    const head = "<thead><tr><th>" + EMC.esc(EMC.t("window_start")) + '</th><th class="num">' +
      EMC.esc(EMC.t("received")) + '</th><th class="num">' + EMC.esc(EMC.t("online_rate")) +
      '</th><th class="num">' + EMC.esc(EMC.t("remote_rate")) + "</th></tr></thead>";
    const rows = state.minutes.slice(-15).reverse().map((r) =>
      '<tr data-start="' + r.start_ms + '"><td>' + EMC.localTime(r.start_ms, true) + '</td><td class="num">' + EMC.num(r.received) +
      '</td><td class="num">' + EMC.pct(r.online_rate) + '</td><td class="num">' + EMC.pct(r.remote_rate) + "</td></tr>");
    $("minutes").innerHTML = head + "<tbody>" + rows.join("") + "</tbody>";
  }

  // Rejected messages of this unit (emc.dead_letters): counts by reason, newest detail.
  function renderRejects(data) {
    if (!data.reasons.length) {
      $("rejects").innerHTML = "<tbody><tr><td>" + EMC.esc(EMC.t("none_rejected")) + "</td></tr></tbody>";
      return;
    }
    const head = "<thead><tr><th>" + EMC.esc(EMC.t("reason")) + '</th><th class="num">' +
      EMC.esc(EMC.t("count")) + "</th><th>" + EMC.esc(EMC.t("last_time")) + "</th><th></th></tr></thead>";
    const rows = data.reasons.map((r) =>
      '<tr data-reason="' + EMC.esc(r.reason) + '"><td>' + EMC.esc(r.reason) + (r.kind === "late" ? " (late)" : "") +
      '</td><td class="num">' + EMC.num(r.messages) + "</td><td>" + EMC.localTime(r.last_at_ms, true) +
      "</td><td><small>" + EMC.esc(r.example_detail) + "</small></td></tr>");
    $("rejects").innerHTML = head + "<tbody>" + rows.join("") + "</tbody>";
  }

  async function refreshRejects() {
    try {
      renderRejects(await EMC.getJSON(base + "/rejects?limit=20"));
    } catch (err) {
      $("rejects").textContent = String(err);
    }
  }

  // Status periods and reminder letters (emc remind), newest first.
  function renderStatusHistory(data) {
    const items = data.periods.map((p) => ({ at: p.from_ms, kind: "period", p: p }))
      .concat(data.letters.map((x) => ({ at: x.as_of_ms, kind: "letter", x: x })));
    if (!items.length) {
      $("history").innerHTML = "<tbody><tr><td>" + EMC.esc(EMC.t("no_history")) + "</td></tr></tbody>";
      return;
    }
    items.sort((a, b) => b.at - a.at || (a.kind === "letter" ? -1 : 1));
    const head = "<thead><tr><th>" + EMC.esc(EMC.t("from_time")) + "</th><th>" + EMC.esc(EMC.t("to_time")) +
      "</th><th>" + EMC.esc(EMC.t("status")) + "</th><th>" + EMC.esc(EMC.t("reason")) + "</th></tr></thead>";
    const rows = items.map((i) => {
      if (i.kind === "period") {
        const p = i.p;
        return '<tr data-status="' + EMC.esc(p.status) + '"><td>' + EMC.localTime(p.from_ms, true) + "</td><td>" +
          (p.to_ms === null ? "…" : EMC.localTime(p.to_ms, true)) + "</td><td>" + EMC.esc(EMC.statusText(p)) +
          "</td><td><small>" + EMC.esc(p.reason) + "</small></td></tr>";
      }
      const x = i.x;
      return '<tr class="letter" data-letter="' + EMC.esc(x.number) + '"><td>' + EMC.localTime(x.as_of_ms, true) +
        "</td><td>" + EMC.esc(EMC.t("deadline")) + " " + EMC.esc(x.deadline) + "</td><td><b>" +
        EMC.esc(EMC.t("letter")) + " " + EMC.esc(x.number) + "</b> — " + EMC.esc(EMC.statusText(x)) +
        "</td><td><small>" + EMC.esc(x.reasons.map((r) => r.text).join(" · ")) + "</small></td></tr>";
    });
    $("history").innerHTML = head + "<tbody>" + rows.join("") + "</tbody>";
  }

  async function refreshStatusHistory() {
    try {
      renderStatusHistory(await EMC.getJSON(base + "/history"));
    } catch (err) {
      $("history").textContent = String(err);
    }
  }

  async function refreshLive() {
    try {
      const data = await EMC.getJSON(base);
      state.unit = data.unit;
      state.now = data.now_ms;
      renderLive();
    } catch (err) {
      $("unit-status").textContent = String(err);
    }
  }

  async function refreshHistory() {
    const now = Date.now();
    try {
      const [hours, days, minutes] = await Promise.all([
        EMC.getJSON(base + "/windows?window=1h&from_ms=" + (now - 48 * 3600000)),
        EMC.getJSON(base + "/windows?window=1d&from_ms=" + (now - 30 * 86400000)),
        EMC.getJSON(base + "/windows?window=1m&from_ms=" + (now - 3600000)),
      ]);
      state.hours = hours.rows;
      state.days = days.rows;
      state.minutes = minutes.rows;
      renderHistory();
    } catch (err) {
      $("chart-hours").textContent = String(err);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    EMC.onLanguage(() => { renderLive(); renderHistory(); });
    refreshLive();
    refreshHistory();
    refreshRejects();
    refreshStatusHistory();
    setInterval(refreshLive, 1000);
    setInterval(refreshHistory, 5000);
    setInterval(refreshRejects, 10000);
    setInterval(refreshStatusHistory, 30000);
  });
})();
