// The recordings search: the form's fields become GET /api/recordings/search's query; each
// "More" asks for the next page from the last one's cursor and adds its rows below.
// The form is mirrored in the address bar, so a reload or a link shows the same search.

import { $, LANG, api, clock, localTime, phraseChips, problem, say, snippetNode, text } from './common.js';

const FIELDS = ['words', 'number', 'agent', 'queue', 'disposition', 'since', 'until', 'min_seconds', 'max_seconds'];

const form = $('#search-form');
const table = $('#results');
const body = $('#results tbody');
const more = $('#more');
const status = $('#status');
const error = $('#error');
let nextCursor = null;

function nextDay(date) {
  const [y, m, d] = date.split('-').map(Number);
  const day = new Date(Date.UTC(y, m - 1, d + 1));
  return day.toISOString().slice(0, 10);
}

// The API's query: dates are whole days in the site's zone (a time without an offset is read in
// that zone), "until" included, so it becomes the start of the next day.
function query(cursor) {
  const params = new URLSearchParams();
  for (const name of FIELDS) {
    const value = (form.elements[name].value || '').trim();
    if (!value) continue;
    if (name === 'since') params.set('since', `${value}T00:00:00`);
    else if (name === 'until') params.set('until', `${nextDay(value)}T00:00:00`);
    else params.set(name, value);
  }
  if (cursor) params.set('cursor', cursor);
  return params;
}

function remember() {
  const params = new URLSearchParams({ lang: LANG });
  for (const name of FIELDS) {
    const value = (form.elements[name].value || '').trim();
    if (value) params.set(name, value);
  }
  window.history.replaceState(null, '', `?${params}`);
  for (const link of document.querySelectorAll('a.lang')) {
    params.set('lang', link.dataset.lang);
    link.href = `?${params}`;
  }
}

function recall() {
  const params = new URLSearchParams(window.location.search);
  for (const name of FIELDS) {
    if (params.has(name)) form.elements[name].value = params.get(name);
  }
}

function row(call) {
  const tr = document.createElement('tr');
  tr.dataset.recordingId = call.recording_id;
  tr.dataset.uniqueid = call.uniqueid;
  const link = text('a', localTime(call.started_at));
  link.href = `/recordings/${call.recording_id}?lang=${encodeURIComponent(LANG)}`;
  const started = text('td');
  started.append(link);
  const phrases = text('td');
  phrases.append(phraseChips(call.key_phrases));
  const snippet = text('td');
  snippet.append(snippetNode(call.snippet));
  tr.append(
    started,
    text('td', call.caller, 'caller'),
    text('td', call.agent),
    text('td', call.queue),
    text('td', clock(call.duration_seconds), 'num'),
    text('td', say(call.disposition), `d-${call.disposition}`),
    text('td', say(`r_status_${call.recording_status}`), `s-${call.recording_status}`),
    phrases,
    snippet,
  );
  return tr;
}

async function run(cursor) {
  error.hidden = true;
  status.textContent = say('r_loading');
  more.disabled = true;
  const reply = await api(`/api/recordings/search?${query(cursor)}`);
  status.textContent = '';
  more.disabled = false;
  if (!reply.ok) {
    error.textContent = problem(reply);
    error.hidden = false;
    table.hidden = true;
    more.hidden = true;
    return;
  }
  if (!cursor) body.replaceChildren();
  for (const call of reply.body.calls) body.append(row(call));
  table.hidden = body.children.length === 0;
  $('#no-results').hidden = body.children.length > 0;
  nextCursor = reply.body.next_cursor;
  more.hidden = !reply.body.has_more;
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!form.reportValidity()) return;
  remember();
  run(null);
});
more.addEventListener('click', () => run(nextCursor));

recall();
remember();
run(null);
