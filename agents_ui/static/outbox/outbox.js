// The outbox page: messages newest first from GET /api/outbox (filters mirrored in the address
// bar), each one's delivery log on demand, and "Retry" for dead or held ones. Every text from the
// server is put in with textContent, never as HTML: recipients and errors come from outside.

const WORDS = JSON.parse(document.getElementById('words').textContent);
const LANG = document.documentElement.lang || 'zh-CN';
const ZONE = document.body.dataset.zone || 'Asia/Shanghai';
const FIELDS = ['status', 'channel', 'case'];

const $ = (selector) => document.querySelector(selector);
const say = (key) => WORDS[key] ?? key;
const form = $('#filters');
const table = $('#messages');
const body = $('#messages tbody');
const more = $('#more');
const status = $('#status');
const error = $('#error');
let nextBefore = null;

// Times in the site's zone, written the ISO way whatever the page's language (as other pages).
const stamp = new Intl.DateTimeFormat('sv-SE', {
  timeZone: ZONE,
  year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
const localTime = (iso) => (iso ? stamp.format(new Date(iso)) : '');

function cell(content, className) {
  const td = document.createElement('td');
  if (content !== undefined && content !== null) td.textContent = String(content);
  if (className) td.className = className;
  return td;
}

async function api(url, options = {}) {
  let reply;
  try {
    reply = await fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' }, ...options });
  } catch (failure) {
    return { ok: false, status: 0, body: { detail: String(failure) } };
  }
  let answer = null;
  try {
    answer = await reply.json();
  } catch {
    answer = { detail: reply.statusText };
  }
  return { ok: reply.ok, status: reply.status, body: answer };
}

function problem(reply) {
  if (reply.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
  }
  let detail = reply.body?.detail ?? '';
  if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join('; ');
  return (reply.status === 403 ? say('o_refused') : say('o_failed')) + detail;
}

function showError(text) {
  error.textContent = text;
  error.hidden = !text;
}

function query(before) {
  const params = new URLSearchParams();
  for (const name of FIELDS) {
    const value = (form.elements[name].value || '').trim();
    if (value) params.set(name, value);
  }
  if (before) params.set('before', before);
  return params;
}

function remember() {
  const params = query(null);
  params.set('lang', LANG);
  window.history.replaceState(null, '', `?${params}`);
}

function recall() {
  const params = new URLSearchParams(window.location.search);
  for (const name of FIELDS) {
    if (params.has(name)) form.elements[name].value = params.get(name);
  }
}

// ----- the delivery log of one message ------------------------------------------------------------

async function toggleLog(row, message) {
  const open = row.nextElementSibling;
  if (open && open.classList.contains('log')) {
    open.remove();
    return;
  }
  const reply = await api(`/api/outbox/${message.id}`);
  const logRow = document.createElement('tr');
  logRow.className = 'log';
  logRow.dataset.messageId = message.id;
  const holder = cell(null);
  holder.colSpan = 10;
  logRow.append(holder);
  if (!reply.ok) {
    holder.textContent = problem(reply);
  } else if (reply.body.delivery_log.length === 0) {
    holder.textContent = say('o_log_empty');
  } else {
    const log = document.createElement('table');
    const head = document.createElement('tr');
    for (const key of ['o_created', 'o_status', 'o_code', 'o_duration', 'o_detail']) {
      const th = document.createElement('th');
      th.textContent = say(key);
      head.append(th);
    }
    log.append(head);
    for (const attempt of reply.body.delivery_log) {
      const tr = document.createElement('tr');
      tr.append(
        cell(localTime(attempt.at)),
        cell(say(attempt.ok ? 'o_ok' : 'o_not_ok'), attempt.ok ? 's-sent' : 's-dead'),
        cell(attempt.status_code ?? '—', 'num'),
        cell(attempt.duration_ms, 'num'),
        cell(attempt.detail, 'error-text'),
      );
      log.append(tr);
    }
    holder.append(log);
  }
  row.after(logRow);
}

// ----- one message's row --------------------------------------------------------------------------

function fillRow(row, message) {
  const actions = cell(null);
  const logButton = document.createElement('button');
  logButton.type = 'button';
  logButton.className = 'show-log';
  logButton.textContent = say('o_log');
  logButton.addEventListener('click', () => toggleLog(row, message));
  actions.append(logButton);
  if (message.status === 'dead' || message.status === 'held') {
    const retryButton = document.createElement('button');
    retryButton.type = 'button';
    retryButton.className = 'retry';
    retryButton.textContent = say('o_retry');
    retryButton.addEventListener('click', () => retry(row, message, retryButton));
    actions.append(retryButton);
  }
  row.dataset.messageId = message.id;
  row.dataset.status = message.status;
  row.replaceChildren(
    cell(localTime(message.created_at)),
    cell(say(`o_channel_${message.channel}`)),
    cell(message.recipient),
    cell(message.case ?? ''),
    cell(message.event),
    cell(say(`o_status_${message.status}`), `s-${message.status}`),
    cell(message.attempts, 'num'),
    cell(message.status === 'pending' ? localTime(message.next_attempt_at) : localTime(message.sent_at)),
    cell(message.last_error, 'error-text'),
    actions,
  );
}

async function retry(row, message, button) {
  button.disabled = true;
  showError('');
  const reply = await api(`/api/outbox/${message.id}/retry`, { method: 'POST' });
  if (!reply.ok) {
    button.disabled = false;
    showError(problem(reply));
    return;
  }
  const open = row.nextElementSibling;
  if (open && open.classList.contains('log')) open.remove();
  fillRow(row, reply.body);
  status.textContent = say('o_retried');
}

// ----- the list -----------------------------------------------------------------------------------

async function load(before) {
  showError('');
  status.textContent = say('o_loading');
  more.disabled = true;
  const reply = await api(`/api/outbox?${query(before)}`);
  status.textContent = '';
  more.disabled = false;
  if (!reply.ok) {
    showError(problem(reply));
    table.hidden = true;
    more.hidden = true;
    return;
  }
  if (!before) body.replaceChildren();
  for (const message of reply.body.messages) {
    const row = document.createElement('tr');
    fillRow(row, message);
    body.append(row);
  }
  table.hidden = body.children.length === 0;
  $('#none').hidden = body.children.length > 0;
  nextBefore = reply.body.next_before;
  more.hidden = nextBefore === null;
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!form.reportValidity()) return;
  remember();
  load(null);
});
more.addEventListener('click', () => load(nextBefore));

recall();
load(null);
