// The case-catalogue page: departments, the category tree, routing rules, department staff and the
// routing tester, all through /api/admin/... (the same rules, refusals and audit log as any API
// client). After each change the lists are read again, so counts and choices are always the
// server's. Text from the server goes in with textContent only, never as HTML.

const WORDS = JSON.parse(document.getElementById('words').textContent);
const LANG = document.documentElement.lang || 'zh-CN';
const say = (key) => WORDS[key] ?? key;
const fill = (key, values) => say(key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''));
const $ = (selector, root = document) => root.querySelector(selector);

const state = { departments: [], categories: [], rules: [], members: [] };

// ----- talking to the API ---------------------------------------------------------------------------

async function api(url, options = {}) {
  const init = { credentials: 'same-origin', headers: { accept: 'application/json' }, ...options };
  if (options.json !== undefined) {
    init.method = init.method || 'POST';
    init.headers = { ...init.headers, 'content-type': 'application/json' };
    init.body = JSON.stringify(options.json);
    delete init.json;
  }
  let reply;
  try {
    reply = await fetch(url, init);
  } catch (failure) {
    return { ok: false, status: 0, body: { detail: String(failure) } };
  }
  let body = null;
  if (reply.status !== 204) {
    try {
      body = await reply.json();
    } catch {
      body = { detail: reply.statusText };
    }
  }
  return { ok: reply.ok, status: reply.status, body };
}

// The field names the API puts in a 422's loc, as the page labels them.
const FIELD_WORDS = {
  code: 'cat_code', name: 'cat_name', name_en: 'cat_name_en', sms_number: 'cat_sms_number',
  email: 'cat_email', parent: 'cat_parent', kind: 'cat_kind', limit_days: 'cat_limit_days',
  urgent_hours: 'cat_urgent_hours', default_department: 'cat_default_department',
  keywords: 'cat_keywords', description: 'cat_description', category: 'cat_category',
  street: 'cat_street', grid_prefix: 'cat_grid_prefix', grid_cell: 'cat_grid_cell',
  department: 'cat_department', departments: 'cat_departments', note: 'cat_note',
};

function problem(reply) {
  if (reply.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
  }
  let detail = reply.body?.detail ?? '';
  if (Array.isArray(detail)) {
    detail = detail
      .map((item) => {
        const field = Array.isArray(item.loc) ? item.loc[item.loc.length - 1] : '';
        return FIELD_WORDS[field] ? `${say(FIELD_WORDS[field])}: ${item.msg}` : item.msg;
      })
      .join('; ');
  }
  return (reply.status === 403 ? say('cat_refused') : say('cat_failed')) + detail;
}

function tell(section, text, state_ = 'done') {
  const line = $('.message', section);
  line.textContent = text;
  line.dataset.state = state_;
}

// ----- labels -----------------------------------------------------------------------------------------

const departmentName = (d) => (LANG === 'en' ? d.name_en || d.name : d.name);
const categoryName = (c) => (LANG === 'en' ? c.name_en || c.name : c.name);
const byCode = (rows, code) => rows.find((row) => row.code === code);

function departmentLabel(code) {
  const department = byCode(state.departments, code);
  return department ? `${departmentName(department)} (${code})` : code;
}

function categoryLabel(code) {
  const category = byCode(state.categories, code);
  return category ? `${categoryName(category)} (${code})` : code;
}

function option(value, text, selected = false) {
  const item = document.createElement('option');
  item.value = value;
  item.textContent = text;
  item.selected = selected;
  return item;
}

// A select's choices: "categories" (the tree, indented), "departments", or "active-departments".
function choices(kind, chosen, { emptyKey = '', skip = new Set() } = {}) {
  const items = [];
  if (emptyKey) items.push(option('', say(emptyKey), !chosen));
  if (kind === 'categories') {
    for (const c of state.categories) {
      if (skip.has(c.code)) continue;
      const text = `${'\u3000'.repeat(c.depth)}${categoryName(c)} (${c.code})${c.active ? '' : ` ${say('cat_inactive')}`}`;
      items.push(option(c.code, text, c.code === chosen));
    }
  } else {
    for (const d of state.departments) {
      if (kind === 'active-departments' && !d.active && d.code !== chosen) continue;
      const text = `${departmentName(d)} (${d.code})${d.active ? '' : ` ${say('cat_inactive')}`}`;
      items.push(option(d.code, text, d.code === chosen));
    }
  }
  return items;
}

