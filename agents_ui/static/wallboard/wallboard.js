// The supervisor wallboard: queue tiles, the agent table, and the supervisor's own softphone for
// listen / whisper / barge. The first picture comes from GET /api/wallboard; after that every
// change arrives on WS /ws/wallboard (docs/seat-layer.md). Nothing here polls the server: the
// one-second timer only redraws the clocks that tick (longest wait, time in state).

const WORDS = JSON.parse(document.getElementById('words').textContent);
const LANG = document.documentElement.lang || 'zh-CN';
const ZONE = document.body.dataset.zone || 'Asia/Shanghai';

const STATES = ['available', 'ringing', 'on_call', 'wrap_up', 'paused'];
const MODES = ['listen', 'whisper', 'barge'];
const PING_TIMEOUT_MS = 50000; // the server pings every 20 s: two missed pings mean a dead link
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;
const SPY_REQUEST_MS = 30000; // how long a supervise request waits for its call to ring us

const $ = (selector, root = document) => root.querySelector(selector);

// The latest message of every queue and agent, for the page and for tests.
const state = {
  queues: {},
  agents: {},
  queueOrder: [],
  pauseReasons: {},
  sip: null,
};
const wallboard = { softphone: null, agents: state.agents, queues: state.queues };
window.hotlineWallboard = wallboard;

// ----- words and formats ----------------------------------------------------------------------

