// One recorded call: its waveform (caller above, agent below), the transcript that follows the
// audio, key phrases, pauses and integrity. The audio is never fetched until the person has
// given a reason: POST /access logs it and answers a short-lived URL that the <audio> plays.

import { $, api, clock, localTime, phraseChips, problem, say, text } from './common.js';

const ID = document.body.dataset.recordingId;
const audio = $('#audio');
const canvas = $('#waveform');
const playButton = $('#play');
const downloadButton = $('#download');
const playerStatus = $('#player-status');
const dialog = $('#reason-dialog');
const reasonInput = $('#reason');
const reasonError = $('#reason-error');

const state = {
  detail: null,
  peaks: null, // {channels, peaks: [[0..1], ...]}
  segments: [],
  current: -1,
  purpose: 'listen', // what the open dialog asks for
  grantedUntil: 0, // ms since the epoch; the audio URL's token ends then
  pendingSeek: null, // seconds: a line clicked before the audio was opened
};
window.hotlineRecording = state; // for tests and for a curious supervisor's console

// ----- the page's data ---------------------------------------------------------------------------

function fill(field, value) {
  const node = $(`#meta [data-field="${field}"]`);
  node.textContent = value ?? '';
  return node;
}

function renderMeta(d) {
  fill('started', localTime(d.call.started_at));
  fill('caller', d.call.caller);
  fill('agent', d.call.agent);
  fill('queue', d.call.queue);
  fill('disposition', say(d.call.disposition)).className = `d-${d.call.disposition}`;
  fill('length', d.duration_ms !== null ? clock(d.duration_ms / 1000) : '');
  const status = say(`r_status_${d.status}`) + (d.failure_reason ? ` — ${d.failure_reason}` : '');
  fill('status', status).className = `s-${d.status}`;
  fill('integrity', say(`r_integrity_${d.integrity}`)).dataset.state = d.integrity;
  fill('legal_hold', d.legal_hold ? `${say('r_yes')}${d.hold_reason ? ` — ${d.hold_reason}` : ''}` : say('r_no'));
  fill('asr', say(`r_asr_${d.asr_status}`));
  fill('format', d.archive_format);
  fill('sha256', d.sha256);
}

function renderTranscript(d) {
  const list = $('#lines');
  list.replaceChildren();
  state.segments = d.transcript ? d.transcript.segments : [];
  state.segments.forEach((segment, index) => {
    const li = document.createElement('li');
    li.dataset.index = index;
    li.dataset.start = segment.start_ms;
    li.dataset.end = segment.end_ms;
    li.dataset.speaker = segment.speaker;
    li.append(
      text('span', clock(segment.start_ms / 1000), 'time'),
      text('span', say(segment.speaker === 'agent' ? 'r_agent_leg' : 'r_caller_leg'), 'who'),
      text('span', segment.text, 'words'),
    );
    li.addEventListener('click', () => seek(segment.start_ms / 1000));
    list.append(li);
  });
  $('#no-transcript').hidden = state.segments.length > 0;
}

function renderPhrases(d) {
  const chips = phraseChips(d.key_phrases);
  chips.id = 'phrases';
  [...chips.children].forEach((chip, index) => {
    const hit = d.key_phrases[index];
    chip.textContent = `${hit.phrase} ${clock(hit.start_ms / 1000)}`;
    chip.dataset.startMs = hit.start_ms;
    chip.addEventListener('click', () => seek(hit.start_ms / 1000));
  });
  $('#phrases').replaceWith(chips);
  $('#no-phrases').hidden = d.key_phrases.length > 0;
}

function renderPauses(d) {
  const list = $('#pauses');
  list.replaceChildren();
  for (const p of d.pauses) {
    const span = p.end_ms !== null ? `${clock(p.start_ms / 1000)}–${clock(p.end_ms / 1000)}` : clock(p.start_ms / 1000);
    const ended = p.resumed_at ? ` – ${localTime(p.resumed_at).slice(11)}` : '';
    list.append(text('li', `${localTime(p.paused_at)}${ended} (${span}) ${say('r_pause_by')} ${p.paused_by}`));
  }
  $('#no-pauses').hidden = d.pauses.length > 0;
}