function refreshFormChoices() {
  for (const select of document.querySelectorAll('form select[data-choices]')) {
    const kept = select.value;
    select.replaceChildren(...choices(select.dataset.choices, kept, { emptyKey: select.dataset.empty || '' }));
    if ([...select.options].some((o) => o.value === kept)) select.value = kept;
  }
}

// ----- small builders ---------------------------------------------------------------------------------

function cell(content, className) {
  const td = document.createElement('td');
  if (content instanceof Node) td.append(content);
  else if (content !== undefined && content !== null) td.textContent = String(content);
  if (className) td.className = className;
  return td;
}

function input(name, value, attributes = {}) {
  const field = document.createElement('input');
  field.name = name;
  field.value = value ?? '';
  for (const [key, val] of Object.entries(attributes)) field.setAttribute(key, val);
  return field;
}

function button(text, className, onClick) {
  const item = document.createElement('button');
  item.type = 'button';
  item.className = className;
  item.textContent = text;
  item.addEventListener('click', onClick);
  return item;
}

function select(name, items, label) {
  const field = document.createElement('select');
  field.name = name;
  field.setAttribute('aria-label', label);
  field.append(...items);
  return field;
}

// Only what the administrator changed goes to the server (PATCH semantics).
function changed(before, after) {
  const body = {};
  for (const [key, value] of Object.entries(after)) {
    if (value !== before[key]) body[key] = value;
  }
  return body;
}

async function change(section, url, options, doneKey, busy) {
  if (busy) busy.disabled = true;
  tell(section, say('cat_saving'), 'saving');
  const reply = await api(url, options);
  if (busy) busy.disabled = false;
  if (!reply.ok) {
    tell(section, problem(reply), 'failed');
    return false;
  }
  await loadAll();
  tell(section, say(doneKey), 'done');
  return true;
}

// ----- departments ------------------------------------------------------------------------------------

function departmentRow(d) {
  const row = document.createElement('tr');
  row.dataset.code = d.code;
  row.dataset.active = String(d.active);
  const fields = {
    code: input('code', d.code, { maxlength: '40', 'aria-label': say('cat_code'), size: '13' }),
    name: input('name', d.name, { maxlength: '128', 'aria-label': say('cat_name'), size: '14' }),
    name_en: input('name_en', d.name_en, { maxlength: '128', 'aria-label': say('cat_name_en'), size: '16' }),
    sms_number: input('sms_number', d.sms_number, { maxlength: '21', 'aria-label': say('cat_sms_number'), size: '12' }),
    email: input('email', d.email, { maxlength: '128', 'aria-label': say('cat_email'), size: '16' }),
  };
  if (d.cases > 0) {
    fields.code.readOnly = true; // fixed once cases were sent to it (the server says so too)
    fields.code.title = say('cat_code_help');
  }
  const section = $('#departments');
  const actions = cell(null, 'actions');
  actions.append(
    button(say('cat_save'), 'save', async (event) => {
      const after = Object.fromEntries(Object.entries(fields).map(([key, field]) => [key, field.value.trim()]));
      const body = changed(d, after);
      if (Object.keys(body).length === 0) {
        tell(section, say('cat_nothing_changed'));
        return;
      }
      await change(section, `/api/admin/departments/${d.id}`, { method: 'PATCH', json: body }, 'cat_saved', event.target);
    }),
    button(say(d.active ? 'cat_deactivate' : 'cat_activate'), 'toggle', (event) =>
      change(section, `/api/admin/departments/${d.id}`, { method: 'PATCH', json: { active: !d.active } }, 'cat_saved', event.target)),
    button(say('cat_delete'), 'delete', (event) => {
      if (!window.confirm(fill('cat_confirm_delete', { name: departmentName(d) }))) return;
      change(section, `/api/admin/departments/${d.id}`, { method: 'DELETE' }, 'cat_department_deleted', event.target);
    }),
  );
  row.append(
    cell(fields.code),
    cell(fields.name),
    cell(fields.name_en),
    cell(fields.sms_number),
    cell(fields.email),
    cell(fill('cat_uses_department', { cases: d.cases, members: d.members, rules: d.routing_rules, categories: d.categories }), 'uses'),
    cell(say(d.active ? 'cat_active' : 'cat_inactive'), d.active ? 'state' : 'state off'),
    actions,
  );
  return row;
}

