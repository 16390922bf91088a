// Completed check-ins go to IndexedDB first, then to the server; nothing is lost if the app
// closes or the connection drops. The server is idempotent, so sending twice is harmless.
import { api } from "./api.js";
import { el } from "./dom.js";
import { t } from "./i18n.js";
import { outbox } from "./store.js";

let flushing = null;
let sentNotice = false;

export async function enqueue(body) {
  await outbox.put({ id: body.id, body, state: "pending", saved_at: new Date().toISOString() });
  await requestBackgroundSync();
}

async function requestBackgroundSync() {
  try {
    const registration = await navigator.serviceWorker?.getRegistration("/app/");
    await registration?.sync?.register("outbox");
  } catch {
    // Background Sync is missing or refused: the `online` event and the next app open still send.
  }
}

// Send every pending check-in. Returns {sent, rejected} counts for this run.
export function flush() {
  flushing ??= (async () => {
    const run = () => sendAll();
    const result = navigator.locks ? await navigator.locks.request("outbox", run) : await run();
    await render(result.sent > 0);
    return result;
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}

async function sendAll() {
  let sent = 0;
  let rejected = 0;
  for (const entry of await outbox.all()) {
    if (entry.state !== "pending") continue;
    const { status, body } = await api("/api/checkins", { method: "POST", body: JSON.stringify(entry.body) });
    if (status === 200 || status === 201) {
      await outbox.remove(entry.id);
      sent += 1;
    } else if (status >= 400 && status < 500 && status !== 401) {
      await outbox.put({ ...entry, state: "rejected", problem: body?.message ?? `HTTP ${status}` });
      rejected += 1;
    }
    // Network failure, 401 or 5xx: keep it for the next try.
  }
  return { sent, rejected };
}

export async function pendingDueIds() {
  return new Set((await outbox.all()).map((entry) => entry.body.due_id).filter(Boolean));
}

// "pending", "rejected", or undefined once the server has it.
export async function stateOf(id) {
  return (await outbox.all()).find((entry) => entry.id === id)?.state;
}

// The outbox line under the status: "waiting to send", "sent", or what the clinic refused.
export async function render(justSent = false) {
  const area = document.getElementById("outbox");
  const entries = await outbox.all();
  const waiting = entries.filter((entry) => entry.state === "pending").length;
  const parts = [];
  if (waiting) parts.push(el("span", { class: "waiting" }, t("waiting", { n: waiting })));
  // Sent by this page, the service worker's Background Sync or another tab: once something
  // waited or was sent in this session, say so until the next wait.
  sentNotice = waiting === 0 && (sentNotice || justSent || area.querySelector(".waiting") !== null);
  if (sentNotice) parts.push(el("span", { class: "done" }, t("sent")));
  for (const entry of entries.filter((item) => item.state === "rejected")) {
    parts.push(
      el(
        "span",
        { class: "error" },
        t("rejected", { problem: entry.problem }),
        " ",
        el("button", { type: "button", onclick: async () => { await outbox.remove(entry.id); await render(); } }, t("dismiss")),
      ),
    );
  }
  area.replaceChildren(...parts);
}
