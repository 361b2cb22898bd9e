// One case: its facts, deadlines and marks, the timeline, the calls about it (recording status
// and transcript), its attachments, and the buttons of the actions the API says this user may
// take now. Each button asks for what its action needs (a reason, a department, days, the reply
// and its files, the citizen's verdict, the case it repeats), sends it, shows a refusal in the
// API's words (409, 422) where the person is looking, and reads the case again after a success.

import {
  $, LANG, PAGE, api, caseHref, chip, isPast, link, localTime, nameOf, problem, say, statusNode, text, wordFor,
} from './common.js';

const NUMBER = document.body.dataset.number;
const URL_OF_CASE = `/api/cases/${encodeURIComponent(NUMBER)}`;
// While a linked call's transcript is still being made, the case is read again this often.
const WAIT_FOR_TRANSCRIPT_MS = 8000;

// What each action asks for. ``text`` is the reply or the answer given on the call; ``note`` is
// a reason the action may go without (the same box, labelled as optional).
const INPUTS = {
  file: [],
  sign_for: [],
  start_handling: [],
  resolve_on_call: ['text'],
  dispatch: ['department'],
  redispatch: ['department', 'reason'],
  reply: ['text', 'files'],
  return: ['reason'],
  request_extension: ['days', 'reason'],
  approve_extension: ['note'],
  refuse_extension: ['reason'],
  reject_reply: ['reason'],
  close: ['note'],
  evaluate: ['satisfaction', 'note'],
  reopen: ['reason'],
  merge: ['target'],
  supervise: ['reason'],
  end_supervision: ['note'],
};
// Buttons that move a case on without asking anything: one click does it.
const AT_ONCE = new Set(['file', 'sign_for', 'start_handling']);

const state = {
  data: null,
  departments: [],
  action: null, // the action whose dialog is open
  busy: false,
  timer: null,
  readings: 0,
};
window.hotlineCase = state; // for tests and for a curious supervisor's console

const dialog = $('#action-dialog');
const notice = $('#notice');
const actionError = $('#action-error');

// ----- reading the case --------------------------------------------------------------------------

async function load() {
  clearTimeout(state.timer);
  // Only the latest reading is shown: a slow one (the transcript poll) must not undo what an
  // action's own reading has just shown.
  const turn = ++state.readings;
  const reply = await api('GET', URL_OF_CASE);
  if (turn !== state.readings) return;
  if (!reply.ok) {
    const refusal = $('#refusal');
    refusal.textContent = problem(reply);
    refusal.hidden = false;
    $('#case').hidden = true;
    return;
  }
  state.data = reply.body;
  render(state.data);
  if (waitingForTranscript(state.data)) {
    state.timer = setTimeout(() => {
      if (!dialog.open && !state.busy) load();
    }, WAIT_FOR_TRANSCRIPT_MS);
  }
}

// A recording still being written or finished, or a transcript queued or being made: worth
// reading the case again. A call not transcribed at all (ASR off, failed) is not waited for.
function transcriptComing(call) {
  const rec = call.recording;
  if (!rec || transcriptOf(call)) return false;
  return ['recording', 'stopped'].includes(rec.status) || ['pending', 'running'].includes(rec.asr_status);
}

function waitingForTranscript(c) {
  return c.calls.some(transcriptComing);
}

function fill(root, field, value) {
  const node = $(`[data-field="${field}"]`, root);
  node.textContent = value ?? '';
  return node;
}

function departmentName(code) {
  const found = state.departments.find((d) => d.code === code);
  return found ? nameOf(found) : code;
}

function render(c) {
  $('#case').hidden = false;
  $('#refusal').hidden = true;
  const pill = $('#case-status');
  pill.textContent = wordFor('cs_status_', c.status);
  pill.dataset.status = c.status;
  document.body.dataset.status = c.status;
  $('#case-title-text').textContent = c.title || '';
  renderFlags(c);
  renderFacts(c);
  renderDeadlines(c);
  renderActions(c);
  renderTimeline(c.timeline);
  renderCalls(c.calls);
  renderAttachments(c.attachments);
}

