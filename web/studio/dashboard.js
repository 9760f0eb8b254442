// The studio's Dashboard tab: the KPIs of GET /studio/api/kpis over a date range, time zone and
// locale, each as a chart (SVG built with DOM calls) with a table view and a CSV download.
// Nothing is drawn for a KPI without data: the panel says "no data" instead of showing zeros.
// Texts are set with textContent only. Definitions: README "KPIs".

const SVG = "http://www.w3.org/2000/svg";

const TEXT = {
  en: {
    title: "Dashboard", from: "From", to: "To", tz: "Time zone", locale: "Locale", channel: "Channel", web: "Web chat",
    allLocales: "All", apply: "Show", loading: "Loading…", noData: "No data in this range",
    conversations: "Conversations", containment: "Containment", handoff: "Handoff rate",
    fcr: "First-contact resolution", csatAvg: "CSAT (average)",
    perDay: "Conversations per day by intent", reasons: "Handoff rate by reason",
    csat: "CSAT distribution", durations: "Response and handling times",
    feedback: "Answers rated not helpful, per intent", unanswered: "Top unanswered message groups",
    table: "Table", chart: "Chart", csv: "CSV", noIntent: "(no intent)", day: "Day",
    intent: "Intent", reason: "Reason", rate: "Rate", tickets: "Tickets", score: "Score",
    responses: "Responses", kpi: "KPI", count: "Measured", mean: "Mean", median: "Median",
    p90: "p90", answers: "Answers", rated: "Rated", unhelpful: "Not helpful", messages: "Messages",
    examples: "Examples", open: "Open in inbox", total: "Total",
    first_response: "Time to first response", resolution: "Time to resolution",
    handle: "Agent handle time", wait: "Wait before an agent joined",
    of: (n, d) => `${n} of ${d}`,
    reasonNames: {
      explicit_request: "Asked for a person", always_handoff_intent: "Handled by people",
      low_confidence: "Bot did not understand", out_of_scope: "Out of scope", detail_missing: "Order number not at hand", referred: "Sent details for staff", unresolved: "Answer did not help",
      frustration: "Customer frustrated", complaint: "Complaint",
    },
  },
  ja: {
    title: "ダッシュボード", from: "開始日", to: "終了日", tz: "タイムゾーン", locale: "言語", channel: "チャネル", web: "Webチャット",
    allLocales: "すべて", apply: "表示", loading: "読み込み中…", noData: "この期間のデータはありません",
    conversations: "会話数", containment: "自己解決率", handoff: "有人対応への引き継ぎ率",
    fcr: "初回解決率", csatAvg: "顧客満足度（平均）",
    perDay: "日別・意図別の会話数", reasons: "理由別の引き継ぎ率",
    csat: "顧客満足度の分布", durations: "応答・対応時間",
    feedback: "「役に立たなかった」と評価された回答（意図別）", unanswered: "答えられなかったメッセージ（上位）",
    table: "表", chart: "グラフ", csv: "CSV", noIntent: "（意図なし）", day: "日付",
    intent: "意図", reason: "理由", rate: "率", tickets: "チケット", score: "評価",
    responses: "回答数", kpi: "指標", count: "件数", mean: "平均", median: "中央値",
    p90: "90パーセンタイル", answers: "回答", rated: "評価あり", unhelpful: "役に立たなかった", messages: "件数",
    examples: "例", open: "受信箱で開く", total: "合計",
    first_response: "最初の応答までの時間", resolution: "解決までの時間",
    handle: "担当者の対応時間", wait: "担当者が入るまでの待ち時間",
    of: (n, d) => `${d} 件中 ${n} 件`,
    reasonNames: {
      explicit_request: "スタッフとの会話を希望", always_handoff_intent: "担当者が対応する内容",
      low_confidence: "ボットが理解できず", out_of_scope: "対応範囲外の質問", detail_missing: "注文番号などが不明", referred: "スタッフ確認用の情報を送信", unresolved: "案内で解決せず",
      frustration: "お客様が苛立っている", complaint: "苦情",
    },
  },
};

// Colour-blind-friendly palette (Okabe–Ito), then greys.
const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

