// The intents & templates tab: the intents with example counts per locale and the model's
// figures; an editor (description, handoff, threshold, variables, follow-ups, templates per locale)
// with a live preview rendered with sample values and the validation problems inline; and "try it".
const TEXT = {
  ja: {
    name: "意図", examples: "例文数", templates: "テンプレート", model: "現在のモデル", noModel: "学習済みモデルはありません。",
    description: "説明", handoff: "引き継ぎ", threshold: "しきい値(空欄: モデルの値)", variables: "変数",
    variable: "変数名", required: "必須", prompt: (l) => `聞き方(${l})`, followUp: (l) => `続きの質問(${l})`,
    template: (l, i) => `テンプレート ${i + 1}(${l})`, preview: "プレビュー", add: "追加", remove: "削除",
    addVariable: "変数を追加", samples: "サンプル値", save: "保存", saved: (r) => r.retrain_needed
      ? "保存しました。反映には再学習が必要です。" : "保存しました。カタログの再読み込みですぐに反映されます。",
    problems: "問題", valid: "問題はありません。", pick: "左の一覧から意図を選んでください。",
    handoffModes: { auto: "自動", never: "しない", always: "常に" },
    tryIt: "試す", tryText: "お客様のメッセージ", tryButton: "判定する", language: "言語",
    result: { intent: "意図", confidence: "確信度", alternatives: "他の候補", action: "判定", turn: "対話の動作", reply: "ボットの返信", neighbours: "近い学習例" },
    none: "なし(対象外)", catalogProblems: "カタログの問題",
  },
  en: {
    name: "Intent", examples: "Examples", templates: "Templates", model: "Current model", noModel: "No trained model.",
    description: "Description", handoff: "Handoff", threshold: "Threshold (empty: the model's)", variables: "Variables",
    variable: "Variable", required: "Required", prompt: (l) => `Prompt (${l})`, followUp: (l) => `Follow-up (${l})`,
    template: (l, i) => `Template ${i + 1} (${l})`, preview: "Preview", add: "Add", remove: "Remove",
    addVariable: "Add variable", samples: "Sample values", save: "Save", saved: (r) => r.retrain_needed
      ? "Saved. It applies after a retrain." : "Saved. It applies as soon as the catalog reloads (no retrain).",
    problems: "Problems", valid: "No problems.", pick: "Pick an intent from the list.",
    handoffModes: { auto: "auto", never: "never", always: "always" },
    tryIt: "Try it", tryText: "Customer message", tryButton: "Classify", language: "Language",
    result: { intent: "Intent", confidence: "Confidence", alternatives: "Alternatives", action: "Decision", turn: "Dialogue", reply: "Bot reply", neighbours: "Nearest examples" },
    none: "none (out of scope)", catalogProblems: "Catalog problems",
  },
};

// replaceChildren without flattening would print arrays and nulls as text.
const fill = (node, ...children) => node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));

