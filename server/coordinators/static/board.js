// Live board: the server says "changed" (PostgreSQL NOTIFY -> Server-Sent Events) and the page
// re-reads itself, replacing the rows and the summary. Without JavaScript the board still
// works; it is just not live.
const board = document.getElementById("board");
if (board && "EventSource" in window) {
  let busy = false;
  let again = false;
  async function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      const response = await fetch(location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.redirected || !response.ok) {
        location.reload(); // signed out or expired: the server shows the sign-in page
        return;
      }
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      const rows = document.getElementById("board-rows");
      const freshRows = fresh.getElementById("board-rows");
      // Keep an acknowledgement being typed: skip the swap while a form field has focus.
      if (rows && freshRows && !rows.contains(document.activeElement)) rows.replaceWith(freshRows);
      // The summary is a live region: change its content, not the element, so screen readers
      // announce the new count.
      const summary = document.getElementById("board-summary");
      const freshSummary = fresh.getElementById("board-summary");
      if (summary && freshSummary) summary.replaceChildren(...freshSummary.childNodes);
    } finally {
      busy = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }
  // Time alone also changes the board (a check-in becomes overdue): re-read every 5 minutes.
  setInterval(refresh, 5 * 60 * 1000);
  const events = new EventSource(board.dataset.live);
  events.addEventListener("changed", refresh);
  events.addEventListener("ready", () => board.setAttribute("data-connected", "true"));
}
