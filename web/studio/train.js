// The studio's "Train & publish" tab: train in the background with live progress, read the
// compare report (candidate vs published: headline, per intent, confusions, coverage/precision
// curve), turn the dial (target precision → threshold and coverage), pin regression cases,
// publish with the chosen threshold or roll back (with confirmation), versions and audit log.
// Vanilla ES module; text is always set with textContent; the chart is SVG built with DOM APIs.

const STRINGS = {
  en: {
    title: "Train & publish",
    train: "Train a new version",
    training: "Training…",
    stage: { idle: "No training run yet", loading: "Loading the catalog", embedding: "Embedding (cached texts are reused)", fitting: "Fitting and calibrating", comparing: "Cross-validating against the published configuration", regression: "Checking the regression set", done: "Done" },
    failed: "Training failed",
    trained: (v, s) => `Trained ${v} in ${s} s`,
    versions: "Versions",
    cols: { version: "Version", created: "Created", examples: "Examples", accuracy: "Accuracy", precision: "Precision", coverage: "Coverage", state: "State", actions: "Actions" },
    published: "published",
    current: "last trained",
    serving: "serving here",
    report: "Report",
    publish: "Publish",
    rollbackTo: "Roll back to this",
    rollback: "Roll back to the previous version",
    confirmPublish: (v, t) => `Publish ${v} with ${t ? `answer threshold ${t}` : "its trained answer threshold"}? Every replica switches within 2 seconds.`,
    confirmRollback: (v) => (v ? `Roll back to ${v}?` : "Roll back to the previously published version?"),
    publishedOk: (v) => `Published ${v}`,
    rolledBack: (v) => `Rolled back to ${v}`,
    reportTitle: (c, p) => (p ? `${c} compared with the published ${p}` : `${c} (nothing published to compare with)`),
    sameConfig: "Same configuration as the published model: cross-validation is identical; the regression set shows what changes.",
    noReport: "No report for this version (reports are made by studio training runs).",
    headline: "Cross-validation on the current training data (same folds for both)",
    metric: "Metric", candidate: "Candidate", publishedCol: "Published", delta: "Change",
    metrics: { accuracy: "Accuracy", macro_precision: "Macro precision", macro_recall: "Macro recall", macro_f1: "Macro F1", coverage: "Answered", precision: "Precision when answering", answer_threshold: "Answer threshold" },
    perIntent: "Per intent", intent: "Intent", support: "Examples",
    confusions: "Top confusions", gold: "Said", predicted: "Understood as", count: "Count",
    noConfusions: "No confusions in cross-validation.",
    comma: ", ",
    outOfScope: "out of scope (not answered)",
    prf: { precision: "Precision", recall: "Recall", f1: "F1" },
    reportBasis: (n, k) => `${n} training examples, ${k}-fold cross-validation.`,
    pinsChanged: (n, total) => (total ? `Regression set: ${n} of ${total} pinned messages change (see below).` : "Regression set: no pinned messages (pin some below to see what a candidate changes)."),
    curve: "Coverage vs precision (cross-validated)",
    curveAlt: "Line chart: share of messages answered (horizontal) against precision (vertical); the dot is the dial's setting.",
    dial: "Dial: target precision",
    dialOut: (target, t, c, p, reached) => `Target ${target}: threshold ${t} answers ${c} of messages at ${p} precision${reached ? "" : " (target not reachable: most precise setting shown)"}`,
    publishWith: (t) => `Publish with threshold ${t}`,
    regression: "Regression set",
    pinText: "Message", pinIntent: "Expected intent (or out_of_scope)", pinAction: "Expected action", anyAction: "any",
    pin: "Pin", unpin: "Remove", result: "Published → candidate",
    status: { pass: "pass", fail: "fail", fixed: "fixed", broken: "broken", changed: "changed" },
    pinsNone: "No pinned messages yet.",
    audit: "Audit log", when: "When", who: "Who", what: "What", subject: "Subject",
    actions: { "model.train": "Trained", "model.publish": "Published", "model.rollback": "Rolled back", "inbox.decide": "Inbox: labelled", "inbox.undo": "Inbox: undone", "intent.edit": "Edited an intent" },
    messages: (n) => `${n} message(s)`, threshold: (x) => `threshold ${x}`,
    error: (m) => `Error: ${m}`,
  },
  ja: {
    title: "学習と公開",
    train: "新しいバージョンを学習",
    training: "学習中…",
    stage: { idle: "まだ学習していません", loading: "カタログを読み込み中", embedding: "埋め込み計算中（キャッシュ済みの文は再利用）", fitting: "学習・較正中", comparing: "公開中の設定と交差検証で比較中", regression: "回帰セットを確認中", done: "完了" },
    failed: "学習に失敗しました",
    trained: (v, s) => `${v} を ${s} 秒で学習しました`,
    versions: "バージョン",
    cols: { version: "バージョン", created: "作成日時", examples: "例文数", accuracy: "正解率", precision: "適合率", coverage: "回答率", state: "状態", actions: "操作" },
    published: "公開中",
    current: "最新の学習",
    serving: "このサーバーで稼働中",
    report: "レポート",
    publish: "公開",
    rollbackTo: "このバージョンに戻す",
    rollback: "前のバージョンに戻す",
    confirmPublish: (v, t) => `${v} を${t ? `回答しきい値 ${t}` : "学習時の回答しきい値"}で公開しますか？ すべてのサーバーが2秒以内に切り替わります。`,
    confirmRollback: (v) => (v ? `${v} に戻しますか？` : "前に公開していたバージョンに戻しますか？"),
    publishedOk: (v) => `${v} を公開しました`,
    rolledBack: (v) => `${v} に戻しました`,
    reportTitle: (c, p) => (p ? `${c} と公開中の ${p} の比較` : `${c}（比較する公開中のモデルはありません）`),
    sameConfig: "公開中のモデルと同じ設定です。交差検証の結果は同一で、違いは回帰セットに表れます。",
    noReport: "このバージョンのレポートはありません（レポートはスタジオでの学習で作られます）。",
    headline: "現在の学習データでの交差検証（両者とも同じ分割）",
    metric: "指標", candidate: "候補", publishedCol: "公開中", delta: "変化",
    metrics: { accuracy: "正解率", macro_precision: "マクロ適合率", macro_recall: "マクロ再現率", macro_f1: "マクロF1", coverage: "回答率", precision: "回答時の適合率", answer_threshold: "回答しきい値" },
    perIntent: "意図別", intent: "意図", support: "例文数",
    confusions: "よくある取り違え", gold: "正解", predicted: "判定", count: "件数",
    noConfusions: "交差検証での取り違えはありません。",
    comma: "、",
    outOfScope: "対象外（回答しない）",
    prf: { precision: "適合率", recall: "再現率", f1: "F1" },
    reportBasis: (n, k) => `学習例 ${n} 件、${k} 分割の交差検証。`,
    pinsChanged: (n, total) => (total ? `回帰セット: 固定した ${total} 件のうち ${n} 件の結果が変わります（下記）。` : "回帰セット: 固定したメッセージはありません（下で固定すると候補による変化が分かります）。"),
    curve: "回答率と適合率（交差検証）",
    curveAlt: "折れ線グラフ：横軸は回答したメッセージの割合、縦軸は適合率。点はダイヤルの設定です。",
    dial: "ダイヤル：目標適合率",
    dialOut: (target, t, c, p, reached) => `目標 ${target}: しきい値 ${t} でメッセージの ${c} に適合率 ${p} で回答${reached ? "" : "（目標に届かないため最も正確な設定を表示）"}`,
    publishWith: (t) => `しきい値 ${t} で公開`,
    regression: "回帰セット",
    pinText: "メッセージ", pinIntent: "期待する意図（または out_of_scope）", pinAction: "期待する動作", anyAction: "指定なし",
    pin: "固定", unpin: "削除", result: "公開中 → 候補",
    status: { pass: "合格", fail: "不合格", fixed: "改善", broken: "悪化", changed: "変化" },
    pinsNone: "固定したメッセージはまだありません。",
    audit: "監査ログ", when: "日時", who: "誰が", what: "操作", subject: "対象",
    actions: { "model.train": "学習", "model.publish": "公開", "model.rollback": "ロールバック", "inbox.decide": "受信箱で分類", "inbox.undo": "受信箱の操作を取り消し", "intent.edit": "意図を編集" },
    messages: (n) => `${n} 件`, threshold: (x) => `しきい値 ${x}`,
    error: (m) => `エラー: ${m}`,
  },
};

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

