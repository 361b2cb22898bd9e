// The Users page's skills editor: each agent's queues and penalties, saved through
// POST /api/users/{id}/skills (the same route API clients use, so the seats are regenerated).
// Everything else on the page is a plain form and works without this script.

const words = JSON.parse(document.getElementById("words")?.textContent || "{}");
const say = (key) => words[key] || key;

function penaltyOf(row) {
  const input = row.querySelector('input[name="penalty"]');
  const value = input.value.trim();
  if (!/^[0-9]{1,3}$/.test(value) || Number(value) > 100) return null;
  return Number(value);
}

function collect(form) {
  const skills = {};
  for (const row of form.querySelectorAll(".skill")) {
    if (!row.querySelector('input[name="queue"]').checked) continue;
    const penalty = penaltyOf(row);
    if (penalty === null) {
      row.querySelector('input[name="penalty"]').focus();
      return null;
    }
    skills[row.dataset.queue] = penalty;
  }
  return skills;
}

function show(form, skills) {
  // No skills means the main queue at penalty 0: show what the agent will really answer.
  const effective = Object.keys(skills).length ? skills : { [form.dataset.mainQueue]: 0 };
  for (const row of form.querySelectorAll(".skill")) {
    const box = row.querySelector('input[name="queue"]');
    const penalty = row.querySelector('input[name="penalty"]');
    box.checked = row.dataset.queue in effective;
    penalty.disabled = !box.checked;
    penalty.value = String(effective[row.dataset.queue] ?? 0);
  }
}

function status(form, state, text) {
  const line = form.querySelector(".skills-status");
  line.dataset.state = state;
  line.textContent = text;
}

async function save(form) {
  const skills = collect(form);
  if (skills === null) {
    status(form, "failed", say("skills_penalty_invalid"));
    return;
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  status(form, "saving", say("skills_saving"));
  try {
    const reply = await fetch(`/api/users/${form.dataset.userId}/skills`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ skills }),
    });
    const body = await reply.json().catch(() => ({}));
    if (!reply.ok) {
      const detail = typeof body.detail === "string" ? body.detail : `HTTP ${reply.status}`;
      status(form, "failed", say("skills_failed") + detail);
      return;
    }
    show(form, body.skills);
    const none = Object.keys(body.skills).length === 0;
    status(form, "saved", say(none ? "skills_saved_main" : "skills_saved"));
  } catch (error) {
    status(form, "failed", say("skills_failed") + String(error));
  } finally {
    button.disabled = false;
  }
}

for (const form of document.querySelectorAll("form.skills")) {
  form.addEventListener("change", (event) => {
    const box = event.target;
    if (box.name !== "queue") return;
    const penalty = box.closest(".skill").querySelector('input[name="penalty"]');
    penalty.disabled = !box.checked;
    if (box.checked) penalty.focus();
    status(form, "", "");
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save(form);
  });
}
