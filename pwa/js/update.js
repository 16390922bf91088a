// Register the service worker; when a new version is waiting, offer "reload" (never mid-check-in).
import { el } from "./dom.js";
import { t } from "./i18n.js";

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
  let controlled = Boolean(navigator.serviceWorker.controller);
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // The first install claims the page: nothing to reload. Any later change is a new
    // version taking over (the patient tapped "reload"), in this page's lifetime too.
    if (!controlled) {
      controlled = true;
      return;
    }
    if (reloading) return;
    reloading = true;
    location.reload();
  });
  // A module worker, like the page: it imports the outbox. updateViaCache "none": an update
  // check compares sw.js and the modules it imports fresh from the server, never a copy in the
  // HTTP cache.
  const registration = await navigator.serviceWorker.register("/app/sw.js", {
    scope: "/app/",
    type: "module",
    updateViaCache: "none",
  });
  if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
  registration.addEventListener("updatefound", () => {
    const worker = registration.installing;
    worker?.addEventListener("statechange", () => {
      if (worker.state === "installed" && navigator.serviceWorker.controller) offer(worker);
    });
  });
  return registration;
}
