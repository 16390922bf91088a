// Settings: reminder time, quiet hours, a pause, language, and leaving this device.
import { api, sendJson } from "../api.js";
import { el, say, show } from "../dom.js";
import { setLanguage, t } from "../i18n.js";
import { kv } from "../store.js";

const PAUSES = [0, 1, 3, 7, 14];

function field(id, label, input) {
  return el("p", { class: "field" }, el("label", { for: id }, label), input);
}

export function settingsView(profile, done) {
  const time = el("input", { id: "reminder-time", type: "time", required: true, value: profile.reminder_time });
  const quietOn = el("input", { id: "quiet-on", type: "checkbox", checked: profile.quiet_hours !== null });
  const quietStart = el("input", { id: "quiet-start", type: "time", value: profile.quiet_hours?.start ?? "22:00" });
  const quietEnd = el("input", { id: "quiet-end", type: "time", value: profile.quiet_hours?.end ?? "07:00" });
  const pause = el("select", { id: "pause" },
    ...PAUSES.map((days) => el("option", { value: String(days) }, days ? t("pause_days", { days }) : t("pause_none"))));
  const language = el("select", { id: "language" },
    el("option", { value: "en", selected: profile.language === "en" }, "English"),
    el("option", { value: "es", selected: profile.language === "es" }, "Español"));

  async function save(event) {
    event.preventDefault();
    const days = Number(pause.value);
    const patch = {
      reminder_time: time.value.slice(0, 5),
      quiet_hours: quietOn.checked ? { start: quietStart.value.slice(0, 5), end: quietEnd.value.slice(0, 5) } : null,
      language: language.value,
    };
    if (days) patch.reminders_paused_until = new Date(Date.now() + days * 86400000).toISOString();
    const { status, body } = await sendJson("/api/me", "PATCH", patch);
    if (status !== 200) {
      say(body?.message ?? t("settings_failed"), "error");
      return;
    }
    await kv.set("profile", body);
    setLanguage(body.language);
    say(t("settings_saved"));
    done(body);
  }

  async function leave() {
    if (!confirm(t("leave_confirm"))) return;
    const { status } = await api("/api/logout", { method: "POST" });
    if (status !== 204 && status !== 401) {
      say(t("settings_failed"), "error");
      return;
    }
    await kv.remove("profile");
    await kv.remove("due");
    location.assign("/app/");
  }

  show(
    el("h2", {}, t("settings")),
    el("form", { onsubmit: save },
      field("reminder-time", t("reminder_time"), time),
      el("p", { class: "field" }, quietOn, " ", el("label", { for: "quiet-on" }, t("quiet_hours"))),
      field("quiet-start", t("quiet_from"), quietStart),
      field("quiet-end", t("quiet_until"), quietEnd),
      field("pause", t("pause"), pause),
      field("language", t("language"), language),
      el("button", { type: "submit", class: "primary" }, t("save"))),
    el("button", { type: "button", onclick: () => done(profile) }, t("back")),
    el("button", { type: "button", class: "danger", onclick: leave }, t("leave_device")),
  );
}
