// EMC pages: labels (Vietnamese as the seeds word them, English toggle), formatting, charts.
// Plain browser JavaScript, no libraries. Rates arrive as fractions in [0, 1], times as epoch ms.
"use strict";

const EMC = (() => {
  const LABELS = {
    vi: {
      title: "EMC — Giám sát trực tiếp", logout: "Đăng xuất", login: "Đăng nhập",
      token: "Mã truy cập", search: "Tìm đơn vị…", all_kinds: "Tất cả bộ/ngành, tỉnh/thành",
      ministry: "Bộ/ngành", province: "Tỉnh/thành phố", all_statuses: "Mọi hiện trạng kết nối",
      silent_only: "Chỉ đơn vị ngừng gửi dữ liệu", unit: "Đơn vị", kind: "Loại",
      last_event: "Sự kiện gần nhất", recv_1m: "Tiếp nhận 1 phút", recv_60m: "Tiếp nhận 60 phút",
      recv_24h: "Tiếp nhận 24 giờ", recv_30d: "Tiếp nhận 30 ngày",
      online_60m: "Tỷ lệ trực tuyến 60 phút", online_24h: "Tỷ lệ trực tuyến 24 giờ",
      online_30d: "Tỷ lệ trực tuyến 30 ngày",
      remote_60m: "Trực tuyến từ xa 60 phút", remote_24h: "Trực tuyến từ xa 24 giờ",
      remote_30d: "Trực tuyến từ xa 30 ngày",
      on_time: "Đúng hạn 30 ngày", satisfaction: "Hài lòng 30 ngày",
      processing: "Thời gian xử lý TB 30 ngày",
      status: "Hiện trạng kết nối", trend: "Xu hướng 60 phút", silent: "ngừng gửi",
      units: "đơn vị", active: "có hồ sơ trong 60 phút", silent_units: "ngừng gửi dữ liệu",
      received: "tiếp nhận", online_share: "tỷ lệ trực tuyến", updated: "cập nhật",
      back: "← Bảng theo dõi", chart_minutes: "Tiếp nhận mỗi phút, 60 phút qua",
      chart_hours: "Theo giờ, 48 giờ qua: tiếp nhận và tỷ lệ",
      chart_days: "Theo ngày, 30 ngày qua: tiếp nhận và tỷ lệ",
      recent_minutes: "Các cửa sổ 1 phút gần nhất (ClickHouse)", window_start: "Bắt đầu",
      online_rate: "Tỷ lệ trực tuyến", remote_rate: "Trực tuyến từ xa", none: "không có",
      ago: "trước", national: "toàn quốc", unit_role: "đơn vị", no_status: "—",
      of: "trên", since: "từ",
      rejected: "Bản tin bị từ chối", rejects_title: "Bản tin bị từ chối (hàng đợi lỗi)",
      reason: "Lý do", count: "Số lượng", last_time: "Lần gần nhất", none_rejected: "Không có bản tin bị từ chối",
      history_title: "Lịch sử trạng thái kết nối và công văn nhắc nhở", from_time: "Từ", to_time: "Đến",
      letter: "Công văn", deadline: "hạn", no_history: "Chưa có lịch sử",
    },
    en: {
      title: "EMC — Live monitoring", logout: "Log out", login: "Log in", token: "Access token",
      search: "Search units…", all_kinds: "All ministries and provinces", ministry: "Ministry",
      province: "Province", all_statuses: "Any connection status",
      silent_only: "Only units that went silent", unit: "Unit", kind: "Kind",
      last_event: "Last event", recv_1m: "Received 1 min", recv_60m: "Received 60 min",
      recv_24h: "Received 24 h", recv_30d: "Received 30 days",
      online_60m: "Online rate 60 min", online_24h: "Online rate 24 h",
      online_30d: "Online rate 30 days",
      remote_60m: "Remote online 60 min", remote_24h: "Remote online 24 h",
      remote_30d: "Remote online 30 days",
      on_time: "On time 30 days", satisfaction: "Satisfied 30 days",
      processing: "Avg processing 30 days",
      status: "Connection status", trend: "Trend 60 min", silent: "silent",
      units: "units", active: "with receipts in 60 min", silent_units: "silent",
      received: "received", online_share: "online rate", updated: "updated",
      back: "← Dashboard", chart_minutes: "Receipts per minute, last 60 minutes",
      chart_hours: "Hourly, last 48 hours: receipts and rates",
      chart_days: "Daily, last 30 days: receipts and rates",
      recent_minutes: "Latest 1-minute windows (ClickHouse)", window_start: "Start",
      online_rate: "Online rate", remote_rate: "Remote online", none: "none",
      ago: "ago", national: "national", unit_role: "unit", no_status: "—", of: "of",
      since: "since",
      rejected: "Rejected messages", rejects_title: "Rejected messages (dead letters)",
      reason: "Reason", count: "Count", last_time: "Latest", none_rejected: "No rejected messages",
      history_title: "Connection status history and reminder letters", from_time: "From", to_time: "To",
      letter: "Letter", deadline: "deadline", no_history: "No history yet",
    },
  };
  // Stored assessment results (rendered by the server, streams/web/scores.py): the report's
  // wording (streams/assessment/labels.py).
  Object.assign(LABELS.vi, {
    "sc.rank": "Xếp hạng",
    "sc.ministry.unit": "Bộ ngành",
    "sc.province.unit": "Tỉnh, thành phố",
    "sc.level_col": "Mức độ",
    "sc.score": "Điểm",
    "sc.vendor": "Doanh nghiệp",
    "sc.no_data": "Không có hồ sơ trong kỳ",
    "sc.ministry.table": "Bảng 1. Kết quả đánh giá Hệ thống thông tin giải quyết TTHC các bộ, ngành",
    "sc.province.table": "Bảng 2. Kết quả đánh giá Hệ thống thông tin giải quyết TTHC các địa phương",
    "sc.period": "Kỳ đánh giá",
    "sc.computed": "Tính đến",
    "sc.scoring_version": "Phiên bản bộ tiêu chí",
    "sc.footnote": "(*) Đơn vị chưa kết nối toàn diện với Hệ thống EMC trong một phần của kỳ đánh giá: kết quả xếp hạng cần được xem xét cùng hiện trạng kết nối.",
    "sc.received": "Hồ sơ tiếp nhận",
    "sc.online_rate": "Tỷ lệ trực tuyến",
    "sc.remote_rate": "Tỷ lệ trực tuyến từ xa",
    "sc.on_time_rate": "Tỷ lệ đúng hạn",
    "sc.satisfaction_rate": "Tỷ lệ hài lòng",
    "sc.targets": "Mục tiêu",
    "sc.average_score": "Điểm trung bình",
    "sc.scored_units": "Đơn vị được xếp hạng",
    "sc.show": "Xem",
    "sc.results": "Kết quả đánh giá, xếp hạng",
    "sc.no_scores": "Chưa có kết quả đánh giá nào được lưu (emc report).",
    "sc.unit_results": "Kết quả đánh giá theo kỳ",
  });
  Object.assign(LABELS.en, {
    "sc.rank": "Rank",
    "sc.ministry.unit": "Ministry",
    "sc.province.unit": "Province",
    "sc.level_col": "Level",
    "sc.score": "Score",
    "sc.vendor": "Vendor",
    "sc.no_data": "No dossier in the period",
    "sc.ministry.table": "Table 1. Assessment of the ministries' TTHC systems",
    "sc.province.table": "Table 2. Assessment of the provinces' TTHC systems",
    "sc.period": "Period",
    "sc.computed": "Computed at",
    "sc.scoring_version": "Scoring version",
    "sc.footnote": "(*) Not fully connected to the EMC system for part of the period: read the ranking together with the connection status.",
    "sc.received": "Dossiers received",
    "sc.online_rate": "Online rate",
    "sc.remote_rate": "Remote rate",
    "sc.on_time_rate": "On-time rate",
    "sc.satisfaction_rate": "Satisfaction rate",
    "sc.targets": "Targets",
    "sc.average_score": "Average score",
    "sc.scored_units": "Units ranked",
    "sc.show": "Show",
    "sc.results": "Assessment results and ranking",
    "sc.no_scores": "No assessment result stored yet (emc report).",
    "sc.unit_results": "Assessment results by period",
  });
  let lang = localStorage.getItem("emc.lang") || "vi";

  function t(key) {
    return (LABELS[lang] && LABELS[lang][key]) || LABELS.vi[key] || key;
  }

  function applyLabels() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    });
    const button = document.getElementById("lang");
    if (button) button.textContent = lang === "vi" ? "EN" : "VI";
  }

  const listeners = [];
  function onLanguage(fn) { listeners.push(fn); }

  function toggleLanguage() {
    lang = lang === "vi" ? "en" : "vi";
    localStorage.setItem("emc.lang", lang);
    applyLabels();
    listeners.forEach((fn) => fn());
  }

  function esc(value) {
    return String(value).replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    })[c]);
  }

  function num(value) {
    return value === null || value === undefined ? "—" : Number(value).toLocaleString(lang === "vi" ? "vi-VN" : "en-US");
  }

  function pct(value) {
    return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%";
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    if (seconds < 3600) return Math.round(seconds / 60) + (lang === "vi" ? " phút" : " min");
    if (seconds < 172800) return (seconds / 3600).toFixed(1) + (lang === "vi" ? " giờ" : " h");
    return (seconds / 86400).toFixed(1) + (lang === "vi" ? " ngày" : " days");
  }

  function ago(ms, now) {
    if (ms === null || ms === undefined) return "—";
    const s = Math.max(0, Math.round((now - ms) / 1000));
    let text;
    if (s < 60) text = s + " s";
    else if (s < 3600) text = Math.floor(s / 60) + (lang === "vi" ? " phút" : " min");
    else if (s < 86400) text = Math.floor(s / 3600) + (lang === "vi" ? " giờ" : " h");
    else text = Math.floor(s / 86400) + (lang === "vi" ? " ngày" : " d");
    return text + " " + t("ago");
  }

  function localTime(ms, withDate) {
    const d = new Date(ms + 7 * 3600 * 1000);  // Asia/Ho_Chi_Minh is UTC+7, no DST
    const p = (n) => String(n).padStart(2, "0");
    const hm = p(d.getUTCHours()) + ":" + p(d.getUTCMinutes());
    return withDate ? p(d.getUTCDate()) + "/" + p(d.getUTCMonth() + 1) + " " + hm : hm;
  }

  // Connection status: the seeds' Vietnamese label, or the status code in English.
  function statusText(row) {
    if (!row.status) return t("no_status");
    return lang === "vi" && row.status_label ? row.status_label : row.status.replace(/_/g, " ");
  }

  function sparkline(values, width, height) {
    if (!values || !values.length) return "";
    const max = Math.max(1, ...values);
    const step = width / Math.max(1, values.length - 1);
    const pts = values.map((v, i) => (i * step).toFixed(1) + "," + (height - 1 - (v / max) * (height - 2)).toFixed(1));
    return '<svg class="spark" width="' + width + '" height="' + height + '" viewBox="0 0 ' + width + " " + height +
      '" role="img" aria-label="trend"><polyline points="' + pts.join(" ") + '"/></svg>';
  }

  // Bars for counts (left axis) and optional lines for rates in [0, 1] (right axis).
  function chart(points, opts) {
    const W = opts.width || 1200, H = opts.height || 220, L = 48, R = opts.lines ? 44 : 12, T = 12, B = 28;
    const iw = W - L - R, ih = H - T - B;
    const n = points.length;
    const max = Math.max(1, ...points.map((p) => p.value));
    const bw = n ? iw / n : iw;
    let svg = '<svg class="chart" viewBox="0 0 ' + W + " " + H + '" width="100%" role="img">';
    for (let i = 0; i <= 4; i++) {
      const y = T + ih - (ih * i) / 4;
      svg += '<line class="grid" x1="' + L + '" x2="' + (L + iw) + '" y1="' + y + '" y2="' + y + '"/>';
      svg += '<text class="axis" x="' + (L - 6) + '" y="' + (y + 4) + '" text-anchor="end">' + Math.round((max * i) / 4) + "</text>";
      if (opts.lines) svg += '<text class="axis" x="' + (L + iw + 6) + '" y="' + (y + 4) + '">' + i * 25 + "%</text>";
    }
    points.forEach((p, i) => {
      const h = (p.value / max) * ih;
      svg += '<rect class="bar" x="' + (L + i * bw + bw * 0.1).toFixed(1) + '" y="' + (T + ih - h).toFixed(1) +
        '" width="' + Math.max(1, bw * 0.8).toFixed(1) + '" height="' + h.toFixed(1) + '"><title>' +
        esc(p.label) + ": " + p.value + "</title></rect>";
    });
    const every = Math.max(1, Math.ceil(n / 8));
    points.forEach((p, i) => {
      if (i % every === 0) {
        svg += '<text class="axis" x="' + (L + i * bw + bw / 2).toFixed(1) + '" y="' + (H - 8) + '" text-anchor="middle">' + esc(p.label) + "</text>";
      }
    });
    (opts.lines || []).forEach((line) => {
      const pts = [];
      points.forEach((p, i) => {
        const v = p[line.key];
        if (v !== null && v !== undefined) pts.push((L + i * bw + bw / 2).toFixed(1) + "," + (T + ih - v * ih).toFixed(1));
      });
      if (pts.length) svg += '<polyline class="line ' + line.cls + '" points="' + pts.join(" ") + '"/>';
      pts.forEach((xy) => {
        const [x, y] = xy.split(",");
        svg += '<circle class="dot ' + line.cls + '" cx="' + x + '" cy="' + y + '" r="2.5"/>';
      });
    });
    svg += "</svg>";
    if (opts.lines) {
      svg += '<p class="legend"><span class="key bar"></span>' + esc(t("received")) +
        opts.lines.map((l) => ' <span class="key ' + l.cls + '"></span>' + esc(t(l.label))).join("") + "</p>";
    }
    return svg;
  }

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (response.status === 401) { window.location.href = "/emc/login"; throw new Error("401"); }
    if (!response.ok) throw new Error(url + ": " + response.status);
    return response.json();
  }

  async function showWho() {
    const el = document.getElementById("who");
    if (!el) return;
    const me = await getJSON("/emc/api/me");
    el.textContent = me.role === "national" ? t("national") : t("unit_role") + " " + me.unit_code;
  }

  document.addEventListener("DOMContentLoaded", () => {
    applyLabels();
    const button = document.getElementById("lang");
    if (button) button.addEventListener("click", toggleLanguage);
    showWho().catch(() => {});
    onLanguage(() => showWho().catch(() => {}));
  });

  return { t, esc, statusText, num, pct, ago, duration, localTime, sparkline, chart, getJSON, onLanguage };
})();
