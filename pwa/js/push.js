// Web Push: asked for only after the first check-in, with an explanation first.
import { api } from "./api.js";
import { el, say } from "./dom.js";
import { t } from "./i18n.js";

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(base64url.length / 4) * 4, "=");
  return Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
}

export async function subscribe() {
  const registration = await navigator.serviceWorker.ready;
  const { status, body } = await api("/api/push/public-key");
  if (status !== 200) return false;
  const subscription = await registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: keyBytes(body.public_key),
  });
  const saved = await api("/api/push/subscription", { method: "PUT", body: JSON.stringify(subscription) });
  return saved.status === 204;
}

// Shown on the confirmation screen: the explanation first, the browser's question only on a tap.
export function remindersOffer() {
  if (!pushSupported()) return null;
  if (Notification.permission === "granted") {
    subscribe().catch(() => {});
    return null;
  }
  const section = el("section", { class: "install", "aria-labelledby": "push-heading" },
    el("h3", { id: "push-heading" }, t("push_heading")));
  if (Notification.permission === "denied") {
    section.append(el("p", {}, t("push_denied")));
    return section;
  }
  const button = el("button", { type: "button", class: "primary", onclick: async () => {
    button.disabled = true;
    const answer = await Notification.requestPermission();
    if (answer === "granted" && (await subscribe().catch(() => false))) say(t("push_on"), "done");
    else if (answer !== "granted") say(t("push_denied"));
    button.remove();
  } }, t("push_turn_on"));
  section.append(el("p", {}, t("push_why")), button);
  return section;
}
