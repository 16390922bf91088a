// The patient's own progress: pain and fatigue by day as an SVG chart with infusion days
// marked, the same figures as a table, and the change since their starting level in words.
import { api } from "../api.js";
import { el, say, show } from "../dom.js";
import { currentLanguage, t } from "../i18n.js";
import { kv } from "../store.js";

const SVG = "http://www.w3.org/2000/svg";
const RANGES = [30, 90];
const WIDTH = 340;
const HEIGHT = 200;
const PAD = { left: 28, right: 8, top: 10, bottom: 26 };
// Told apart by line style and marker shape as well as colour (WCAG 1.4.1).
const SERIES = [
  { key: "pain", label: "pain", colour: "#a4161a", dash: null, marker: "circle" },
  { key: "fatigue", label: "fatigue", colour: "#1d4e89", dash: "6 4", marker: "square" },
];

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// API dates are the patient's local days ("2026-11-26"); read and show them as such.
const toDay = (iso) => new Date(`${iso}T12:00:00Z`);
const daysBetween = (a, b) => Math.round((toDay(b) - toDay(a)) / 86400000);
const shortDate = (iso) =>
  new Intl.DateTimeFormat(currentLanguage(), { month: "short", day: "numeric", timeZone: "UTC" }).format(toDay(iso));
const longDate = (iso) =>
  new Intl.DateTimeFormat(currentLanguage(), { weekday: "short", month: "short", day: "numeric", timeZone: "UTC" })
    .format(toDay(iso));
const number = (value) => new Intl.NumberFormat(currentLanguage(), { maximumFractionDigits: 1 }).format(value);

// "Over the last 3 days your pain averaged 3.7 out of 10. In the two weeks before your first
// infusion it averaged 7. That is 3.3 points lower (47% less): a meaningful improvement."
export function summary(outcome) {
  if (!outcome) return [t("trend_no_baseline")];
  const change = outcome.mean_3d - outcome.baseline;
  const lines = [
    t("trend_recent", { value: number(outcome.mean_3d) }),
    t(outcome.baseline_kind === "before_first_infusion" ? "trend_baseline_before" : "trend_baseline_first",
      { value: number(outcome.baseline) }),
  ];
  const pct = outcome.baseline ? Math.round(Math.abs(change / outcome.baseline) * 100) : null;
  if (Math.abs(change) < 0.05) lines.push(t("trend_same_value"));
  else {
    const key = change < 0 ? (pct === null ? "trend_lower" : "trend_lower_pct") : (pct === null ? "trend_higher" : "trend_higher_pct");
    lines.push(t(key, { points: number(Math.abs(change)), pct }));
  }
  lines.push(t(`trend_${outcome.category_3d}`));
  return lines;
}

function chart(trend) {
  const span = Math.max(1, daysBetween(trend.since, trend.until));
  const x = (iso) => PAD.left + (daysBetween(trend.since, iso) / span) * (WIDTH - PAD.left - PAD.right);
  const y = (value) => PAD.top + (1 - value / 10) * (HEIGHT - PAD.top - PAD.bottom);
  const bottom = HEIGHT - PAD.bottom;
  const grid = [0, 5, 10].map((v) => svg("g", {},
    svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v), class: "grid" }),
    svg("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, String(v))));
  const axis = [trend.since, trend.until].map((iso, i) =>
    svg("text", { x: x(iso), y: HEIGHT - 6, "text-anchor": i ? "end" : "start" }, shortDate(iso)));
  const infusions = trend.infusions.map((infusion) => svg("g", { class: "infusion" },
    svg("line", { x1: x(infusion.date), x2: x(infusion.date), y1: PAD.top, y2: bottom }),
    svg("path", { d: `M${x(infusion.date) - 5} ${bottom} l5 -8 l5 8 z` })));
  const lines = SERIES.map((series) => {
    const points = trend.days.filter((d) => d[series.key] !== null);
    // A gap of more than a day breaks the line: missing days are not drawn as if answered.
    const runs = [];
    points.forEach((point, i) => {
      if (i === 0 || daysBetween(points[i - 1].date, point.date) > 1) runs.push([]);
      runs.at(-1).push(point);
    });
    const paths = runs.filter((run) => run.length > 1).map((run) => svg("polyline", {
      points: run.map((p) => `${x(p.date)},${y(p[series.key])}`).join(" "),
      fill: "none", stroke: series.colour, "stroke-width": 2.5, "stroke-dasharray": series.dash,
    }));
    const markers = points.map((p) => series.marker === "circle"
      ? svg("circle", { cx: x(p.date), cy: y(p[series.key]), r: 3.5, fill: series.colour })
      : svg("rect", { x: x(p.date) - 3.5, y: y(p[series.key]) - 3.5, width: 7, height: 7, fill: series.colour }));
    return svg("g", {}, ...paths, ...markers);
  });
  return svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": "trend-title trend-desc", class: "trend",
  },
  svg("title", { id: "trend-title" }, t("trend_chart_title", { days: span + 1 })),
  svg("desc", { id: "trend-desc" }, t("trend_chart_desc", { count: trend.days.length, infusions: trend.infusions.length })),
  ...grid, ...infusions, ...lines, ...axis);
}

