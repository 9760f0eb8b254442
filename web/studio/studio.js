// The studio shell: header, tabs (Inbox | Intents | Train & publish | Dashboard, from the URL
// hash `#tab?query`) and the context each tab module gets. Each tab is an ES module of this
// folder (`<tab>.js`) exporting `mount(root, ctx)`, loaded on first use. No framework; text is
// always set with textContent, never parsed as HTML.
const meta = (name) => document.querySelector(`meta[name="${name}"]`);
const csrf = meta("csrf-token").content;
const account = meta("account");
const me = { name: account.content, display_name: account.dataset.displayName, role: account.dataset.role };
const locale = document.documentElement.lang === "en" ? "en" : "ja";
// The catalog's names of the intents in the page's language (embedded by the server, as in the
// console): tabs show "Order status", not `order_status`, wherever a person reads them.
const intentLabels = (() => {
  try { return JSON.parse(meta("intent-labels")?.content || "{}"); } catch (_) { return {}; }
})();
const intentLabel = (name) => (name && intentLabels[name]) || name;

const T = {
  ja: {
    title: "窓口 スタジオ", console: "コンソール", logout: "ログアウト", other: "English",
    tabs: { inbox: "受信箱", intents: "意図とテンプレート", train: "学習と公開", dashboard: "ダッシュボード" },
    missing: "このタブはまだ利用できません。", error: "エラー",
  },
  en: {
    title: "Madoguchi studio", console: "Console", logout: "Log out", other: "日本語",
    tabs: { inbox: "Inbox", intents: "Intents", train: "Train & publish", dashboard: "Dashboard" },
    missing: "This tab is not available yet.", error: "Error",
  },
}[locale];
const TABS = ["inbox", "intents", "train", "dashboard"];

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === "class") node.className = v;
    else if (k === "value") node.value = v;
    else if (k === "checked") node.checked = Boolean(v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function api(method, path, body) {
  const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401) {
    location.href = "/agent/login?next=/studio";
  }
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    const e = new Error((data && data.error && data.error.message) || `HTTP ${r.status}`);
    e.status = r.status;
    e.code = data && data.error && data.error.code;
    throw e;
  }
  return data;
}

const toastRegion = el("div", { class: "toasts", role: "status", "aria-live": "polite" });
function toast(message, kind = "info", action) {
  const item = el("div", { class: `toast ${kind}` }, el("span", {}, message));
  if (action) item.append(el("button", { type: "button", on: { click: () => { action.run(); item.remove(); } } }, action.label));
  toastRegion.append(item);
  setTimeout(() => item.remove(), action ? 15000 : 6000);
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "");
  const [tab, query] = raw.split("?");
  return { tab: TABS.includes(tab) ? tab : "inbox", params: new URLSearchParams(query || "") };
}

function navigate(tab, params) {
  const q = params ? new URLSearchParams(params).toString() : "";
  location.hash = q ? `${tab}?${q}` : tab;
}

const root = document.getElementById("studio");
const tabBar = el("nav", { class: "tabs", role: "tablist", "aria-label": T.title });
const panel = el("section", { class: "panel", role: "tabpanel", tabindex: "-1" });
let unmount = null;
let shown = null;

function header() {
  const other = locale === "ja" ? "en" : "ja";
  return el("header", { class: "top" },
    el("h1", {}, T.title),
    el("span", { class: "who" }, `${me.display_name} (${me.role})`),
    el("a", { href: "/agent" }, T.console),
    el("a", { href: `/studio?lang=${other}${location.hash}`, lang: other, id: "switch-lang" }, T.other),
    el("button", { type: "button", class: "quiet", on: { click: logout } }, T.logout));
}

async function logout() {
  try { await fetch("/agent/logout", { method: "POST", headers: { "X-CSRF-Token": csrf } }); } finally {
    location.href = "/agent/login";
  }
}

function renderTabs(active) {
  tabBar.replaceChildren(...TABS.map((t) => el("a", {
    href: `#${t}`, role: "tab", id: `tab-${t}`, "aria-selected": String(t === active),
    "aria-controls": "panel", class: t === active ? "active" : "",
  }, T.tabs[t])));
}

async function show() {
  const { tab, params } = parseHash();
  const key = `${tab}?${params}`;
  if (key === shown) return;
  shown = key;
  renderTabs(tab);
  if (unmount) { try { unmount(); } catch (e) { console.error(e); } unmount = null; }
  const section = el("section", { class: `tab tab-${tab}`, "aria-labelledby": `tab-${tab}` });
  panel.replaceChildren(section);
  panel.setAttribute("aria-labelledby", `tab-${tab}`);
  let module;
  try {
    module = await import(`./${tab}.js`);
  } catch (e) {
    section.append(el("p", { class: "empty" }, T.missing));
    return;
  }
  const ctx = { locale, api, me, params, navigate, toast, el, intentLabel };
  try {
    unmount = (await module.mount(section, ctx)) || null;
  } catch (e) {
    section.append(el("p", { class: "alert", role: "alert" }, `${T.error}: ${e.message}`));
  }
}

panel.id = "panel";
root.append(header(), tabBar, panel, toastRegion);
window.addEventListener("hashchange", show);
show();
