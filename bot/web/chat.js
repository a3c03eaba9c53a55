// The local web chat. Nothing is stored in the browser: the session id lives in
// this tab's memory only, and quick exit replaces the page at once.
(async () => {
  const texts = await (await fetch("/static/texts.json")).json();
  const $ = (id) => document.getElementById(id);
  const log = $("log");
  const session = (await (await fetch("/api/session")).json()).session;
  let ui = texts[(navigator.language || "en").slice(0, 2)] ? navigator.language.slice(0, 2) : "en";

  function applyLanguage(code) {
    ui = code;
    const t = texts[code];
    document.documentElement.lang = code;
    $("title").textContent = t.title;
    $("language-label").textContent = t.language;
    $("text").placeholder = t.placeholder;
    $("text").setAttribute("aria-label", t.placeholder);
    $("send").textContent = t.send;
    $("exit").textContent = t.exit;
    $("exit").title = t.exit_hint;
    $("ui-language").value = code;
  }

  function show(text, who) {
    const div = document.createElement("div");
    div.className = `msg ${who}`;
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }

  function showButtons(buttons) {
    const row = document.createElement("div");
    row.className = "buttons";
    for (const b of buttons) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = b.title;
      button.addEventListener("click", () => send(b.payload, b.title));
      row.appendChild(button);
    }
    log.appendChild(row);
  }

  async function send(text, shown) {
    show(shown || text, "her");
    try {
      const response = await fetch("/api/chat", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({session, text}),
      });
      if (!response.ok) throw new Error(String(response.status));
      for (const m of await response.json()) {
        if (m.text) show(m.text, "bot");
        if (m.buttons.length) showButtons(m.buttons);
      }
    } catch (e) {
      show(texts[ui].unavailable, "bot");
    }
  }

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    $("text").value = "";
    if (text) send(text);
  });
  $("ui-language").addEventListener("change", (e) => applyLanguage(e.target.value));
  $("exit").addEventListener("click", () => {
    log.replaceChildren();
    window.location.replace("https://www.wikipedia.org/");
  });
  applyLanguage(ui);
  $("text").focus();
})();
