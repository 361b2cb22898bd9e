// The case form of the agent console: opens with each call, prefilled from the caller and, once
// the transcript exists, from what was said; shows possible duplicates and similar closed cases
// as the agent types; files (and dispatches) the case, answers it on the call, or links the call
// to an existing case. Words come from the page like the rest of the console.

const $ = (sel) => document.querySelector(sel);
const PREFILL_EVERY_MS = 4000;
const PREFILL_FOR_MS = 15 * 60 * 1000; // after that the transcript joins the case by itself
const LOOKUP_DELAY_MS = 600;

export function createCaseForm({ api, say, lang, showError, clearError }) {
  const state = {
    uniqueid: '', // the call this form is about
    callerNumber: '',
    key: '', // Idempotency-Key of this form's filing: a retried click cannot file twice
    filed: null, // the case made from this form
    prefillTimer: null,
    prefillUntil: 0,
    suggestion: null,
    lookupTimer: null,
    categories: [],
    busy: false,
  };

  const name = (item) => (lang === 'en' ? item.name_en || item.name : item.name) || item.code;

  function fillChoices(categories, departments) {
    const byParent = new Map();
    for (const c of categories) {
      const key = c.parent || '';
      if (!byParent.has(key)) byParent.set(key, []);
      byParent.get(key).push(c);
    }
    const select = $('#case-category');
    select.replaceChildren(new Option(say('c_case_category_choose'), ''));
    // Leaves are what a case is filed under; their ancestors label them (市容环境 › 垃圾清运).
    const walk = (parent, trail) => {
      for (const c of byParent.get(parent) || []) {
        const path = [...trail, name(c)];
        if (byParent.has(c.code)) walk(c.code, path);
        else select.append(new Option(path.join(' › '), c.code));
      }
    };
    walk('', []);
    const target = $('#case-department');
    target.replaceChildren(
      new Option(say('c_case_department_auto'), ''),
      ...departments.map((d) => new Option(name(d), d.code)),
    );
  }

  async function loadChoices() {
    try {
      const [categories, departments] = await Promise.all([
        api('GET', '/api/case-categories'),
        api('GET', '/api/departments'),
      ]);
      state.categories = categories.categories || categories;
      fillChoices(state.categories, departments.departments || departments);
    } catch (err) {
      showError(`${say('c_case_choices_failed')} (${err.message})`);
    }
  }

  function fields() {
    const value = (id) => $(id).value.trim();
    return {
      content: value('#case-content'),
      title: value('#case-title'),
      category: value('#case-category'),
      urgency: $('#case-urgent').checked ? 'urgent' : 'normal',
      // A masked number (138****5678) is not the caller's: the server takes it from the call.
      caller_number: state.callerNumber.includes('*') ? '' : state.callerNumber,
      caller_name: value('#case-caller-name'),
      address: value('#case-address'),
      street: value('#case-street'),
      grid_cell: value('#case-grid'),
      department: value('#case-department'),
      calls: state.uniqueid ? [state.uniqueid] : [],
    };
  }

  function render() {
    const card = $('#case-card');
    card.dataset.uniqueid = state.uniqueid;
    card.dataset.filed = state.filed ? state.filed.number : '';
    const open = Boolean(state.uniqueid);
    for (const el of card.querySelectorAll('input, select, textarea')) el.disabled = !open || Boolean(state.filed);
    const text = $('#case-content').value.trim() || $('#case-title').value.trim();
    $('#btn-case-file').disabled = !open || Boolean(state.filed) || state.busy || !text;
    $('#btn-case-resolve').disabled = !open || Boolean(state.filed) || state.busy || !text || !$('#case-answer').value.trim();
    const status = $('#case-status');
    if (state.filed) {
      status.replaceChildren(
        document.createTextNode(`${say('c_case_filed')} `),
        Object.assign(document.createElement('a'), {
          href: `/cases/${encodeURIComponent(state.filed.number)}?lang=${lang}`,
          textContent: state.filed.number,
          id: 'case-filed-number',
        }),
        document.createTextNode(` · ${say(`c_case_status_${state.filed.status}`)}`),
      );
    } else {
      status.textContent = open ? say('c_case_new') : say('c_case_no_call');
    }
    const hint = $('#case-suggestion');
    const s = state.suggestion;
    hint.hidden = !s || !s.transcript_ready;
    if (s && s.transcript_ready) {
      const category = state.categories.find((c) => c.code === s.category);
      $('#case-suggestion-text').textContent = say('c_case_suggested', {
        category: category ? name(category) : say('c_case_none'),
        because: (s.because || []).join('、') || say('c_case_none'),
      });
      $('#case-transcript').textContent = s.transcript || '';
    }
  }

  function applySuggestion(onlyEmpty) {
    const s = state.suggestion;
    if (!s) return;
    const set = (id, value) => {
      const el = $(id);
      if (value && (!onlyEmpty || !el.value.trim())) el.value = value;
    };
    if (s.category && (!onlyEmpty || !$('#case-category').value)) $('#case-category').value = s.category;
    if (s.urgent) $('#case-urgent').checked = true;
    set('#case-address', s.address);
    set('#case-title', s.title);
    set('#case-content', s.transcript);
    lookUpSoon();
    render();
  }

  async function pollPrefill(uniqueid) {
    if (uniqueid !== state.uniqueid) return;
    try {
      const data = await api('GET', `/api/calls/${encodeURIComponent(uniqueid)}/case-prefill`);
      if (uniqueid !== state.uniqueid) return;
      if (data.caller_number && !state.callerNumber) state.callerNumber = data.caller_number;
      if (data.transcript_ready) {
        state.suggestion = data;
        applySuggestion(true); // fills what the agent left empty; never overwrites their words
        return;
      }
    } catch {
      // The call row may not exist yet (the tracker writes it as the seat rings): ask again.
    }
    if (Date.now() < state.prefillUntil) {
      state.prefillTimer = setTimeout(() => pollPrefill(uniqueid), PREFILL_EVERY_MS);
    }
  }

  function caseRow(c, actions) {
    const li = document.createElement('li');
    li.dataset.number = c.number;
    const link = Object.assign(document.createElement('a'), {
      href: `/cases/${encodeURIComponent(c.number)}?lang=${lang}`,
      textContent: c.number,
      target: '_blank',
    });
    const what = [say(`c_case_status_${c.status}`), c.title].filter(Boolean).join(' · ');
    li.append(link, document.createTextNode(` ${what}`));
    if (c.reasons && c.reasons.length) {
      li.append(Object.assign(document.createElement('small'), {
        className: 'muted',
        textContent: ` (${c.reasons.map((r) => say(`c_case_reason_${r}`)).join('、')})`,
      }));
    }
    for (const [label, onClick] of actions) {
      const button = Object.assign(document.createElement('button'), { type: 'button', textContent: label });
      button.className = 'small';
      button.addEventListener('click', () => onClick(c, button));
      li.append(' ', button);
    }
    return li;
  }

  async function linkCall(c, button) {
    if (!state.uniqueid) return;
    button.disabled = true;
    clearError();
    try {
      await api('POST', `/api/cases/${encodeURIComponent(c.number)}/calls`, { uniqueid: state.uniqueid });
      button.textContent = say('c_case_linked');
      state.filed = { number: c.number, status: c.status };
      render();
    } catch (err) {
      button.disabled = false;
      showError(err.message);
    }
  }

  function showList(list, items, empty, actions) {
    const ul = $(list);
    ul.replaceChildren(...items.map((c) => caseRow(c, actions)));
    if (!items.length) ul.append(Object.assign(document.createElement('li'), { className: 'muted', textContent: empty }));
  }

  async function lookUp() {
    const f = fields();
    if (!state.uniqueid) return;
    const query = new URLSearchParams();
    if (f.caller_number && !f.caller_number.includes('*')) query.set('caller', f.caller_number);
    for (const [key, value] of [['street', f.street], ['grid_cell', f.grid_cell], ['address', f.address], ['text', f.content || f.title]]) {
      if (value) query.set(key, value.slice(0, 500));
    }
    if (state.filed) query.set('exclude', state.filed.number);
    const uniqueid = state.uniqueid;
    try {
      const related = await api('GET', `/api/cases/candidates?${query}`);
      if (uniqueid !== state.uniqueid) return;
      const items = related.candidates || related;
      showList('#case-related', items, say('c_case_no_related'), state.filed ? [] : [[say('c_case_link_call'), linkCall]]);
    } catch (err) {
      $('#case-related').replaceChildren(Object.assign(document.createElement('li'), { className: 'muted', textContent: err.message }));
    }
    if (!(f.content || f.title)) return;
    try {
      const similar = await api('GET', `/api/cases/similar?${new URLSearchParams({ text: (f.content || f.title).slice(0, 500), category: f.category })}`);
      if (uniqueid !== state.uniqueid) return;
      const items = (similar.cases || similar).map((c) => ({ ...c, title: [c.title, c.reply_text || c.reply].filter(Boolean).join(' — ') }));
      showList('#case-knowledge', items, say('c_case_no_similar'), []);
    } catch {
      // Knowledge search is a help, not a step: leave the list as it was.
    }
  }

  function lookUpSoon() {
    clearTimeout(state.lookupTimer);
    state.lookupTimer = setTimeout(lookUp, LOOKUP_DELAY_MS);
  }

  async function file(resolve) {
    if (state.busy || state.filed) return;
    state.busy = true;
    clearError();
    render();
    try {
      const body = { ...fields(), dispatch: !resolve };
      const made = await api('POST', '/api/cases', body, { 'Idempotency-Key': state.key });
      const number = made.number || made.case?.number;
      state.filed = { number, status: made.status || made.case?.status };
      if (resolve) {
        const closed = await api('POST', `/api/cases/${encodeURIComponent(number)}/actions/resolve_on_call`, {
          text: $('#case-answer').value.trim(),
        });
        state.filed.status = closed.status || closed.case?.status || 'closed';
      }
    } catch (err) {
      showError(err.message);
    } finally {
      state.busy = false;
      render();
    }
  }

  function open({ uniqueid, callerNumber }) {
    if (uniqueid === state.uniqueid) return;
    clearTimeout(state.prefillTimer);
    Object.assign(state, {
      uniqueid,
      callerNumber: callerNumber || '',
      key: crypto.randomUUID(),
      filed: null,
      suggestion: null,
      prefillUntil: Date.now() + PREFILL_FOR_MS,
    });
    $('#case-form').reset();
    $('#case-caller').textContent = state.callerNumber;
    $('#case-related').replaceChildren();
    $('#case-knowledge').replaceChildren();
    render();
    pollPrefill(uniqueid);
    lookUpSoon();
  }

  function start() {
    $('#case-form').addEventListener('input', () => {
      render();
      lookUpSoon();
    });
    $('#case-form').addEventListener('submit', (event) => {
      event.preventDefault();
      file(false);
    });
    $('#btn-case-resolve').addEventListener('click', () => file(true));
    $('#btn-case-apply-suggestion').addEventListener('click', () => applySuggestion(false));
    loadChoices();
    render();
  }

  return { start, open, linkCall, state };
}
