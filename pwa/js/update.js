// Register the service worker; when a new version is waiting, offer "reload" (never mid-check-in).
import { el } from "./dom.js";
import { t } from "./i18n.js";

// The classic worker that phones installed before the module worker still have registered, now
// the handover to worker.js (see sw.js). A page it controls came from the network: the app's
// worker taking over from it is no new version, so it needs no reload and no question.
const HANDOVER = new URL("/app/sw.js", location.origin).href;

function servedByTheApp() {
  const controller = navigator.serviceWorker.controller;
  return controller !== null && controller.scriptURL !== HANDOVER;
}

function offer(worker) {
  const banner = document.getElementById("update");
  banner.replaceChildren(
    el("span", { role: "status" }, t("update_ready"), " "),
    el("button", { type: "button", onclick: () => worker.postMessage({ type: "skip-waiting" }) }, t("reload")),
  );
  banner.hidden = false;
}

export async function registerWorker() {
  if (!("serviceWorker" in navigator)) return null;
  let controlled = servedByTheApp();
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // The first install, or the app's worker after the handover, claims the page: nothing to
    // reload. Any later change is a new version taking over (the patient tapped "reload"), in
    // this page's lifetime too.
    if (!controlled) {
      controlled = true;
      return;
    }
    if (reloading) return;
    reloading = true;
    location.reload();
  });
  // A module worker, like the page: it imports the outbox. updateViaCache "none": an update
  // check compares worker.js and the modules it imports fresh from the server, never a copy in
  // the HTTP cache. Never /app/sw.js: that URL stays a classic script, for old installs only.
  const registration = await navigator.serviceWorker.register("/app/worker.js", {
    scope: "/app/",
    type: "module",
    updateViaCache: "none",
  });
  if (registration.waiting && servedByTheApp()) offer(registration.waiting);
  registration.addEventListener("updatefound", () => {
    const worker = registration.installing;
    worker?.addEventListener("statechange", () => {
      if (worker.state === "installed" && servedByTheApp()) offer(worker);
    });
  });
  return registration;
}