// ----- categories -------------------------------------------------------------------------------------

// A category and everything under it: a category cannot move into its own branch.
function branch(code) {
  const found = new Set([code]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const c of state.categories) {
      if (c.parent && found.has(c.parent) && !found.has(c.code)) {
        found.add(c.code);
        grew = true;
      }
    }
  }
  return found;
}

function categoryRows(c) {
  const row = document.createElement('tr');
  row.dataset.code = c.code;
  row.dataset.active = String(c.active);
  row.className = c.active ? 'category' : 'category off';
  const more = document.createElement('tr');
  more.className = 'more';
  more.hidden = true;
  more.dataset.code = c.code;

  const fields = {
    name: input('name', c.name, { maxlength: '128', 'aria-label': say('cat_name') }),
    limit_days: input('limit_days', String(c.limit_days), { type: 'number', min: '1', max: '60', step: '1', 'aria-label': say('cat_limit_days') }),
    urgent_hours: input('urgent_hours', String(c.urgent_hours), { type: 'number', min: '1', max: '720', step: '1', 'aria-label': say('cat_urgent_hours') }),
    default_department: select('default_department', choices('active-departments', c.default_department, { emptyKey: 'cat_none' }), say('cat_default_department')),
    parent: select('parent', choices('categories', c.parent, { emptyKey: 'cat_top', skip: branch(c.code) }), say('cat_parent')),
    code: input('code', c.code, { maxlength: '40', 'aria-label': say('cat_code'), size: '14' }),
    name_en: input('name_en', c.name_en, { maxlength: '128', 'aria-label': say('cat_name_en') }),
    kind: select('kind', ['service', 'event', 'component'].map((k) => option(k, say(`cat_kind_${k}`), k === c.kind)), say('cat_kind')),
    keywords: input('keywords', c.keywords, { maxlength: '1000', 'aria-label': say('cat_keywords'), size: '30' }),
    description: input('description', c.description, { maxlength: '2000', 'aria-label': say('cat_description'), size: '30' }),
    open311: input('open311', '', { type: 'checkbox', 'aria-label': say('cat_open311') }),
  };
  fields.open311.checked = c.open311;
  if (c.cases > 0) {
    fields.code.readOnly = true;
    fields.code.title = say('cat_code_help');
  }

  const name = document.createElement('div');
  name.className = 'tree';
  name.style.paddingInlineStart = `${c.depth * 1.4}rem`;
  const code = document.createElement('span');
  code.className = 'muted code';
  code.textContent = c.code;
  name.append(fields.name, ' ', code);

  const section = $('#categories');
  const save = async (event) => {
    const after = {
      name: fields.name.value.trim(),
      limit_days: Number(fields.limit_days.value),
      urgent_hours: Number(fields.urgent_hours.value),
      default_department: fields.default_department.value || null,
      parent: fields.parent.value || null,
      code: fields.code.value.trim(),
      name_en: fields.name_en.value.trim(),
      kind: fields.kind.value,
      keywords: fields.keywords.value.trim(),
      description: fields.description.value.trim(),
      open311: fields.open311.checked,
    };
    const body = changed(c, after);
    if (Object.keys(body).length === 0) {
      tell(section, say('cat_nothing_changed'));
      return;
    }
    await change(section, `/api/admin/categories/${c.id}`, { method: 'PATCH', json: body }, 'cat_saved', event.target);
  };
  const actions = cell(null, 'actions');
  actions.append(
    button(say('cat_save'), 'save', save),
    button(say(c.active ? 'cat_deactivate' : 'cat_activate'), 'toggle', (event) =>
      change(section, `/api/admin/categories/${c.id}`, { method: 'PATCH', json: { active: !c.active } }, 'cat_saved', event.target)),
    button(say('cat_delete'), 'delete', (event) => {
      if (!window.confirm(fill('cat_confirm_delete', { name: categoryName(c) }))) return;
      change(section, `/api/admin/categories/${c.id}`, { method: 'DELETE' }, 'cat_category_deleted', event.target);
    }),
    button(say('cat_more'), 'more', () => { more.hidden = !more.hidden; }),
  );
  row.append(
    cell(name),
    cell(fields.limit_days),
    cell(fields.urgent_hours),
    cell(fields.default_department),
    cell(fields.parent),
    cell(fill('cat_uses_category', { cases: c.cases, rules: c.routing_rules }), 'uses'),
    cell(say(c.active ? 'cat_active' : 'cat_inactive'), c.active ? 'state' : 'state off'),
    actions,
  );

  const extra = cell(null, 'extra');
  extra.colSpan = 8;
  for (const [key, word] of [['code', 'cat_code'], ['name_en', 'cat_name_en'], ['kind', 'cat_kind'], ['keywords', 'cat_keywords'], ['description', 'cat_description']]) {
    const label = document.createElement('label');
    label.append(`${say(word)} `, fields[key]);
    extra.append(label);
  }
  const open = document.createElement('label');
  open.append(fields.open311, ` ${say('cat_open311')}`);
  extra.append(open);
  more.append(extra);
  return [row, more];
}

