// The counsellors' console (served by bot/console/router.py). Plain script, nothing loaded
// from elsewhere. Texts come from texts.json; live updates from server-sent events
// (/console/api/events); every change is a JSON POST with the X-Console header.
// She is only ever shown by her pseudonym label. Everything works from the keyboard:
// real buttons and labels, focus kept where it was when lists are redrawn.
(() => {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const PRIORITY = new Set(['danger', 'self_harm']);
  let T = {};
  const state = {
    me: null,
    queue: [],
    queueAt: 0,
    chats: [],
    open: null, // the chat shown: {handoff_id, label, channel, language}
    lastLine: 0,
    source: null,
    opener: null, // what had focus before a dialog opened
  };

  // ------------------------------------------------------------------ texts

  const t = (key, values = {}) =>
    String(T[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''));
  const named = (group, code) => (T[group] && T[group][code]) || code || '';

  function applyTexts() {
    document.title = t('title');
    for (const element of document.querySelectorAll('[data-text]')) element.textContent = t(element.dataset.text);
    for (const element of document.querySelectorAll('[data-aria-label]')) {
      element.setAttribute('aria-label', t(element.dataset.ariaLabel));
    }
    const list = $('shortcuts');
    for (const [keys, what] of T.shortcuts || []) {
      const term = document.createElement('dt');
      term.textContent = keys;
      const description = document.createElement('dd');
      description.textContent = what;
      list.append(term, description);
    }
  }

  function say(text) {
    $('status').textContent = '';
    window.setTimeout(() => { $('status').textContent = text; }, 30);
  }

  function warn(text) {
    $('alert').textContent = text || '';
  }

  // -------------------------------------------------------------------- API

  async function api(path, body) {
    const options = body === undefined
      ? { credentials: 'same-origin' }
      : {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-Console': '1' },
        body: JSON.stringify(body),
      };
    let response;
    try {
      response = await fetch(`/console/api/${path}`, options);
    } catch (error) {
      warn(t('error'));
      return { ok: false, status: 0, data: null, code: 'network' };
    }
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    if (response.status === 401 && state.me) signedOut(); // the session ended meanwhile
    return { ok: response.ok, status: response.status, data, code: data && data.detail };
  }

  // ---------------------------------------------------------------- sign-in

  function showLogin() {
    $('console').hidden = true;
    $('login').hidden = false;
    $('login-password').value = '';
    $('login-name').focus();
  }

  async function login(event) {
    event.preventDefault();
    const name = $('login-name').value.trim();
    const password = $('login-password').value;
    if (!name || !password) {
      $('login-error').textContent = t('login_wrong');
      return;
    }
    const result = await api('login', { login: name, password });
    $('login-password').value = '';
    if (!result.ok) {
      $('login-error').textContent = t(result.status === 429 ? 'login_too_many' : 'login_wrong');
      $('login-password').focus();
      return;
    }
    $('login-error').textContent = '';
    enter(result.data);
  }

  function enter(me) {
    state.me = me;
    $('login').hidden = true;
    $('console').hidden = false;
    $('chats-title').textContent = t(me.admin ? 'chats_title_admin' : 'chats_title');
    $('audit').hidden = !me.admin;
    showMe(me);
    closeChat();
    connect();
    if (me.admin) loadAudit();
    $('queue-title').focus();
  }

  function signedOut() {
    if (state.source) state.source.close();
    state.source = null;
    state.me = null;
    state.open = null;
    warn('');
    say(t('signed_out'));
    showLogin();
  }

  async function logout() {
    await api('logout', {});
    signedOut();
  }

  function showMe(me) {
    state.me = me;
    $('me').textContent = t('signed_in_as', { name: me.name, role: t(me.admin ? 'role_admin' : 'role_counsellor') });
    $('presence').textContent = t(me.away ? 'presence_away' : 'presence_available');
    $('presence').classList.toggle('away', me.away);
    $('away').textContent = t(me.away ? 'come_back' : 'go_away');
    $('away').setAttribute('aria-pressed', String(me.away));
  }

  async function toggleAway() {
    const result = await api('away', { away: !state.me.away });
    if (result.ok) {
      showMe(result.data);
      say($('presence').textContent);
    }
  }

  // ----------------------------------------------------------- live updates

  function connect() {
    if (state.source) state.source.close();
    const query = state.open ? `?chat=${state.open.handoff_id}&after=${state.lastLine}` : '';
    const source = new EventSource(`/console/api/events${query}`);
    state.source = source;
    const on = (name, handle) => source.addEventListener(name, (event) => handle(JSON.parse(event.data)));
    on('queue', (queue) => { state.queue = queue; state.queueAt = Date.now(); renderQueue(); renderChatState(); });
    on('chats', (chats) => { state.chats = chats; renderChats(); renderChatState(); });
    on('me', showMe);
    on('lines', (data) => { if (state.open && data.handoff_id === state.open.handoff_id) addLines(data.lines); });
    on('refused', () => warn(t('not_allowed')));
    on('signed_out', signedOut);
    source.onopen = () => { if ($('alert').textContent === t('reconnecting')) warn(''); };
    source.onerror = async () => {
      if (state.source !== source) return;
      warn(t('reconnecting'));
      if (source.readyState === EventSource.CLOSED) { // refused outright: signed out, or the server is down
        const me = await api('me');
        if (me.ok && state.source === source) window.setTimeout(() => { if (state.source === source) connect(); }, 2000);
      }
    };
  }

  // ------------------------------------------------------------------ queue

  function remember() {
    const key = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
    return key || null;
  }

  function restore(key, fallback) {
    if (!key) return;
    const again = document.querySelector(`[data-key="${key}"]`);
    if (again) again.focus();
    else if (document.activeElement === document.body) fallback.focus();
  }

  function button(text, key, label, handler) {
    const element = document.createElement('button');
    element.type = 'button';
    element.textContent = text;
    element.dataset.key = key;
    if (label) element.setAttribute('aria-label', label);
    element.addEventListener('click', handler);
    return element;
  }

  function cell(row, text) {
    const element = document.createElement('td');
    element.textContent = text;
    row.append(element);
    return element;
  }

  function waited(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return t('seconds', { n: s });
    if (s < 3600) return t('minutes', { n: Math.floor(s / 60) });
    return t('hours', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  }

  function renderQueue() {
    const focused = remember();
    const rows = $('queue-rows');
    rows.replaceChildren();
    for (const waiting of state.queue) {
      const row = document.createElement('tr');
      row.classList.toggle('priority', PRIORITY.has(waiting.reason));
      const who = cell(row, waiting.label);
      if (waiting.left_message) {
        const tag = document.createElement('span');
        tag.className = 'tag';
        tag.textContent = t('left_message');
        who.append(' ', tag);
      }
      cell(row, named('channels', waiting.channel));
      cell(row, named('languages', waiting.language));
      cell(row, named('reasons', waiting.reason));
      cell(row, '').dataset.waited = String(waiting.waited_seconds);
      cell(row, String(waiting.position));
      const actions = cell(row, '');
      actions.append(button(t('take'), `take:${waiting.handoff_id}`, t('take_label', waiting), () => take(waiting)));
      if (state.me && state.me.admin) {
        actions.append(button(t('read'), `read:${waiting.handoff_id}`, t('read_label', waiting), () => openChat(waiting)));
      }
      rows.append(row);
    }
    $('queue-table').hidden = state.queue.length === 0;
    $('queue-empty').hidden = state.queue.length > 0;
    tick();
    restore(focused, $('queue-title'));
  }

  function tick() {
    const since = (Date.now() - state.queueAt) / 1000;
    for (const element of document.querySelectorAll('#queue-rows [data-waited]')) {
      element.textContent = waited(Number(element.dataset.waited) + since);
    }
  }

  async function take(waiting) {
    const result = await api('take', { handoff_id: waiting.handoff_id });
    if (!result.ok) { warn(t('error')); return; }
    const status = result.data.status;
    if (status !== 'taken') { warn(t(status)); return; }
    warn('');
    say([t('taken', waiting), replyWindow(result.data.window_left_seconds)].filter(Boolean).join(' '));
    openChat(waiting, true);
  }

  // How long WhatsApp still takes her replies (24 hours after her last message); null elsewhere.
  function replyWindow(left) {
    if (left === null || left === undefined) return '';
    return left > 0 ? t('window_left', { left: waited(left) }) : t('window_over');
  }

  // ------------------------------------------------------------------ chats

  function renderChats() {
    const focused = remember();
    const list = $('chat-list');
    list.replaceChildren();
    for (const chat of state.chats) {
      const values = { ...chat, channel: named('channels', chat.channel), language: named('languages', chat.language) };
      const item = document.createElement('li');
      const open = button(t(chat.mine ? 'chat_button' : 'chat_button_other', values), `chat:${chat.handoff_id}`, null,
        () => openChat(chat));
      open.setAttribute('aria-current', String(Boolean(state.open && state.open.handoff_id === chat.handoff_id)));
      item.append(open);
      list.append(item);
    }
    $('chats-empty').hidden = state.chats.length > 0;
    restore(focused, $('chats-title'));
  }

  function heldBy() {
    return state.open ? state.chats.find((chat) => chat.handoff_id === state.open.handoff_id) : undefined;
  }

  function renderChatState() {
    if (!state.open) return;
    const held = heldBy();
    const mine = Boolean(held && held.mine);
    const admin = Boolean(state.me && state.me.admin);
    const waiting = state.queue.some((chat) => chat.handoff_id === state.open.handoff_id);
    $('chat-state').textContent = mine ? t('state_mine')
      : held ? t('state_other', { counsellor: held.counsellor })
        : t(waiting ? 'state_waiting' : 'state_closed');
    for (const id of ['reply', 'reply-send', 'canned', 'canned-insert', 'transfer', 'end']) $(id).disabled = !mine;
    for (const id of ['note', 'note-add', 'block']) $(id).disabled = !(mine || admin);
    for (const item of document.querySelectorAll('#chat-list button')) {
      item.setAttribute('aria-current', String(item.dataset.key === `chat:${state.open.handoff_id}`));
    }
  }

  function closeChat() {
    state.open = null;
    state.lastLine = 0;
    $('chat').hidden = true;
    $('no-chat').hidden = false;
    $('lines').replaceChildren();
  }

  async function openChat(chat, justTaken = false) {
    state.open = { handoff_id: chat.handoff_id, label: chat.label, channel: chat.channel, language: chat.language };
    state.lastLine = 0;
    $('lines').replaceChildren();
    $('reply').value = '';
    $('note').value = '';
    $('chat-title').textContent = t('chat_title', chat);
    $('chat-meta').textContent = t('chat_meta', {
      channel: named('channels', chat.channel), language: named('languages', chat.language),
      ref: chat.handoff_id.slice(0, 8),
    });
    $('no-chat').hidden = true;
    $('chat').hidden = false;
    if (justTaken && !heldBy()) state.chats = [...state.chats, { ...chat, mine: true, counsellor: state.me.name }];
    renderChatState();
    const [lines] = await Promise.all([api(`chats/${chat.handoff_id}/lines`), loadCanned(chat.language)]);
    if (lines.ok) {
      warn('');
      addLines(lines.data);
    } else if (lines.status === 403) {
      warn(t('not_allowed'));
    }
    connect();
    ($('reply').disabled ? $('chat-title') : $('reply')).focus();
  }

  function addLines(lines) {
    const list = $('lines');
    for (const line of lines) {
      if (line.id <= state.lastLine) continue;
      state.lastLine = line.id;
      const item = document.createElement('li');
      item.className = `line ${line.author}`;
      const who = document.createElement('span');
      who.className = 'who';
      const name = line.counsellor || t('someone');
      who.textContent = t(`author_${line.author}`, { name });
      const at = document.createElement('time');
      const when = new Date(line.at * 1000);
      at.dateTime = when.toISOString();
      at.textContent = ` · ${when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
      who.append(at);
      const text = document.createElement('p');
      text.className = 'text';
      text.textContent = line.text;
      item.append(who, text);
      list.append(item);
    }
    list.scrollTop = list.scrollHeight;
  }

  async function loadCanned(language) {
    const result = await api(`canned?language=${encodeURIComponent(language)}`);
    const select = $('canned');
    select.replaceChildren();
    for (const { title, text } of result.ok ? result.data : []) {
      const option = document.createElement('option');
      option.textContent = title;
      option.value = text;
      select.append(option);
    }
  }

  function insertCanned() {
    const text = $('canned').value;
    if (!text) return;
    const reply = $('reply');
    reply.value = reply.value.trim() ? `${reply.value.trimEnd()} ${text}` : text;
    reply.focus();
  }

  // ----------------------------------------------------------------- acting

  async function act(path, body, done) {
    const result = await api(path, { handoff_id: state.open.handoff_id, ...body });
    if (result.ok) {
      warn('');
      say(t(done));
      return true;
    }
    warn(t(['not_yours', 'not_delivered', 'window_closed'].includes(result.code) ? result.code : 'error'));
    return false;
  }

  function sendOnEnter(event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      event.target.form.requestSubmit();
    }
  }

  async function reply(event) {
    event.preventDefault();
    const text = $('reply').value.trim();
    if (!text || $('reply').disabled) return;
    if (await act('reply', { text }, 'sent')) $('reply').value = '';
  }

  async function note(event) {
    event.preventDefault();
    const text = $('note').value.trim();
    if (!text || $('note').disabled) return;
    if (await act('note', { text }, 'noted')) $('note').value = '';
  }

  function openDialog(id, first) {
    state.opener = document.activeElement;
    $(id).showModal();
    $(first).focus();
  }

  function closeDialog(dialog) {
    if (dialog.open) dialog.close();
  }

  async function openTransfer() {
    const result = await api('counsellors');
    const select = $('transfer-to');
    select.replaceChildren(new Option(t('transfer_queue'), 'queue'));
    for (const counsellor of result.ok ? result.data : []) {
      select.append(new Option(counsellor.away ? t('transfer_away', counsellor) : counsellor.name, String(counsellor.id)));
    }
    openDialog('transfer-dialog', 'transfer-to');
  }

  async function transfer(event) {
    event.preventDefault();
    const to = $('transfer-to').value;
    const ok = await act('transfer', { to: to === 'queue' ? null : Number(to) }, 'transferred');
    afterDialog('transfer-dialog', ok);
  }

  async function block(event) {
    event.preventDefault();
    const reason = $('block-reason').value.trim();
    const days = Number($('block-days').value);
    if (!reason || !(days >= 1 && days <= 365)) {
      $((reason ? 'block-days' : 'block-reason')).focus();
      return;
    }
    const ok = await act('block', { reason, days: Math.round(days) }, 'blocked');
    if (ok) $('block-reason').value = '';
    afterDialog('block-dialog', ok);
  }

  async function end(event) {
    event.preventDefault();
    afterDialog('end-dialog', await act('end', {}, 'ended'));
  }

  function afterDialog(id, ok) {
    if (ok) state.opener = $('chats-title'); // the chat is not this counsellor's to act on any more
    closeDialog($(id));
  }

  // ------------------------------------------------------------------ audit

  async function loadAudit() {
    const result = await api('audit');
    const rows = $('audit-rows');
    rows.replaceChildren();
    for (const entry of result.ok ? result.data : []) {
      const row = document.createElement('tr');
      cell(row, new Date(entry.at).toLocaleString());
      cell(row, entry.actor || '—');
      cell(row, entry.action);
      cell(row, entry.chat ? entry.chat.slice(0, 8) : '—');
      cell(row, entry.detail || '');
      rows.append(row);
    }
  }

  // -------------------------------------------------------------- shortcuts

  function shortcut(event) {
    if (!event.altKey || event.ctrlKey || event.metaKey || document.querySelector('dialog[open]')) return;
    const target = {
      KeyQ: () => document.querySelector('#queue-rows button') || $('queue-title'),
      KeyC: () => document.querySelector('#chat-list button') || $('chats-title'),
      KeyR: () => (state.open && !$('reply').disabled ? $('reply') : null),
      KeyN: () => (state.open && !$('note').disabled ? $('note') : null),
    }[event.code];
    const element = target && target();
    if (element) {
      event.preventDefault();
      element.focus();
    }
  }

  // ------------------------------------------------------------------ start

  function wire() {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    $('away').addEventListener('click', toggleAway);
    $('reply-form').addEventListener('submit', reply);
    $('note-form').addEventListener('submit', note);
    $('reply').addEventListener('keydown', sendOnEnter);
    $('note').addEventListener('keydown', sendOnEnter);
    $('canned-insert').addEventListener('click', insertCanned);
    $('transfer').addEventListener('click', openTransfer);
    $('block').addEventListener('click', () => openDialog('block-dialog', 'block-reason'));
    $('end').addEventListener('click', () => openDialog('end-dialog', 'end-cancel'));
    $('transfer-form').addEventListener('submit', transfer);
    $('block-form').addEventListener('submit', block);
    $('end-form').addEventListener('submit', end);
    $('audit-refresh').addEventListener('click', loadAudit);
    for (const dialog of document.querySelectorAll('dialog')) {
      dialog.querySelector('.cancel').addEventListener('click', () => closeDialog(dialog));
      dialog.addEventListener('close', () => {
        const back = state.opener && document.contains(state.opener) ? state.opener : $('main');
        back.focus();
      });
    }
    document.addEventListener('keydown', shortcut);
    window.setInterval(tick, 1000);
  }

  async function start() {
    const response = await fetch('/console/static/texts.json', { credentials: 'same-origin' });
    T = await response.json();
    applyTexts();
    wire();
    const me = await api('me');
    if (me.ok) enter(me.data);
    else showLogin();
  }

  start();
})();
