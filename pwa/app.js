// Patient app entry: service worker, enrollment from the link or a typed code, then what is due.
import { say } from "./js/dom.js";
import { t } from "./js/i18n.js";
import { followOutbox } from "./js/outbox-page.js";
import { registerWorker } from "./js/update.js";
import { enroll, enrollForm, iosInstallFirst, isInstalled, isIos } from "./js/views/enroll.js";
import { start } from "./js/views/home.js";

registerWorker().catch(() => {});
followOutbox();
// A reminder tapped while the app is open points it at the due check-in.
addEventListener("hashchange", () => {
  if (location.hash.startsWith("#checkin/")) start();
});

async function enrollFromLink(code) {
  if (await enroll(code)) await start();
  else enrollForm(start, document.getElementById("status").textContent);
}

const code = decodeURIComponent(location.hash.slice(1));
if (location.pathname.endsWith("/enroll") && code) {
  if (isIos() && !isInstalled()) iosInstallFirst(code, () => enrollFromLink(code));
  else await enrollFromLink(code);
} else {
  say(t("loading"));
  await start();
}