function legend() {
  return el("ul", { class: "legend" },
    ...SERIES.map((series) => el("li", {},
      el("span", { class: `key key-${series.key}`, "aria-hidden": "true" }), t(`trend_${series.label}`))),
    el("li", {}, el("span", { class: "key key-infusion", "aria-hidden": "true" }), t("trend_infusion")));
}

function table(trend) {
  const infusionDays = new Set(trend.infusions.map((i) => i.date));
  const rows = new Map(trend.days.map((d) => [d.date, d]));
  for (const date of infusionDays) if (!rows.has(date)) rows.set(date, { date, pain: null, fatigue: null });
  const dash = t("trend_none");
  const body = [...rows.values()].sort((a, b) => (a.date < b.date ? 1 : -1)).map((d) => el("tr", {},
    el("th", { scope: "row" }, longDate(d.date)),
    el("td", {}, d.pain === null ? dash : number(d.pain)),
    el("td", {}, d.fatigue === null ? dash : number(d.fatigue)),
    el("td", {}, infusionDays.has(d.date) ? t("yes") : "")));
  return el("details", { class: "table" },
    el("summary", {}, t("trend_table_show")),
    el("table", {},
      el("caption", {}, t("trend_table_caption")),
      el("thead", {}, el("tr", {},
        ...["trend_date", "trend_pain", "trend_fatigue", "trend_infusion"].map((key) => el("th", { scope: "col" }, t(key))))),
      el("tbody", {}, ...body)));
}

async function load(days) {
  const key = `trend-${days}`;
  const { status, body } = await api(`/api/checkins/trend?days=${days}`);
  if (status === 200) {
    await kv.set(key, body);
    return { trend: body, offline: false };
  }
  return { trend: await kv.get(key), offline: true };
}

export async function historyView(done, days = 30) {
  say(t("loading"));
  const { trend, offline } = await load(days);
  const range = el("div", { class: "range", role: "group", "aria-label": t("trend_range") },
    ...RANGES.map((n) => el("button", {
      type: "button", "aria-pressed": String(n === days), onclick: () => historyView(done, n),
    }, t("trend_days", { days: n }))));
  const back = el("button", { type: "button", class: "primary", onclick: done }, t("home"));
  if (!trend) {
    say(t("trend_offline"), "error");
    show(el("h2", {}, t("trend_heading")), back);
    return;
  }
  say(offline ? t("trend_offline_saved") : "");
  show(
    el("h2", {}, t("trend_heading")),
    el("div", { class: "summary" }, ...summary(trend.outcome).map((line) => el("p", {}, line))),
    range,
    trend.days.length ? chart(trend) : el("p", {}, t("trend_empty")),
    trend.days.length ? legend() : null,
    trend.days.length || trend.infusions.length ? table(trend) : null,
    back,
  );
}
