// Reminders in the service worker: push, the tap on a notification, a renewed subscription.
// Both workers load this one file: the module worker (worker.js) imports it, the classic
// handover (sw.js) loads it with importScripts, so a phone shows and opens its reminders
// whichever of the two it runs. Hence a plain script: no import, no export, nothing but
// `self`. The payload carries only ids and a link (no health data on the lock screen).

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
// from automation; in the module worker, functions are not globals by themselves.
Object.assign(self, { openFromNotification, resubscribe });
