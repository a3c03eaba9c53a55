// The helpline's web chat, for any site, with one tag:
//   <script src="https://HELPLINE/static/widget.js" data-helpline="https://HELPLINE" defer></script>
// Optional: data-exit-url (where quick exit goes), data-country (the organisation's
// country, for its numbers), data-open (open at once).
//
// It lives in a shadow root, so that the page's CSS cannot break it. It talks to
// the helpline over a WebSocket (bot/chat_socket.py) and falls back to
// POST /api/chat when no socket can open. The helpline acknowledges a message once
// it has answered it; until then the message shows that it waits, and it is resent,
// with the same id, after every reconnect (the helpline may have restarted and lost
// it; it answers an id once). Nothing is stored in the browser: no
// cookies, no storage; the tab's session id lives in this script's memory only.
// Quick exit (its button, or Escape) hides the page, clears the chat and replaces
// the page with a neutral site, so that Back does not return to it.
// Every text comes from the helpline (GET /api/chat/intro, from bot/web/texts.json).
(() => {
  "use strict";
  const script = document.currentScript;
  const helpline = new URL(script.dataset.helpline || new URL(script.src).origin);
  const exitUrl = script.dataset.exitUrl || "https://www.bbc.com/weather";
  const country = script.dataset.country || "";
  const socketUrl = new URL("/api/chat/socket", helpline);
  socketUrl.protocol = helpline.protocol === "https:" ? "wss:" : "ws:";
  const INTRO_RETRY_MS = 5000;
  const MAX_RECONNECT_MS = 30000;
  const fetchOptions = { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" };

  const CSS = `
    :host { all: initial !important; display: block !important; position: fixed !important;
            right: 0 !important; bottom: 0 !important; z-index: 2147483647 !important; }
    [hidden] { display: none !important; }
    * { box-sizing: border-box; }
    /* em, never rem: rem is the host page's root font size. */
    .widget { position: fixed; right: 1em; bottom: 1em; max-width: calc(100vw - 2em);
              display: flex; flex-direction: column; background: #fff; color: #1d1d1f;
              font: 16px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
              border: 1px solid #c9c2d6; border-radius: .75em; box-shadow: 0 .3em 1.2em rgba(0,0,0,.25); }
    .widget.open { width: 24em; height: min(38em, calc(100vh - 2em)); }
    .top { display: flex; flex-wrap: wrap; gap: .4em; align-items: center; padding: .5em;
           background: #f3f0f7; border-radius: .75em .75em 0 0; }
    .widget:not(.open) .top { border-radius: .75em; }
    h2 { flex: 1 1 100%; margin: 0; font-size: 1.05em; }
    label { display: flex; gap: .3em; align-items: center; flex: 1 1 8em; min-width: 0; font-size: .9em; }
    select { flex: 1 1 auto; width: 100%; min-width: 0; padding: .3em; }
    button, textarea, select { font: inherit; color: inherit; }
    button { cursor: pointer; border-radius: .4em; padding: .55em .8em; min-height: 2.75em; }
    .exit { background: #b00020; color: #fff; border: 0; font-weight: bold; }
    .toggle { background: #4b2e83; color: #fff; border: 0; }
    .body { flex: 1; display: flex; flex-direction: column; min-height: 0; }
    .log { flex: 1; overflow-y: auto; padding: .5em; overflow-wrap: anywhere; }
    .notice { background: #fff4e5; border-left: .3em solid #b00020; padding: .5em .7em; margin: 0 0 .5em; }
    .numbers { white-space: pre-line; font-weight: bold; margin: .3em 0 0; }
    .msg { max-width: 85%; width: fit-content; margin: .3em 0; padding: .5em .7em;
           border-radius: .6em; white-space: pre-wrap; }
    .her { margin-left: auto; background: #dcd3ee; }
    .bot { background: #eee; }
    /* Only when the answer takes a while: a quick one would make it flicker. */
    .note { display: block; font-size: .8em; color: #4a4a4a; visibility: hidden; animation: appear 0s 1s forwards; }
    @keyframes appear { to { visibility: visible; } }
    .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
    .buttons { display: flex; flex-wrap: wrap; gap: .3em; margin: .2em 0 .6em; }
    .buttons button { border: 1px solid #4b2e83; background: #fff; border-radius: 1.4em; text-align: left; }
    .status { margin: 0; padding: 0 .5em; font-size: .9em; color: #6b1a1a; }
    form { display: flex; gap: .3em; padding: .5em; border-top: 1px solid #ddd; }
    textarea { flex: 1; min-width: 0; resize: none; padding: .5em; border: 1px solid #888; border-radius: .4em; }
    .send { background: #4b2e83; color: #fff; border: 0; }
    :focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; }
    @media (max-width: 480px) {
      .widget.open { right: 0; bottom: 0; top: 0; left: 0; width: auto; height: auto; max-width: none;
                     border-radius: 0; border: 0; }
      .widget.open .top { border-radius: 0; }
    }`;

  let intro = null; // {language, languages, texts, numbers, max_chars}
  let session = null; // the tab's id: memory only
  let sessionRequest = null;
  const pending = new Map(); // id -> {text, bubble}: not answered yet (not acknowledged)
  let socket = null;
  let failures = 0;
  let socketWorked = false; // a socket opened here once: wait for the next, never post what it may hold
  let viaHttp = false;
  let httpQueue = Promise.resolve();
  let inFlight = null; // the id being posted over HTTP right now
  let exited = false;

  const host = document.createElement("helpline-chat");
  const root = host.attachShadow({ mode: "open" });
  const make = (tag, props = {}, children = []) => {
    const element = Object.assign(document.createElement(tag), props);
    element.append(...children);
    return element;
  };
  const title = make("h2", { id: "title", hidden: true });
  const languageLabel = make("span");
  const picker = make("select", { id: "language" });
  const pickerLabel = make("label", { hidden: true }, [languageLabel, picker]);
  const exitButton = make("button", { type: "button", className: "exit" });
  const toggle = make("button", { type: "button", className: "toggle" });
  const notEmergency = make("p", { className: "not-emergency" });
  const numbers = make("p", { className: "numbers" });
  const notice = make("div", { className: "notice" }, [notEmergency, numbers]);
  const log = make("div", { className: "log", tabIndex: 0 }, [notice]);
  const status = make("p", { className: "status", role: "status" });
  const input = make("textarea", { rows: 2, autocomplete: "off", spellcheck: true });
  const sendButton = make("button", { type: "submit", className: "send" });
  const form = make("form", {}, [input, sendButton]);
  const body = make("div", { className: "body", id: "chat", hidden: true }, [log, status, form]);
  const top = make("div", { className: "top" }, [title, pickerLabel, exitButton, toggle]);
  const widget = make("section", { className: "widget" }, [top, body]);
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  widget.setAttribute("aria-labelledby", "title");
  toggle.setAttribute("aria-controls", "chat");
  toggle.setAttribute("aria-expanded", "false");
  root.append(make("style", { textContent: CSS }), widget);

  const texts = () => intro.texts;
  const isOpen = () => !body.hidden;
  const newId = () =>
    Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");

  async function getJson(path, params = {}) {
    const url = new URL(path, helpline);
    for (const [name, value] of Object.entries(params)) if (value) url.searchParams.set(name, value);
    const response = await fetch(url, fetchOptions);
    if (!response.ok) throw new Error(String(response.status));
    return response.json();
  }

  function applyIntro(next) {
    intro = next;
    const t = texts();
    root.host.lang = intro.language;
    title.textContent = t.title;
    languageLabel.textContent = t.language;
    picker.replaceChildren(...intro.languages.map((l) => make("option", { value: l.code, textContent: l.name })));
    picker.value = intro.language;
    exitButton.textContent = t.exit;
    exitButton.title = t.exit_hint;
    toggle.textContent = isOpen() ? t.close : t.open;
    notEmergency.textContent = t.not_emergency;
    numbers.textContent = intro.numbers;
    log.setAttribute("aria-label", t.log_label);
    input.placeholder = t.placeholder;
    input.setAttribute("aria-label", t.placeholder);
    input.maxLength = intro.max_chars;
    sendButton.textContent = t.send;
    for (const note of log.querySelectorAll(".note")) note.textContent = t.waiting;
    if (status.textContent) status.textContent = t.reconnecting;
  }

  function show(text, who) {
    const speaker = make("span", { className: "sr", textContent: `${who === "her" ? texts().you : texts().helpline}: ` });
    const bubble = make("div", { className: `msg ${who}` }, [speaker, make("span", { className: "text", textContent: text })]);
    log.append(bubble);
    log.scrollTop = log.scrollHeight;
    return bubble;
  }

  function showReply(reply) {
    if (reply.text) show(reply.text, "bot");
    if (reply.buttons && reply.buttons.length) {
      const buttons = reply.buttons.map((b) => {
        const button = make("button", { type: "button", textContent: b.title });
        button.addEventListener("click", () => send(b.payload, b.title));
        return button;
      });
      log.append(make("div", { className: "buttons" }, buttons));
      log.scrollTop = log.scrollHeight;
    }
  }

  // --- sending: the socket while it is open, else the plain HTTP form -------------------------

  const frameOf = (id, text) => JSON.stringify({ type: "message", id, text });

  function send(text, shown) {
    const bubble = shown === null ? null : show(shown ?? text, "her");
    bubble?.append(make("span", { className: "note", textContent: texts().waiting }));
    const id = newId();
    pending.set(id, { text, bubble });
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(frameOf(id, text));
    else if (viaHttp) sendPendingOverHttp();
    else startSession(); // if it has none yet: her message goes when the socket opens
  }

  // Her message is answered: no more resending, no more "waiting".
  function settle(id) {
    pending.get(id)?.bubble?.querySelector(".note")?.remove();
    pending.delete(id);
  }

  // Her message will never be taken (too long...): say so, and do not block the ones after it.
  function refuse(id, code) {
    if (!pending.has(id)) return;
    settle(id);
    show(code === "too_long" ? texts().too_long : texts().unavailable, "bot");
  }

  function sendPendingOverHttp() {
    httpQueue = httpQueue.then(async () => {
      for (const [id, { text }] of [...pending]) {
        if (exited || !viaHttp) return;
        inFlight = id;
        try {
          const response = await fetch(new URL("/api/chat", helpline), {
            ...fetchOptions, method: "POST", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ session, text }),
          });
          if (response.status >= 400 && response.status < 500) {
            refuse(id, null);
            continue;
          }
          if (!response.ok) throw new Error(String(response.status));
          settle(id);
          for (const reply of await response.json()) showReply(reply);
        } catch (error) {
          if (socket && socket.readyState === WebSocket.OPEN) socket.send(frameOf(id, text)); // it opened meanwhile
          else show(texts().unavailable, "bot"); // kept: sent by the next socket, or with her next message
          return;
        } finally {
          inFlight = null;
        }
      }
    });
  }

  function receive(frame) {
    if (frame.type === "ack") settle(frame.id);
    else if (frame.type === "error" && frame.id) refuse(frame.id, frame.code);
    else if (frame.type === "reply") showReply(frame);
  }

  function connect() {
    if (exited || socket) return;
    const ws = new WebSocket(socketUrl);
    socket = ws;
    ws.addEventListener("open", () => {
      socketWorked = true;
      failures = 0;
      viaHttp = false;
      status.textContent = "";
      ws.send(JSON.stringify({ type: "hello", session }));
      for (const [id, { text }] of pending) if (id !== inFlight) ws.send(frameOf(id, text));
    });
    ws.addEventListener("message", (event) => receive(JSON.parse(event.data)));
    ws.addEventListener("close", () => {
      socket = null;
      if (exited) return;
      failures += 1;
      if (socketWorked) status.textContent = texts().reconnecting;
      else if (!viaHttp) {
        viaHttp = true; // the socket cannot open here (a proxy, a firewall): go on over HTTP
        status.textContent = "";
        sendPendingOverHttp();
      }
      setTimeout(connect, Math.min(MAX_RECONNECT_MS, 1000 * 2 ** (failures - 1)));
    });
  }

  // --- opening, language, quick exit ----------------------------------------------------------

  function startSession() {
    if (session !== null || sessionRequest !== null) return;
    sessionRequest = getJson("/api/session")
      .then((fresh) => {
        if (exited) return;
        session = fresh.session;
        connect();
      }, () => show(texts().unavailable, "bot"))
      .finally(() => { sessionRequest = null; });
  }

  function open() {
    body.hidden = false;
    title.hidden = false;
    pickerLabel.hidden = false;
    widget.classList.add("open");
    toggle.setAttribute("aria-expanded", "true");
    toggle.textContent = texts().close;
    input.focus();
    startSession();
  }

  function close() {
    body.hidden = true;
    title.hidden = true;
    pickerLabel.hidden = true;
    widget.classList.remove("open");
    toggle.setAttribute("aria-expanded", "false");
    toggle.textContent = texts().open;
    toggle.focus();
  }

  async function chooseLanguage(code) {
    try {
      applyIntro(await getJson("/api/chat/intro", { language: code, country }));
    } catch (error) {
      picker.value = intro.language;
      return;
    }
    // Tell the assistant too, so that it goes on in her language (its reply confirms it).
    if (session !== null) send(`/choose_language{"language": "${intro.language}"}`, null);
  }

  function quickExit() {
    exited = true;
    document.documentElement.style.setProperty("visibility", "hidden", "important");
    if (socket) socket.close();
    pending.clear();
    session = null;
    root.replaceChildren();
    host.remove();
    window.location.replace(exitUrl);
  }

  exitButton.addEventListener("click", quickExit);
  window.addEventListener("keydown", (event) => { if (event.key === "Escape") quickExit(); }, true);
  toggle.addEventListener("click", () => (isOpen() ? close() : open()));
  picker.addEventListener("change", () => chooseLanguage(picker.value));
  function submit(event) {
    event.preventDefault();
    const text = input.value.trim();
    input.value = "";
    if (text) send(text);
  }
  form.addEventListener("submit", submit);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) submit(event); // Shift+Enter: a new line
  });

  async function start() {
    try {
      applyIntro(await getJson("/api/chat/intro", { language: navigator.language, country }));
    } catch (error) {
      if (!exited) setTimeout(start, INTRO_RETRY_MS); // nothing to show without the helpline's texts
      return;
    }
    document.body.append(host);
    if (script.hasAttribute("data-open")) open();
  }
  start();
})();
