// What both recordings pages share: their words, times in the site's zone, and API calls.

export const WORDS = JSON.parse(document.getElementById('words').textContent);
export const LANG = document.documentElement.lang || 'zh-CN';
export const ZONE = document.body.dataset.zone || 'Asia/Shanghai';

export const $ = (selector, root = document) => root.querySelector(selector);

export function say(key) {
  return WORDS[key] ?? key;
}

// "2025-01-01 08:30:00" in the site's zone, as the calls page prints times: the Swedish locale
// writes dates the ISO way, whatever language the page is in.
const stamp = new Intl.DateTimeFormat('sv-SE', {
  timeZone: ZONE,
  year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

export function localTime(iso) {
  return iso ? stamp.format(new Date(iso)) : '';
}

export function clock(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '';
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

// fetch() with the JSON answer read whatever the status: {ok, status, body}. A refusal's detail
// is the server's own sentence (English); pages put their own words in front of it.
export async function api(url, options = {}) {
  const headers = { accept: 'application/json', ...(options.headers || {}) };
  let reply;
  try {
    reply = await fetch(url, { credentials: 'same-origin', ...options, headers });
  } catch (error) {
    return { ok: false, status: 0, body: { detail: String(error) } };
  }
  let body = null;
  try {
    body = await reply.json();
  } catch {
    body = { detail: reply.statusText };
  }
  return { ok: reply.ok, status: reply.status, body };
}

export function problem(reply) {
  if (reply.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
  }
  let detail = reply.body?.detail ?? '';
  if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join('; ');
  return (reply.status === 403 ? say('r_refused') : say('r_failed')) + detail;
}

export function text(tag, content, className) {
  const node = document.createElement(tag);
  if (content !== undefined && content !== null) node.textContent = String(content);
  if (className) node.className = className;
  return node;
}

// A snippet with its match marked: built from text nodes, never from HTML strings.
export function snippetNode(snippet) {
  const node = text('span', null, 'snippet');
  if (!snippet) return node;
  if (snippet.speaker) {
    node.append(text('span', say(snippet.speaker === 'agent' ? 'r_agent_leg' : 'r_caller_leg'), 'who'));
  }
  const [start, end] = snippet.match || [0, 0];
  if (end > start) {
    node.append(snippet.text.slice(0, start), text('mark', snippet.text.slice(start, end)), snippet.text.slice(end));
  } else {
    node.append(snippet.text);
  }
  return node;
}

export function phraseChips(phrases) {
  const list = text('ul', null, 'chips');
  for (const p of phrases) {
    const chip = text('li', p.phrase, p.urgent ? 'chip urgent' : 'chip');
    if (p.urgent) chip.title = say('r_urgent');
    list.append(chip);
  }
  return list;
}
