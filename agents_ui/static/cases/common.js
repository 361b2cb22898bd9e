// What the case pages share: their words, the page's facts (language, zone, who is looking),
// times in the site's zone, and calls to the cases API.

export const WORDS = JSON.parse(document.getElementById('words').textContent);
export const PAGE = JSON.parse(document.getElementById('page').textContent);
export const LANG = PAGE.lang || document.documentElement.lang || 'zh-CN';
export const ZONE = PAGE.zone || document.body.dataset.zone || 'Asia/Shanghai';

export const $ = (selector, root = document) => root.querySelector(selector);

// A word of the page, its {placeholders} filled; the key itself when a word is missing, so a
// gap shows up on the page instead of an empty cell.
export function say(key, values = {}) {
  const word = WORDS[key] ?? key;
  return word.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

// A word for a value of one of the lifecycle's sets (status, action…), or the value as it is
// when the page has no word for it yet (an action added after this page was written).
export function wordFor(prefix, value) {
  if (!value) return '';
  const key = `${prefix}${value}`;
  return key in WORDS ? WORDS[key] : value;
}

// "2026-11-21 16:05" in the site's zone: the Swedish locale writes dates the ISO way, whatever
// language the page is in, as the calls and recordings pages do.
const minutes = new Intl.DateTimeFormat('sv-SE', {
  timeZone: ZONE,
  year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});

export function localTime(iso) {
  return iso ? minutes.format(new Date(iso)) : '';
}

export function isPast(iso) {
  return Boolean(iso) && new Date(iso).getTime() < Date.now();
}

// A department's or a category's name in the page's language.
export function nameOf(item) {
  if (!item) return '';
  return (LANG === 'en' ? item.name_en || item.name : item.name) || item.code || '';
}

// fetch() with the JSON answer read whatever the status: {ok, status, body}. The body may be
// JSON or raw bytes (an attachment's upload); a refusal's detail is the server's own sentence.
export async function api(method, url, body, headers = {}) {
  const options = { method, credentials: 'same-origin', headers: { accept: 'application/json', ...headers } };
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    options.body = body;
  } else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers['content-type'] = 'application/json';
  }
  let reply;
  try {
    reply = await fetch(url, options);
  } catch (error) {
    return { ok: false, status: 0, body: { detail: String(error) } };
  }
  let data = null;
  try {
    data = await reply.json();
  } catch {
    data = { detail: reply.statusText };
  }
  return { ok: reply.ok, status: reply.status, body: data };
}

// The API's refusal in the page's words: what kind of refusal, then the server's sentence.
// A lost login goes back to the login page, to come back here afterwards.
export function problem(reply) {
  if (reply.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
  }
  let detail = reply.body?.detail ?? '';
  if (Array.isArray(detail)) {
    detail = detail.map((d) => [(d.loc || []).filter((part) => part !== 'body').join('.'), d.msg].filter(Boolean).join(': ')).join('; ');
  } else if (detail && typeof detail === 'object') {
    detail = detail.message || detail.reason || JSON.stringify(detail);
  }
  const kind = { 403: 'cs_forbidden', 404: 'cs_not_found', 409: 'cs_refused', 422: 'cs_refused' }[reply.status] || 'cs_failed';
  return say(kind) + detail;
}

export function text(tag, content, className) {
  const node = document.createElement(tag);
  if (content !== undefined && content !== null) node.textContent = String(content);
  if (className) node.className = className;
  return node;
}

export function link(href, content, className) {
  const node = text('a', content, className);
  node.href = href;
  return node;
}

export function caseHref(number) {
  return `/cases/${encodeURIComponent(number)}?lang=${encodeURIComponent(LANG)}`;
}

// The status as a coloured pill (its colour from data-status in cases.css).
export function statusNode(status) {
  const node = text('span', wordFor('cs_status_', status), 'pill');
  node.dataset.status = status;
  return node;
}

export function chip(word, className) {
  return text('span', word, `chip ${className}`);
}

// A deadline's cell: its local time, in red and marked overdue once it has passed while the
// department's clock runs (the API's own overdue flag decides for the completion deadline).
export function dueCell(c, due = c.due_at) {
  const cell = text('td', null, 'when');
  const open = ['dispatched', 'signed', 'handling'].includes(c.status);
  if (!due) {
    cell.textContent = say('cs_none');
    return cell;
  }
  cell.textContent = localTime(due);
  const late = due === c.due_at ? c.overdue : isPast(due);
  if (late && open) {
    cell.classList.add('overdue');
    cell.append(chip(say('cs_overdue'), 'overdue'));
  }
  return cell;
}
