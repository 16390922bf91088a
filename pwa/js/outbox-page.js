// The page's side of the outbox (./outbox.js): the line under the status, and when to send.
import { el } from "./dom.js";
import { t } from "./i18n.js";
import { dismiss, entries, flush, onFlushed, requestBackgroundSync } from "./outbox.js";

let sentNotice = false;
let retryTimer = null;

// Send on reconnection, after each run redraw the line, and when check-ins are left waiting
// keep trying: the service worker's Background Sync takes over if the app closes, and when
// the server asked to wait (Retry-After) this page sends again then.
export function followOutbox() {
  addEventListener("online", () => flush());
  navigator.serviceWorker?.addEventListener("message", (event) => {
    if (event.data?.type === "outbox-changed") render();
  });
  onFlushed((result) => {
    clearTimeout(retryTimer);
    if (result.waiting && !result.signedOut) {
      requestBackgroundSync();
      if (result.retryAfter !== null) retryTimer = setTimeout(flush, result.retryAfter * 1000);
    }
    return render(result.sent > 0);
  });
}

// "waiting to send", "sent", or what the clinic refused, with a button to dismiss it.
export async function render(justSent = false) {
  const area = document.getElementById("outbox");
  const all = await entries();
  const waiting = all.filter((entry) => entry.state === "pending").length;
  const parts = [];
  // One paragraph each, so "waiting" and a refusal never run together.
  if (waiting) parts.push(el("p", { class: "waiting" }, t("waiting", { n: waiting })));
  // Sent by this page, the service worker's Background Sync or another tab: once something
  // waited or was sent in this session, say so until the next wait.
  sentNotice = waiting === 0 && (sentNotice || justSent || area.querySelector(".waiting") !== null);
  if (sentNotice) parts.push(el("p", { class: "done" }, t("sent")));
  for (const entry of all.filter((item) => item.state === "rejected")) {
    parts.push(
      el(
        "p",
        { class: "error" },
        t("rejected", { problem: entry.problem }),
        " ",
        el("button", { type: "button", onclick: async () => { await dismiss(entry.id); await render(); } }, t("dismiss")),
      ),
    );
  }
  area.replaceChildren(...parts);
}
