// The hotline's case list: the form's fields become GET /api/cases's query; "More" asks for the
// next page from the last one's cursor (keyset paging) and adds its rows below. The form is
// mirrored in the address bar, so a reload or a link shows the same search.

import { $, LANG, api, caseHref, chip, dueCell, link, localTime, nameOf, problem, say, statusNode, text } from './common.js';

const FIELDS = ['words', 'number', 'status', 'category', 'department', 'since', 'until', 'overdue', 'supervised'];
const PAGE_SIZE = 50;
// A typed number this long is a case number (a local date and the day's count); shorter digits
// are a caller's number or its last digits.
const CASE_NUMBER = /^[0-9]{13,14}$/;

const form = $('#search-form');
const table = $('#results');
const body = $('#results tbody');
const more = $('#more');
const status = $('#status');
const error = $('#error');
let nextCursor = null;
// Each search's turn: an answer that comes back after a later search was sent (the first list
// still loading when the person searches) is dropped, or it would show the wrong cases.
let asked = 0;

function value(name) {
  const field = form.elements[name];
  if (field.type === 'checkbox') return field.checked ? '1' : '';
  return (field.value || '').trim();
}

// The API's query. "Open" is every status still moving; the rest are the lifecycle's own.
function query(cursor) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const words = value('words');
  if (words) params.set('words', words);
  const number = value('number');
  if (number) params.set(CASE_NUMBER.test(number) ? 'number' : 'caller', number);
  const chosen = value('status');
  if (chosen === 'open') {
    for (const s of ['intake', 'filed', 'dispatched', 'signed', 'handling', 'replied', 'returned']) params.append('status', s);
  } else if (chosen) {
    params.set('status', chosen);
  }
  for (const name of ['category', 'department']) if (value(name)) params.set(name, value(name));
  if (value('since')) params.set('created_from', value('since'));
  if (value('until')) params.set('created_to', value('until'));
  if (value('overdue')) params.set('overdue', 'true');
  if (value('supervised')) params.set('supervised', 'true');
  if (cursor) params.set('cursor', cursor);
  return params;
}

function remember() {
  const params = new URLSearchParams({ lang: LANG });
  for (const name of FIELDS) if (value(name)) params.set(name, value(name));
  window.history.replaceState(null, '', `?${params}`);
  for (const a of document.querySelectorAll('a.lang')) {
    params.set('lang', a.dataset.lang);
    a.href = `?${params}`;
  }
}

function recall() {
  const params = new URLSearchParams(window.location.search);
  for (const name of FIELDS) {
    if (!params.has(name)) continue;
    const field = form.elements[name];
    if (field.type === 'checkbox') field.checked = params.get(name) === '1';
    else field.value = params.get(name);
  }
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
  tr.append(
    number,
    state,
    text('td', nameOf(c.category)),
    text('td', nameOf(c.department)),
    dueCell(c),
    title,
    text('td', localTime(c.created_at), 'when'),
  );
  return tr;
}

async function run(cursor) {
  error.hidden = true;
  status.textContent = say('cs_loading');
  more.disabled = true;
  const turn = ++asked;
  const reply = await api('GET', `/api/cases?${query(cursor)}`);
  if (turn !== asked) return;
  more.disabled = false;
  if (!reply.ok) {
    status.textContent = '';
    error.textContent = problem(reply);
    error.hidden = false;
    table.hidden = true;
    more.hidden = true;
    return;
  }
  if (!cursor) body.replaceChildren();
  for (const c of reply.body.cases) body.append(row(c));
  table.hidden = body.children.length === 0;
  $('#no-results').hidden = body.children.length > 0;
  status.textContent = body.children.length ? say('cs_shown', { count: body.children.length }) : '';
  nextCursor = reply.body.next_cursor;
  more.hidden = !reply.body.has_more;
}

// The filters' choices come from the API (the catalogue administrators edit), in the page's
// language; leaves are labelled with their ancestors (市容环境 › 垃圾清运).
async function loadChoices() {
  const [categories, departments] = await Promise.all([
    api('GET', '/api/case-categories'),
    api('GET', '/api/departments'),
  ]);
  if (categories.ok) {
    const list = categories.body.categories;
    const byCode = new Map(list.map((c) => [c.code, c]));
    const label = (c) => {
      const trail = [];
      for (let at = c; at; at = byCode.get(at.parent)) trail.unshift(nameOf(at));
      return trail.join(' › ');
    };
    const select = form.elements.category;
    for (const c of list) select.append(new Option(label(c), c.code));
  }
  if (departments.ok) {
    const select = form.elements.department;
    for (const d of departments.body.departments) select.append(new Option(nameOf(d), d.code));
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!form.reportValidity()) return;
  remember();
  run(null);
});
more.addEventListener('click', () => run(nextCursor));

await loadChoices();
recall();
remember();
run(null);