async function load() {
  const reply = await api(`/api/recordings/${ID}`);
  if (!reply.ok) {
    const refusal = $('#refusal');
    refusal.textContent = problem(reply);
    refusal.hidden = false;
    return;
  }
  const d = reply.body;
  state.detail = d;
  renderMeta(d);
  renderTranscript(d);
  renderPhrases(d);
  renderPauses(d);
  $('#recording').hidden = false;
  if (!d.playable) {
    const why = $('#unplayable');
    why.textContent = say('r_unplayable') + d.unplayable;
    why.hidden = false;
    playButton.disabled = true;
    downloadButton.disabled = true;
  }
  if (d.channels.length) labelLanes(d.channels);
  fitCanvas();
  draw();
  tick();
  if (d.peaks_url) loadPeaks(d.peaks_url);
}

// One label per line of the waveform, top to bottom: the legs, or their mix when only that is kept.
function labelLanes(channels) {
  const words = { caller: 'r_caller_leg', agent: 'r_agent_leg', mix: 'r_mix_leg' };
  const lanes = $('.lanes');
  lanes.replaceChildren(
    ...channels.map((channel) => {
      const label = text('span', say(words[channel] || 'r_mix_leg'), 'lane-label');
      label.dataset.channel = channel;
      return label;
    }),
  );
}

async function loadPeaks(url) {
  const buckets = Math.min(4000, Math.max(50, Math.round(canvas.clientWidth)));
  const reply = await api(`${url}?buckets=${buckets}`);
  if (reply.ok) {
    state.peaks = reply.body;
    labelLanes(reply.body.channels);
    draw();
  }
}

// ----- the waveform ------------------------------------------------------------------------------

function duration() {
  const d = state.detail;
  if (d && d.duration_ms) return d.duration_ms / 1000;
  if (Number.isFinite(audio.duration) && audio.duration > 0) return audio.duration;
  const last = state.segments[state.segments.length - 1];
  return last ? last.end_ms / 1000 : 0;
}

function fitCanvas() {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(100, Math.round(canvas.clientWidth * ratio));
  canvas.height = Math.max(60, Math.round(canvas.clientHeight * ratio));
}

const COLOURS = { caller: ['#1d4ed8', '#93c5fd'], agent: ['#1b7d3a', '#86efac'], mix: ['#52606d', '#bcccdc'] };

function draw() {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const total = duration();
  const played = total ? Math.min(1, audio.currentTime / total) : 0;
  const x = (ms) => (total ? (ms / 1000 / total) * width : 0);
  // Stretches the agent paused the recording: shaded across both legs.
  ctx.fillStyle = 'rgba(100, 116, 139, 0.18)';
  for (const p of state.detail?.pauses || []) {
    if (p.start_ms === null) continue;
    const end = p.end_ms ?? total * 1000;
    ctx.fillRect(x(p.start_ms), 0, Math.max(2, x(end) - x(p.start_ms)), height);
  }
  const channels = state.peaks?.channels || state.detail?.channels || ['caller', 'agent'];
  const lanes = state.peaks?.peaks || channels.map(() => []);
  const laneHeight = height / Math.max(1, lanes.length);
  lanes.forEach((values, lane) => {
    const [dark, light] = COLOURS[channels[lane]] || COLOURS.caller;
    const middle = laneHeight * lane + laneHeight / 2;
    const step = width / Math.max(1, values.length);
    values.forEach((value, i) => {
      const amplitude = Math.max(0.5, value * (laneHeight / 2 - 3));
      ctx.fillStyle = i / values.length < played ? dark : light;
      ctx.fillRect(i * step, middle - amplitude, Math.max(1, step - 0.5), amplitude * 2);
    });
    if (lane > 0) {
      ctx.fillStyle = '#d9e2ec';
      ctx.fillRect(0, laneHeight * lane, width, 1);
    }
  });
  // Key phrases: a mark at the top where each was heard, red when urgent.
  for (const hit of state.detail?.key_phrases || []) {
    ctx.fillStyle = hit.urgent ? '#b42318' : '#f59e0b';
    ctx.beginPath();
    ctx.moveTo(x(hit.start_ms) - 5, 0);
    ctx.lineTo(x(hit.start_ms) + 5, 0);
    ctx.lineTo(x(hit.start_ms), 8);
    ctx.fill();
  }
  ctx.fillStyle = '#b42318';
  ctx.fillRect(played * width - 1, 0, 2, height);
}

