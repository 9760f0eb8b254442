// The annotation inbox tab: filters, near-duplicate groups (largest first), and the actions on a
// group or on the messages ticked in it — assign to an intent (searchable), out of scope, ignore,
// new intent — with undo. Keyboard: j/k next/previous group, a assign, o out of scope, i ignore,
// n new intent, u undo, ? help.
const TEXT = {
  ja: {
    since: "開始日", until: "終了日", locale: "言語", reason: "理由", intent: "予測された意図",
    minConf: "確信度(最小)", maxConf: "確信度(最大)", search: "テキスト検索", apply: "絞り込む", any: "すべて",
    none: "対象外(なし)", items: (n, g) => `${n} 件のメッセージ、${g} グループ`, empty: "受信箱は空です。",
    assignTo: "割り当てる意図", assign: "割り当て", outOfScope: "対象外", ignore: "無視", newIntent: "新しい意図",
    mask: "個人情報を伏せる", undo: "元に戻す", context: "会話を見る", hide: "閉じる",
    retrain: "学習データが変わりました。反映するには再学習してください。", toTrain: "学習と公開へ",
    done: (n, what) => `${n} 件を「${what}」にしました。`, undone: (n) => `${n} 件を受信箱に戻しました。`,
    ignored: "無視", chooseIntent: "意図を選んでください。", selectAll: "すべて選択",
    name: "名前(英小文字とアンダースコア)", description: "説明", handoff: "引き継ぎ",
    templates: (l) => `最初の応答テンプレート(${l})`, create: "作成して割り当て", cancel: "キャンセル",
    handoffModes: { auto: "自動", never: "しない", always: "常に" },
    reasons: { clarify: "聞き返し", low_confidence: "低確信度", out_of_scope: "対象外", handed_off: "ミス後に引き継ぎ", thumbs_down: "👎", low_csat: "CSAT 低" },
    help: "キーボード: j/k グループ移動, a 割り当て, o 対象外, i 無視, n 新しい意図, u 元に戻す",
    grouping: { embedding: "類似度でまとめています", exact_text: "モデル未読み込みのため同一テキストでまとめています" },
    bot: "ボット", customer: "お客様", agent: "担当者", system: "システム",
  },
  en: {
    since: "From", until: "Until", locale: "Language", reason: "Reason", intent: "Predicted intent",
    minConf: "Confidence ≥", maxConf: "Confidence ≤", search: "Search text", apply: "Filter", any: "Any",
    none: "Out of scope (none)", items: (n, g) => `${n} messages in ${g} groups`, empty: "The inbox is empty.",
    assignTo: "Assign to intent", assign: "Assign", outOfScope: "Out of scope", ignore: "Ignore", newIntent: "New intent",
    mask: "Mask personal data", undo: "Undo", context: "Conversation", hide: "Hide",
    retrain: "The training data changed: retrain to apply it.", toTrain: "Go to Train & publish",
    done: (n, what) => `${n} message(s): ${what}.`, undone: (n) => `${n} message(s) back in the inbox.`,
    ignored: "ignored", chooseIntent: "Choose an intent.", selectAll: "Select all",
    name: "Name (lower_snake_case)", description: "Description", handoff: "Handoff",
    templates: (l) => `First reply template (${l})`, create: "Create and assign", cancel: "Cancel",
    handoffModes: { auto: "auto", never: "never", always: "always" },
    reasons: { clarify: "clarify", low_confidence: "low confidence", out_of_scope: "out of scope", handed_off: "handed off after a miss", thumbs_down: "👎", low_csat: "low CSAT" },
    help: "Keys: j/k next/previous group, a assign, o out of scope, i ignore, n new intent, u undo",
    grouping: { embedding: "Grouped by similarity", exact_text: "Grouped by exact text (model not loaded)" },
    bot: "Bot", customer: "Customer", agent: "Agent", system: "System",
  },
};
const REASONS = ["clarify", "low_confidence", "out_of_scope", "handed_off", "thumbs_down", "low_csat"];
const FILTERS = ["since", "until", "locale", "reason", "intent", "min_confidence", "max_confidence", "q"];

