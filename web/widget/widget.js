/*
 * madoguchi chat widget — embed with one tag:
 *   <script src="https://BOT/widget.js" data-locale="ja" async></script>
 *
 * Plain JavaScript, no framework and no build step. Everything lives in a Shadow DOM, so the host
 * page is neither restyled nor broken, and every text is rendered with textContent (links only
 * through `appendLinkified`, http/https only). The bot's origin is this script's own origin; the
 * conversation id and token are kept in localStorage (one entry per bot origin), so a reload
 * resumes the conversation: the transcript is restored once, then the live stream (SSE) continues
 * after the last message seen. Messages are deduplicated by id and seq, and every send carries a
 * client_message_id that a retry reuses, so nothing is lost or shown twice.
 */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || window.__madoguchiWidget) return;
  window.__madoguchiWidget = true;
  performance.mark('madoguchi:script-start');

  var BASE = new URL(script.src, location.href).origin;
  var STORE_KEY = 'madoguchi:conversation:' + BASE;
  var OUTBOX_KEY = 'madoguchi:outbox:' + BASE;
  var RETRY_DELAYS = [500, 1000, 2000, 4000, 8000, 15000];
  var TYPING_MS = 6000;

  var STRINGS = {
    ja: {
      launcherOpen: 'チャットで問い合わせる', launcherClose: 'チャットを閉じる',
      title: 'お問い合わせ', subtitle: 'AIアシスタントと担当者がお答えします',
      close: '閉じる', log: 'メッセージ履歴', input: 'メッセージ',
      placeholder: 'メッセージを入力…', hint: 'Enterで送信・Shift+Enterで改行', send: '送信',
      greeting: 'こんにちは！ご注文・配送・返品など、お気軽にご質問ください。',
      you: 'あなた', bot: 'AIアシスタント', agent: '担当者', agentNamed: '担当者 {agent}', system: 'お知らせ',
      botTyping: 'AIアシスタントが入力中…', agentTyping: '{agent}が入力中…',
      helpful: '役に立った', notHelpful: '役に立たなかった', thanks: 'ご意見ありがとうございます。',
      sending: '送信中…', retrying: '再送信中…', failed: '送信できませんでした。',
      offline: '接続が切れています。再接続すると自動で送信します。',
      handoff: '担当者におつなぎします。', handoffPending: '担当者へのおつなぎを待っています。',
      position: '現在{position}番目にお待ちいただいています。', wait: '目安の待ち時間は約{minutes}分です。',
      waitSoon: 'まもなく担当者がご対応します。',
      closed: '現在は営業時間外です。{next}から担当者が順にご対応します。',
      closedUnknown: '現在は営業時間外です。営業時間内に担当者がご対応します。',
      joined: '担当の{agent}がご対応します。', backToBot: 'AIアシスタントが対応を再開しました。',
      end: '会話を終了', ended: 'この会話は終了しました。',
      csatQuestion: '今回の対応はいかがでしたか？', csatComment: 'コメント（任意）', csatSubmit: '評価を送る',
      csatScores: ['1 とても不満', '2 不満', '3 普通', '4 満足', '5 とても満足'],
      csatThanks: 'ご評価ありがとうございました。', restart: '新しい会話を始める', sep: '',
    },
    en: {
      launcherOpen: 'Open chat', launcherClose: 'Close chat',
      title: 'Customer support', subtitle: 'Our assistant and our team answer here',
      close: 'Close', log: 'Messages', input: 'Message',
      placeholder: 'Type a message…', hint: 'Enter to send, Shift+Enter for a new line', send: 'Send',
      greeting: 'Hello! Ask us anything about orders, delivery or returns.',
      you: 'You', bot: 'Assistant', agent: 'Agent', agentNamed: 'Agent {agent}', system: 'Notice',
      botTyping: 'The assistant is typing…', agentTyping: '{agent} is typing…',
      helpful: 'Helpful', notHelpful: 'Not helpful', thanks: 'Thank you for your feedback.',
      sending: 'Sending…', retrying: 'Retrying…', failed: 'Could not be delivered.',
      offline: 'You are offline. Your messages go out when the connection returns.',
      handoff: 'We are connecting you to a person.', handoffPending: 'Waiting for a person to join.',
      position: 'You are number {position} in the queue.', wait: 'Expected wait: about {minutes} min.',
      waitSoon: 'Someone will be with you shortly.',
      closed: 'Our team is offline right now. People answer again from {next}.',
      closedUnknown: 'Our team is offline right now. We answer during business hours.',
      joined: '{agent} has joined.', backToBot: 'The assistant is answering again.',
      end: 'End conversation', ended: 'This conversation has ended.',
      csatQuestion: 'How was your experience?', csatComment: 'Comment (optional)', csatSubmit: 'Submit rating',
      csatScores: ['1 Very poor', '2 Poor', '3 OK', '4 Good', '5 Excellent'],
      csatThanks: 'Thank you for your rating.', restart: 'Start a new conversation', sep: ' ',
    },
  };

  function pickLocale(wanted) {
    var candidates = [wanted].concat(navigator.languages || [navigator.language]);
    for (var i = 0; i < candidates.length; i++) {
      var code = String(candidates[i] || '').toLowerCase().slice(0, 2);
      if (STRINGS[code]) return code;
    }
    return 'en';
  }
  var LOCALE = pickLocale(script.dataset.locale);
  var T = STRINGS[LOCALE];
  function t(key, vars) {
    return T[key].replace(/\{(\w+)\}/g, function (_, name) {
      return vars && vars[name] != null ? String(vars[name]) : '';
    });
  }

  // ---- DOM helpers (text only: no innerHTML anywhere) ----
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) {
      if (name === 'text') node.textContent = attrs[name];
      else if (name === 'class') node.className = attrs[name];
      else if (attrs[name] != null && attrs[name] !== false) node.setAttribute(name, attrs[name]);
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  /** Appends `text` to `parent`, turning http(s) URLs into safe links; everything else is text. */
  function appendLinkified(parent, text) {
    var re = /https?:\/\/[^\s<>"'「」（）、。]+/g;
    var at = 0, match;
    while ((match = re.exec(text))) {
      var url = match[0].replace(/[.,;:!?)\]]+$/, '');
      var safe = null;
      try { safe = new URL(url); } catch (e) { safe = null; }
      if (!safe || (safe.protocol !== 'http:' && safe.protocol !== 'https:')) continue;
      parent.appendChild(document.createTextNode(text.slice(at, match.index)));
      parent.appendChild(el('a', { href: safe.href, target: '_blank', rel: 'noopener noreferrer', text: url }));
      at = match.index + url.length;
      re.lastIndex = at;
    }
    parent.appendChild(document.createTextNode(text.slice(at)));
  }

  // Made on first use: loading the locale's date data is slow and the launcher must not wait.
  var formats = {};
  function format(kind, date) {
    if (!formats[kind]) {
      formats[kind] = new Intl.DateTimeFormat(LOCALE, kind === 'time'
        ? { hour: '2-digit', minute: '2-digit' }
        : { month: 'short', day: 'numeric', weekday: 'short', hour: '2-digit', minute: '2-digit' });
    }
    return formats[kind].format(date);
  }

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join('');
  }

  // ---- The shadow root: styles and skeleton ----
  var host = el('div', { id: 'madoguchi-widget', 'data-madoguchi': '' });
  var root = host.attachShadow({ mode: 'open' });
  var CSS = [
    ':host{all:initial}',
    '*{box-sizing:border-box}',
    '.w{font:15px/1.5 system-ui,-apple-system,"Hiragino Sans","Noto Sans JP","Yu Gothic UI",Meiryo,sans-serif;color:#1f1f1f}',
    'button,textarea,input{font:inherit;color:inherit}',
    ':focus-visible{outline:3px solid #e37400;outline-offset:2px}',
    '.launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;display:flex;align-items:center;gap:8px;',
    'border:0;border-radius:28px;padding:14px 20px;background:#0b57d0;color:#fff;font-weight:600;cursor:pointer;',
    'box-shadow:0 4px 14px rgba(0,0,0,.25)}',
    '.launcher:hover{background:#0842a0}',
    '.launcher svg{width:22px;height:22px;fill:currentColor}',
    '.panel{position:fixed;right:20px;bottom:88px;z-index:2147483001;width:380px;height:min(620px,calc(100vh - 110px));',
    'display:flex;flex-direction:column;background:#fff;border-radius:14px;overflow:hidden;',
    'box-shadow:0 8px 30px rgba(0,0,0,.28)}',
    '.panel[hidden]{display:none}',
    '.head{display:flex;align-items:center;gap:8px;padding:12px 14px;background:#0b57d0;color:#fff}',
    '.head h2{margin:0;font-size:16px}.head p{margin:0;font-size:12px}',
    '.head .grow{flex:1}',
    '.icon{border:0;background:transparent;color:#fff;border-radius:8px;width:36px;height:36px;cursor:pointer;font-size:20px}',
    '.icon:hover{background:#0842a0}',
    '.banner{margin:0;padding:8px 14px;font-size:13px;border-bottom:1px solid #dadce0}',
    '.banner[hidden]{display:none}',
    '.notice{background:#fef7e0;color:#3c2a00}',
    '.offline{background:#fce8e6;color:#8c1d18}',
    '.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px;background:#fff}',
    '.msg{max-width:85%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere}',
    '.msg .who{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}',
    '.msg .meta{display:block;font-size:11px;margin-top:2px;color:#4d5156}',
    '.msg a{color:inherit;text-decoration:underline}',
    '.customer{align-self:flex-end;background:#0b57d0;color:#fff;border-bottom-right-radius:4px}',
    '.customer .meta{color:#fff;text-align:right}',
    '.bot{align-self:flex-start;background:#f1f3f4;border-bottom-left-radius:4px}',
    '.agent{align-self:flex-start;background:#e6f4ea;color:#0d2e17;border-left:4px solid #137333;border-bottom-left-radius:4px}',
    '.agent .who{position:static;width:auto;height:auto;clip:auto;display:block;font-size:12px;font-weight:700;color:#0d5323}',
    '.system{align-self:center;background:#fff;border:1px dashed #80868b;font-size:13px;color:#3c4043}',
    '.pending{opacity:.85}.failed{outline:2px solid #b3261e}',
    '.chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}',
    '.chip{border:1px solid #0b57d0;background:#fff;color:#0b57d0;border-radius:16px;padding:4px 12px;cursor:pointer;font-size:14px}',
    '.chip:hover{background:#e8f0fe}',
    '.rate{display:flex;gap:4px;align-items:center;margin-top:4px}',
    '.rate button{display:flex;align-items:center;border:1px solid #80868b;background:#fff;color:#3c4043;border-radius:12px;padding:3px 8px;cursor:pointer}',
    '.rate svg{width:16px;height:16px;fill:currentColor}',
    '.rate button[aria-pressed=true]{background:#d3e3fd;border-color:#0b57d0;color:#0b57d0}',
    '.rate span{font-size:12px;color:#3c4043}',
    '.typing{padding:0 14px 6px;font-size:13px;color:#3c4043;min-height:0}',
    '.typing[hidden]{display:none}',
    '.dots::after{content:"";display:inline-block;width:1.2em;text-align:left;animation:d 1.2s steps(4) infinite}',
    '@keyframes d{0%{content:""}25%{content:"."}50%{content:".."}75%{content:"..."}}',
    '@media (prefers-reduced-motion:reduce){.dots::after{animation:none}}',
    '.compose{display:flex;gap:8px;padding:10px;border-top:1px solid #dadce0;align-items:flex-end}',
    '.compose textarea{flex:1;resize:none;min-height:44px;max-height:120px;padding:10px;border:1px solid #80868b;border-radius:10px;background:#fff}',
    '.send{border:0;border-radius:10px;background:#0b57d0;color:#fff;padding:0 16px;height:44px;font-weight:600;cursor:pointer}',
    '.send:disabled{background:#5f6368}',
    '.foot{display:flex;justify-content:space-between;align-items:center;gap:8px;padding:0 10px 8px}',
    '.hint{font-size:12px;color:#4d5156}',
    '.link{border:0;background:transparent;color:#0b57d0;text-decoration:underline;cursor:pointer;font-size:13px;padding:4px;white-space:nowrap}',
    '.csat{padding:10px 14px;border-top:1px solid #dadce0;background:#f8fafd}',
    '.csat[hidden]{display:none}',
    '.csat fieldset{border:0;margin:0;padding:0}.csat legend{font-weight:600;padding:0;margin-bottom:6px}',
    '.scores{display:flex;flex-wrap:wrap;gap:6px}',
    '.scores label{display:flex;align-items:center;gap:4px;border:1px solid #c4c7c5;border-radius:8px;padding:2px 8px;background:#fff;font-size:13px;cursor:pointer}',
    '.csat textarea{width:100%;margin-top:4px;min-height:44px;border:1px solid #80868b;border-radius:8px;padding:6px}',
    '.csat .row{display:flex;gap:8px;align-items:center;margin-top:8px}',
    '.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}',
    '@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100%;border-radius:0}',
    '.launcher{right:12px;bottom:12px}}',
  ].join('');
  if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
    // A constructed sheet works under a host page's strict style-src (no inline <style> needed).
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(el('style', { text: CSS }));
  }

  var ids = { panel: 'mg-panel', title: 'mg-title', input: 'mg-input' };
  var wrap = el('div', { class: 'w', lang: LOCALE });
  var svgNs = 'http://www.w3.org/2000/svg';
  var icon = document.createElementNS(svgNs, 'svg');
  icon.setAttribute('viewBox', '0 0 24 24');
  icon.setAttribute('aria-hidden', 'true');
  var iconPath = document.createElementNS(svgNs, 'path');
  iconPath.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z');
  icon.appendChild(iconPath);
  var launcherLabel = el('span', { text: T.launcherOpen });
  var launcher = el('button', { type: 'button', class: 'launcher', 'aria-expanded': 'false', 'aria-controls': ids.panel }, [icon, launcherLabel]);
  wrap.appendChild(launcher);
  root.appendChild(wrap);

  function mount() {
    performance.mark('madoguchi:launcher-built');
    document.body.appendChild(host);
    performance.mark('madoguchi:launcher-attached');
    // The launcher is on screen after the next frame; the panel and the network wait until then.
    requestAnimationFrame(function () {
      setTimeout(function () {
        performance.mark('madoguchi:launcher-painted');
        performance.measure('madoguchi:first-paint', 'madoguchi:script-start', 'madoguchi:launcher-painted');
        buildPanel();
        restore();
      }, 0);
    });
  }

  // ---- The panel (built right after the launcher is on screen) ----
  var ui = {};
  function buildPanel() {
    ui.closeBtn = el('button', { type: 'button', class: 'icon', 'aria-label': T.close, text: '×' });
    ui.notice = el('p', { class: 'banner notice', role: 'status', hidden: '' });
    ui.offline = el('p', { class: 'banner offline', role: 'status', hidden: '' });
    ui.log = el('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': T.log, tabindex: '0' });
    ui.typing = el('div', { class: 'typing', role: 'status', hidden: '' });
    ui.input = el('textarea', { id: ids.input, rows: '1', placeholder: T.placeholder, autocomplete: 'off', 'aria-describedby': 'mg-hint' });
    ui.send = el('button', { type: 'submit', class: 'send', text: T.send });
    ui.form = el('form', { class: 'compose' }, [
      el('label', { class: 'vh', for: ids.input, text: T.input }), ui.input, ui.send,
    ]);
    ui.endBtn = el('button', { type: 'button', class: 'link', text: T.end });
    ui.csat = el('div', { class: 'csat', hidden: '' });
    ui.panel = el('div', { class: 'panel', id: ids.panel, role: 'dialog', 'aria-labelledby': ids.title, hidden: '' }, [
      el('div', { class: 'head' }, [
        el('div', { class: 'grow' }, [el('h2', { id: ids.title, text: T.title }), el('p', { text: T.subtitle })]),
        ui.closeBtn,
      ]),
      ui.notice, ui.offline, ui.log, ui.typing, ui.csat, ui.form,
      el('div', { class: 'foot' }, [el('span', { id: 'mg-hint', class: 'hint', text: T.hint }), ui.endBtn]),
    ]);
    wrap.insertBefore(ui.panel, launcher);
    greet();

    launcher.addEventListener('click', function () { setOpen(ui.panel.hidden); });
    ui.closeBtn.addEventListener('click', function () { setOpen(false); });
    ui.panel.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && !isComposingKey(e)) { e.preventDefault(); setOpen(false); }
    });
    ui.form.addEventListener('submit', function (e) { e.preventDefault(); submitInput(); });
    ui.endBtn.addEventListener('click', endByCustomer);
    wireComposition(ui.input);
    window.addEventListener('online', function () { setOffline(false); flushOutbox(); openStream(); });
    window.addEventListener('offline', function () { setOffline(true); });
    if (!navigator.onLine) setOffline(true);
  }

  function greet() {
    ui.log.appendChild(el('div', { class: 'msg bot greeting' }, [
      el('span', { class: 'who', text: T.bot + ': ' }), el('span', { text: T.greeting }),
    ]));
  }

  function setOpen(open) {
    ui.panel.hidden = !open;
    launcher.setAttribute('aria-expanded', String(open));
    launcherLabel.textContent = open ? T.launcherClose : T.launcherOpen;
    if (open) {
      ui.input.focus();
      scrollToEnd();
    } else {
      launcher.focus();
    }
  }

  // ---- Enter sends; Enter during IME composition never does ----
  var composing = false;
  var compositionJustEnded = false;
  function isComposingKey(e) {
    return e.isComposing || e.keyCode === 229 || composing || compositionJustEnded;
  }
  function wireComposition(input) {
    input.addEventListener('compositionstart', function () { composing = true; });
    input.addEventListener('compositionend', function () {
      composing = false;
      // Safari fires compositionend *before* the keydown of the Enter that commits the text:
      // that keydown (queued in the same turn) must not send.
      compositionJustEnded = true;
      setTimeout(function () { compositionJustEnded = false; }, 0);
    });
    input.addEventListener('keydown', function (e) {
      if (e.key !== 'Enter' || e.shiftKey) return;
      if (isComposingKey(e)) {
        if (compositionJustEnded) e.preventDefault();
        return;
      }
      e.preventDefault();
      submitInput();
    });
  }

  function submitInput() {
    var text = ui.input.value.trim();
    if (!text || state.ended) return;
    ui.input.value = '';
    send(text, text);
  }

  // ---- Conversation state ----
  var state = {
    id: null, token: null, status: 'bot', lastSeq: 0, ended: false,
    seen: {}, pending: {}, outbox: [], flushing: false,
    stream: null, streamRetry: 0, streamTimer: null, typingTimer: null,
    quickLabels: {}, csatShown: false, agentNames: {},
  };

  function saved() {
    try { return JSON.parse(localStorage.getItem(STORE_KEY) || 'null'); } catch (e) { return null; }
  }
  function save() {
    try { localStorage.setItem(STORE_KEY, JSON.stringify({ id: state.id, token: state.token })); } catch (e) { /* private mode */ }
  }
  function forget() {
    try { localStorage.removeItem(STORE_KEY); } catch (e) { /* private mode */ }
  }

  /** fetch with the token; throws {network:true} when the network failed, {status} on HTTP errors. */
  function api(method, path, body) {
    var headers = { 'Content-Type': 'application/json' };
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    return fetch(BASE + path, {
      method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', referrerPolicy: 'strict-origin-when-cross-origin',
    }).then(function (r) {
      setOffline(false);
      if (!r.ok) {
        var error = new Error('HTTP ' + r.status);
        error.status = r.status;
        throw error;
      }
      return r.json();
    }, function () {
      setOffline(true);
      var error = new Error('network');
      error.network = true;
      throw error;
    });
  }
  function retryable(error) {
    return error.network || error.status === 429 || error.status >= 500;
  }

  /** On load: the stored conversation's transcript, once; then its live stream. */
  function restore() {
    var s = saved();
    if (!s || !s.id || !s.token) return restoreOutbox([]);
    state.id = s.id;
    state.token = s.token;
    api('GET', '/v1/conversations/' + encodeURIComponent(s.id)).then(function (c) {
      if (c.status === 'resolved') return startFresh();
      ui.log.setAttribute('aria-live', 'off'); // only new messages are announced
      if (c.handoff) showHandoff(c.handoff); // first: it names the agent for their messages
      else setStatus(c.status, null, true);
      c.messages.forEach(showMessage);
      setTimeout(function () { ui.log.setAttribute('aria-live', 'polite'); }, 0);
      restoreOutbox(c.messages);
      openStream();
    }, function (error) {
      if (retryable(error)) return setTimeout(restore, 2000);
      startFresh(); // gone or no longer ours
    });
  }

  function startFresh() {
    closeStream();
    forget();
    state.id = state.token = null;
    state.status = 'bot';
    state.lastSeq = 0;
    state.ended = false;
    state.csatShown = false;
    state.seen = {};
    state.pending = {};
    state.outbox = []; // they were for the conversation that is gone
    saveOutbox();
    ui.log.textContent = '';
    greet();
    ui.csat.hidden = true;
    ui.csat.textContent = '';
    ui.notice.hidden = true;
    ui.form.hidden = false;
    ui.endBtn.hidden = false;
    showTyping(null);
  }

  function ensureConversation() {
    if (state.id) return Promise.resolve();
    if (state.starting) return state.starting;
    state.starting = api('POST', '/v1/conversations', { locale: LOCALE }).then(function (c) {
      state.id = c.id;
      state.token = c.token;
      state.starting = null;
      save();
      openStream();
    }, function (error) {
      state.starting = null;
      throw error;
    });
    return state.starting;
  }

  // ---- Sending, with retries under the same client_message_id ----
  // Unacknowledged messages are kept in localStorage with their client_message_id, so a reload or
  // a closed tab loses none; the server answers a resend of the same id once.
  function send(text, shown) {
    queue({ text: text, shown: shown, cid: newClientId(), at: new Date().toISOString() });
    saveOutbox();
    flushOutbox();
  }

  function queue(entry) {
    var item = { text: entry.text, shown: entry.shown || entry.text, cid: entry.cid, at: entry.at, attempt: 0 };
    item.node = renderBubble({ role: 'customer', text: item.shown, created_at: item.at }, true);
    item.node.classList.add('pending');
    setMeta(item.node, T.sending);
    state.pending[item.cid] = item;
    state.outbox.push(item);
  }

  function saveOutbox() {
    var entries = state.outbox.map(function (i) { return { text: i.text, shown: i.shown, cid: i.cid, at: i.at }; });
    try {
      if (entries.length) localStorage.setItem(OUTBOX_KEY, JSON.stringify(entries));
      else localStorage.removeItem(OUTBOX_KEY);
    } catch (e) { /* private mode: kept in memory only */ }
  }

  /** After a reload: what was never acknowledged is shown again and resent, unless the server has it. */
  function restoreOutbox(messages) {
    var entries;
    try { entries = JSON.parse(localStorage.getItem(OUTBOX_KEY) || '[]'); } catch (e) { entries = []; }
    if (!Array.isArray(entries)) return;
    var stored = {};
    messages.forEach(function (m) { if (m.client_message_id) stored[m.client_message_id] = true; });
    entries.forEach(function (entry) {
      if (entry && entry.cid && typeof entry.text === 'string' && !stored[entry.cid] && !state.pending[entry.cid]) queue(entry);
    });
    saveOutbox();
    flushOutbox();
  }

  function flushOutbox() {
    if (state.flushing || !state.outbox.length) return;
    state.flushing = true;
    var item = state.outbox[0];
    if (state.status === 'bot') showTyping('bot');
    ensureConversation().then(function () {
      return api('POST', '/v1/conversations/' + encodeURIComponent(state.id) + '/messages',
        { text: item.text, client_message_id: item.cid });
    }).then(function (reply) {
      if (state.outbox[0] === item) state.outbox.shift();
      saveOutbox();
      state.flushing = false;
      delivered(item, reply);
      flushOutbox();
    }, function (error) {
      state.flushing = false;
      if (retryable(error)) {
        setMeta(item.node, T.retrying);
        var delay = RETRY_DELAYS[Math.min(item.attempt++, RETRY_DELAYS.length - 1)];
        setTimeout(flushOutbox, delay);
        return;
      }
      if (state.outbox[0] === item) state.outbox.shift();
      saveOutbox();
      showTyping(null);
      item.node.classList.remove('pending');
      item.node.classList.add('failed');
      setMeta(item.node, T.failed);
      if (error.status === 404 || error.status === 403 || error.status === 401 || error.status === 409) {
        startFresh();
      }
      flushOutbox();
    });
  }

  function delivered(item, reply) {
    item.node.classList.remove('pending');
    adoptCustomerMessage(item.node, reply.message_id, null);
    setMeta(item.node, null);
    delete state.pending[item.cid];
    if (state.status === 'bot' && !reply.handoff) showTyping(null);
    if (reply.reply && reply.reply_id) {
      showMessage({
        id: reply.reply_id, role: 'bot', text: reply.reply, created_at: new Date().toISOString(),
        action: reply.action, quick_replies: reply.quick_replies,
      });
    }
    if (reply.handoff) {
      showTyping(null);
      showHandoff(reply.handoff);
    }
  }

  // ---- Rendering messages (deduplicated by id) ----
  function showMessage(m) {
    if (m.seq && m.seq > state.lastSeq) state.lastSeq = m.seq;
    if (state.seen[m.id]) return;
    if (m.role === 'customer' && m.client_message_id && state.pending[m.client_message_id]) {
      adoptCustomerMessage(state.pending[m.client_message_id].node, m.id, m.seq);
      return;
    }
    state.seen[m.id] = true;
    if (m.role !== 'customer') clearChips();
    if (m.role === 'bot' && Array.isArray(m.quick_replies)) {
      m.quick_replies.forEach(function (q) { state.quickLabels[q.value] = q.label; });
    }
    var shown = m.role === 'customer' && state.quickLabels[m.text] ? { text: state.quickLabels[m.text] } : {};
    var node = renderBubble(Object.assign({}, m, shown), false);
    if (m.role === 'bot') decorateBot(node, m);
    if (m.role === 'agent') showTyping(null);
    scrollToEnd();
  }

  function adoptCustomerMessage(node, id, seq) {
    if (!id || node.getAttribute('data-id')) return;
    state.seen[id] = true;
    node.setAttribute('data-id', id);
    if (seq) node.setAttribute('data-seq', String(seq));
  }

  function renderBubble(m, local) {
    var who = m.role === 'customer' ? T.you : m.role === 'bot' ? T.bot : m.role === 'agent'
      ? (m.agent_id ? t('agentNamed', { agent: agentName(m.agent_id) }) : T.agent) : T.system;
    var body = el('span', { class: 'text' });
    appendLinkified(body, String(m.text || ''));
    var when = new Date(m.created_at || Date.now());
    var node = el('div', { class: 'msg ' + (m.role || 'system'), 'data-role': m.role }, [
      el('span', { class: 'who', text: who + (m.role === 'agent' ? '' : ': ') }),
      body,
      el('time', { class: 'meta', datetime: when.toISOString(), text: format('time', when) }),
    ]);
    if (!local && m.id) node.setAttribute('data-id', m.id);
    if (m.seq) node.setAttribute('data-seq', String(m.seq));
    ui.log.appendChild(node);
    scrollToEnd();
    return node;
  }

  /** The name customers see for an agent account (known once the ticket's state was read). */
  function agentName(id) {
    return state.agentNames[id] || id;
  }

  function setMeta(node, note) {
    var meta = node.querySelector('.meta');
    var extra = node.querySelector('.note');
    if (!note) { if (extra) extra.remove(); return; }
    if (!extra) { extra = el('span', { class: 'note' }); meta.appendChild(extra); }
    extra.textContent = ' · ' + note;
  }

  function decorateBot(node, m) {
    var replies = Array.isArray(m.quick_replies) ? m.quick_replies : [];
    if (replies.length && state.status === 'bot' && !state.ended) {
      var chips = el('div', { class: 'chips' });
      replies.forEach(function (q) {
        var chip = el('button', { type: 'button', class: 'chip', text: q.label });
        chip.addEventListener('click', function () { clearChips(); send(q.value, q.label); });
        chips.appendChild(chip);
      });
      node.appendChild(chips);
    }
    if (!m.action || m.action === 'answer') node.appendChild(rating(m));
  }

  function clearChips() {
    Array.prototype.forEach.call(ui.log.querySelectorAll('.chips'), function (c) { c.remove(); });
  }

  // Thumbs up (Material Icons, Apache-2.0): drawn, so no emoji font is needed.
  var THUMB = 'M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 ' +
    '7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z';
  function thumb(down) {
    var svg = document.createElementNS(svgNs, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    if (down) svg.setAttribute('transform', 'rotate(180)');
    var path = document.createElementNS(svgNs, 'path');
    path.setAttribute('d', THUMB);
    svg.appendChild(path);
    return svg;
  }

  /** 👍/👎 on a bot answer. */
  function rating(m) {
    var up = el('button', { type: 'button', 'aria-label': T.helpful, 'aria-pressed': String(m.feedback_helpful === true) }, [thumb(false)]);
    var down = el('button', { type: 'button', 'aria-label': T.notHelpful, 'aria-pressed': String(m.feedback_helpful === false) }, [thumb(true)]);
    var note = el('span', { role: 'status' });
    function rate(helpful) {
      api('POST', '/v1/conversations/' + encodeURIComponent(state.id) + '/messages/' + encodeURIComponent(m.id) + '/feedback',
        { helpful: helpful }).then(function () {
        up.setAttribute('aria-pressed', String(helpful));
        down.setAttribute('aria-pressed', String(!helpful));
        note.textContent = T.thanks;
      }, function () { note.textContent = T.failed; });
    }
    up.addEventListener('click', function () { rate(true); });
    down.addEventListener('click', function () { rate(false); });
    return el('div', { class: 'rate' }, [up, down, note]);
  }

  function scrollToEnd() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function showTyping(who, agent) {
    clearTimeout(state.typingTimer);
    if (!who) { ui.typing.hidden = true; ui.typing.textContent = ''; return; }
    ui.typing.textContent = '';
    ui.typing.appendChild(el('span', { class: 'dots', text: who === 'bot' ? T.botTyping : t('agentTyping', { agent: agent ? agentName(agent) : T.agent }) }));
    ui.typing.hidden = false;
    if (who === 'agent') state.typingTimer = setTimeout(function () { showTyping(null); }, TYPING_MS);
  }

  function setOffline(offline) {
    ui.offline.textContent = offline ? T.offline : '';
    ui.offline.hidden = !offline;
  }

  // ---- Handoff: honest about who answers and when ----
  // `h`: a turn's handoff, or the transcript's open ticket (after a reload).
  function showHandoff(h) {
    if (h.status === 'claimed') {
      if (h.agent_id && h.agent_name) state.agentNames[h.agent_id] = h.agent_name;
      setStatus('agent', null, true);
      setNotice(t('joined', { agent: h.agent_name || h.agent_id || T.agent }));
      return;
    }
    var wait = h.expected_wait || {};
    var parts = [T.handoff];
    if (h.position) parts.push(t('position', { position: h.position }));
    if (wait.open_now === false) {
      parts.push(wait.next_open ? t('closed', { next: format('date', new Date(wait.next_open)) }) : T.closedUnknown);
    } else {
      parts.push(wait.minutes ? t('wait', { minutes: wait.minutes }) : T.waitSoon);
    }
    setStatus('handoff', null, true);
    setNotice(parts.join(T.sep));
  }

  /** The open ticket's state again (a person joined: their name; else the queue). */
  function refreshTicket() {
    if (!state.id) return;
    api('GET', '/v1/conversations/' + encodeURIComponent(state.id)).then(function (c) {
      if (c.handoff && !state.ended) showHandoff(c.handoff);
    }, function () { /* the stream's own notice stays */ });
  }

  function setNotice(text) {
    ui.notice.textContent = text || '';
    ui.notice.hidden = !text;
    scrollToEnd(); // the banner took room from the log
  }

  function setStatus(status, agentId, quiet) {
    var before = state.status;
    state.status = status;
    if (status === 'agent') {
      clearChips();
      if (agentId) setNotice(t('joined', { agent: agentName(agentId) }));
      else if (ui.notice.hidden) setNotice(T.handoffPending);
    } else if (status === 'handoff') {
      clearChips();
      if (ui.notice.hidden) setNotice(T.handoffPending);
    } else if (status === 'bot') {
      setNotice(null);
      if (!quiet && before !== 'bot') systemLine(T.backToBot);
    } else if (status === 'resolved') {
      ended();
    }
  }

  function systemLine(text) {
    renderBubble({ role: 'system', text: text, created_at: new Date().toISOString() }, true);
  }

  // ---- The live stream: a fresh single-use ticket per connection, resumed after the last seq ----
  function openStream() {
    if (!state.id || state.ended || state.stream || state.openingStream) return;
    state.openingStream = true;
    var path = '/v1/conversations/' + encodeURIComponent(state.id) + '/events';
    api('POST', path + '/ticket').then(function (r) {
      state.openingStream = false;
      if (state.stream || state.ended) return;
      var es = new EventSource(BASE + path + '?ticket=' + encodeURIComponent(r.ticket) + '&after=' + state.lastSeq);
      state.stream = es;
      es.addEventListener('open', function () { state.streamRetry = 0; });
      es.addEventListener('message', function (e) { withJson(e, showMessage); });
      es.addEventListener('status', function (e) {
        withJson(e, function (s) {
          setStatus(s.status, s.agent_id);
          if (s.status === 'agent' || s.status === 'handoff') refreshTicket();
        });
      });
      es.addEventListener('typing', function (e) {
        withJson(e, function (s) { if (s.role === 'agent') showTyping('agent', s.agent_id); });
      });
      es.addEventListener('end', function () { closeStream(); setStatus('resolved'); });
      // The ticket is single-use, so the browser's own reconnect cannot work: reconnect ourselves.
      es.addEventListener('error', function () { closeStream(); reconnectLater(); });
    }, function (error) {
      state.openingStream = false;
      if (retryable(error)) reconnectLater();
      else if (error.status === 404 || error.status === 403 || error.status === 401) startFresh();
    });
  }

  function withJson(e, handle) {
    var data;
    try { data = JSON.parse(e.data); } catch (err) { return; }
    handle(data);
  }

  function closeStream() {
    if (state.stream) state.stream.close();
    state.stream = null;
    clearTimeout(state.streamTimer);
  }

  function reconnectLater() {
    if (state.ended) return;
    var delay = RETRY_DELAYS[Math.min(state.streamRetry++, RETRY_DELAYS.length - 1)];
    clearTimeout(state.streamTimer);
    state.streamTimer = setTimeout(openStream, delay);
  }

  // ---- The end: CSAT 1–5 with an optional comment ----
  function endByCustomer() {
    if (!state.id) { startFresh(); return; }
    api('POST', '/v1/conversations/' + encodeURIComponent(state.id) + '/end').then(function () {
      closeStream();
      ended();
    }, function () { setOffline(!navigator.onLine); });
  }

  function ended() {
    state.ended = true;
    showTyping(null);
    clearChips();
    closeStream();
    ui.form.hidden = true;
    ui.endBtn.hidden = true;
    if (state.csatShown) return;
    state.csatShown = true;
    systemLine(T.ended);
    showCsat();
  }

  function showCsat() {
    var name = 'mg-score';
    var scores = el('div', { class: 'scores' });
    T.csatScores.forEach(function (label, i) {
      scores.appendChild(el('label', {}, [
        el('input', { type: 'radio', name: name, value: String(i + 1), required: '' }), el('span', { text: label }),
      ]));
    });
    var comment = el('textarea', { id: 'mg-csat-comment', maxlength: '2000' });
    var submit = el('button', { type: 'submit', class: 'send', text: T.csatSubmit });
    var restart = el('button', { type: 'button', class: 'link', text: T.restart });
    var form = el('form', {}, [
      el('fieldset', {}, [el('legend', { text: T.csatQuestion }), scores]),
      el('label', { for: 'mg-csat-comment', text: T.csatComment }), comment,
      el('div', { class: 'row' }, [submit, restart]),
    ]);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var picked = form.querySelector('input[name=' + name + ']:checked');
      if (!picked) return;
      var body = { score: Number(picked.value) };
      if (comment.value.trim()) body.comment = comment.value.trim();
      submit.disabled = true;
      api('POST', '/v1/conversations/' + encodeURIComponent(state.id) + '/csat', body).then(function () {
        ui.csat.textContent = '';
        ui.csat.appendChild(el('p', { role: 'status', text: T.csatThanks }));
        var again = el('button', { type: 'button', class: 'link', text: T.restart });
        again.addEventListener('click', startFresh);
        ui.csat.appendChild(again);
        forget();
        again.focus();
      }, function () { submit.disabled = false; });
    });
    restart.addEventListener('click', startFresh);
    ui.csat.textContent = '';
    ui.csat.appendChild(form);
    ui.csat.hidden = false;
  }

  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
