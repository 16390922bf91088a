// Enrollment: the link /app/enroll#CODE or a typed code; then how to add the app to the home screen.
import { api } from "../api.js";
import { el, say, show } from "../dom.js";
import { t } from "../i18n.js";

export function isIos() {
  return /iPhone|iPad|iPod/.test(navigator.userAgent) || (/Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1);
}

export function isInstalled() {
  return matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
}

export async function enroll(code) {
  say(t("connecting"));
  const { status, body } = await api("/api/enroll", { method: "POST", body: JSON.stringify({ code: code.trim() }) });
  if (status === 201) {
    history.replaceState(null, "", "/app/");
    return true;
  }
  say(body?.message ?? t("enroll_failed"), "error");
  return false;
}

export function enrollForm(onEnrolled, problem = "") {
  const input = el("input", {
    id: "code",
    type: "text",
    autocomplete: "one-time-code",
    autocapitalize: "characters",
    spellcheck: "false",
    "aria-describedby": "status",
  });
  const form = el(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        if (await enroll(input.value)) await onEnrolled();
      },
    },
    el("label", { for: "code" }, t("code_label")),
    input,
    el("button", { class: "primary", type: "submit" }, t("connect")),
  );
  document.getElementById("view").replaceChildren(form);
  if (problem) say(problem, "error");
  else say(t("code_hint"));
  input.focus();
}

// On an iPhone in Safari the code must not be used up: the home-screen app has its own storage
// and push only works there, so the patient types the code inside the installed app.
export function iosInstallFirst(code, useInBrowser) {
  say("");
  show(
    el("h2", {}, t("install_heading")),
    el("p", {}, t("install_ios")),
    el("p", {}, t("install_ios_code", { code }), " "),
    el("p", { class: "code" }, el("strong", {}, code)),
    el("button", { type: "button", onclick: useInBrowser }, t("install_ios_browser")),
  );
}

let deferredPrompt = null;
addEventListener("beforeinstallprompt", (event) => {
  event.preventDefault();
  deferredPrompt = event;
});

// A short "add to home screen" section, shown until the app runs installed.
export function installHint() {
  if (isInstalled()) return null;
  const steps = isIos() ? t("install_ios") : t("install_android");
  const button = deferredPrompt
    ? el("button", {
        type: "button",
        onclick: async () => {
          deferredPrompt.prompt();
          await deferredPrompt.userChoice;
          deferredPrompt = null;
        },
      }, t("install_button"))
    : null;
  return el("section", { class: "install", "aria-labelledby": "install-heading" },
    el("h3", { id: "install-heading" }, t("install_heading")),
    el("p", {}, steps),
    button,
  );
}