function renderFlags(c) {
  const flags = $('#flags');
  flags.replaceChildren();
  if (c.urgency === 'urgent') flags.append(chip(say('cs_urgent'), 'urgent'));
  if (c.supervised) flags.append(chip(say('cs_supervised'), 'supervised'));
  const pending = c.extension_pending;
  if (pending) flags.append(chip(say('cs_extension_pending'), 'extension'));
  if (isOverdue(c)) flags.append(chip(say('cs_overdue'), 'overdue'));

  const guessed = Array.isArray(c.calendar_guessed) ? c.calendar_guessed.join('、') : c.calendar_guessed;
  const calendar = $('#calendar-note');
  calendar.hidden = !guessed;
  calendar.textContent = guessed ? say('cs_calendar_guessed', { years: guessed }) : '';
  const supervision = $('#supervision-note');
  supervision.hidden = !c.supervised;
  supervision.textContent = c.supervised ? say('cs_supervised_because', { reason: c.supervision_reason || '' }) : '';
  const extension = $('#extension-note');
  extension.hidden = !pending;
  extension.textContent = pending ? say('cs_extension_asked', { days: c.extension_days, reason: c.extension_reason || '' }) : '';
  const merged = c.merged_into;
  $('#merged-note').hidden = !merged;
  if (merged) {
    $('#merged-link').textContent = merged;
    $('#merged-link').href = caseHref(merged);
  }
}

// The API's own judgement (with the department, its deadline passed), not the browser's clock.
function isOverdue(c) {
  return c.overdue;
}

function renderFacts(c) {
  const facts = $('#facts');
  fill(facts, 'category', nameOf(c.category));
  fill(facts, 'department', nameOf(c.department));
  fill(facts, 'urgency', wordFor('cs_urgency_', c.urgency));
  fill(facts, 'source', wordFor('cs_source_', c.source));
  const caller = [c.caller_name, c.caller_number].filter(Boolean).join(' ');
  fill(facts, 'caller', caller);
  fill(facts, 'address', [c.address, c.street, c.grid_cell].filter(Boolean).join(' · '));
  fill(facts, 'content', c.content);
  fill(facts, 'reply_text', c.reply_text);
  const verdict = wordFor('cs_satisfaction_', c.satisfaction);
  fill(facts, 'satisfaction', [verdict, c.evaluation_note].filter(Boolean).join(' — '));
  fill(facts, 'counts', say('cs_counts', {
    returns: c.returns, extensions: c.extensions_granted, reopens: c.reopens,
  }));
}

function renderDeadlines(c) {
  const list = $('#deadlines');
  for (const field of ['created_at', 'dispatched_at', 'sign_due_at', 'signed_at', 'due_at', 'replied_at', 'closed_at']) {
    fill(list, field, localTime(c[field]));
  }
  const due = $('#due-at');
  due.classList.toggle('overdue', isOverdue(c));
  const signDue = $('[data-field="sign_due_at"]', list);
  signDue.classList.toggle('overdue', c.status === 'dispatched' && isPast(c.sign_due_at));
}

// ----- the timeline, the calls, the attachments --------------------------------------------------

function what(event) {
  const data = event.data || {};
  const parts = [wordFor('cs_ev_', event.action)];
  if (data.department) parts.push(say('cs_ev_to', { department: departmentName(data.department) }));
  if (data.days && event.action === 'request_extension') parts.push(say('cs_ev_days', { days: data.days }));
  if (data.due_at && event.action === 'approve_extension') parts.push(say('cs_ev_new_due', { due: localTime(data.due_at) }));
  if (data.satisfaction) parts.push(wordFor('cs_satisfaction_', data.satisfaction));
  if (data.into) parts.push(data.into);
  return parts.join(' ');
}