function say(key, values = {}) {
  const text = WORDS[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

const clockFormat = new Intl.DateTimeFormat(LANG, {
  timeZone: ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
const dateFormat = new Intl.DateTimeFormat(LANG, {
  timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit',
});
const weekdayFormat = new Intl.DateTimeFormat(LANG, { timeZone: ZONE, weekday: 'short' });

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function percent(fraction) {
  return fraction === null || fraction === undefined ? '—' : `${Math.round(fraction * 100)}%`;
}

function pauseLabel(code) {
  if (!code) return '';
  const reason = state.pauseReasons[code];
  if (!reason) return code;
  return LANG === 'en' ? reason.en : reason.zh;
}

// ----- server clock ---------------------------------------------------------------------------
// A supervisor's PC may be minutes off; elapsed times are counted on the server's clock. Every
// live message carries the publisher's time (`sent`); sent - received = offset - latency, so the
// largest of the recent samples is the best estimate. Until the first one, the HTTP Date header.

const offsetSamples = [];
let clockOffsetMs = 0;

const OFFSET_SANE_MS = 12 * 3600 * 1000; // beyond this a sample is a bogus `sent`, not a clock

function sampleOffset(ms) {
  if (!Number.isFinite(ms) || Math.abs(ms) > OFFSET_SANE_MS) return;
  offsetSamples.push(ms);
  if (offsetSamples.length > 20) offsetSamples.shift();
  clockOffsetMs = Math.max(...offsetSamples);
}

function serverNow() {
  return Date.now() + clockOffsetMs;
}

function secondsSince(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : Math.max(0, (serverNow() - t) / 1000);
}

// ----- errors ---------------------------------------------------------------------------------

const errorBox = $('#error');
const errorText = $('#error-text');

function showError(message) {
  errorText.textContent = message;
  errorBox.hidden = false;
}

function clearError() {
  errorText.textContent = '';
  errorBox.hidden = true;
}

$('#error-dismiss').addEventListener('click', clearError);

async function detailOf(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === 'string') return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join('; ');
    if (body.detail) return JSON.stringify(body.detail);
  } catch {
    // not JSON: the status line says enough
  }
  return `${response.status} ${response.statusText}`.trim();
}

// ----- queue tiles ----------------------------------------------------------------------------

const queuesBox = $('#queues');
const tileTemplate = $('#queue-tile-template');

function queueTitle(name) {
  const q = state.queues[name];
  return (q && q.title) || name;
}

function tileOf(name) {
  let tile = queuesBox.querySelector(`.queue-tile[data-queue="${CSS.escape(name)}"]`);
  if (!tile) {
    tile = tileTemplate.content.firstElementChild.cloneNode(true);
    tile.dataset.queue = name;
    queuesBox.append(tile);
  }
  return tile;
}

function drawQueue(message) {
  const tile = tileOf(message.queue);
  const slSeconds = message.service_level_seconds ?? 15;
  tile.dataset.slSeconds = String(slSeconds);
  $('.queue-title', tile).textContent = message.title || message.queue;
  $('.queue-name', tile).textContent = message.title && message.title !== message.queue ? message.queue : '';
  $('.waiting', tile).textContent = String((message.waiting || []).length);
  const longest = $('.longest-wait', tile);
  if (message.longest_wait_since) longest.dataset.since = message.longest_wait_since;
  else delete longest.dataset.since;
  $('.answered-today', tile).textContent = String(message.answered_today ?? 0);
  $('.abandoned-today', tile).textContent = String(message.abandoned_today ?? 0);
  const sl = $('.service-level', tile);
  sl.textContent = percent(message.service_level);
  sl.dataset.value = message.service_level === null || message.service_level === undefined
    ? '' : String(message.service_level);
  $('.service-level-label', tile).textContent = say('w_service_level', { seconds: slSeconds });
  const agents = message.agents || {};
  for (const s of STATES) $(`.agents-${s}`, tile).textContent = String(agents[s] ?? 0);
  tickTile(tile);
}

function tickTile(tile) {
  const longest = $('.longest-wait', tile);
  const since = longest.dataset.since;
  const seconds = since ? Math.floor(secondsSince(since)) : 0;
  longest.dataset.seconds = String(seconds);
  longest.textContent = duration(seconds);
  const over = Boolean(since) && seconds > Number(tile.dataset.slSeconds || 15);
  tile.classList.toggle('over-sl', over);
  tile.title = over ? say('w_over_sl', { seconds: tile.dataset.slSeconds }) : '';
}

function removeQueue(name) {
  delete state.queues[name];
  const tile = queuesBox.querySelector(`.queue-tile[data-queue="${CSS.escape(name)}"]`);
  if (tile) tile.remove();
}

// ----- agent table ----------------------------------------------------------------------------

const agentsBody = $('#agents tbody');
const rowTemplate = $('#agent-row-template');

function agentName(message) {
  return message.display_name || message.agent;
}

// Logged-out seats go to the bottom; the rest stay in name order so rows do not jump about.
const collator = new Intl.Collator(LANG, { sensitivity: 'base', numeric: true });

function before(a, b) {
  const out = (m) => (m.state === 'logged_out' ? 1 : 0);
  return (out(a) - out(b)
    || collator.compare(agentName(a), agentName(b))
    || collator.compare(a.agent, b.agent)) < 0;
}

function placeRow(row, message) {
  let next = null;
  for (const other of agentsBody.children) {
    if (other === row) continue;
    const theirs = state.agents[other.dataset.agent];
    if (theirs && before(message, theirs)) {
      next = other;
      break;
    }
  }
  if (row.nextElementSibling !== next || row.parentNode !== agentsBody) agentsBody.insertBefore(row, next);
}

function rowOf(name) {
  let row = agentsBody.querySelector(`tr[data-agent="${CSS.escape(name)}"]`);
  if (!row) {
    row = rowTemplate.content.firstElementChild.cloneNode(true);
    row.dataset.agent = name;
  }
  return row;
}

function stateText(message) {
  const base = say(`w_state_${message.state}`);
  const reason = message.pause_reason;
  if (!reason) return base;
  if (message.state === 'paused') return `${base} · ${pauseLabel(reason)}`;
  // A pause asked for during a ring or call takes effect when it ends.
  if (message.state === 'ringing' || message.state === 'on_call') {
    return `${base} (${say('w_pause_pending', { reason: pauseLabel(reason) })})`;
  }
  return base;
}

function drawAgent(message) {
  const row = rowOf(message.agent);
  row.dataset.state = message.state;
  row.dataset.reachable = String(message.reachable !== false);
  $('.name', row).textContent = agentName(message);
  $('.username', row).textContent = message.display_name && message.display_name !== message.agent
    ? message.agent : '';
  $('.extension', row).textContent = message.extension || '';
  $('.unreachable', row).hidden = message.reachable !== false;
  const cell = $('.state', row);
  cell.dataset.state = message.state;
  cell.textContent = stateText(message);
  const timer = $('.time-in-state', row);
  if (message.since) {
    timer.dataset.since = message.since;
    timer.title = say('w_since', { time: clockFormat.format(new Date(message.since)) });
  } else {
    delete timer.dataset.since;
    timer.title = '';
  }
  const leg = message.call || message.ring;
  $('.caller', row).textContent = leg ? leg.number || '' : '';
  $('.agent-queues', row).textContent = Object.keys(message.queues || {}).map(queueTitle).join(LANG === 'en' ? ', ' : '、');
  $('.calls-today', row).textContent = String(message.calls_today ?? 0);
  drawButtons(row, message);
  tickRow(row);
  placeRow(row, message);
}

// The buttons exist only while the agent is on a call; one spy call at a time (the softphone
// turns a second one away as busy), so they are disabled from the request until its call ends.
function drawButtons(row, message) {
  const box = $('.supervise', row);
  const onCall = message.state === 'on_call';
  if (!onCall) {
    box.replaceChildren();
    return;
  }
  if (!box.children.length) {
    for (const mode of MODES) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = mode;
      button.textContent = say(`w_${mode}`);
      button.addEventListener('click', () => supervise(row.dataset.agent, mode));
      box.append(button);
    }
  }
  const busy = spy.state === 'requested' || spy.state === 'ringing' || spy.state === 'active';
  for (const button of box.children) {
    button.disabled = !state.sip || busy;
    button.title = state.sip ? say(`w_${button.className}_help`) : say('w_sip_none');
  }
}

function tickRow(row) {
  const timer = $('.time-in-state', row);
  // How long a seat has been logged out is nobody's business on a wallboard.
  const shown = Boolean(timer.dataset.since) && row.dataset.state !== 'logged_out';
  const seconds = shown ? Math.floor(secondsSince(timer.dataset.since)) : 0;
  timer.dataset.seconds = String(seconds);
  timer.textContent = shown ? duration(seconds) : '';
}

function removeAgent(name) {
  delete state.agents[name];
  const row = agentsBody.querySelector(`tr[data-agent="${CSS.escape(name)}"]`);
  if (row) row.remove();
}

function redrawButtons() {
  for (const row of agentsBody.children) {
    const message = state.agents[row.dataset.agent];
    if (message) drawButtons(row, message);
  }
}

function drawEmptyNotes() {
  $('#no-queues').hidden = Object.keys(state.queues).length > 0;
  $('#no-agents').hidden = Object.keys(state.agents).length > 0;
}

// ----- messages -------------------------------------------------------------------------------

function applyQueue(message) {
  state.queues[message.queue] = message;
  drawQueue(message);
}

function applyAgent(message) {
  state.agents[message.agent] = message;
  drawAgent(message);
}

// A whole picture (the first GET, or the snapshot after each (re)connection): what is not in it
// is gone.
function applyPicture({ queues = [], agents = [] }) {
  const queueNames = new Set(queues.map((q) => q.queue));
  for (const name of Object.keys(state.queues)) if (!queueNames.has(name)) removeQueue(name);
  const agentNames = new Set(agents.map((a) => a.agent));
  for (const name of Object.keys(state.agents)) if (!agentNames.has(name)) removeAgent(name);
  // Queue titles first: agent rows name their queues by title.
  for (const q of queues) state.queues[q.queue] = q;
  for (const q of queues) {
    const tile = tileOf(q.queue);
    queuesBox.append(tile); // the server's order
    drawQueue(q);
  }
  for (const a of agents) applyAgent(a);
  drawEmptyNotes();
}

function onMessage(message) {
  if (message.type === 'snapshot') {
    applyPicture(message);
  } else if (message.type === 'queue') {
    const known = message.queue in state.queues;
    applyQueue(message);
    if (!known) drawEmptyNotes();
  } else if (message.type === 'agent') {
    const known = message.agent in state.agents;
    applyAgent(message);
    if (!known) drawEmptyNotes();
  } else if (message.type === 'agent_removed') {
    // A seat deleted or disabled by an administrator.
    removeAgent(message.agent);
    drawEmptyNotes();
  }
  if (typeof message.sent === 'number') sampleOffset(message.sent * 1000 - Date.now());
}

// ----- the live link --------------------------------------------------------------------------

const wsStatus = $('#ws-status');
let socket = null;
let retryDelay = RETRY_MIN_MS;
let retryTimer = null;
let countdownTimer = null;
let pingTimer = null;

function setLink(linkState, text) {
  wsStatus.dataset.state = linkState;
  wsStatus.textContent = text;
}

function watchPings() {
  clearTimeout(pingTimer);
  pingTimer = setTimeout(() => {
    // No ping for too long: the socket is dead without knowing it. onclose reconnects.
    if (socket) socket.close(4000, 'no ping');
  }, PING_TIMEOUT_MS);
}

function connect() {
  clearTimeout(retryTimer);
  clearInterval(countdownTimer);
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${window.location.host}/ws/wallboard`);
  socket = ws;
  let opened = false;
  setLink('connecting', say('w_ws_connecting'));
  ws.addEventListener('open', () => {
    opened = true;
    setLink('open', say('w_ws_open'));
    watchPings();
  });
  ws.addEventListener('message', (event) => {
    watchPings();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === 'snapshot') retryDelay = RETRY_MIN_MS;
    onMessage(message);
  });
  ws.addEventListener('close', (event) => {
    if (socket !== ws) return;
    socket = null;
    clearTimeout(pingTimer);
    // 1008: the server closed us because the login ended; ask the REST side where to go.
    scheduleReconnect(opened && event.code !== 1008);
  });
}

async function scheduleReconnect(wasOpen) {
  // A refused handshake (login expired, role taken away) looks like any other failure here;
  // the REST answer tells which it was.
  if (!wasOpen) {
    try {
      const probe = await fetch('/api/wallboard', { credentials: 'same-origin' });
      if (probe.status === 401) {
        window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
        return;
      }
      if (probe.status === 403) showError(await detailOf(probe));
    } catch {
      // the server is away: keep retrying
    }
  }
  const delay = Math.min(retryDelay, RETRY_MAX_MS) * (0.8 + Math.random() * 0.4);
  retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
  const due = Date.now() + delay;
  const countdown = () => {
    setLink('closed', say('w_ws_closed', { seconds: Math.max(0, Math.ceil((due - Date.now()) / 1000)) }));
  };
  countdown();
  clearInterval(countdownTimer);
  countdownTimer = setInterval(countdown, 1000);
  retryTimer = setTimeout(connect, delay);
}

// ----- the supervisor's softphone and spy calls -----------------------------------------------

const sipStatus = $('#sip-status');
const spyStatus = $('#spy-status');
const spyHangup = $('#btn-spy-hangup');
const spy = { state: 'idle', agent: null, mode: null, requestedAt: 0, callId: null, stopped: false };

function setSip(sipState) {
  sipStatus.dataset.state = sipState;
  sipStatus.textContent = say(`w_sip_${sipState}`);
}

function setSpy(spyState, text) {
  spy.state = spyState;
  spyStatus.dataset.state = spyState;
  spyStatus.textContent = text;
  spyHangup.disabled = !(spyState === 'requested' || spyState === 'ringing' || spyState === 'active');
  redrawButtons();
}

function spyText(mode, agent) {
  const message = state.agents[agent];
  return say(`w_spy_${mode}`, { agent: message ? agentName(message) : agent });
}

async function startSoftphone(sip) {
  if (!sip) {
    setSip('none');
    return;
  }
  setSip('connecting');
  let Softphone;
  try {
    ({ Softphone } = await import('/static/softphone.js'));
  } catch (err) {
    setSip('failed');
    showError(say('w_err_softphone', { detail: err.message || String(err) }));
    return;
  }
  const phone = new Softphone(sip, $('#remote-audio'));
  wallboard.softphone = phone;
  phone.on('registration', ({ state: sipState }) => setSip(sipState));
  phone.on('incoming', onIncoming);
  phone.on('confirmed', ({ id }) => {
    if (id !== spy.callId) return;
    const text = spy.agent ? spyText(spy.mode, spy.agent) : spyStatus.textContent;
    setSpy('active', text);
  });
  const over = (failed) => ({ id, originator, cause }) => {
    if (id !== spy.callId) return;
    spy.callId = null;
    spy.agent = spy.mode = null;
    setSpy('ended', say('w_spy_ended'));
    // A spy call that never came up on our side (no microphone allowed, media failure) is news.
    if (failed && originator !== 'remote' && !spy.stopped) showError(say('w_err_softphone', { detail: cause || '' }));
  };
  phone.on('ended', over(false));
  phone.on('failed', over(true));
  phone.start();
}

// Calls to the wallboard's softphone are the spy calls asked for with /api/supervise: answer
// them at once (the click on listen/whisper/barge was the user gesture that lets audio play).
function onIncoming({ id, number, display_name: displayName }) {
  const expected = spy.state === 'requested' && Date.now() - spy.requestedAt < SPY_REQUEST_MS;
  spy.callId = id;
  spy.stopped = false;
  if (!expected) {
    spy.agent = spy.mode = null;
  }
  const text = expected
    ? spyText(spy.mode, spy.agent)
    : say('w_spy_unknown', { caller: displayName || number || '' });
  setSpy('ringing', text);
  wallboard.softphone.answer();
}

async function supervise(agent, mode) {
  if (!state.sip) {
    showError(say('w_err_supervise', { detail: say('w_sip_none') }));
    return;
  }
  // Set before the request: the call may ring us before the answer comes back.
  spy.agent = agent;
  spy.mode = mode;
  spy.requestedAt = Date.now();
  setSpy('requested', say('w_spy_requested', { agent: agentName(state.agents[agent] || { agent }) }));
  let response;
  try {
    response = await fetch('/api/supervise', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ agent, mode }),
    });
  } catch {
    failSupervise(say('w_err_network'));
    return;
  }
  if (!response.ok) {
    failSupervise(await detailOf(response));
    return;
  }
  clearError();
}

function failSupervise(detail) {
  showError(say('w_err_supervise', { detail }));
  if (spy.state === 'requested') {
    spy.agent = spy.mode = null;
    setSpy('idle', say('w_spy_idle'));
  }
}

spyHangup.addEventListener('click', () => {
  if (wallboard.softphone && spy.callId) {
    spy.stopped = true;
    wallboard.softphone.hangup();
  } else {
    spy.agent = spy.mode = null;
    setSpy('idle', say('w_spy_idle'));
  }
});

// ----- clocks ---------------------------------------------------------------------------------

function tick() {
  const now = new Date(serverNow());
  $('#clock').textContent = `${dateFormat.format(now)} ${weekdayFormat.format(now)} ${clockFormat.format(now)}`;
  for (const tile of queuesBox.querySelectorAll('.queue-tile')) tickTile(tile);
  for (const row of agentsBody.children) tickRow(row);
  if (spy.state === 'requested' && Date.now() - spy.requestedAt > SPY_REQUEST_MS) {
    spy.agent = spy.mode = null;
    setSpy('idle', say('w_spy_idle'));
  }
}

// ----- start ----------------------------------------------------------------------------------

async function start() {
  setSpy('idle', say('w_spy_idle'));
  tick();
  setInterval(tick, 1000);
  let picture = null;
  try {
    const response = await fetch('/api/wallboard', {
      credentials: 'same-origin', headers: { Accept: 'application/json' },
    });
    if (response.status === 401) {
      window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
      return;
    }
    if (!response.ok) throw new Error(await detailOf(response));
    const date = Date.parse(response.headers.get('date') || '');
    if (!Number.isNaN(date)) clockOffsetMs = date + 500 - Date.now(); // Date has whole seconds
    picture = await response.json();
  } catch (err) {
    showError(say('w_err_load', { detail: err.message || say('w_err_network') }));
  }
  if (picture) {
    for (const r of picture.pause_reasons || []) state.pauseReasons[r.code] = r;
    state.sip = picture.sip || null;
    applyPicture(picture);
  }
  connect();
  await startSoftphone(state.sip);
}

start();