export async function mount(root, ctx) {
  const t = TEXT[ctx.locale];
  const el = ctx.el;
  const state = { groups: [], intents: [], locales: [], current: 0, undo: [], retrain: false };

  const meta = await ctx.api("GET", "/studio/api/intents");
  state.intents = meta.intents.map((i) => i.name);
  state.locales = meta.locales;

  const datalist = el("datalist", { id: "inbox-intents" }, state.intents.map((n) => el("option", { value: n })));
  const field = (id, label, input) => el("div", {}, el("label", { for: id }, label), input);
  const select = (id, options) => el("select", { id }, el("option", { value: "" }, t.any),
    options.map(([v, l]) => el("option", { value: v }, l)));
  const inputs = {
    since: el("input", { id: "f-since", type: "date" }),
    until: el("input", { id: "f-until", type: "date" }),
    locale: select("f-locale", state.locales.map((l) => [l, l])),
    reason: select("f-reason", REASONS.map((r) => [r, t.reasons[r]])),
    intent: select("f-intent", [["none", t.none], ...state.intents.map((n) => [n, n])]),
    min_confidence: el("input", { id: "f-min", type: "number", min: "0", max: "1", step: "0.05" }),
    max_confidence: el("input", { id: "f-max", type: "number", min: "0", max: "1", step: "0.05" }),
    q: el("input", { id: "f-q", type: "search" }),
  };
  for (const k of FILTERS) {
    const v = ctx.params.get(k);
    if (v) inputs[k].value = k === "since" || k === "until" ? v.slice(0, 10) : v;
  }
  const form = el("form", { class: "filters", role: "search", on: { submit: (e) => { e.preventDefault(); applyFilters(); } } },
    field("f-since", t.since, inputs.since), field("f-until", t.until, inputs.until),
    field("f-locale", t.locale, inputs.locale), field("f-reason", t.reason, inputs.reason),
    field("f-intent", t.intent, inputs.intent), field("f-min", t.minConf, inputs.min_confidence),
    field("f-max", t.maxConf, inputs.max_confidence), field("f-q", t.search, inputs.q),
    el("button", { type: "submit" }, t.apply));
  const mask = el("input", { type: "checkbox", id: "mask", checked: true });
  const undoButton = el("button", { type: "button", class: "quiet", id: "undo", disabled: true, on: { click: undo } }, t.undo);
  const counts = el("span", { class: "counts" });
  const grouping = el("span", { class: "muted" });
  const banner = el("p", { class: "retrain", hidden: true }, t.retrain, " ",
    el("a", { href: "#train" }, t.toTrain));
  const list = el("div", { class: "groups" });
  const dialog = newIntentDialog();
  root.append(datalist, form,
    el("div", { class: "summary" }, counts, grouping,
      el("label", { for: "mask" }, mask, " ", t.mask), undoButton,
      el("span", { class: "muted" }, t.help)),
    banner, list, dialog);

  function query() {
    const q = new URLSearchParams();
    for (const k of FILTERS) {
      let v = inputs[k].value.trim();
      if (!v) continue;
      if (k === "since" || k === "until") v = `${v}T00:00:00Z`;
      q.set(k, v);
    }
    return q;
  }

  function applyFilters() {
    ctx.navigate("inbox", query());
  }

  async function load() {
    const page = await ctx.api("GET", `/studio/api/inbox?${query()}`);
    state.groups = page.groups;
    state.current = Math.min(state.current, Math.max(0, page.groups.length - 1));
    counts.textContent = t.items(page.total_items, page.groups.length);
    grouping.textContent = t.grouping[page.grouping] || "";
    render();
  }

  function render() {
    list.replaceChildren();
    if (!state.groups.length) list.append(el("p", { class: "empty" }, t.empty));
    state.groups.forEach((g, gi) => list.append(groupCard(g, gi)));
  }

  function groupCard(g, gi) {
    const boxes = g.items.map((i) => el("input", { type: "checkbox", checked: true, "data-id": i.message_id, "aria-label": i.text }));
    const all = el("input", { type: "checkbox", checked: true, "aria-label": t.selectAll,
      on: { change: () => boxes.forEach((b) => { b.checked = all.checked; }) } });
    const assignInput = el("input", { list: "inbox-intents", placeholder: t.assignTo, "aria-label": t.assignTo,
      class: "assign", value: g.predicted_intent || "" });
    const selected = () => boxes.filter((b) => b.checked).map((b) => b.dataset.id);
    const card = el("article", { class: `group${gi === state.current ? " current" : ""}`, tabindex: "0", "data-group": gi,
      "aria-label": `${g.size}: ${g.items[0].text}`, on: { focus: () => { state.current = gi; } } },
      el("h3", {}, all, el("span", { class: "size" }, String(g.size)), el("span", {}, g.items[0].text),
        g.predicted_intent ? el("span", { class: "muted" }, `→ ${g.predicted_intent}`) : null),
      el("ul", { class: "items" }, g.items.map((i, ii) => itemRow(i, boxes[ii]))),
      el("div", { class: "actions" },
        assignInput,
        el("button", { type: "button", class: "do-assign", on: { click: () => assign(selected(), assignInput.value.trim()) } }, t.assign),
        el("button", { type: "button", class: "secondary do-oos", on: { click: () => decide(selected(), { action: "out_of_scope" }, t.outOfScope) } }, t.outOfScope),
        el("button", { type: "button", class: "quiet do-ignore", on: { click: () => decide(selected(), { action: "ignore" }, t.ignored) } }, t.ignore),
        el("button", { type: "button", class: "quiet do-new", on: { click: () => openNewIntent(selected()) } }, t.newIntent)));
    card.groupActions = { assignInput, selected };
    return card;
  }

  function itemRow(i, box) {
    const context = el("div", { class: "context", hidden: true });
    const toggle = el("button", { type: "button", class: "quiet", "aria-expanded": "false",
      on: { click: () => showContext(i, context, toggle) } }, t.context);
    const conf = i.confidence === null || i.confidence === undefined ? "" : ` ${Math.round(i.confidence * 100)}%`;
    const alts = (i.alternatives || []).map((a) => `${a.intent} ${Math.round(a.confidence * 100)}%`).join(", ");
    return el("li", {}, box,
      el("div", {},
        el("div", { class: "text" }, i.text),
        el("div", { class: "item-meta" },
          i.reasons.map((r) => el("span", { class: "badge" }, t.reasons[r] || r)),
          `${i.locale || "?"} · ${new Date(i.created_at).toLocaleString(ctx.locale)} · ${i.intent || t.none}${conf}`,
          alts ? ` · ${alts}` : ""),
        context),
      toggle);
  }

  async function showContext(item, box, toggle) {
    if (!box.hidden) { box.hidden = true; toggle.setAttribute("aria-expanded", "false"); toggle.textContent = t.context; return; }
    try {
      const r = await ctx.api("GET", `/studio/api/conversations/${item.conversation_id}/messages`);
      const near = r.messages.filter((m) => Math.abs(m.seq - item.seq) <= 4);
      box.replaceChildren(...near.map((m) => el("p", { class: m.seq === item.seq ? "mark" : "" },
        el("strong", {}, `${t[m.role] || m.role}: `), m.text)));
      box.hidden = false;
      toggle.setAttribute("aria-expanded", "true");
      toggle.textContent = t.hide;
    } catch (e) { ctx.toast(e.message, "error"); }
  }

  async function assign(ids, intent) {
    if (!intent || !state.intents.includes(intent)) { ctx.toast(t.chooseIntent, "error"); return; }
    await decide(ids, { action: "label", intent }, intent);
  }

  async function decide(ids, action, what) {
    if (!ids.length) return;
    try {
      const r = await ctx.api("POST", "/studio/api/inbox/actions", { message_ids: ids, mask: mask.checked, ...action });
      state.undo.push(r.batch_id);
      undoButton.disabled = false;
      if (r.retrain_needed) banner.hidden = false;
      await load();
      focusGroup(state.current);
      ctx.toast(t.done(r.decided, what), "info", { label: t.undo, run: undo });
    } catch (e) { ctx.toast(e.message, "error"); }
  }

  async function undo() {
    const batch = state.undo.pop();
    undoButton.disabled = !state.undo.length;
    if (!batch) return;
    try {
      const r = await ctx.api("POST", `/studio/api/inbox/undo/${batch}`, {});
      ctx.toast(t.undone(r.restored));
      await load();
    } catch (e) { ctx.toast(e.message, "error"); }
  }

  function newIntentDialog() {
    const f = {
      name: el("input", { id: "ni-name", required: true, pattern: "[a-z][a-z0-9_]*" }),
      description: el("input", { id: "ni-description", required: true }),
      handoff: el("select", { id: "ni-handoff" }, ["auto", "never", "always"].map((m) => el("option", { value: m }, t.handoffModes[m]))),
    };
    const templates = {};
    const d = el("dialog", { "aria-labelledby": "ni-title", class: "new-intent" });
    const form = el("form", { method: "dialog", on: { submit: (e) => { e.preventDefault(); createIntent(d, f, templates); } } },
      el("h2", { id: "ni-title" }, t.newIntent),
      el("label", { for: "ni-name" }, t.name), f.name,
      el("label", { for: "ni-description" }, t.description), f.description,
      el("label", { for: "ni-handoff" }, t.handoff), f.handoff);
    d.append(form);
    d.fill = () => {
      form.querySelectorAll(".tpl").forEach((n) => n.remove());
      for (const l of state.locales) {
        templates[l] = el("textarea", { id: `ni-tpl-${l}`, rows: "2", required: true });
        form.append(el("div", { class: "tpl" }, el("label", { for: `ni-tpl-${l}` }, t.templates(l)), templates[l]));
      }
      form.querySelector(".buttons")?.remove();
      form.append(el("p", { class: "buttons actions" }, el("button", { type: "submit" }, t.create),
        el("button", { type: "button", class: "quiet", on: { click: () => d.close() } }, t.cancel)));
    };
    return d;
  }

  function openNewIntent(ids) {
    if (!ids.length) return;
    dialog.ids = ids;
    dialog.fill();
    dialog.showModal();
  }

  async function createIntent(d, f, templates) {
    const intent = {
      name: f.name.value.trim(), description: f.description.value.trim(), handoff: f.handoff.value,
      templates: Object.fromEntries(Object.entries(templates).map(([l, ta]) => [l, [ta.value.trim()]])),
    };
    d.close();
    await decide(d.ids, { action: "new_intent", intent }, intent.name);
    if (!state.intents.includes(intent.name)) {
      state.intents.push(intent.name);
      datalist.append(el("option", { value: intent.name }));
    }
  }

  function focusGroup(i) {
    const cards = list.querySelectorAll(".group");
    if (!cards.length) return;
    state.current = Math.max(0, Math.min(i, cards.length - 1));
    cards.forEach((c, ci) => c.classList.toggle("current", ci === state.current));
    cards[state.current].focus();
  }

  function onKey(e) {
    if (e.target.closest("input, textarea, select, dialog") || e.ctrlKey || e.metaKey || e.altKey) return;
    const card = list.querySelectorAll(".group")[state.current];
    const acts = card && card.groupActions;
    const keys = {
      j: () => focusGroup(state.current + 1),
      k: () => focusGroup(state.current - 1),
      a: () => acts && acts.assignInput.focus(),
      o: () => acts && decide(acts.selected(), { action: "out_of_scope" }, t.outOfScope),
      i: () => acts && decide(acts.selected(), { action: "ignore" }, t.ignored),
      n: () => acts && openNewIntent(acts.selected()),
      u: () => undo(),
    };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  }
  document.addEventListener("keydown", onKey);

  await load();
  return () => document.removeEventListener("keydown", onKey);
}
