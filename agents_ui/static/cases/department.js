// The department portal: the queue of the user's departments in tabs (to sign for, in hand,
// overdue, replied), each tab a GET /api/cases query, with its count; each row leads to the
// case's page, where the actions the API allows are taken. The API limits a department's staff
// to their own departments' cases, so the queries here need not name the departments.

import { $, LANG, api, caseHref, chip, dueCell, link, localTime, nameOf, problem, say, statusNode, text } from './common.js';

const PAGE_SIZE = 50;
const COUNT_UP_TO = 200; // counts past this show as "200+": a queue that long needs no exact number
const TABS = {
  to_sign: { status: ['dispatched'] },
  in_hand: { status: ['signed', 'handling'] },
  overdue: { overdue: true },
  replied: { status: ['replied'] },
};

const body = $('#queue tbody');
const more = $('#more');
const status = $('#status');
const error = $('#error');
let current = new URLSearchParams(window.location.search).get('tab');
if (!(current in TABS)) current = 'to_sign';
let nextCursor = null;
// Each query's turn: an answer that comes back after a later query was sent (a tab clicked while
// the first one loads) is dropped, or the slower answer would fill the table with the wrong tab.
let asked = 0;

function query(tab, { cursor = null, limit = PAGE_SIZE } = {}) {
  const params = new URLSearchParams({ limit: String(limit) });
  for (const s of TABS[tab].status || []) params.append('status', s);
  if (TABS[tab].overdue) params.set('overdue', 'true');
  if (cursor) params.set('cursor', cursor);
  return params;
}

function row(c) {
  const tr = document.createElement('tr');
  tr.dataset.number = c.number;
  tr.dataset.status = c.status;
  const number = text('td');
  number.append(link(caseHref(c.number), c.number));
  const state = text('td', null, 'status');
  state.append(statusNode(c.status));
  const title = text('td', c.title);
  if (c.urgency === 'urgent') title.append(chip(say('cs_urgent'), 'urgent'));
  if (c.supervised) title.append(chip(say('cs_supervised'), 'supervised'));
  if (c.extension_pending) title.append(chip(say('cs_extension_pending'), 'extension'));
  // The sign-for deadline matters until the case is signed for; after that it is history.
  const signDue = c.status === 'dispatched' ? dueCell(c, c.sign_due_at) : text('td', localTime(c.signed_at), 'when');
  tr.append(number, state, text('td', nameOf(c.category)), title, signDue, dueCell(c), text('td', nameOf(c.department)));
  return tr;
}

async function show(tab, cursor = null) {
  error.hidden = true;
  status.textContent = say('cs_loading');
  more.disabled = true;
  const turn = ++asked;
  const reply = await api('GET', `/api/cases?${query(tab, { cursor })}`);
  if (turn !== asked) return;
  more.disabled = false;
  status.textContent = '';
  if (!reply.ok) {
    error.textContent = problem(reply);
    error.hidden = false;
    more.hidden = true;
    return;
  }
  if (!cursor) body.replaceChildren();
  for (const c of reply.body.cases) body.append(row(c));
  $('#queue-empty').hidden = body.children.length > 0;
  nextCursor = reply.body.next_cursor;
  more.hidden = !reply.body.has_more;
}

async function count(tab) {
  const reply = await api('GET', `/api/cases?${query(tab, { limit: COUNT_UP_TO })}`);
  const node = $(`[data-count="${tab}"]`);
  if (!reply.ok) {
    node.textContent = '';
    return;
  }
  const n = reply.body.cases.length;
  node.textContent = `(${n}${reply.body.has_more ? '+' : ''})`;
  node.dataset.value = String(n);
}

function select(tab) {
  current = tab;
  for (const button of document.querySelectorAll('[role="tab"]')) {
    button.setAttribute('aria-selected', String(button.dataset.tab === tab));
  }
  const params = new URLSearchParams({ lang: LANG, tab });
  window.history.replaceState(null, '', `?${params}`);
  for (const a of document.querySelectorAll('a.lang')) {
    params.set('lang', a.dataset.lang);
    a.href = `?${params}`;
  }
  show(tab);
}

function refresh() {
  for (const tab of Object.keys(TABS)) count(tab);
  select(current);
}

for (const button of document.querySelectorAll('[role="tab"]')) {
  button.addEventListener('click', () => select(button.dataset.tab));
}
$('#refresh').addEventListener('click', refresh);
more.addEventListener('click', () => show(current, nextCursor));
refresh();
