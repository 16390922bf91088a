// Service worker for /app/: the app shell from a versioned cache, the API always from the network.
const VERSION = "2026-11-26.5";
const CACHE = `shell-${VERSION}`;
const SHELL = [
  "/app/",
  "/app/app.css",
  "/app/app.js",
  "/app/manifest.webmanifest",
  "/app/js/api.js",
  "/app/js/dom.js",
  "/app/js/i18n.js",
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

function openOutbox() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("checkin", 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox", { keyPath: "id" });
      if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function inStore(db, mode, run) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction("outbox", mode);
    const result = run(tx.objectStore("outbox"));
    tx.oncomplete = () => resolve(result.result);
    tx.onerror = () => reject(tx.error);
  });
}

async function flushOutbox() {
  const db = await openOutbox();
  const pending = await inStore(db, "readonly", (store) => store.getAll());
  let retry = false;
  for (const entry of pending) {
    if (entry.state !== "pending") continue;
    let response;
    try {
      response = await fetch("/api/checkins", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(entry.body),
      });
    } catch {
      retry = true;
      continue;
    }
    if (response.ok) await inStore(db, "readwrite", (store) => store.delete(entry.id));
    else if (response.status >= 500 || response.status === 401) retry = true;
    else await inStore(db, "readwrite", (store) => store.put({ ...entry, state: "rejected", problem: response.status }));
  }
  db.close();
  for (const client of await self.clients.matchAll({ type: "window" })) client.postMessage({ type: "outbox-changed" });
  // A rejected promise asks the browser to try the sync again later.
  if (retry) throw new Error("some check-ins are still waiting");
}

self.addEventListener("sync", (event) => {
  if (event.tag === "outbox") event.waitUntil(flushOutbox());
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
// else a new one. (A named function: browser tests call it, as Chromium cannot click a
// notification from automation.)
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
