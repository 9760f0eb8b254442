// The agent console: the live queue and the ticket view. No framework: DOM built with
// createElement and textContent only (never innerHTML), so no customer or agent text is ever
// parsed as HTML. Talks to /agent/api/… with the session cookie and the X-CSRF-Token header.
"use strict";
(() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`);
  const csrf = meta("csrf-token").content;
  const account = meta("account");
  const me = { name: account.content, displayName: account.dataset.displayName, role: account.dataset.role };
  const lang = document.documentElement.lang === "en" ? "en" : "ja";
  const T = window.CONSOLE_TEXTS[lang];
  const isLead = me.role === "lead" || me.role === "admin";
  const intentNames = (() => {
    try { return JSON.parse(document.querySelector('meta[name="intent-labels"]').content || "{}"); }
    catch (_) { return {}; }
  })();
  const intentName = (code) => (code ? intentNames[code] || code : "");
  const isAdmin = me.role === "admin";
  /** A code (reason, sentiment, language, …) in words: never shown raw when we know it. */
  const label = (kind, code) => (code && T[kind][code]) || code || T.none;

  // drafts: the reply being written, per ticket, so live re-renders never lose it.
  // page: "tickets" or "users" (admins).
  const state = { page: "tickets", view: "waiting", locale: "", reason: "", tickets: [], current: null, detail: null, unseen: 0, drafts: {} };

  // ---- DOM helpers -------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const clear = (node) => { while (node.firstChild) node.firstChild.remove(); return node; };

  // ---- API ---------------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { "X-CSRF-Token": csrf };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(`/agent/api${path}`, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status === 401) { location.href = "/agent/login"; throw new Error("logged out"); }
    const data = r.status === 204 ? null : await r.json().catch(() => null);
    if (!r.ok) throw new Error((data && data.error && data.error.message) || `${r.status}`);
    return data;
  }

  function showError(e) {
    status.textContent = `${T.error}: ${e.message}`;
  }

  // ---- layout --------------------------------------------------------------------------------
  const status = el("p", { class: "status", role: "status", "aria-live": "polite" });
  const tabs = el("div", { class: "tabs", role: "tablist", "aria-label": T.queue });
  const list = el("ol", { class: "tickets", "aria-label": T.queue });
  const localeFilter = el("select", { id: "filter-locale" });
  const reasonFilter = el("select", { id: "filter-reason" });
  const view = el("section", { class: "ticket", "aria-live": "off", tabindex: "-1" });
  const helpDialog = el("dialog", { class: "help", "aria-labelledby": "help-title" });
  const confirmDialog = el("dialog", { class: "confirm", "aria-labelledby": "confirm-title" });

  function header() {
    const other = lang === "ja" ? "en" : "ja";
    return el("header", { class: "top" },
      el("h1", {}, T.title),
      el("span", { class: "who" }, `${me.displayName} (${label("accountRoles", me.role)})`),
      isLead ? el("a", { href: `/studio?lang=${lang}`, id: "studio-link" }, lang === "ja" ? "スタジオ" : "Studio") : null,
      el("a", { href: `/agent?lang=${other}`, lang: other }, T.switchLang),
      soundToggle,
      isAdmin ? el("button", { type: "button", class: "quiet", id: "users", on: { click: showUsers } }, T.users) : null,
      el("button", { type: "button", class: "quiet", on: { click: () => showHelp() } }, "?"),
      el("button", { type: "button", class: "quiet", on: { click: logout } }, T.logout));
  }

  function buildTabs() {
    const views = ["waiting", "mine"].concat(isLead ? ["all", "resolved"] : []);
    clear(tabs);
    for (const v of views) {
      tabs.append(el("button", {
        type: "button", role: "tab", id: `tab-${v}`, "aria-selected": String(state.view === v),
        on: { click: () => { state.view = v; buildTabs(); loadQueue(); } },
      }, T[v]));
    }
  }

  function option(value, label, selected) {
    return el("option", { value, selected: selected ? true : undefined }, label);
  }

  function buildFilters() {
    const locales = new Set(state.tickets.map((t) => t.locale));
    const reasons = new Set(state.tickets.map((t) => t.reason));
    if (state.locale) locales.add(state.locale);
    if (state.reason) reasons.add(state.reason);
    clear(localeFilter).append(option("", T.any), ...[...locales].sort().map((l) => option(l, label("languages", l), l === state.locale)));
    clear(reasonFilter).append(option("", T.any), ...[...reasons].sort().map((r) => option(r, label("reasons", r), r === state.reason)));
  }
  localeFilter.addEventListener("change", () => { state.locale = localeFilter.value; loadQueue(); });
  reasonFilter.addEventListener("change", () => { state.reason = reasonFilter.value; loadQueue(); });

  // ---- queue ---------------------------------------------------------------------------------
  function waitedMinutes(t) {
    const since = (t.summary && t.summary.waiting_since) || t.created_at;
    return Math.floor((Date.now() - Date.parse(since)) / 60000);
  }

  function sentimentOf(t) {
    const s = t.summary && t.summary.sentiment;
    return s ? s.label : "";
  }

  async function loadQueue() {
    const q = new URLSearchParams({ view: state.view });
    if (state.locale) q.set("locale", state.locale);
    if (state.reason) q.set("reason", state.reason);
    try {
      const data = await api("GET", `/tickets?${q}`);
      state.tickets = data.tickets;
      renderQueue();
      buildFilters();
    } catch (e) { showError(e); }
  }

  function renderQueue() {
    clear(list);
    if (!state.tickets.length) list.append(el("li", { class: "empty" }, T.empty));
    for (const t of state.tickets) {
      const selected = state.current === t.id;
      list.append(el("li", {},
        el("button", {
          type: "button", class: "ticket-item", "aria-current": selected ? "true" : undefined,
          "data-ticket": t.id, on: { click: () => openTicket(t.id) },
        },
        el("span", { class: "line" },
          el("span", { class: "tag" }, label("languages", t.locale)),
          el("span", { class: "reason" }, label("reasons", t.reason)),
          el("span", { class: "waited", "data-since": (t.summary && t.summary.waiting_since) || t.created_at }, T.minutes(waitedMinutes(t)))),
        el("span", { class: "line small" },
          `${T.intent}: ${intentName(t.intent) || T.none}`,
          sentimentOf(t) ? ` · ${T.sentiment}: ${label("sentiments", sentimentOf(t))}` : "",
          t.claimed_by ? ` · ${T.claimedBy}: ${t.claimed_by}` : ""))));
    }
    updateTitle();
  }

  function updateTitle() {
    const waiting = state.view === "waiting" ? state.tickets.length : null;
    const badge = state.unseen ? `(${state.unseen} ${T.newTickets}) ` : waiting ? `(${waiting}) ` : "";
    document.title = `${badge}${T.title}`;
  }

  // Live waiting times.
  setInterval(() => {
    for (const span of document.querySelectorAll(".waited[data-since]")) {
      span.textContent = T.minutes(Math.floor((Date.now() - Date.parse(span.dataset.since)) / 60000));
    }
  }, 15000);

  // ---- ticket view ---------------------------------------------------------------------------
  async function openTicket(id) {
    state.page = "tickets";
    state.current = id;
    renderQueue();
    try {
      state.detail = await api("GET", `/tickets/${id}`);
      renderTicket();
    } catch (e) { showError(e); }
  }

  function definitionList(pairs) {
    return el("dl", {}, pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function summarySection(t) {
    const s = t.summary || {};
    const entities = Object.entries(s.entities || {}).map(([k, vs]) => [k, vs.map((v) => v.value).join(", ")]);
    const timeline = (s.timeline || []).filter((e) => e.intent)
      .map((e) => el("li", {}, `${intentName(e.intent)} ${(e.confidence * 100).toFixed(0)}%`));
    return el("section", { class: "summary", "aria-labelledby": "summary-title" },
      el("h2", { id: "summary-title" }, T.summary),
      el("p", { class: "summary-text" }, s.text || ""),
      definitionList([
        [T.reason, label("reasons", t.reason)], [T.intent, intentName(t.intent) || T.none],
        [T.sentiment, s.sentiment ? `${label("sentiments", s.sentiment.label)} (${s.sentiment.score})` : T.none],
        [T.language, label("languages", t.locale)], [T.waited, T.minutes(waitedMinutes(t))],
        [T.claimedBy, t.claimed_by || T.none],
      ]),
      el("h3", {}, T.keyMessages),
      el("ul", { class: "key-messages" }, (s.key_messages || []).map((m) => el("li", {}, m.text))),
      el("h3", {}, T.intents), el("ul", {}, timeline.length ? timeline : [el("li", {}, T.none)]),
      el("h3", {}, T.entities), entities.length ? definitionList(entities) : el("p", {}, T.none),
      el("h3", {}, T.answered),
      el("ul", {}, (s.answered || []).length ? s.answered.map((a) => el("li", {}, `${intentName(a.intent)}: ${a.text}`)) : [el("li", {}, T.none)]),
      el("h3", {}, T.customer),
      Object.keys(s.customer || {}).length
        ? definitionList(Object.entries(s.customer).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]))
        : el("p", {}, T.none));
  }

  function transcriptSection(messages) {
    return el("section", { class: "transcript", "aria-labelledby": "transcript-title" },
      el("h2", { id: "transcript-title" }, T.transcript),
      el("div", { class: "messages", role: "log", "aria-live": "polite" },
        messages.map((m) => el("div", { class: `msg ${m.role}`, "data-seq": m.seq },
          el("span", { class: "author" }, m.role === "agent" && m.agent_id ? `${T.roles.agent} ${m.agent_id}` : T.roles[m.role] || m.role),
          el("time", { datetime: m.created_at }, new Date(m.created_at).toLocaleTimeString(lang)),
          el("p", { class: "text" }, m.text)))),
      el("p", { class: "typing", id: "typing", hidden: true }));
  }

  function notesSection(d) {
    const input = el("textarea", { id: "note", rows: "2" });
    return el("section", { class: "notes", "aria-labelledby": "notes-title" },
      el("h2", { id: "notes-title" }, T.notes),
      el("ul", {}, d.notes.map((n) => el("li", {}, el("span", { class: "author" }, n.agent_id), " ", n.text))),
      el("label", { for: "note" }, T.addNote), input,
      el("button", { type: "button", on: { click: () => act(`/notes`, { text: input.value }) } }, T.addNote));
  }

  function actionsSection(t) {
    const mine = t.status === "claimed" && t.claimed_by === me.name;
    const claimable = t.status === "waiting" || t.status === "returned";
    const section = el("section", { class: "actions" },
      el("p", { class: "ticket-status" }, `${T.status[t.status] || t.status}${t.claimed_by ? ` · ${T.claimedBy}: ${t.claimed_by}` : ""}`),
      claimable ? el("button", { type: "button", id: "claim", on: { click: () => act("/claim") } }, T.claim) : null);
    if (!mine) return section;
    const reply = el("textarea", { id: "reply", rows: "4" });
    reply.value = state.drafts[t.id] || "";
    let typingSent = 0;
    reply.addEventListener("input", () => {
      state.drafts[t.id] = reply.value;
      if (Date.now() - typingSent > 3000) { typingSent = Date.now(); api("POST", `/tickets/${t.id}/typing`).catch(() => {}); }
    });
    const canned = el("div", { class: "canned", role: "group", "aria-label": T.canned });
    loadCanned(t.id, canned, reply);
    section.append(
      el("label", { for: "reply" }, T.reply), canned, reply,
      el("div", { class: "row" },
        el("button", { type: "button", id: "send", on: { click: () => sendReply(reply) } }, T.send),
        el("button", { type: "button", class: "secondary", on: { click: () => act("/hand-back") } }, T.handBack),
        el("button", { type: "button", class: "secondary", id: "resolve", on: { click: confirmResolve } }, T.resolve)));
    reply.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.isComposing) { e.preventDefault(); sendReply(reply); }
    });
    return section;
  }

  async function loadCanned(id, container, reply) {
    try {
      const data = await api("GET", `/tickets/${id}/canned`);
      for (const c of data.replies) {
        container.append(el("button", { type: "button", class: "chip", on: { click: () => { reply.value = c.text; state.drafts[id] = c.text; reply.focus(); } } }, c.label || c.text.slice(0, 24)));
      }
    } catch (_) { /* no canned replies for this ticket */ }
  }

  async function sendReply(textarea) {
    const text = textarea.value.trim();
    if (!text) return;
    const id = state.detail && state.detail.id;
    if (await act("/reply", { text })) delete state.drafts[id];
  }

  async function act(path, body) {
    if (!state.detail) return;
    const id = state.detail.id;
    try {
      await api("POST", `/tickets/${id}${path}`, body === undefined ? {} : body);
      if (path === "/reply") delete state.drafts[id];
      await openTicket(id);
      await loadQueue();
      return true;
    } catch (e) { showError(e); return false; }
  }

  function renderTicket() {
    if (state.page !== "tickets") return;
    const d = state.detail;
    // Live updates re-render the view: keep the focus where it was.
    const focused = document.activeElement && view.contains(document.activeElement) ? document.activeElement.id : "";
    clear(view);
    if (!d) { view.append(el("p", { class: "pick" }, T.pick)); return; }
    view.append(summarySection(d), actionsSection(d), transcriptSection(d.messages), notesSection(d));
    const log = view.querySelector(".messages");
    if (log && log.lastElementChild) log.lastElementChild.scrollIntoView({ block: "nearest" });
    const again = focused && document.getElementById(focused);
    if (again) again.focus();
  }

  // ---- dialogs -------------------------------------------------------------------------------
  function showHelp() {
    clear(helpDialog).append(
      el("h2", { id: "help-title" }, T.help),
      definitionList(T.keys),
      el("button", { type: "button", on: { click: () => helpDialog.close() } }, T.close));
    helpDialog.showModal();
  }

  function confirmResolve() {
    if (!state.detail) return;
    const code = el("input", { id: "resolution-code", value: "answered" });
    clear(confirmDialog).append(
      el("h2", { id: "confirm-title" }, T.confirmResolve),
      el("label", { for: "resolution-code" }, T.resolutionCode), code,
      el("div", { class: "row" },
        el("button", { type: "button", id: "confirm-resolve", on: { click: async () => {
          confirmDialog.close();
          await act("/resolve", { resolution_code: code.value || "answered" });
        } } }, T.resolve),
        el("button", { type: "button", class: "secondary", on: { click: () => confirmDialog.close() } }, T.cancel)));
    confirmDialog.showModal();
  }

  async function logout() {
    try { await fetch("/agent/logout", { method: "POST", headers: { "X-CSRF-Token": csrf } }); } finally {
      location.href = "/agent/login";
    }
  }

  // ---- keyboard ------------------------------------------------------------------------------
  document.addEventListener("keydown", (e) => {
    const target = e.target;
    if (e.isComposing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) {
      if (e.key === "Escape") target.blur();
      return;
    }
    if (document.querySelector("dialog[open]")) return;
    const index = state.tickets.findIndex((t) => t.id === state.current);
    const go = (i) => { const t = state.tickets[i]; if (t) { openTicket(t.id); } };
    switch (e.key) {
      case "j": go(index + 1); break;
      case "k": go(Math.max(0, index - 1)); break;
      case "c": if (state.detail) act("/claim"); break;
      case "r": { const r = document.getElementById("reply"); if (r) { e.preventDefault(); r.focus(); } break; }
      case "e": confirmResolve(); break;
      case "?": showHelp(); break;
      default: return;
    }
  });

  // ---- new-ticket sound ----------------------------------------------------------------------
  // A short two-note chime made with WebAudio (no audio file). Browsers allow sound only after a
  // user gesture, so the AudioContext is made on the first click or key press. Muting is kept in
  // localStorage.
  const SOUND_KEY = "madoguchi:console:muted";
  const sound = { context: null, muted: false };
  try { sound.muted = localStorage.getItem(SOUND_KEY) === "1"; } catch (_) { /* storage off */ }
  const soundToggle = el("button", { type: "button", class: "quiet", id: "sound", on: { click: () => setMuted(!sound.muted) } });
  function setMuted(muted) {
    sound.muted = muted;
    try { localStorage.setItem(SOUND_KEY, muted ? "1" : "0"); } catch (_) { /* storage off */ }
    soundToggle.setAttribute("aria-pressed", String(!muted));
    soundToggle.textContent = muted ? T.soundOff : T.soundOn;
  }
  setMuted(sound.muted);
  function unlockAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!sound.context && Context) sound.context = new Context();
    if (sound.context && sound.context.state === "suspended") sound.context.resume();
  }
  document.addEventListener("pointerdown", unlockAudio);
  document.addEventListener("keydown", unlockAudio);
  function chime() {
    const ctx = sound.context;
    if (sound.muted || !ctx) return;
    const start = ctx.currentTime + 0.01;
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.15, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.45);
    gain.connect(ctx.destination);
    const osc = ctx.createOscillator();
    osc.type = "sine";
    osc.frequency.setValueAtTime(880, start);
    osc.frequency.setValueAtTime(1318.5, start + 0.15);
    osc.connect(gain);
    osc.start(start);
    osc.stop(start + 0.5);
  }

  // ---- users (admins) ------------------------------------------------------------------------
  async function showUsers(message) {
    state.page = "users";
    state.current = null;
    state.detail = null;
    renderQueue();
    try {
      const data = await api("GET", "/users");
      renderUsers(data.users, typeof message === "string" ? message : "");
    } catch (e) { showError(e); }
  }

  async function userAction(path, body, done, name) {
    try {
      await api("POST", path, body);
      await showUsers(done.replace("{name}", name));
    } catch (e) { showError(e); }
  }

  function userRow(u) {
    const path = `/users/${encodeURIComponent(u.name)}`;
    const password = el("input", { type: "password", id: `password-${u.name}`, autocomplete: "new-password", minlength: "8", required: true });
    const reset = el("form", { class: "inline", on: { submit: (e) => {
      e.preventDefault();
      userAction(`${path}/password`, { password: password.value }, T.passwordReset, u.name);
    } } },
    el("label", { for: password.id, class: "vh" }, `${T.newPassword} (${u.name})`), password,
    el("button", { type: "submit", class: "secondary" }, T.resetPassword));
    const toggle = u.name === me.name ? null : el("button", {
      type: "button", class: "secondary",
      on: { click: () => userAction(`${path}/disabled`, { disabled: !u.disabled }, T.changed, u.name) },
    }, u.disabled ? T.enable : T.disable);
    return el("tr", { "data-user": u.name },
      el("th", { scope: "row" }, u.name), el("td", {}, u.display_name), el("td", {}, label("accountRoles", u.role)),
      el("td", { class: u.disabled ? "off" : "" }, u.disabled ? T.disabled : T.enabled),
      el("td", { class: "user-actions" }, toggle, reset));
  }

  function addUserForm() {
    const field = (id, text, input) => [el("label", { for: id }, text), input];
    const name = el("input", { id: "new-name", required: true, pattern: "[A-Za-z0-9._-]{1,64}", autocomplete: "off" });
    const display = el("input", { id: "new-display" });
    const role = el("select", { id: "new-role" }, ["agent", "lead", "admin"].map((r) => option(r, label("accountRoles", r), r === "agent")));
    const password = el("input", { id: "new-password", type: "password", required: true, minlength: "8", autocomplete: "new-password" });
    return el("form", { class: "add-user", "aria-labelledby": "add-user-title", on: { submit: (e) => {
      e.preventDefault();
      const body = { name: name.value.trim(), role: role.value, password: password.value };
      if (display.value.trim()) body.display_name = display.value.trim();
      userAction("/users", body, T.added, body.name);
    } } },
    el("h3", { id: "add-user-title" }, T.addUser),
    field("new-name", T.userName, name), field("new-display", T.displayName, display),
    field("new-role", T.role, role), field("new-password", T.password, password),
    el("div", { class: "row" }, el("button", { type: "submit" }, T.addUser)));
  }

  function renderUsers(users, message) {
    clear(view);
    clear(status);
    view.append(el("section", { class: "users", "aria-labelledby": "users-title" },
      el("h2", { id: "users-title" }, T.users),
      el("p", { class: "done", role: "status" }, message),
      el("table", {},
        el("caption", {}, T.userList),
        el("thead", {}, el("tr", {}, [T.userName, T.displayName, T.role, T.state, T.actions].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, users.map(userRow))),
      addUserForm(),
      el("p", {}, el("button", { type: "button", class: "secondary", on: { click: () => { state.page = "tickets"; renderTicket(); } } }, T.backToTickets))));
    view.focus();
  }

  // ---- live ----------------------------------------------------------------------------------
  function live() {
    const events = new EventSource("/agent/api/events");
    const refreshCurrent = (conversationId) => {
      if (state.detail && (!conversationId || state.detail.conversation_id === conversationId)) openTicket(state.detail.id);
    };
    events.addEventListener("queue", (e) => {
      const ev = JSON.parse(e.data);
      if (ev.status === "waiting") {
        chime();
        if (document.hidden) state.unseen += 1;
      }
      loadQueue();
      refreshCurrent(ev.conversation_id);
    });
    events.addEventListener("status", (e) => { const ev = JSON.parse(e.data); loadQueue(); refreshCurrent(ev.conversation_id); });
    events.addEventListener("message", (e) => refreshCurrent(JSON.parse(e.data).conversation_id));
    events.addEventListener("typing", (e) => {
      const ev = JSON.parse(e.data);
      const typing = document.getElementById("typing");
      if (typing && state.detail && ev.conversation_id === state.detail.conversation_id && ev.role === "customer") {
        typing.hidden = false; typing.textContent = "…";
        setTimeout(() => { typing.hidden = true; }, 4000);
      }
    });
    events.addEventListener("resync", () => { loadQueue(); refreshCurrent(); });
  }
  document.addEventListener("visibilitychange", () => { if (!document.hidden) { state.unseen = 0; updateTitle(); } });

  // ---- start ---------------------------------------------------------------------------------
  const app = document.getElementById("app");
  app.append(
    header(),
    el("div", { class: "layout" },
      el("nav", { class: "queue", "aria-label": T.queue },
        tabs,
        el("div", { class: "filters" },
          el("label", { for: "filter-locale" }, T.language), localeFilter,
          el("label", { for: "filter-reason" }, T.reason), reasonFilter),
        list),
      el("main", {}, status, view)),
    helpDialog, confirmDialog);
  buildTabs();
  renderTicket();
  loadQueue();
  live();
})();
