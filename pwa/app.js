// Patient app: enroll this phone from the link (or a typed code), then answer what is due.
const view = document.getElementById("view");
const status = document.getElementById("status");

function say(text, kind = "") {
  status.textContent = text;
  status.className = kind;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    ...options,
  });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  return { status: response.status, body };
}

async function enroll(code) {
  say("Connecting this phone…");
  const { status: code_status, body } = await api("/api/enroll", {
    method: "POST",
    body: JSON.stringify({ code }),
  });
  if (code_status === 201) {
    history.replaceState(null, "", "/app/");
    return true;
  }
  say(body?.message ?? "Something went wrong. Please try again.", "error");
  return false;
}

function enrollForm(problem = "") {
  const input = el("input", { id: "code", type: "text", autocomplete: "one-time-code", inputmode: "text", "aria-describedby": "status" });
  const form = el(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        if (await enroll(input.value)) await start();
      },
    },
    el("label", { for: "code" }, "Your code from the clinic"),
    input,
    el("button", { class: "primary", type: "submit" }, "Connect this phone"),
  );
  view.replaceChildren(form);
  if (problem) say(problem, "error");
  else say("Type the code your clinic gave you.");
  input.focus();
}

function scaleQuestion(item, answers) {
  const buttons = [];
  for (let value = item.min; value <= item.max; value += 1) {
    const button = el("button", {
      type: "button",
      "aria-pressed": "false",
      onclick: () => {
        answers[item.code] = value;
        for (const other of buttons) other.setAttribute("aria-pressed", String(other === button));
      },
    }, String(value));
    buttons.push(button);
  }
  const legendId = `q-${item.code}`;
  return el(
    "fieldset",
    { "aria-labelledby": legendId },
    el("legend", { id: legendId }, item.text),
    el("div", { class: "scale", role: "group" }, ...buttons),
    el("div", { class: "anchors" }, el("span", {}, `${item.min} = ${item.min_label}`), el("span", {}, `${item.max} = ${item.max_label}`)),
  );
}

function checkinForm(due) {
  const answers = {};
  const { questionnaire } = due;
  const form = el(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        const missing = questionnaire.items.filter((item) => item.required && !(item.code in answers));
        if (missing.length) {
          say(`Please answer: ${missing.map((item) => item.text).join(" ")}`, "error");
          return;
        }
        say("Sending…");
        const { status: sent, body } = await api("/api/checkins", {
          method: "POST",
          body: JSON.stringify({
            id: crypto.randomUUID(),
            due_id: due.id,
            questionnaire: questionnaire.code,
            answered_at: new Date().toISOString(),
            answers,
          }),
        });
        if (sent === 200 || sent === 201) {
          view.replaceChildren();
          say("Thank you. Your check-in is saved.", "done");
        } else {
          say(body?.message ?? "It could not be sent. Please try again.", "error");
        }
      },
    },
    el("h2", {}, questionnaire.title),
    ...questionnaire.items.map((item) => scaleQuestion(item, answers)),
    el("button", { class: "primary", type: "submit" }, "Send"),
  );
  view.replaceChildren(form);
}

async function start() {
  const me = await api("/api/me");
  if (me.status === 401) {
    enrollForm();
    return;
  }
  document.documentElement.lang = me.body.language;
  const due = await api("/api/checkins/due");
  const first = due.body?.items?.[0];
  if (first) {
    say(`Hello ${me.body.display_name}.`);
    checkinForm(first);
  } else {
    view.replaceChildren();
    say(`Hello ${me.body.display_name}. Nothing is due right now; we will remind you.`);
  }
}

const code = location.hash.slice(1);
if (location.pathname.endsWith("/enroll") && code) {
  if (await enroll(decodeURIComponent(code))) await start();
  else enrollForm(status.textContent);
} else {
  await start();
}