/// A horizontal bar chart: rows of {label, value, text}.
function barChart(rows, title, colour = COLOURS[0]) {
  // Room for the longest label (about 7 px a character, CJK twice that), within reason.
  const chars = Math.max(0, ...rows.map((r) => [...r.label].reduce((n, c) => n + (c.charCodeAt(0) > 0x2e80 ? 2 : 1), 0)));
  const width = 640, rowHeight = 26, labelWidth = Math.min(340, Math.max(120, chars * 7 + 16)), pad = 8;
  const height = rows.length * rowHeight + pad * 2;
  const max = Math.max(...rows.map((r) => r.value), 0) || 1;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "kpi-chart" });
  chart.append(Object.assign(svg("title"), { textContent: title }));
  rows.forEach((r, i) => {
    const y = pad + i * rowHeight;
    const label = svg("text", { x: labelWidth - 6, y: y + 17, "text-anchor": "end", class: "kpi-label" });
    label.textContent = r.label;
    const w = Math.max(1, ((width - labelWidth - 90) * r.value) / max);
    const bar = svg("rect", { x: labelWidth, y: y + 4, width: r.value > 0 ? w : 0, height: rowHeight - 8, fill: colour });
    const value = svg("text", { x: labelWidth + (r.value > 0 ? w : 0) + 6, y: y + 17, class: "kpi-value" });
    value.textContent = r.text;
    chart.append(label, bar, value);
  });
  return chart;
}

/// Stacked columns: one per day, a segment per intent.
function stackedChart(perDay, t, name) {
  const width = 760, height = 260, left = 40, bottom = 40, top = 10, right = 10;
  const days = perDay.days;
  const key = name;
  const totals = new Map(days.map((d) => [d, 0]));
  for (const r of perDay.rows) totals.set(r.date, (totals.get(r.date) || 0) + r.conversations);
  const max = Math.max(...totals.values(), 1);
  const colourOf = new Map(perDay.intents.map((i, n) => [key(i), COLOURS[Math.min(n, COLOURS.length - 1)]]));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "kpi-chart" });
  chart.append(Object.assign(svg("title"), { textContent: t.perDay }));
  const plotW = width - left - right, plotH = height - top - bottom;
  const slot = plotW / Math.max(days.length, 1);
  const barW = Math.max(2, slot * 0.7);
  const axis = svg("text", { x: left - 6, y: top + 10, "text-anchor": "end", class: "kpi-value" });
  axis.textContent = String(max);
  chart.append(axis, svg("line", { x1: left, y1: top + plotH, x2: width - right, y2: top + plotH, class: "kpi-axis" }));
  const stacked = new Map(days.map((d) => [d, 0]));
  for (const r of perDay.rows) {
    const i = days.indexOf(r.date);
    if (i < 0) continue;
    const below = stacked.get(r.date);
    const h = (plotH * r.conversations) / max;
    const y = top + plotH - (plotH * below) / max - h;
    const rect = svg("rect", { x: left + i * slot + (slot - barW) / 2, y, width: barW, height: h, fill: colourOf.get(key(r.intent)) });
    rect.append(Object.assign(svg("title"), { textContent: `${r.date} ${key(r.intent)}: ${r.conversations}` }));
    chart.append(rect);
    stacked.set(r.date, below + r.conversations);
  }
  const every = Math.ceil(days.length / 10);
  days.forEach((d, i) => {
    if (i % every) return;
    const label = svg("text", { x: left + i * slot + slot / 2, y: height - bottom + 16, "text-anchor": "middle", class: "kpi-label" });
    label.textContent = d.slice(5);
    chart.append(label);
  });
  const legend = el("ul", { class: "kpi-legend" });
  for (const [name, colour] of colourOf) {
    const swatch = el("span", { class: "kpi-swatch", "aria-hidden": "true" });
    swatch.style.background = colour;
    legend.append(el("li", {}, swatch, el("span", { text: name })));
  }
  return [chart, legend];
}

function table(headers, rows, caption) {
  const t = el("table", { class: "kpi-table" }, el("caption", { text: caption }));
  const head = el("tr");
  for (const h of headers) head.append(el("th", { scope: "col", text: h }));
  t.append(el("thead", {}, head));
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr");
    for (const c of r) tr.append(el("td", { text: String(c) }));
    body.append(tr);
  }
  t.append(body);
  return t;
}

/// A KPI panel: heading, chart/table toggle, CSV link; `draw` returns the chart nodes, `rows` the
/// table, `empty` whether there is nothing to show.
function panel(t, { id, title, slug, query, empty, draw, headers, rows }) {
  const section = el("section", { class: "kpi-panel", "aria-labelledby": `kpi-${id}`, "data-kpi": id });
  const heading = el("h3", { id: `kpi-${id}`, text: title });
  const tools = el("div", { class: "kpi-tools" });
  section.append(el("div", { class: "kpi-head" }, heading, tools));
  if (empty) {
    section.append(el("p", { class: "kpi-empty", text: t.noData }));
    return section;
  }
  const chartView = el("div", { class: "kpi-view" }, ...draw());
  const tableView = el("div", { class: "kpi-view", hidden: "" }, table(headers, rows, title));
  const toggle = el("button", { type: "button", "aria-pressed": "false", text: t.table });
  toggle.addEventListener("click", () => {
    const showTable = tableView.hidden;
    tableView.hidden = !showTable;
    chartView.hidden = showTable;
    toggle.setAttribute("aria-pressed", String(showTable));
    toggle.textContent = showTable ? t.chart : t.table;
  });
  const csv = el("a", { href: `/studio/api/kpis/${slug}.csv?${query}`, download: "", text: t.csv });
  csv.setAttribute("aria-label", `${title} — ${t.csv}`);
  tools.append(toggle, csv);
  section.append(chartView, tableView);
  return section;
}