function renderTimeline(events) {
  const body = $('#timeline tbody');
  body.replaceChildren();
  for (const event of events) {
    const tr = document.createElement('tr');
    tr.dataset.action = event.action;
    const who = text('td', event.actor);
    if (event.party) who.append(text('span', wordFor('cs_party_', event.party), 'party'));
    const step = text('td', what(event), 'what');
    if (event.to_status && event.to_status !== event.from_status) {
      step.append(' → ', statusNode(event.to_status));
    }
    const note = text('td', event.note || (event.data && event.data.reply) || '', 'prose');
    tr.append(text('td', localTime(event.at), 'when'), who, step, note);
    body.append(tr);
  }
}

// The transcript's text, line by line ("caller: …", "agent: …"); empty until it is made.
function transcriptOf(call) {
  return call.transcript ? call.transcript.text : '';
}

function renderCalls(calls) {
  const list = $('#calls');
  list.replaceChildren();
  $('#no-calls').hidden = calls.length > 0;
  for (const call of calls) {
    const li = document.createElement('li');
    li.dataset.uniqueid = call.uniqueid;
    const head = text('div');
    head.append(text('span', localTime(call.started_at), 'when'));
    if (call.caller) head.append(' · ', text('span', call.caller));
    if (call.agent) head.append(' · ', text('span', call.agent));
    li.append(head);
    const recording = call.recording;
    const line = text('div', null, 'recording');
    if (recording) {
      line.append(`${say('cs_recording')}: `, text('span', wordFor('cs_rec_', recording.status), 'rec-status'));
      if (PAGE.hears_calls && recording.id) {
        line.append(' ', link(`/recordings/${recording.id}?lang=${encodeURIComponent(LANG)}`, say('cs_open_recording'), 'recording-link'));
      }
    } else {
      line.append(text('span', say('cs_no_recording'), 'muted'));
    }
    li.append(line);
    const words = transcriptOf(call);
    if (words) {
      li.append(text('p', words, 'transcript'));
    } else if (transcriptComing(call)) {
      li.append(text('p', say('cs_transcript_waiting'), 'muted transcript-waiting'));
    }
    list.append(li);
  }
}

function size(bytes) {
  if (bytes === undefined || bytes === null) return '';
  return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
}

function renderAttachments(items) {
  const list = $('#attachments');
  list.replaceChildren();
  $('#no-attachments').hidden = items.length > 0;
  for (const a of items) {
    const li = document.createElement('li');
    li.dataset.id = a.id;
    const anchor = link(a.url, a.filename, 'attachment');
    anchor.setAttribute('download', a.filename);
    li.append(anchor, ` ${size(a.size_bytes)}`);
    li.append(text('div', [a.uploaded_by, localTime(a.uploaded_at)].filter(Boolean).join(' · '), 'muted'));
    list.append(li);
  }
}

// ----- the actions -------------------------------------------------------------------------------

function actionNames(c) {
  return c.actions;
}

function renderActions(c) {
  const box = $('#action-buttons');
  box.replaceChildren();
  const names = actionNames(c);
  $('#no-actions').hidden = names.length > 0;
  for (const action of names) {
    const button = text('button', wordFor('cs_do_', action));
    button.type = 'button';
    button.dataset.action = action;
    button.addEventListener('click', async () => {
      if (!AT_ONCE.has(action)) {
        ask(action);
        return;
      }
      // No dialog is open to hold a refusal of a one-click action: it shows above the buttons.
      button.disabled = true;
      const refusal = await act(action, {});
      button.disabled = false;
      if (refusal) {
        actionError.textContent = refusal;
        actionError.hidden = false;
      }
    });
    box.append(button);
  }
}

function field(name) {
  return $(`#action-form .field[data-field="${name}"]`);
}

