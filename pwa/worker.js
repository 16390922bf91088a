// Service worker for /app/: the app shell from a versioned cache, the API always from the network.
// A module worker (registered with type "module"): it sends the outbox with the page's own code.
// Phones installed before it have /app/sw.js registered as a classic worker, which now hands
// them over to this one (see sw.js).
import { flush } from "./js/outbox.js";
import "./worker-reminders.js";

const VERSION = "2026-12-06.2";
const HANDOVER = new URL("/app/sw.js", self.location.origin).href;
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
  event.waitUntil(
    (async () => {
      // cache: "reload" so a new version never precaches a stale copy from the HTTP cache.
      const cache = await caches.open(CACHE);
      await cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" })));
      // Taking over from the handover swaps no code under a page: the pages it controls came
      // from the network and registered this worker (js/update.js expects no reload then).
      if (self.registration.active?.scriptURL === HANDOVER) await self.skipWaiting();
    })(),
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
