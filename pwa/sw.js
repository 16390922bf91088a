// Service worker for /app/: the app shell from a versioned cache, the API always from the network.
// A module worker (registered with type "module"): it sends the outbox with the page's own code.
import { flush } from "./js/outbox.js";

const VERSION = "2026-12-06.1";
const CACHE = `shell-${VERSION}`;
const SHELL = [
  "/app/",
  "/app/app.css",
  "/app/app.js",
  "/app/manifest.webmanifest",
  "/app/js/api.js",
  "/app/js/dom.js",
  "/app/js/i18n.js",
  "/app/js/outbox-page.js",
  "/app/js/outbox.js",
  "/app/js/push.js",
  "/app/js/store.js",
  "/app/js/update.js",
  "/app/js/views/checkin.js",
  "/app/js/views/enroll.js",
  "/app/js/views/home.js",
  "/app/js/views/history.js",
  "/app/js/views/settings.js",
  "/app/icons/icon-192.png",
  "/app/icons/icon-512.png",
  "/app/icons/icon-maskable-512.png",
  "/app/icons/apple-touch-icon.png",
];

self.addEventListener("install", (event) => {
  // cache: "reload" so a new version never precaches a stale copy from the HTTP cache.
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" })))),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("shell-") && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

// The page asks for this when the patient taps "reload", so a new version never swaps code
// under a half-finished check-in.
self.addEventListener("message", (event) => {
  if (event.data?.type === "skip-waiting") self.skipWaiting();
  if (event.data?.type === "version") event.source?.postMessage({ type: "version", version: VERSION });
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  // API answers are never cached: without respondWith the browser goes to the network itself.
  if (url.pathname.startsWith("/api/")) return;
  if (!url.pathname.startsWith("/app/")) return;
  if (event.request.mode === "navigate") {
    // Every page of the app is the same shell (/app/, /app/enroll#CODE, /app/#checkin/<id>).
    event.respondWith(caches.match("/app/", { cacheName: CACHE }).then((hit) => hit ?? fetch(event.request)));
    return;
  }
  event.respondWith(
    caches.match(url.pathname, { cacheName: CACHE }).then((hit) => hit ?? fetch(event.request)),
  );
});

// --- Background Sync: send check-ins saved offline, even with the app closed ---------------------

async function sendOutbox() {
  const result = await flush();
  for (const client of await self.clients.matchAll({ type: "window" })) client.postMessage({ type: "outbox-changed" });
  // A rejected promise asks the browser to fire the sync again later (it backs off). A phone
  // that was disconnected waits for the patient to connect it again instead.
  if (result.waiting && !result.signedOut) throw new Error("some check-ins are still waiting");
}

self.addEventListener("sync", (event) => {
  if (event.tag === "outbox") event.waitUntil(sendOutbox());
});

// --- Push: the payload carries only ids and a link (no health data on the lock screen) ---------

self.addEventListener("push", (event) => {
  const payload = event.data?.json() ?? {};
  event.waitUntil(
    self.registration.showNotification(payload.title ?? "Infusion Check-in", {
      body: payload.body ?? "",
      tag: payload.tag ?? "checkin",
      icon: "/app/icons/icon-192.png",
      data: { url: payload.url ?? "/app/", reminder_id: payload.reminder_id ?? null },
    }),
  );
});

// Report "opened", then bring the app to the due check-in: the open app window if there is one,
// else a new one.
async function openFromNotification(notification) {
  notification.close();
  const { url, reminder_id: reminderId } = notification.data ?? {};
  const target = new URL(url && url.startsWith("/app/") ? url : "/app/", self.location.origin).href;
  if (reminderId) {
    await fetch("/api/push/opened", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ reminder_id: reminderId }),
    }).catch(() => {});
  }
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).pathname.startsWith("/app/"));
  if (open) {
    const navigated = await open.navigate(target).catch(() => null);
    return (navigated ?? open).focus().catch(() => null);
  }
  return self.clients.openWindow(target);
}

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(openFromNotification(event.notification));
});

// The browser renewed or dropped the subscription: subscribe again if it did not, and tell the
// server, which keeps one subscription per device.
async function resubscribe(oldSubscription, newSubscription) {
  const options = oldSubscription?.options;
  const subscription = newSubscription ?? (options ? await self.registration.pushManager.subscribe(options) : null);
  if (!subscription) return;
  await fetch("/api/push/subscription", {
    method: "PUT",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(subscription),
  });
}

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(resubscribe(event.oldSubscription, event.newSubscription));
});

// Browser tests call these two, as Chromium cannot tap a notification or renew a subscription
// from automation; a module's functions are not globals by themselves.
Object.assign(self, { openFromNotification, resubscribe });