function ask(action) {
  state.action = action;
  const inputs = INPUTS[action] || ['note'];
  $('#action-form').reset();
  $('#action-title').textContent = wordFor('cs_do_', action);
  for (const node of document.querySelectorAll('#action-form .field')) node.hidden = true;
  const show = (name) => { field(name).hidden = false; };
  if (inputs.includes('department')) {
    show('department');
    const select = $('#f-department');
    const current = state.data.department?.code;
    select.replaceChildren(new Option(say('cs_choose_department'), ''));
    for (const d of state.departments) if (d.code !== current) select.append(new Option(nameOf(d), d.code));
  }
  if (inputs.includes('days')) show('days');
  if (inputs.includes('text')) {
    show('text');
    $('#f-text-label').textContent = action === 'resolve_on_call' ? say('cs_answer') : say('cs_reply_what');
  }
  if (inputs.includes('files')) show('files');
  if (inputs.includes('satisfaction')) show('satisfaction');
  if (inputs.includes('target')) show('target');
  if (inputs.includes('reason') || inputs.includes('note')) {
    show('reason');
    $('#f-reason-label').textContent = inputs.includes('reason') ? say('cs_reason') : say('cs_optional_note');
  }
  $('#dialog-error').hidden = true;
  $('#dialog-progress').textContent = '';
  dialog.showModal();
}

// What the person gave, checked before anything is sent: an empty required box is said here,
// in the page's words, rather than by a round trip.
function collect(action) {
  const inputs = INPUTS[action] || ['note'];
  const values = {};
  const missing = (key) => { throw new Error(say(key)); };
  if (inputs.includes('department')) values.department = $('#f-department').value || missing('cs_need_department');
  if (inputs.includes('days')) values.days = Number($('#f-days').value);
  if (inputs.includes('text')) values.text = $('#f-text').value.trim() || missing('cs_need_text');
  if (inputs.includes('satisfaction')) values.satisfaction = $('#f-satisfaction').value || missing('cs_need_satisfaction');
  if (inputs.includes('target')) values.into = $('#f-target').value.trim() || missing('cs_need_target');
  const reason = $('#f-reason').value.trim();
  if (inputs.includes('reason')) values.reason = reason || missing('cs_need_reason');
  if (inputs.includes('note') && reason) values.reason = reason;
  if (inputs.includes('files')) values.files = [...$('#f-files').files];
  return values;
}

// Files go up first, each its own raw-body upload; the reply then names them, so a reply is
// never sent with half its photos.
async function upload(files, progress) {
  const ids = [];
  for (const file of files) {
    progress(say('cs_uploading', { name: file.name }));
    const reply = await api(
      'POST',
      `${URL_OF_CASE}/attachments?filename=${encodeURIComponent(file.name)}`,
      file,
      { 'content-type': file.type || 'application/octet-stream' },
    );
    if (!reply.ok) return { error: reply };
    ids.push(reply.body.id);
  }
  return { ids };
}

async function act(action, values, progress = () => {}) {
  state.busy = true;
  actionError.hidden = true;
  notice.hidden = true;
  try {
    const body = { ...values };
    delete body.files;
    if (values.files && values.files.length) {
      const sent = await upload(values.files, progress);
      if (sent.error) return problem(sent.error);
      body.attachments = sent.ids;
    }
    progress(say('cs_working'));
    const reply = await api('POST', `${URL_OF_CASE}/actions/${encodeURIComponent(action)}`, body);
    if (!reply.ok) {
      // Refused by the case's rules: someone else moved it meanwhile. The case is read again so
      // the buttons are today's, and the refusal stays where the person is looking.
      if (reply.status === 409) await load();
      return problem(reply);
    }
    notice.textContent = say('cs_done', { action: wordFor('cs_do_', action) });
    notice.hidden = false;
    await load();
    return '';
  } finally {
    state.busy = false;
  }
}

$('#action-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const action = state.action;
  const error = $('#dialog-error');
  error.hidden = true;
  let values;
  try {
    values = collect(action);
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
    return;
  }
  const ok = $('#action-ok');
  ok.disabled = true;
  const refusal = await act(action, values, (words) => { $('#dialog-progress').textContent = words; });
  ok.disabled = false;
  $('#dialog-progress').textContent = '';
  if (refusal) {
    error.textContent = refusal;
    error.hidden = false;
    return;
  }
  dialog.close();
});
$('#action-cancel').addEventListener('click', () => dialog.close());

async function start() {
  const departments = await api('GET', '/api/departments');
  if (departments.ok) state.departments = departments.body.departments;
  await load();
}

start();
