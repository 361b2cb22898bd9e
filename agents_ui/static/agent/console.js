// The agent console: seat state from /ws/seat, commands to /api/seat/*, calls in the softphone.
// Two sources meet here and neither waits for the other: the websocket says what Asterisk's
// queue thinks of the seat (ringing, the caller's leg, wrap-up), the SIP INVITE is the call the
// Answer button picks up. Words come from the page (#words), so this file is language-neutral.
import { Softphone } from '/static/softphone.js';
import { createCaseForm } from '/static/agent/case_form.js';

const $ = (sel) => document.querySelector(sel);
const words = JSON.parse($('#words').textContent);
const page = JSON.parse($('#page').textContent);
const lang = page.lang;

function say(key, vars = {}) {
  return (words[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
}

// Labels of pause reasons, dispositions: {"code", "zh", "en"}.
const label = (item) => (lang === 'en' ? item.en : item.zh) || item.label || item.code;

const view = {
  seat: null, // GET /api/seat: pause_reasons, dispositions, transfer_targets, sip
  agent: null, // the latest agent message
  call: 'none', // the softphone's main call: none | ringing | calling | up
  consult: null, // null | calling | up
  consultTarget: '',
  sipNumber: '',
  sipName: '',
  held: false,
  muted: false,
  note: '', // a line under the call title (transfer done, ...)
  recordingBusy: false, // a recording pause/resume is on its way: one at a time
  lastCallId: sessionStorage.getItem('hotline.lastCall') || '', // for wrap-up after a reload
  popFor: '',
};

const hotlineConsole = { softphone: null, lastAgentMessage: null };
window.hotlineConsole = hotlineConsole;

// ---- formatting ----

function zoned(options) {
  try {
    return new Intl.DateTimeFormat(lang, { timeZone: page.zone, ...options });
  } catch {
    return new Intl.DateTimeFormat(lang, options); // an unknown zone name: the browser's own
  }
}
const dateTime = zoned({ year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

function elapsed(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  return (h ? `${h}:` : '') + `${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}

// The browser's clock: `sent` cannot correct it, a first message may be a stored one, hours old.
const secondsSince = (iso) => (Date.now() - Date.parse(iso)) / 1000;

// ---- talking to the server ----

class Refused extends Error {}

async function api(method, path, body, headers = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Refused(say('c_error_network'));
  }
  if (response.status === 401) {
    // The login session ended: log in again and come back here.
    location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    throw new Refused('401');
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    // FastAPI's validation errors are a list of {loc, msg}: show the messages.
    const detail = typeof data.detail === 'string' ? data.detail
      : Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join('; ')
        : JSON.stringify(data.detail ?? response.status);
    throw new Refused(detail);
  }
  return data;
}

function showError(message) {
  $('#error-text').textContent = message;
  $('#error').hidden = false;
}

function clearError() {
  $('#error').hidden = true;
}

async function command(path, body = {}) {
  clearError();
  try {
    const data = await api('POST', path, body);
    const msg = agentIn(data);
    if (msg) onAgentMessage(msg);
    return true;
  } catch (err) {
    showError(err.message);
    return false;
  }
}

// ---- the seat ----

function fillSelects(seat) {
  const fill = (select, items, first) => {
    select.replaceChildren(...(first ? [first] : []), ...items.map((item) => new Option(label(item), item.code)));
  };
  fill($('#pause-reason'), seat.pause_reasons || []);
  fill($('#disposition'), seat.dispositions || [], new Option(say('c_transfer_choose'), ''));
  const targets = $('#transfer-target');
  targets.replaceChildren(new Option(say('c_transfer_choose'), ''));
  for (const kind of ['agent', 'queue']) {
    const items = (seat.transfer_targets || []).filter((x) => x.kind === kind);
    if (!items.length) continue;
    const group = document.createElement('optgroup');
    group.label = say(`c_kind_${kind}`);
    group.append(...items.map((x) => new Option(x.label || x.target, x.target)));
    targets.append(group);
  }
}

// GET /api/seat and the commands answer {"agent": <agent message>, ...}.
function agentIn(data) {
  if (data && data.agent && typeof data.agent === 'object') return data.agent;
  return data && data.type === 'agent' ? data : null;
}

function onAgentMessage(msg) {
  // A command's answer can arrive after a newer push on the websocket: keep the newest.
  const current = view.agent;
  if (current && typeof current.sent === 'number' && typeof msg.sent === 'number' && msg.sent < current.sent) return;
  view.agent = msg;
  hotlineConsole.lastAgentMessage = msg;
  const leg = msg.ring || msg.call;
  if (leg && leg.caller && leg.caller !== view.popFor) loadPop(leg, msg);
  // The seat service names the call wrap-up is about; the stored copy covers a seat service
  // restarted during wrap-up (it then no longer knows).
  const last = msg.last_call || (msg.call && msg.call.caller) || '';
  if (last) {
    view.lastCallId = last;
    sessionStorage.setItem('hotline.lastCall', last);
  }
  render();
}

// ---- screen pop ----

// What the agent recorded at wrap-up (a disposition code of /api/seat).
function outcomeLabel(code) {
  if (!code) return '';
  const known = (view.seat?.dispositions || []).find((d) => d.code === code);
  return known ? label(known) : code;
}

function stepText(step) {
  return typeof step === 'string' ? step : step.label || step.title || step.node || JSON.stringify(step);
}

function fillPop(data, leg, msg) {
  const call = data.call || {};
  $('#pop-number').textContent = call.number || leg.number || '';
  $('#pop-queue').textContent = call.queue || leg.queue || '';
  // Time in queue before this seat rang: queued_at up to the ring (or the answer, after a reload).
  const queuedAt = call.queued_at || leg.queued_at;
  const rangAt = msg.since || msg.at;
  const wait = queuedAt && rangAt ? (Date.parse(rangAt) - Date.parse(queuedAt)) / 1000 : null;
  const known = wait != null && !Number.isNaN(wait);
  $('#pop-wait').dataset.seconds = known ? String(Math.max(0, Math.round(wait))) : '';
  $('#pop-wait').textContent = known ? say('c_seconds', { n: $('#pop-wait').dataset.seconds }) : '';
  let ivr = call.ivr_path ?? [];
  if (typeof ivr === 'string') ivr = ivr.split(',').filter(Boolean);
  $('#pop-ivr').replaceChildren(...ivr.map((step) => Object.assign(document.createElement('li'), { textContent: stepText(step) })));
  const history = data.history || [];
  const rows = history.map((c) => {
    const tr = document.createElement('tr');
    tr.dataset.uniqueid = c.uniqueid;
    const cells = [
      c.started_at ? dateTime.format(new Date(c.started_at)) : '',
      c.queue || '',
      c.agent || '',
      c.ended_at ? elapsed((Date.parse(c.ended_at) - Date.parse(c.started_at)) / 1000) : '',
      [words[`c_d_${c.disposition}`] || c.disposition, outcomeLabel(c.outcome)].filter(Boolean).join(' · '),
    ];
    tr.replaceChildren(...cells.map((text) => Object.assign(document.createElement('td'), { textContent: text })));
    tr.lastChild.className = `d-${c.disposition}`;
    return tr;
  });
  if (!rows.length) {
    const td = Object.assign(document.createElement('td'), { colSpan: 5, className: 'muted', textContent: say('c_pop_no_history') });
    rows.push(Object.assign(document.createElement('tr'), { className: 'empty' }));
    rows[0].append(td);
  }
  $('#pop-history tbody').replaceChildren(...rows);
  fillPopCases(data.cases || []);
}

// The caller's cases, each a click away from "this call is about that case" (重复来电).
function fillPopCases(cases) {
  const list = $('#pop-cases');
  list.replaceChildren(...cases.map((c) => {
    const li = document.createElement('li');
    li.dataset.number = c.number;
    const link = Object.assign(document.createElement('a'), {
      href: `/cases/${encodeURIComponent(c.number)}?lang=${lang}`, textContent: c.number, target: '_blank',
    });
    const when = c.created_at ? dateTime.format(new Date(c.created_at)) : '';
    li.append(link, ` ${[say(`c_case_status_${c.status}`), c.title, c.department, when].filter(Boolean).join(' · ')} `);
    const button = Object.assign(document.createElement('button'), { type: 'button', className: 'small', textContent: say('c_case_link_call') });
    button.addEventListener('click', () => caseForm.linkCall(c, button));
    li.append(button);
    return li;
  }));
  if (!cases.length) list.append(Object.assign(document.createElement('li'), { className: 'muted', textContent: say('c_no_cases') }));
}

async function loadPop(leg, msg) {
  view.popFor = leg.caller;
  caseForm.open({ uniqueid: leg.caller, callerNumber: leg.number || '' });
  $('#pop').dataset.uniqueid = leg.caller;
  $('#pop-status').textContent = say('c_pop_loading');
  fillPop({}, leg, msg); // what the websocket already told us, at once
  try {
    const data = await api('GET', `/api/calls/${encodeURIComponent(leg.caller)}/pop`);
    if (view.popFor !== leg.caller) return; // a newer call came meanwhile
    fillPop(data, leg, msg);
    $('#pop-status').textContent = '';
  } catch (err) {
    if (view.popFor === leg.caller) $('#pop-status').textContent = `${say('c_pop_failed')} (${err.message})`;
  }
}

// ---- drawing ----

function reasonLabel(code) {
  const reason = (view.seat?.pause_reasons || []).find((r) => r.code === code);
  return reason ? label(reason) : code;
}

function transferTarget() {
  const number = $('#transfer-number').value.trim();
  // An outside line is the prefix (GET /api/seat external_prefix) + the number.
  if (number) return /^[0-9]+$/.test(number) ? `${view.seat?.external_prefix ?? '9'}${number}` : '';
  return $('#transfer-target').value;
}

function render() {
  const agent = view.agent;
  const state = agent ? agent.state : 'unknown';
  const seatState = $('#seat-state');
  seatState.dataset.state = state;
  seatState.dataset.reachable = String(agent ? agent.reachable !== false : true);
  let text = say(`c_state_${state}`);
  if (state === 'paused' && agent.pause_reason) text += ` · ${reasonLabel(agent.pause_reason)}`;
  seatState.textContent = text;
  seatState.title = agent && agent.reachable === false ? say('c_unreachable') : '';

  const is = (...states) => states.includes(state);
  $('#btn-login').disabled = !is('logged_out');
  $('#btn-logout').disabled = !is('available', 'ringing', 'paused', 'wrap_up');
  $('#btn-pause').disabled = !is('available', 'wrap_up') || !$('#pause-reason').value;
  $('#btn-unpause').disabled = !is('paused');

  // The ring panel shows whichever came first: the queue's ring or the SIP INVITE.
  const ringing = view.call === 'ringing' || is('ringing');
  $('#incoming').hidden = !ringing;
  if (ringing) {
    $('#incoming-number').textContent = agent?.ring?.number || view.sipNumber;
    $('#incoming-name').textContent = view.sipName;
  }
  $('#btn-answer').disabled = view.call !== 'ringing';
  $('#btn-reject').disabled = view.call !== 'ringing';

  const up = view.call === 'up';
  $('#btn-hangup').disabled = !(up || view.call === 'calling');
  const hold = $('#btn-hold');
  hold.disabled = !up || view.consult !== null;
  hold.textContent = say(view.held ? 'c_unhold' : 'c_hold');
  hold.setAttribute('aria-pressed', String(view.held));
  const mute = $('#btn-mute');
  mute.disabled = !up;
  mute.textContent = say(view.muted ? 'c_unmute' : 'c_mute');
  mute.setAttribute('aria-pressed', String(view.muted));
  for (const key of document.querySelectorAll('#keypad button')) key.disabled = !up;

  // Recording pause follows the seat service, not the softphone: it knows the caller's channel
  // the recording runs on, and only a queue call (its leg names the caller) has one for us.
  const paused = Boolean(agent && agent.recording_paused);
  const recordable = view.seat?.recording !== false && is('on_call') && Boolean(agent?.call?.caller);
  $('#recording-controls').hidden = !(recordable || paused);
  const recording = $('#btn-recording');
  recording.disabled = !recordable || view.recordingBusy;
  recording.textContent = say(paused ? 'c_recording_resume' : 'c_recording_pause');
  recording.setAttribute('aria-pressed', String(paused));
  $('#recording-paused').hidden = !paused;

  const canTransfer = up && view.consult === null;
  $('#transfer-target').disabled = !canTransfer;
  $('#transfer-number').disabled = !canTransfer;
  $('#btn-blind-transfer').disabled = !canTransfer || !transferTarget();
  $('#btn-consult').disabled = !canTransfer || !transferTarget();
  $('#btn-complete-transfer').disabled = view.consult !== 'up';
  $('#btn-cancel-consult').disabled = view.consult === null;

  let status = { none: 'c_no_call', ringing: 'c_call_ringing', calling: 'c_call_calling', up: 'c_call_up' }[view.call];
  status = say(view.held && up ? 'c_call_held' : status);
  if (view.consult) status += ` · ${say('c_consulting', { target: view.consultTarget })}`;
  $('#call-status').textContent = view.note && view.call === 'none' ? view.note : status;

  const wrapup = $('#wrapup');
  const wasHidden = wrapup.hidden;
  wrapup.hidden = !is('wrap_up');
  if (wasHidden && !wrapup.hidden) {
    $('#disposition').value = '';
    $('#wrapup-note').value = '';
  }
  $('#btn-wrapup-done').disabled = !$('#disposition').value;
  tick();
}

// Every second: time in state, the wrap-up countdown.
function tick() {
  const agent = view.agent;
  $('#state-since').textContent = agent && agent.since ? elapsed(secondsSince(agent.since)) : '00:00';
  const until = agent && agent.state === 'wrap_up' && agent.wrapup_until;
  $('#wrapup-ends').textContent = until ? say('c_wrapup_ends', { seconds: Math.max(0, Math.round(-secondsSince(until))) }) : '';
}

// ---- the state websocket ----

const socket = { ws: null, delay: 1000, lastHeard: 0, retryAt: 0 };
const SILENCE_MS = 50000; // the server pings every 20 s; two missed pings mean a dead link

function setWsStatus(state, text) {
  const el = $('#ws-status');
  el.dataset.state = state;
  el.textContent = text;
}

function openSocket() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws/seat`);
  socket.ws = ws;
  setWsStatus('connecting', say('c_ws_connecting'));
  ws.addEventListener('open', () => {
    socket.lastHeard = Date.now();
    setWsStatus('open', say('c_ws_open'));
  });
  ws.addEventListener('message', (event) => {
    socket.lastHeard = Date.now();
    socket.delay = 1000; // a message, not just an open socket, proves the link works
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      return;
    }
    if (msg.type === 'agent') onAgentMessage(msg);
    // The seat was taken away (extension removed, account disabled): nothing rings here now.
    if (msg.type === 'agent_removed' && view.agent) {
      onAgentMessage({ ...view.agent, state: 'logged_out', ring: null, call: null, recording_paused: false, since: null, sent: msg.sent });
    }
  });
  ws.addEventListener('close', (event) => {
    if (socket.ws !== ws) return;
    socket.ws = null;
    socket.retryAt = Date.now() + socket.delay;
    setTimeout(openSocket, socket.delay);
    socket.delay = Math.min(socket.delay * 2, 30000);
    watchSocket(); // show the loss now, not at the next tick
    // 1008: the server refused us (login ended, role changed): GET /api/seat sends us to log in.
    if (event.code === 1008) api('GET', '/api/seat').catch(() => {});
  });
}

function watchSocket() {
  if (socket.ws && socket.ws.readyState === WebSocket.OPEN && Date.now() - socket.lastHeard > SILENCE_MS) {
    socket.ws.close(); // the close handler reconnects
  }
  if (!socket.ws && socket.retryAt) {
    setWsStatus('closed', say('c_ws_closed', { seconds: Math.max(0, Math.ceil((socket.retryAt - Date.now()) / 1000)) }));
  }
}

// ---- the softphone ----

function startSoftphone(sip) {
  const phone = new Softphone(sip, $('#remote-audio'));
  hotlineConsole.softphone = phone;
  phone.on('registration', ({ state, reason }) => {
    const el = $('#sip-status');
    el.dataset.state = state;
    el.textContent = say(`c_sip_${state}`) + (reason && state !== 'registered' ? ` (${reason})` : '');
    el.title = reason || '';
  });
  phone.on('incoming', ({ number, display_name }) => {
    Object.assign(view, { call: 'ringing', sipNumber: number, sipName: display_name, note: '' });
    render();
  });
  phone.on('calling', ({ consult, target }) => {
    if (consult) Object.assign(view, { consult: 'calling', consultTarget: target });
    else view.call = 'calling';
    render();
  });
  phone.on('confirmed', ({ consult }) => {
    if (consult) view.consult = 'up';
    else view.call = 'up';
    render();
  });
  const over = ({ consult, originator, cause }, failed) => {
    if (consult) {
      view.consult = null;
      if (failed && originator !== 'local') showError(say('c_call_failed', { cause }));
    } else {
      Object.assign(view, { call: 'none', consult: null, held: false, muted: false, sipNumber: '', sipName: '' });
    }
    render();
  };
  phone.on('ended', (e) => over(e, false));
  phone.on('failed', (e) => over(e, true));
  phone.on('hold', ({ held, consult }) => {
    if (!consult) view.held = held;
    render();
  });
  phone.on('mute', ({ muted }) => {
    view.muted = muted;
    render();
  });
  phone.on('transfer', ({ state, target, cause }) => {
    if (state === 'accepted') {
      const dialled = target.replace(/^sip:|@.*$/g, '');
      const known = (view.seat?.transfer_targets || []).find((x) => x.target === dialled);
      view.note = say('c_transfer_done', { target: known ? known.label : dialled });
      $('#transfer-target').value = '';
      $('#transfer-number').value = '';
    } else {
      showError(say('c_transfer_failed', { cause }));
    }
    render();
  });
  window.addEventListener('pagehide', () => phone.stop()); // un-REGISTER now, not when it expires
  phone.start();
}

// Softphone calls that may throw (no call, wrong state): the reason goes to #error.
function dial(fn) {
  return () => {
    clearError();
    try {
      fn(hotlineConsole.softphone);
    } catch (err) {
      showError(err.message);
    }
  };
}

// ---- buttons ----

function wireButtons() {
  $('#btn-error-dismiss').addEventListener('click', clearError);
  $('#btn-login').addEventListener('click', () => command('/api/seat/login'));
  $('#btn-logout').addEventListener('click', () => command('/api/seat/logout'));
  $('#btn-pause').addEventListener('click', () => command('/api/seat/pause', { reason: $('#pause-reason').value }));
  $('#btn-unpause').addEventListener('click', () => command('/api/seat/unpause'));
  $('#pause-reason').addEventListener('change', render);

  $('#btn-answer').addEventListener('click', dial((p) => p.answer()));
  $('#btn-reject').addEventListener('click', dial((p) => p.reject()));
  $('#btn-hangup').addEventListener('click', dial((p) => p.hangup()));
  $('#btn-hold').addEventListener('click', dial((p) => (view.held ? p.unhold() : p.hold())));
  $('#btn-mute').addEventListener('click', dial((p) => (view.muted ? p.unmute() : p.mute())));
  $('#btn-recording').addEventListener('click', async () => {
    const path = view.agent?.recording_paused ? '/api/seat/recording/resume' : '/api/seat/recording/pause';
    view.recordingBusy = true;
    render();
    await command(path); // the answer's agent message turns the button and the badge
    view.recordingBusy = false;
    render();
  });
  $('#keypad').addEventListener('click', (event) => {
    const digit = event.target.closest('button[data-digit]')?.dataset.digit;
    if (digit) dial((p) => p.sendDTMF(digit))();
  });

  $('#transfer-target').addEventListener('change', render);
  $('#transfer-number').addEventListener('input', render);
  $('#btn-blind-transfer').addEventListener('click', dial((p) => p.blindTransfer(transferTarget())));
  $('#btn-consult').addEventListener('click', dial((p) => p.startConsult(transferTarget())));
  $('#btn-complete-transfer').addEventListener('click', dial((p) => p.completeTransfer()));
  $('#btn-cancel-consult').addEventListener('click', dial((p) => p.cancelConsult()));

  $('#disposition').addEventListener('change', render);
  $('#wrapup').addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!view.lastCallId) {
      showError(say('c_wrapup_no_call'));
      return;
    }
    const button = $('#btn-wrapup-done');
    button.disabled = true;
    const done = await command('/api/seat/wrap-up', {
      uniqueid: view.lastCallId,
      disposition: $('#disposition').value,
      note: $('#wrapup-note').value.trim(),
    });
    if (done) $('#wrapup-note').value = '';
    render();
  });
}

// ---- start ----

async function loadSeat() {
  try {
    const seat = await api('GET', '/api/seat');
    view.seat = seat;
    fillSelects(seat);
    const msg = agentIn(seat);
    if (msg) onAgentMessage(msg);
    clearError();
    return seat;
  } catch (err) {
    // 503: the seats component did not answer (restarting?); 409: no seat for this login.
    showError(say('c_error_seat', { detail: err.message }));
    await new Promise((resolve) => setTimeout(resolve, 5000));
    return loadSeat();
  }
}

const caseForm = createCaseForm({ api, say, lang, showError, clearError });
hotlineConsole.caseForm = caseForm;
caseForm.start();
wireButtons();
render();
setInterval(() => {
  tick();
  watchSocket();
}, 1000);
const seat = await loadSeat();
openSocket();
if (seat.sip) startSoftphone(seat.sip);