const pct = (x) => `${(x * 100).toFixed(1)}%`;

/// A change, coloured and also marked with its sign in text (colour is never the only signal).
function deltaCell(d, better = (x) => x > 0, fmt = (x) => `${(x * 100).toFixed(1)} pt`) {
  if (d === null || d === undefined) return el("td", {}, "–");
  const eps = 0.0005;
  const sign = d > eps ? "+" : d < -eps ? "−" : "±";
  const cls = Math.abs(d) <= eps ? "delta-same" : better(d) ? "delta-better" : "delta-worse";
  return el("td", { class: cls }, `${sign}${fmt(Math.abs(d))}`);
}

function table(caption, head, rows, cls = "") {
  return el(
    "table",
    { class: `studio-table ${cls}`.trim() },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows),
  );
}

/// The coverage/precision curve with the dial's point.
function curveChart(t, curve, published, point) {
  const w = 440, h = 260, pad = 44;
  const x = (c) => pad + c * (w - 2 * pad);
  const lo = Math.floor(Math.min(0.5, ...curve.map((p) => p.precision)) * 10) / 10;
  const y = (p) => h - pad - ((p - lo) / (1 - lo || 1)) * (h - 2 * pad);
  const chart = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", width: "100%", "aria-label": t.curveAlt, class: "studio-curve" });
  chart.append(svg("line", { x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, stroke: "currentColor" }));
  chart.append(svg("line", { x1: pad, y1: pad, x2: pad, y2: h - pad, stroke: "currentColor" }));
  const text = (label, attrs) => {
    const node = svg("text", { "font-size": 11, fill: "currentColor", ...attrs });
    node.textContent = label;
    chart.append(node);
  };
  text(t.metrics.coverage, { x: w / 2, y: h - 6, "text-anchor": "middle", "font-size": 12 });
  text(t.cols.precision, { x: 4, y: pad - 16, "font-size": 12 });
  for (const c of [0, 0.25, 0.5, 0.75, 1]) {
    chart.append(svg("line", { x1: x(c), y1: h - pad, x2: x(c), y2: h - pad + 4, stroke: "currentColor" }));
    text(`${c * 100}%`, { x: x(c), y: h - pad + 16, "text-anchor": "middle" });
  }
  for (let p = lo; p <= 1.0001; p += (1 - lo) / 2) {
    chart.append(svg("line", { x1: pad - 4, y1: y(p), x2: pad, y2: y(p), stroke: "currentColor" }));
    text(`${Math.round(p * 100)}%`, { x: pad - 6, y: y(p) + 4, "text-anchor": "end" });
  }
  const line = (points, color, dash) => {
    const d = points.filter((p) => p.coverage > 0).map((p, i) => `${i ? "L" : "M"}${x(p.coverage).toFixed(1)},${y(p.precision).toFixed(1)}`).join(" ");
    chart.append(svg("path", { d, fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": dash }));
  };
  if (published) line(published, "#6b6b6b", "5 4");
  line(curve, "#0b5cad", "");
  if (point) chart.append(svg("circle", { cx: x(point.coverage), cy: y(point.precision), r: 6, fill: "#b3261e" }));
  const legend = [[t.candidate, "#0b5cad", ""], ...(published ? [[t.publishedCol, "#6b6b6b", "5 4"]] : [])];
  legend.forEach(([label, color, dash], i) => {
    const lx = w - pad - 150 + i * 80;
    chart.append(svg("line", { x1: lx, y1: pad - 20, x2: lx + 18, y2: pad - 20, stroke: color, "stroke-width": 2, "stroke-dasharray": dash }));
    text(label, { x: lx + 22, y: pad - 16 });
  });
  return chart;
}

export function mount(root, ctx) {
  const t = STRINGS[ctx.locale] || STRINGS.en;
  let timer = null;
  let stopped = false;
  // The regression results of the report on show (kept when the lists refresh).
  let shownResults = null;
  // The report's publish button (it says so once its version is published).
  let reportPublish = null;
  const live = el("p", { role: "status", "aria-live": "polite", class: "train-status" });
  const progress = el("progress", { max: "1", value: "0", "aria-label": t.training });
  const trainButton = el("button", { type: "button", class: "primary", onclick: () => startTraining() }, t.train);
  const versionsBox = el("section", { "aria-labelledby": "train-versions" });
  const reportBox = el("section", { "aria-live": "polite", class: "train-report" });
  const pinsBox = el("section", { "aria-labelledby": "train-pins" });
  const auditBox = el("section", { "aria-labelledby": "train-audit" });
  root.append(el("h2", {}, t.title), el("div", { class: "train-run" }, trainButton, progress, live), reportBox, versionsBox, pinsBox, auditBox);

  const fail = (e) => ctx.toast(t.error(e.message || String(e)), "error");

  function showStatus(s) {
    progress.value = s.progress || 0;
    if (s.state === "running") {
      trainButton.disabled = true;
      live.textContent = `${t.training} ${t.stage[s.stage] || s.stage}`;
    } else {
      trainButton.disabled = false;
      if (s.state === "failed") live.textContent = `${t.failed}: ${s.error || ""}`;
      else if (s.state === "succeeded") live.textContent = t.trained(s.version, (s.seconds || 0).toFixed(0));
      else live.textContent = t.stage.idle;
    }
  }

  async function poll() {
    if (stopped) return;
    try {
      const s = await ctx.api("GET", "/studio/api/models/train");
      showStatus(s);
      if (s.state === "running") {
        timer = setTimeout(poll, 1000);
      } else if (s.state === "succeeded") {
        await refresh();
        await showReport(s.version);
      }
    } catch (e) {
      fail(e);
    }
  }

  async function startTraining() {
    try {
      showStatus(await ctx.api("POST", "/studio/api/models/train", {}));
      timer = setTimeout(poll, 500);
    } catch (e) {
      fail(e);
    }
  }

  async function publish(version, threshold) {
    const shown = threshold === undefined ? null : threshold.toFixed(2);
    if (!window.confirm(t.confirmPublish(version, shown))) return;
    try {
      const body = threshold === undefined ? {} : { threshold };
      const p = await ctx.api("POST", `/studio/api/models/${encodeURIComponent(version)}/publish`, body);
      ctx.toast(t.publishedOk(p.version));
      if (reportPublish && reportBox.dataset.version === p.version) {
        reportPublish.disabled = true;
        reportPublish.textContent = t.publishedOk(p.version);
      }
      await refresh();
    } catch (e) {
      fail(e);
    }
  }

  async function rollback(to) {
    if (!window.confirm(t.confirmRollback(to))) return;
    try {
      const p = await ctx.api("POST", "/studio/api/models/rollback", to ? { to } : {});
      ctx.toast(t.rolledBack(p.version));
      await refresh();
    } catch (e) {
      fail(e);
    }
  }

  function versionRow(v, data, publishedBefore) {
    const marks = [v.published && t.published, v.current && t.current, data.serving === v.version && t.serving].filter(Boolean).join(t.comma);
    const actions = el("td", {},
      el("button", { type: "button", class: "secondary", onclick: () => showReport(v.version) }, t.report), " ",
      v.published ? "" : el("button", { type: "button", onclick: () => publish(v.version) }, t.publish), " ",
      !v.published && publishedBefore.has(v.version) ? el("button", { type: "button", class: "secondary", onclick: () => rollback(v.version) }, t.rollbackTo) : "");
    return el("tr", {},
      el("th", { scope: "row" }, v.version), el("td", {}, (v.created_at || "").slice(0, 19).replace("T", " ")),
      el("td", {}, v.examples), el("td", {}, pct(v.accuracy)), el("td", {}, pct(v.precision)), el("td", {}, pct(v.coverage)),
      el("td", {}, marks), actions);
  }

  async function refresh() {
    try {
      const [data, pins, audit] = await Promise.all([
        ctx.api("GET", "/studio/api/models"),
        ctx.api("GET", "/studio/api/regression"),
        ctx.api("GET", "/studio/api/audit?limit=50"),
      ]);
      const c = t.cols;
      // Roll back only to a version that was published before (the API refuses others).
      const publishedBefore = new Set(audit.entries.filter((e) => e.action === "model.publish" || e.action === "model.rollback").map((e) => e.subject));
      versionsBox.replaceChildren(
        el("h3", { id: "train-versions" }, t.versions),
        table(t.versions, [c.version, c.created, c.examples, c.accuracy, c.precision, c.coverage, c.state, c.actions],
          [...data.versions].reverse().map((v) => versionRow(v, data, publishedBefore)), "titled"),
        el("button", { type: "button", class: "secondary", onclick: () => rollback() }, t.rollback));
      renderPins(pins.cases, shownResults);
      auditBox.replaceChildren(el("h3", { id: "train-audit" }, t.audit),
        table(t.audit, [t.when, t.who, t.what, t.subject], audit.entries.map((e) =>
          el("tr", {}, el("td", {}, e.created_at.slice(0, 19).replace("T", " ")), el("td", {}, e.actor),
            el("td", {}, t.actions[e.action] || e.action), el("td", {}, auditSubject(e)))), "titled"));
    } catch (e) {
      fail(e);
    }
  }

  /// The subject of an audit entry with the detail a lead needs (how many messages, which threshold).
  const auditSubject = (e) => {
    const d = e.detail || {};
    const extra = typeof d.messages === "number" ? t.messages(d.messages)
      : typeof d.threshold === "number" ? t.threshold(d.threshold.toFixed(2)) : "";
    return extra ? `${e.subject} (${extra})` : e.subject;
  };

  /// `out_of_scope` (no intent) in words; intents by name.
  const words = (intent) => (intent === "out_of_scope" ? t.outOfScope : intent);

  const outcome = (o) => (o ? `${o.intent}, ${o.action}` : "–");

  function renderPins(cases, results) {
    const byId = new Map((results || []).map((r) => [r.id, r]));
    const text = el("input", { id: "pin-text", required: "", maxlength: "2000" });
    const intent = el("input", { id: "pin-intent" });
    const action = el("select", { id: "pin-action" }, el("option", { value: "" }, t.anyAction),
      ...["answer", "clarify", "handoff"].map((a) => el("option", { value: a }, a)));
    const form = el("form", { class: "pin-form", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await ctx.api("POST", "/studio/api/regression", {
          text: text.value, expected_intent: intent.value || null, expected_action: action.value || null,
        });
        await refresh();
      } catch (e) { fail(e); }
    } },
    el("label", { for: "pin-text" }, t.pinText), text,
    el("label", { for: "pin-intent" }, t.pinIntent), intent,
    el("label", { for: "pin-action" }, t.pinAction), action,
    el("button", { type: "submit" }, t.pin));
    const rows = cases.map((c) => {
      const r = byId.get(c.id);
      return el("tr", {}, el("td", {}, c.text), el("td", {}, c.expected_intent || "–"), el("td", {}, c.expected_action || "–"),
        el("td", { class: r ? `pin-${r.status}` : "" }, r ? `${t.status[r.status]} (${outcome(r.published)} → ${outcome(r.candidate)})` : "–"),
        el("td", {}, el("button", { type: "button", class: "quiet", onclick: async () => {
          try { await ctx.api("DELETE", `/studio/api/regression/${c.id}`); await refresh(); } catch (e) { fail(e); }
        } }, t.unpin)));
    });
    pinsBox.replaceChildren(el("h3", { id: "train-pins" }, t.regression), form,
      cases.length ? table(t.regression, [t.pinText, t.intent, t.pinAction, t.result, ""], rows, "titled") : el("p", {}, t.pinsNone));
  }

  /// Whether the report has a published side that differs from the candidate's (with the same
  /// configuration both cross-validations are the same computation: no columns of zeros).
  const compared = (r) => Boolean(r.published_cv) && !r.same_configuration;

  function headlineTable(r) {
    const c = r.candidate_cv.headline, p = r.published_cv && r.published_cv.headline, d = r.delta;
    const both = compared(r);
    const rows = [
      ["accuracy", (h) => h.accuracy], ["macro_precision", (h) => h.macro_avg.precision], ["macro_recall", (h) => h.macro_avg.recall],
      ["macro_f1", (h) => h.macro_avg.f1], ["coverage", (h) => h.coverage], ["precision", (h) => h.precision],
    ].map(([key, get]) => el("tr", {}, el("th", { scope: "row" }, t.metrics[key]), el("td", {}, pct(get(c))),
      ...(both ? [el("td", {}, pct(get(p))), deltaCell(d ? get(d) : null)] : [])));
    const head = both ? [t.metric, t.candidate, t.publishedCol, t.delta] : [t.metric, t.candidate];
    return table(t.headline, head, rows, "headline");
  }

  async function showReport(version) {
    let r, pins;
    try {
      // The pins come with the report, so that both show at once.
      [r, pins] = await Promise.all([
        ctx.api("GET", `/studio/api/models/${encodeURIComponent(version)}/report`),
        ctx.api("GET", "/studio/api/regression").catch(() => ({ cases: [] })),
      ]);
    } catch (e) {
      reportBox.replaceChildren(el("p", {}, e.status === 404 ? t.noReport : t.error(e.message)));
      return;
    }
    // The intents that changed most come first.
    const change = (i) => (i.delta ? Math.abs(i.delta.f1) : 0);
    const byChange = [...r.intents].sort((a, b) => change(b) - change(a) || a.intent.localeCompare(b.intent));
    const both = compared(r);
    const intentHead = [t.intent, t.support, t.prf.precision, t.prf.recall, t.prf.f1, ...(both ? [`${t.delta} F1`] : [])];
    const intents = table(t.perIntent, intentHead, byChange.map((i) =>
      el("tr", {}, el("th", { scope: "row" }, i.intent), el("td", {}, i.support), el("td", {}, pct(i.candidate.precision)),
        el("td", {}, pct(i.candidate.recall)), el("td", {}, pct(i.candidate.f1)),
        ...(both ? [deltaCell(i.delta ? i.delta.f1 : null)] : []))), "per-intent");
    const confusions = r.candidate_cv.confusions.length
      ? table(t.confusions, [t.gold, t.predicted, t.count], r.candidate_cv.confusions.map((c) =>
        el("tr", {}, el("td", {}, words(c.gold)), el("td", {}, words(c.predicted)), el("td", {}, c.count))), "confusions")
      : el("p", {}, t.noConfusions);
    const dialInput = el("input", { type: "range", id: "dial", min: "0.80", max: "0.995", step: "0.005", value: "0.95" });
    const dialOut = el("output", { for: "dial" });
    const chartBox = el("div", {});
    const publishButton = el("button", { type: "button", class: "primary" });
    let chosen;
    const turn = async () => {
      try {
        const s = await ctx.api("GET", `/studio/api/models/${encodeURIComponent(version)}/dial?precision=${dialInput.value}`);
        chosen = s.threshold;
        dialOut.textContent = t.dialOut(pct(Number(dialInput.value)), s.threshold.toFixed(2), pct(s.coverage), pct(s.precision), s.reached);
        publishButton.textContent = t.publishWith(s.threshold.toFixed(2));
        chartBox.replaceChildren(curveChart(t, r.candidate_cv.curve, compared(r) ? r.published_cv.curve : null, s));
      } catch (e) { fail(e); }
    };
    dialInput.addEventListener("change", turn);
    dialInput.addEventListener("input", () => { dialOut.textContent = pct(Number(dialInput.value)); });
    publishButton.addEventListener("click", () => publish(version, chosen));
    reportBox.dataset.version = r.candidate;
    const changed = r.regression.filter((c) => c.status !== "pass" && c.status !== "fail");
    reportPublish = publishButton;
    reportBox.replaceChildren(
      el("h3", {}, t.reportTitle(r.candidate, r.published)),
      el("p", { class: "muted" }, t.reportBasis(r.examples, r.folds)),
      r.same_configuration ? el("p", {}, t.sameConfig) : "",
      el("p", { class: changed.length ? "pins-changed" : "muted" }, t.pinsChanged(changed.length, r.regression.length)),
      el("div", { class: "report-grid" },
        el("div", {}, headlineTable(r), intents),
        el("div", {}, el("h4", {}, t.curve), chartBox,
          el("div", { class: "dial" }, el("label", { for: "dial" }, t.dial), dialInput, dialOut, publishButton),
          confusions)));
    shownResults = r.regression;
    renderPins(pins.cases, shownResults);
    await turn();
  }

  refresh().then(poll);
  const wanted = ctx.params && ctx.params.get("version");
  if (wanted) showReport(wanted);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