// ----- following the audio -----------------------------------------------------------------------

function currentSegment(ms) {
  let found = -1;
  for (let i = 0; i < state.segments.length; i += 1) {
    if (state.segments[i].start_ms <= ms) found = i;
    else break;
  }
  return found;
}

function tick() {
  $('#clock').textContent = `${clock(audio.currentTime)} / ${clock(duration())}`;
  const index = currentSegment(audio.currentTime * 1000);
  if (index !== state.current) {
    $('#lines li.current')?.classList.remove('current');
    state.current = index;
    const line = index >= 0 ? $(`#lines li[data-index="${index}"]`) : null;
    if (line) {
      line.classList.add('current');
      line.scrollIntoView({ block: 'nearest' });
    }
  }
  draw();
}

function frame() {
  tick();
  if (!audio.paused) window.requestAnimationFrame(frame);
}

function opened() {
  return Boolean(audio.getAttribute('src')) && Date.now() < state.grantedUntil;
}

function seek(seconds) {
  if (!state.detail?.playable) return;
  if (!opened()) {
    state.pendingSeek = seconds;
    ask('listen');
    return;
  }
  audio.currentTime = seconds;
  if (audio.paused) audio.play();
  tick();
}

// ----- the reason, then the audio ----------------------------------------------------------------

function ask(purpose) {
  state.purpose = purpose;
  $('#reason-title').textContent = say(`r_reason_${purpose}`);
  reasonError.hidden = true;
  dialog.showModal();
  reasonInput.focus();
}

async function grant(event) {
  event.preventDefault();
  const reason = reasonInput.value.trim();
  if (reason.length < 4) {
    reasonError.textContent = say('r_reason_short');
    reasonError.hidden = false;
    return;
  }
  const purpose = state.purpose;
  $('#reason-ok').disabled = true;
  const reply = await api(`/api/recordings/${ID}/access`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ purpose, reason }),
  });
  $('#reason-ok').disabled = false;
  if (!reply.ok) {
    reasonError.textContent = problem(reply);
    reasonError.hidden = false;
    return;
  }
  dialog.close();
  if (purpose === 'download') {
    const link = document.createElement('a');
    link.href = reply.body.url;
    link.download = '';
    document.body.append(link);
    link.click();
    link.remove();
    playerStatus.textContent = say('r_download_started');
    return;
  }
  state.grantedUntil = Date.parse(reply.body.expires_at);
  const start = state.pendingSeek;
  state.pendingSeek = null;
  audio.src = reply.body.url;
  if (start !== null) audio.addEventListener('loadedmetadata', () => { audio.currentTime = start; }, { once: true });
  try {
    await audio.play();
  } catch (error) {
    playerStatus.textContent = say('r_failed') + error.message;
  }
}

$('#reason-form').addEventListener('submit', grant);
$('#reason-cancel').addEventListener('click', () => {
  state.pendingSeek = null;
  dialog.close();
});

playButton.addEventListener('click', () => {
  if (!opened()) {
    ask('listen');
  } else if (audio.paused) {
    audio.play();
  } else {
    audio.pause();
  }
});
downloadButton.addEventListener('click', () => ask('download'));

audio.addEventListener('play', () => {
  playButton.textContent = say('r_pause');
  playerStatus.textContent = say('r_playing');
  window.requestAnimationFrame(frame);
});
audio.addEventListener('pause', () => {
  playButton.textContent = say('r_play');
  playerStatus.textContent = '';
  tick();
});
audio.addEventListener('ended', tick);
audio.addEventListener('timeupdate', tick);
audio.addEventListener('loadedmetadata', tick);
// The token ran out under a long listen (the next range request was refused): ask again.
audio.addEventListener('error', () => {
  audio.removeAttribute('src');
  audio.load();
  state.grantedUntil = 0;
  playButton.textContent = say('r_play');
  playerStatus.textContent = say('r_access_expired');
});

canvas.addEventListener('click', (event) => {
  const box = canvas.getBoundingClientRect();
  seek(((event.clientX - box.left) / box.width) * duration());
});
window.addEventListener('resize', () => {
  fitCanvas();
  draw();
});

load();
