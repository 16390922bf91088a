// The handover to the module worker (/app/worker.js), for phones that installed the app before
// it: they have this URL registered as a CLASSIC service worker, and their browser checks it for
// updates as one. A classic script cannot `import`, so the app's worker cannot live here any
// more; this one, a classic script, brings such a phone over to it:
// - The outbox is left as it is: every version that ran here kept waiting check-ins where
//   js/store.js still reads them (IndexedDB "checkin" version 1, store "outbox", entries
//   {id, body, state: "pending" | "rejected", saved_at, problem}), and the new page sends them.
//   This worker sends nothing itself (that takes the outbox module, which it cannot import).
// - The old shell caches go, so nothing serves the old version again.
// - It takes control and reloads the app's open pages. The reloaded page is the new version,
//   which registers worker.js for the same scope: that replaces this worker in the same
//   registration, so the push subscription and any Background Sync carry over. With no page
//   open, the next time the patient opens the app the page comes from the network and does
//   the same.
// Running it again is harmless (there is nothing left to delete, and the pages are reloaded
// into the version that registers worker.js), and a phone installed since never loads it.
//
// Keep this file at this URL for as long as a phone may still run a version from before the
// module worker (one switched off for months checks it on its next start): this URL is the
// only one such a phone checks, and if it failed to load (404) or to run as a classic script,
// the browser would keep the old worker, which serves the old version for good.
importScripts("/app/worker-reminders.js");

self.addEventListener("install", () => {
  // No waiting for a "reload" tap: the old page only offers it, this worker has nothing of its
  // own to swap under a check-in, and every day on the old version is a day without its fixes.
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("shell-")) await caches.delete(name);
      }
      await self.clients.claim();
      // A page opened before the old worker first installed ignores the change of worker, so
      // every page is reloaded from here (one that reloads itself first is simply gone). To
      // /app/, not client.url: that is the address the page opened with, which may be an
      // enrollment link whose code is spent. Not awaited: the reloads' requests wait for this
      // activation to end.
      const app = new URL("/app/", self.location.origin).href;
      for (const client of await self.clients.matchAll({ type: "window" })) {
        client.navigate(app).catch(() => null);
      }
    })(),
  );
});

// Meanwhile the app comes from the network, checked with the server: the HTTP cache may still
// hold the old version's modules, which would register this worker again instead of worker.js.
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith("/app/")) return;
  event.respondWith(fetch(event.request, { cache: "no-cache" }));
});
