// The Dashboard tab on a page of its own (/studio/dashboard): builds the `ctx` the studio shell
// gives its tabs (locale, api with the CSRF token, me, params from the hash, navigate, toast)
// and mounts dashboard.js. Used while the shell is not in this branch, and by its browser test.
import { mount } from "./dashboard.js";

const meta = (name) => document.querySelector(`meta[name="${name}"]`);
const csrf = meta("csrf-token")?.content || "";
const account = meta("account");

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrf, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(data?.error?.message || `HTTP ${response.status}`);
    error.status = response.status;
    error.code = data?.error?.code;
    throw error;
  }
  return data;
}

function params() {
  const hash = location.hash.slice(1);
  const q = hash.indexOf("?");
  return new URLSearchParams(q < 0 ? "" : hash.slice(q + 1));
}

const ctx = {
  locale: document.documentElement.lang === "en" ? "en" : "ja",
  api,
  me: { name: account?.content, display_name: account?.dataset.displayName, role: account?.dataset.role },
  params: params(),
  navigate(tab, p) {
    const query = p ? `?${p}` : "";
    location.href = tab === "dashboard" ? `#dashboard${query}` : `/studio#${tab}${query}`;
  },
  toast(message) {
    document.getElementById("toast").textContent = message;
  },
};

mount(document.getElementById("dashboard"), ctx);