// ----- routing rules ----------------------------------------------------------------------------------

function ruleRow(rule) {
  const row = document.createElement('tr');
  row.dataset.ruleId = String(rule.id);
  row.dataset.grid = rule.grid_prefix;
  const section = $('#rules');
  const actions = cell(null, 'actions');
  actions.append(
    button(say('cat_delete'), 'delete', (event) =>
      change(section, `/api/admin/routing-rules/${rule.id}`, { method: 'DELETE' }, 'cat_rule_deleted', event.target)),
  );
  row.append(
    cell(rule.id, 'num'),
    cell(rule.category ? categoryLabel(rule.category) : say('cat_any_category')),
    cell(rule.street || say('cat_anywhere'), rule.street ? '' : 'muted'),
    cell(rule.grid_prefix ? `${rule.grid_prefix}…` : say('cat_anywhere'), rule.grid_prefix ? 'code' : 'muted'),
    cell(departmentLabel(rule.department)),
    cell(rule.note),
    actions,
  );
  return row;
}

// ----- department staff -------------------------------------------------------------------------------

function memberRow(member) {
  const row = document.createElement('tr');
  row.dataset.username = member.username;
  let who = `${member.display_name || member.username} (${member.username})`;
  if (!member.department_staff) who += say('cat_not_staff');
  if (!member.enabled) who += say('cat_disabled_user');
  const boxes = document.createElement('div');
  boxes.className = 'boxes';
  for (const d of state.departments) {
    const serving = member.departments.includes(d.code);
    if (!d.active && !serving) continue; // nobody joins an inactive department
    const label = document.createElement('label');
    label.dataset.department = d.code;
    const box = input('department', d.code, { type: 'checkbox' });
    box.checked = serving;
    label.append(box, ` ${departmentName(d)}${d.active ? '' : ` ${say('cat_inactive')}`}`);
    boxes.append(label);
  }
  const section = $('#members');
  const actions = cell(null, 'actions');
  actions.append(
    button(say('cat_save'), 'save', (event) => {
      const departments = [...boxes.querySelectorAll('input:checked')].map((box) => box.value);
      change(section, `/api/admin/department-members/${member.user_id}`, { method: 'PUT', json: { departments } }, 'cat_members_saved', event.target);
    }),
  );
  row.append(cell(who), cell(boxes), actions);
  return row;
}

// ----- drawing and loading ----------------------------------------------------------------------------

function draw() {
  $('#departments tbody').replaceChildren(...state.departments.map(departmentRow));
  $('#categories tbody').replaceChildren(...state.categories.flatMap(categoryRows));
  $('#rules tbody').replaceChildren(...state.rules.map(ruleRow));
  $('#rules .empty').hidden = state.rules.length > 0;
  $('#members tbody').replaceChildren(...state.members.map(memberRow));
  $('#members .empty').hidden = state.members.length > 0;
  refreshFormChoices();
}

