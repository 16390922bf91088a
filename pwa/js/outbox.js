// The outbox: completed check-ins wait in IndexedDB until the server has them, so nothing is
// lost if the app closes or the connection drops. The page and the service worker (Background
// Sync) both send from this one module, one run at a time across them (a Web Lock). The
// check-in's id makes sending twice harmless: the server answers an identical replay with 200.
//
// What each answer to POST /api/checkins does to the entry:
// - 201 stored, 200 already stored (the body is the check-in, same id): removed.
// - 401 (this phone was disconnected): kept, and the run stops; it is sent once the phone is
//   connected again. Retrying earlier cannot help.
// - 503 or 429 with Retry-After, no connection: kept, and the run stops; try again later (the
//   page after Retry-After, the service worker when the browser fires the sync again).
// - any other 5xx, or an answer that is not the server's (a Wi-Fi sign-in page, a proxy's
//   error): kept for the next run.
// - any other 4xx from the server (409 id already used for other answers, 422 invalid): the
//   clinic will never take it as it is. Kept as "rejected" with the server's message, never
//   sent again, until the patient dismisses it or answers that check-in again.
import { outbox } from "./store.js";

let running = null;
const listeners = new Set();

export async function enqueue(body) {
  // A new answer to a window replaces a refused one: that refusal is no longer news.
  for (const entry of await outbox.all()) {
    if (entry.state === "rejected" && body.due_id && entry.body.due_id === body.due_id) await outbox.remove(entry.id);
  }
  await outbox.put({ id: body.id, body, state: "pending", saved_at: new Date().toISOString() });
  await requestBackgroundSync();
}

// From a page: ask the browser to wake the service worker to send, even after the app closes,
// once it has a connection.
export async function requestBackgroundSync() {
  try {
    const registration = await navigator.serviceWorker?.getRegistration("/app/");
    await registration?.sync?.register("outbox");
  } catch {
    // Background Sync is missing or refused: the `online` event and the next app open still send.
  }
}

// Send every pending check-in, oldest first. Resolves to what this run did and left:
// {sent, rejected, waiting, retryAfter (seconds, or null), signedOut}.
export function flush() {
  running ??= (async () => {
    const result = navigator.locks ? await navigator.locks.request("outbox", sendAll) : await sendAll();
    for (const listener of listeners) await listener(result);
    return result;
  })().finally(() => {
    running = null;
  });
  return running;
}

// Called after every run of this context's flush (the page redraws its outbox line).
export function onFlushed(listener) {
  listeners.add(listener);
}

async function sendAll() {
  const result = { sent: 0, rejected: 0, waiting: 0, retryAfter: null, signedOut: false };
  const pending = (await outbox.all())
    .filter((entry) => entry.state === "pending")
    .sort((a, b) => a.saved_at.localeCompare(b.saved_at));
  for (const [index, entry] of pending.entries()) {
    const answer = await send(entry);
    if (answer.outcome === "stored") {
      await outbox.remove(entry.id);
      result.sent += 1;
    } else if (answer.outcome === "rejected") {
      await outbox.put({ ...entry, state: "rejected", problem: answer.problem });
      result.rejected += 1;
    } else {
      result.waiting += 1;
      if (answer.outcome === "signed_out") result.signedOut = true;
      if (answer.retryAfter !== null) result.retryAfter = answer.retryAfter;
      if (answer.stop) {
        result.waiting += pending.length - index - 1;
        break;
      }
    }
  }
  return result;
}

async function send(entry) {
  let response;
  try {
    response = await fetch("/api/checkins", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(entry.body),
    });
  } catch {
    return { outcome: "later", stop: true, retryAfter: null };
  }
  const body = await response.json().catch(() => null);
  const status = response.status;
  if ((status === 200 || status === 201) && body?.id === entry.id) return { outcome: "stored" };
  if (status === 401) return { outcome: "signed_out", stop: true, retryAfter: null };
  // Only the server's own refusal (its JSON error) is final; 429 asks to wait.
  const fromServer = typeof body?.error === "string" && typeof body?.message === "string";
  if (fromServer && status >= 400 && status < 500 && status !== 429) {
    return { outcome: "rejected", problem: body.message };
  }
  const retryAfter = retryAfterSeconds(response);
  return { outcome: "later", stop: retryAfter !== null, retryAfter };
}

// The server sends Retry-After in seconds (with 503 while the database is unavailable, and 429).
function retryAfterSeconds(response) {
  const seconds = Number(response.headers.get("Retry-After") ?? Number.NaN);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}

export async function entries() {
  return outbox.all();
}

export async function dismiss(id) {
  await outbox.remove(id);
}

// The windows answered on this phone and still on their way: not offered again meanwhile.
export async function pendingDueIds() {
  const waiting = (await outbox.all()).filter((entry) => entry.state === "pending");
  return new Set(waiting.map((entry) => entry.body.due_id).filter(Boolean));
}

// "pending", "rejected", or undefined once the server has it.
export async function stateOf(id) {
  return (await outbox.all()).find((entry) => entry.id === id)?.state;
}