export async function mount(root, ctx) {
  const t = TEXT[ctx.locale];
  const el = ctx.el;
  const list = await ctx.api("GET", "/studio/api/intents");
  const locales = list.locales;
  const listBox = el("div", { class: "intent-list" });
  const editor = el("div", { class: "editor", "aria-live": "off" }, el("p", { class: "empty" }, t.pick));
  const aside = el("div", {}, listBox, tryPanel());
  root.append(el("div", { class: "intents-layout" }, aside, editor));
  let timer = null;
  renderList(ctx.params.get("intent"));
  if (ctx.params.get("intent")) await open(ctx.params.get("intent"));

  function renderList(current) {
    const modelLine = list.model
      ? `${t.model}: ${list.model.version}`
      : t.noModel;
    fill(listBox,
      el("p", { class: "muted" }, modelLine),
      list.problems.length ? el("details", {}, el("summary", {}, `${t.catalogProblems} (${list.problems.length})`),
        el("ul", {}, list.problems.slice(0, 50).map((p) => el("li", {}, p)))) : null,
      el("table", {},
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t.name),
          locales.map((l) => el("th", { scope: "col" }, `${t.examples} ${l}`)), el("th", { scope: "col" }, t.templates))),
        el("tbody", {}, list.intents.map((i) => el("tr", { class: i.name === current ? "current" : "" },
          el("td", {}, el("button", { type: "button", title: i.description, on: { click: () => open(i.name) } }, i.name)),
          locales.map((l) => el("td", {}, String(i.examples[l] ?? 0))),
          el("td", {}, locales.map((l) => i.templates[l] ?? 0).join(" / ")))))));
  }

  async function open(name) {
    let detail;
    try { detail = await ctx.api("GET", `/studio/api/intents/${encodeURIComponent(name)}`); } catch (e) { ctx.toast(e.message, "error"); return; }
    renderList(name);
    renderEditor(detail);
  }

  function renderEditor(detail) {
    const intent = structuredClone(detail.intent);
    intent.variables = intent.variables || {};
    intent.follow_up = intent.follow_up || {};
    const problems = el("ul", { class: "problems", role: "alert", id: "problems" });
    const samples = {};
    const previews = {};
    const changed = () => { clearTimeout(timer); timer = setTimeout(refresh, 300); };

    const description = el("textarea", { id: "e-description", rows: "2", value: intent.description,
      on: { input: () => { intent.description = description.value; changed(); } } });
    const handoff = el("select", { id: "e-handoff", on: { change: () => { intent.handoff = handoff.value; changed(); } } },
      ["auto", "never", "always"].map((m) => el("option", { value: m }, t.handoffModes[m])));
    handoff.value = intent.handoff || "auto";
    const threshold = el("input", { id: "e-threshold", type: "number", min: "0", max: "1", step: "0.01",
      value: intent.threshold ?? "", on: { input: () => {
        intent.threshold = threshold.value === "" ? null : Number(threshold.value); changed();
      } } });

    const variablesBox = el("div", {});
    function renderVariables() {
      variablesBox.replaceChildren(...Object.entries(intent.variables).map(([v, spec]) => {
        const req = el("input", { type: "checkbox", checked: spec.required, id: `v-${v}-req`,
          on: { change: () => { spec.required = req.checked; changed(); } } });
        const sample = el("input", { id: `v-${v}-sample`, value: samples[v] || "", placeholder: t.samples,
          on: { input: () => { samples[v] = sample.value; changed(); } } });
        return el("div", { class: "row" },
          el("div", {}, el("strong", {}, v)),
          el("div", {}, el("label", { for: `v-${v}-req` }, req, " ", t.required)),
          locales.map((l) => {
            const id = `v-${v}-prompt-${l}`;
            const input = el("input", { id, value: (spec.prompt || {})[l] || "", on: { input: () => {
              spec.prompt = spec.prompt || {}; spec.prompt[l] = input.value; changed();
            } } });
            return el("div", {}, el("label", { for: id }, t.prompt(l)), input);
          }),
          el("div", {}, el("label", { for: `v-${v}-sample` }, t.samples), sample),
          el("button", { type: "button", class: "danger", on: { click: () => { delete intent.variables[v]; renderVariables(); changed(); } } }, t.remove));
      }));
    }
    const newVar = el("input", { id: "e-new-var", pattern: "[a-z_][a-z0-9_]*", "aria-label": t.variable, placeholder: t.variable });
    const addVar = el("button", { type: "button", class: "quiet", on: { click: () => {
      const v = newVar.value.trim();
      if (v && !intent.variables[v]) { intent.variables[v] = { required: false }; newVar.value = ""; renderVariables(); changed(); }
    } } }, t.addVariable);

    const templateBoxes = {};
    function renderTemplates(l) {
      const box = templateBoxes[l];
      const list = intent.templates[l] = intent.templates[l] || [];
      previews[l] = [];
      box.replaceChildren(...list.map((source, i) => {
        const id = `t-${l}-${i}`;
        const ta = el("textarea", { id, rows: "3", value: source, on: { input: () => { list[i] = ta.value; changed(); } } });
        const out = el("div", { class: "rendered", "aria-live": "polite", "aria-label": `${t.preview} ${i + 1}` });
        previews[l].push(out);
        return el("div", { class: "template" },
          el("div", {}, el("label", { for: id }, t.template(l, i)), ta),
          el("div", {}, el("span", { class: "muted" }, t.preview), out),
          el("button", { type: "button", class: "danger", on: { click: () => { list.splice(i, 1); renderTemplates(l); changed(); } } }, t.remove));
      }), el("button", { type: "button", class: "quiet", on: { click: () => { list.push(""); renderTemplates(l); changed(); } } }, t.add));
    }

    const saveButton = el("button", { type: "button", id: "save", on: { click: save } }, t.save);
    fill(editor,
      el("h2", {}, intent.name),
      detail.metrics ? el("p", { class: "muted" }, JSON.stringify(detail.metrics)) : null,
      el("p", { class: "muted" }, locales.map((l) => `${t.examples} ${l}: ${(detail.examples[l] || []).length}`).join(" · ")),
      el("div", { class: "row" },
        el("div", { style: null }, el("label", { for: "e-handoff" }, t.handoff), handoff),
        el("div", {}, el("label", { for: "e-threshold" }, t.threshold), threshold)),
      el("div", {}, el("label", { for: "e-description" }, t.description), description),
      el("fieldset", {}, el("legend", {}, t.variables), variablesBox, el("div", { class: "row" }, newVar, addVar)),
      locales.map((l) => {
        templateBoxes[l] = el("div", {});
        const fid = `f-${l}`;
        const fu = el("input", { id: fid, value: intent.follow_up[l] || "", on: { input: () => {
          if (fu.value) intent.follow_up[l] = fu.value; else delete intent.follow_up[l]; changed();
        } } });
        return el("fieldset", { class: `locale-${l}` }, el("legend", {}, `${t.templates} (${l})`), templateBoxes[l],
          el("label", { for: fid }, t.followUp(l)), fu);
      }),
      el("div", {}, el("h3", {}, t.problems), problems),
      el("p", {}, saveButton));
    renderVariables();
    locales.forEach(renderTemplates);
    refresh();

    async function refresh() {
      try {
        const check = await ctx.api("POST", `/studio/api/intents/${intent.name}/check`, intent);
        problems.replaceChildren(...check.problems.map((p) => el("li", {}, p)));
        saveButton.disabled = check.problems.length > 0;
      } catch (e) { problems.replaceChildren(el("li", {}, e.message)); }
      for (const l of locales) {
        try {
          const p = await ctx.api("POST", "/studio/api/preview", { intent, locale: l, samples });
          p.rendered.forEach((r, i) => {
            const out = previews[l][i];
            if (!out) return;
            out.textContent = r.text ?? r.error;
            out.classList.toggle("error", !r.text && r.text !== "");
          });
        } catch (e) { /* a preview is best effort */ }
      }
    }

    async function save() {
      try {
        const r = await ctx.api("PUT", `/studio/api/intents/${intent.name}`, intent);
        ctx.toast(t.saved(r));
      } catch (e) { ctx.toast(e.message, "error"); }
    }
  }

  function tryPanel() {
    const text = el("textarea", { id: "try-text", rows: "2" });
    const lang = el("select", { id: "try-locale" }, locales.map((l) => el("option", { value: l }, l)));
    lang.value = locales.includes(ctx.locale) ? ctx.locale : locales[0];
    const out = el("div", { class: "try-result", "aria-live": "polite" });
    const run = async (e) => {
      e.preventDefault();
      try {
        const r = await ctx.api("POST", "/studio/api/try", { text: text.value, locale: lang.value });
        const pct = (c) => `${Math.round(c * 1000) / 10}%`;
        const row = (k, v) => [el("dt", {}, t.result[k]), el("dd", { class: `r-${k}` }, v)];
        fill(out, el("dl", {},
          row("intent", r.intent || t.none), row("confidence", pct(r.confidence)),
          row("alternatives", r.alternatives.map((a) => `${a.intent} ${pct(a.confidence)}`).join(", ") || "—"),
          row("action", `${r.action} (${r.reason})`), row("turn", r.turn),
          row("reply", r.reply || "—"),
          row("neighbours", el("ol", {}, r.neighbours.map((n) => el("li", {}, `${n.text} — ${n.intent || t.none} (${n.locale}, ${n.similarity.toFixed(3)})`))))));
      } catch (err) { ctx.toast(err.message, "error"); }
    };
    return el("form", { class: "try", on: { submit: run } },
      el("h2", {}, t.tryIt),
      el("label", { for: "try-text" }, t.tryText), text,
      el("div", { class: "row" }, el("label", { for: "try-locale" }, t.language), lang,
        el("button", { type: "submit", id: "try-run" }, t.tryButton)),
      out);
  }
}