async function loadAll() {
  const [departments, categories, rules, members] = await Promise.all([
    api('/api/admin/departments'),
    api('/api/admin/categories'),
    api('/api/admin/routing-rules'),
    api('/api/admin/department-members'),
  ]);
  const failed = [departments, categories, rules, members].find((reply) => !reply.ok);
  const error = $('#load-error');
  if (failed) {
    error.textContent = say('cat_load_failed') + problem(failed).replace(say('cat_failed'), '');
    error.hidden = false;
    return;
  }
  error.hidden = true;
  Object.assign(state, {
    departments: departments.body,
    categories: categories.body,
    rules: rules.body,
    members: members.body,
  });
  draw();
}

// ----- forms that add rows ----------------------------------------------------------------------------

function formValues(form) {
  const values = {};
  for (const field of form.elements) {
    if (!field.name) continue;
    values[field.name] = field.type === 'checkbox' ? field.checked : field.value.trim();
  }
  return values;
}

function whenSubmitted(form, handler) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      await handler(formValues(form));
    } finally {
      submit.disabled = false;
    }
  });
}

whenSubmitted($('#new-department'), async (values) => {
  if (await change($('#departments'), '/api/admin/departments', { json: values }, 'cat_department_added')) {
    $('#new-department').reset();
  }
});

whenSubmitted($('#new-category'), async (values) => {
  const body = {
    ...values,
    parent: values.parent || null,
    default_department: values.default_department || null,
    limit_days: Number(values.limit_days),
    urgent_hours: Number(values.urgent_hours),
  };
  if (await change($('#categories'), '/api/admin/categories', { json: body }, 'cat_category_added')) {
    $('#new-category').reset();
  }
});

whenSubmitted($('#new-rule'), async (values) => {
  const body = { ...values, category: values.category || null };
  if (await change($('#rules'), '/api/admin/routing-rules', { json: body }, 'cat_rule_added')) {
    $('#new-rule').reset();
  }
});

// ----- the routing tester -----------------------------------------------------------------------------

function place(rule) {
  const parts = [];
  if (rule.street) parts.push(fill('cat_place_street', { street: rule.street }));
  if (rule.grid_prefix) parts.push(fill('cat_place_grid', { prefix: rule.grid_prefix }));
  return parts.length ? parts.join(LANG === 'en' ? ', ' : '，') : say('cat_place_any');
}

function why(preview) {
  const via = preview.via_category ? categoryLabel(preview.via_category) : '';
  switch (preview.decided_by) {
    case 'rule':
      return fill(preview.via_category === preview.category ? 'cat_decided_rule' : 'cat_decided_rule_inherited', {
        rule: preview.rule.id, category: via, place: place(preview.rule),
      });
    case 'default':
      return fill('cat_decided_default', { category: via });
    case 'place':
      return fill('cat_decided_place', { rule: preview.rule.id, place: place(preview.rule) });
    default:
      return say('cat_decided_none');
  }
}

whenSubmitted($('#tester-form'), async (values) => {
  const result = $('#tester-result');
  const query = new URLSearchParams({ category: values.category, street: values.street, grid_cell: values.grid_cell });
  const reply = await api(`/api/admin/route-preview?${query}`);
  result.hidden = false;
  result.replaceChildren();
  if (!reply.ok) {
    result.dataset.decidedBy = '';
    result.textContent = problem(reply);
    return;
  }
  const preview = reply.body;
  result.dataset.decidedBy = preview.decided_by;
  result.dataset.department = preview.department?.code ?? '';
  result.dataset.rule = preview.rule ? String(preview.rule.id) : '';
  const target = document.createElement('p');
  target.className = 'goes-to';
  if (preview.department) {
    const name = LANG === 'en' ? preview.department.name_en || preview.department.name : preview.department.name;
    target.textContent = fill('cat_goes_to', { department: `${name} (${preview.department.code})` });
  }
  const reason = document.createElement('p');
  reason.className = 'why';
  reason.textContent = why(preview);
  result.append(...(preview.department ? [target] : []), reason);
  if (preview.department && !preview.department.active) {
    const warning = document.createElement('p');
    warning.className = 'error';
    warning.textContent = say('cat_inactive_warning');
    result.append(warning);
  }
});

loadAll();
