// What the patient sees after opening the app: what is due (straight into it when one thing is),
// or that nothing is; and after a check-in, when the next one is.
import { api } from "../api.js";
import { el, say, show } from "../dom.js";
import { clock, day, setLanguage, t } from "../i18n.js";
import { render } from "../outbox-page.js";
import { flush, pendingDueIds } from "../outbox.js";
import { remindersOffer } from "../push.js";
import { kv } from "../store.js";
import { runCheckin } from "./checkin.js";
import { enrollForm, installHint } from "./enroll.js";
import { historyView } from "./history.js";
import { settingsView } from "./settings.js";

let profile = null;

// The profile and due list are kept on the phone so the app opens and works offline.
async function load(path, key) {
  const { status, body } = await api(path);
  if (status === 200) {
    await kv.set(key, body);
    return { status, body };
  }
  return { status, body: status === 401 ? null : await kv.get(key) };
}

let nextOpensAt = null;

async function openWindows() {
  const due = await load("/api/checkins/due", "due");
  nextOpensAt = due.body?.next_opens_at ? new Date(due.body.next_opens_at) : null;
  const waiting = await pendingDueIds();
  const now = new Date();
  return (due.body?.items ?? []).filter((item) => !waiting.has(item.id) && new Date(item.closes_at) > now);
}

function wantedDueId() {
  const match = location.hash.match(/^#checkin\/([0-9a-f-]{36})$/i);
  return match ? match[1] : null;
}

export async function start() {
  // Check-ins still waiting show on every screen, the connect form included.
  await render();
  const me = await load("/api/me", "profile");
  if (me.status === 401) {
    await kv.remove("profile");
    enrollForm(start);
    return;
  }
  if (!me.body) {
    say(t("offline_first"));
    return;
  }
  profile = me.body;
  setLanguage(profile.language);
  headerButtons();
  flush();
  const windows = await openWindows();
  const wanted = wantedDueId();
  const chosen = windows.find((item) => item.id === wanted) ?? (windows.length === 1 ? windows[0] : null);
  if (wanted) history.replaceState(null, "", "/app/");
  if (chosen) {
    say(t("hello", { name: profile.display_name }));
    runCheckin(chosen, finished);
  } else if (windows.length) {
    say(t("hello", { name: profile.display_name }));
    dueList(windows);
  } else {
    say(`${t("hello", { name: profile.display_name })} ${t("nothing_due")}`);
    show(el("h2", {}, t("thanks")), installHint());
  }
}

// Always within reach once the phone is connected.
function headerButtons() {
  let nav = document.getElementById("app-nav");
  if (!nav) {
    nav = el("nav", { id: "app-nav" },
      el("button", { type: "button", id: "history-button", class: "link" }),
      el("button", { type: "button", id: "settings-button", class: "link" }));
    document.querySelector("header").append(nav);
  }
  nav.setAttribute("aria-label", t("app_menu"));
  const progress = document.getElementById("history-button");
  progress.textContent = t("open_history");
  progress.onclick = () => historyView(start);
  const settings = document.getElementById("settings-button");
  settings.textContent = t("open_settings");
  settings.onclick = () => settingsView(profile, (updated) => {
    profile = updated;
    start();
  });
}

function dueList(windows) {
  show(
    el("h2", {}, t("due_heading")),
    el("ul", { class: "due" }, ...windows.map((item) =>
      el("li", {}, el("button", { type: "button", class: "primary", onclick: () => runCheckin(item, finished) },
        `${item.questionnaire.title} (${t("open_until", { time: clock(new Date(item.closes_at)) })})`)))),
  );
}

async function finished() {
  const windows = await openWindows();
  const next = windows[0];
  const nextLine = next
    ? el("p", {}, t("next_due_open", { title: next.questionnaire.title }), " ",
        el("button", { type: "button", class: "primary", onclick: () => runCheckin(next, finished) },
          t("start_next", { title: next.questionnaire.title })))
    : el("p", {}, nextOpensAt
      ? t("next_due_at", { day: day(nextOpensAt), time: clock(nextOpensAt) })
      : t("next_due_tomorrow", { time: profile.reminder_time }));
  show(el("h2", {}, t("thanks")), nextLine, remindersOffer(), installHint());
}