function summary(t, r) {
  const card = (label, value, detail) =>
    el("div", { class: "kpi-card" }, el("div", { class: "kpi-card-label", text: label }),
      el("div", { class: "kpi-card-value", text: value }), detail ? el("div", { class: "kpi-card-detail", text: detail }) : null);
  const rate = (x) => (x.denominator ? t.of(x.numerator, x.denominator) : t.noData);
  return el("div", { class: "kpi-cards", role: "group", "aria-label": t.title },
    card(t.conversations, String(r.conversations), null),
    card(t.containment, percent(r.containment.rate), rate(r.containment)),
    card(t.handoff, percent(r.handoff.rate.rate), rate(r.handoff.rate)),
    card(t.fcr, percent(r.first_contact_resolution.rate), rate(r.first_contact_resolution)),
    card(t.csatAvg, r.csat.average === null ? "—" : r.csat.average.toFixed(2), r.csat.responses ? `n = ${r.csat.responses}` : t.noData));
}

function panels(t, r, query, ctx) {
  // Intents and reasons in words (the catalog's labels, the console's reason names), never codes.
  const name = (i) => (i === null ? t.noIntent : ctx.intentLabel(i));
  const reason = (code) => t.reasonNames[code] || code;
  const out = [];
  out.push(panel(t, {
    id: "per-day", title: t.perDay, slug: "conversations-per-day", query, empty: r.per_day.rows.length === 0,
    draw: () => stackedChart(r.per_day, t, name),
    headers: [t.day, t.intent, t.conversations],
    rows: r.per_day.rows.map((x) => [x.date, name(x.intent), x.conversations]),
  }));
  out.push(panel(t, {
    id: "reasons", title: t.reasons, slug: "handoff-reasons", query, empty: r.handoff.by_reason.length === 0,
    draw: () => [barChart(r.handoff.by_reason.map((x) => ({ label: reason(x.reason), value: x.rate.rate || 0, text: percent(x.rate.rate) })), t.reasons, COLOURS[5])],
    headers: [t.reason, t.conversations, t.tickets, t.rate],
    rows: r.handoff.by_reason.map((x) => [reason(x.reason), x.rate.numerator, x.tickets, percent(x.rate.rate)]),
  }));
  out.push(panel(t, {
    id: "csat", title: t.csat, slug: "csat", query, empty: r.csat.responses === 0,
    draw: () => [barChart(r.csat.distribution.map((x) => ({ label: "★".repeat(x.score), value: x.responses, text: String(x.responses) })), t.csat, COLOURS[2])],
    headers: [t.score, t.responses],
    rows: r.csat.distribution.map((x) => [x.score, x.responses]),
  }));
  const measured = r.durations.filter((d) => d.count > 0);
  out.push(panel(t, {
    id: "durations", title: t.durations, slug: "durations", query, empty: measured.length === 0,
    draw: () => [barChart(measured.flatMap((d) => [
      { label: `${t[d.kpi]} — ${t.median}`, value: d.median_seconds, text: duration(d.median_seconds) },
      { label: `${t[d.kpi]} — ${t.p90}`, value: d.p90_seconds, text: duration(d.p90_seconds) },
    ]), t.durations, COLOURS[4])],
    headers: [t.kpi, t.count, t.mean, t.median, t.p90],
    rows: r.durations.map((d) => [t[d.kpi], d.count, duration(d.mean_seconds), duration(d.median_seconds), duration(d.p90_seconds)]),
  }));
  const rated = r.feedback_by_intent.filter((f) => f.unhelpful.denominator > 0);
  out.push(panel(t, {
    id: "feedback", title: t.feedback, slug: "feedback", query, empty: rated.length === 0,
    draw: () => [barChart(rated.map((f) => ({ label: name(f.intent), value: f.unhelpful.numerator, text: `${f.unhelpful.numerator} (${percent(f.unhelpful.rate)})` })), t.feedback, COLOURS[3])],
    headers: [t.intent, t.answers, t.rated, t.unhelpful, t.rate],
    rows: r.feedback_by_intent.map((f) => [name(f.intent), f.answers, f.unhelpful.denominator, f.unhelpful.numerator, percent(f.unhelpful.rate)]),
  }));
  out.push(unanswered(t, r, query, ctx, name));
  return out;
}

function unanswered(t, r, query, ctx, name) {
  const section = panel(t, {
    id: "unanswered", title: t.unanswered, slug: "unanswered", query, empty: r.unanswered.length === 0,
    draw: () => [barChart(r.unanswered.map((g) => ({ label: name(g.intent), value: g.messages, text: String(g.messages) })), t.unanswered, COLOURS[1])],
    headers: [t.intent, t.messages, t.examples],
    rows: r.unanswered.map((g) => [name(g.intent), g.messages, g.examples.map((e) => `${e.text} (${e.messages})`).join(" / ")]),
  });
  if (r.unanswered.length === 0) return section;
  const list = el("ol", { class: "kpi-groups" });
  for (const g of r.unanswered) {
    const link = el("a", { href: g.inbox, text: `${t.open}: ${name(g.intent)} (${g.messages})` });
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const [tab, params] = g.inbox.slice(1).split("?");
      ctx.navigate(tab, new URLSearchParams(params));
    });
    const examples = el("ul", { class: "kpi-examples" });
    for (const e of g.examples) examples.append(el("li", { text: `“${e.text}” × ${e.messages}` }));
    list.append(el("li", {}, link, examples));
  }
  section.append(list);
  return section;
}

function form(t, values, onSubmit) {
  const f = el("form", { class: "kpi-filters" });
  const field = (id, label, input) => el("div", { class: "kpi-field" }, el("label", { for: id, text: label }), input);
  const from = el("input", { id: "kpi-from", name: "from", type: "date", value: values.from, required: "" });
  const to = el("input", { id: "kpi-to", name: "to", type: "date", value: values.to, required: "" });
  const tz = el("input", { id: "kpi-tz", name: "tz", value: values.tz, list: "kpi-zones", autocomplete: "off", spellcheck: "false" });
  const zones = el("datalist", { id: "kpi-zones" });
  for (const z of (Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : ["UTC", "Asia/Tokyo"])) zones.append(el("option", { value: z }));
  const locale = el("select", { id: "kpi-locale", name: "locale" });
  for (const [v, label] of [["", t.allLocales], ["ja", "日本語 (ja)"], ["en", "English (en)"]]) {
    const o = el("option", { value: v, text: label });
    if (v === values.locale) o.selected = true;
    locale.append(o);
  }
  const channel = el("select", { id: "kpi-channel", name: "channel" });
  for (const [v, label] of [["", t.allLocales], ["web", t.web], ["api", "API"], ["line", "LINE"]]) {
    const o = el("option", { value: v, text: label });
    if (v === values.channel) o.selected = true;
    channel.append(o);
  }
  f.append(field("kpi-from", t.from, from), field("kpi-to", t.to, to), field("kpi-tz", t.tz, tz), zones,
    field("kpi-locale", t.locale, locale), field("kpi-channel", t.channel, channel),
    el("button", { type: "submit", text: t.apply }));
  f.addEventListener("submit", (event) => {
    event.preventDefault();
    onSubmit({ from: from.value, to: to.value, tz: tz.value.trim(), locale: locale.value, channel: channel.value });
  });
  return f;
}

export function mount(root, ctx) {
  const t = TEXT[ctx.locale] || TEXT.en;
  const style = el("link", { rel: "stylesheet", href: new URL("./dashboard.css", import.meta.url).href });
  document.head.append(style);
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 29 * 86400000);
  const values = {
    from: ctx.params.get("from") || isoDay(monthAgo),
    to: ctx.params.get("to") || isoDay(today),
    tz: ctx.params.get("tz") || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
    locale: ctx.params.get("locale") || "",
    channel: ctx.params.get("channel") || "",
  };
  const status = el("p", { class: "kpi-status", role: "status", "aria-live": "polite" });
  const results = el("div", { class: "kpi-results" });
  let generation = 0;
  async function load(v) {
    const mine = ++generation;
    const query = new URLSearchParams(Object.entries(v).filter(([, x]) => x)).toString();
    status.textContent = t.loading;
    results.setAttribute("aria-busy", "true");
    try {
      const report = await ctx.api("GET", `/studio/api/kpis?${query}`);
      if (mine !== generation) return;
      results.replaceChildren(summary(t, report), ...panels(t, report, query, ctx));
      status.textContent = report.conversations === 0 ? t.noData : "";
    } catch (e) {
      if (mine !== generation) return;
      status.textContent = e.message;
      ctx.toast(e.message, "error");
    } finally {
      results.removeAttribute("aria-busy");
    }
  }
  root.replaceChildren(el("h2", { text: t.title }), form(t, values, load), status, results);
  load(values);
  return () => {
    generation++;
    style.remove();
  };
}
