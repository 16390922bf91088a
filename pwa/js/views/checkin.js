// One questionnaire, one question per screen: answer (auto-advances), back, review, send.
import { el, say, show } from "../dom.js";
import { t } from "../i18n.js";
import { enqueue, flush, stateOf } from "../outbox.js";

const ADVANCE_MS = matchMedia("(prefers-reduced-motion: reduce)").matches ? 0 : 150;

const optionText = (item, code) => item.options.find((option) => option.code === code)?.text ?? code;
const options = (item) => item.options.map((option) => ({ value: option.code, label: option.text, exclusive: option.exclusive }));

// How each item type is asked and read back: one entry per type the server declares
// (server/checkins/items.py, ItemType), each answer in the shape the server validates.
// ask(item, {answers, headingId, choiceButtons}) returns the question's controls; oneTap types
// move on by themselves once answered, the others wait for Next; read(item, value) is the answer
// on the review screen.
// A check-in holding a type missing here is refused before its first question (cannotShow).
const RENDERERS = {
  scale: {
    oneTap: true,
    ask(item, { choiceButtons, headingId }) {
      const values = [];
      for (let value = item.min; value <= item.max; value += 1) values.push({ value, label: String(value) });
      const buttons = choiceButtons(values, false);
      buttons[0].setAttribute("aria-describedby", `${headingId}-min`);
      buttons.at(-1).setAttribute("aria-describedby", `${headingId}-max`);
      return [
        el("div", { class: "anchors" },
          el("span", { id: `${headingId}-min` }, `${item.min} = ${item.min_label ?? ""}`),
          el("span", { id: `${headingId}-max` }, `${item.max} = ${item.max_label ?? ""}`)),
        el("div", { class: "scale" }, ...buttons),
      ];
    },
    read: (item, value) => String(value),
  },
  yes_no: {
    oneTap: true,
    ask: (item, { choiceButtons }) => [
      el("div", { class: "choices" }, ...choiceButtons([{ value: true, label: t("yes") }, { value: false, label: t("no") }], false)),
    ],
    read: (item, value) => (value ? t("yes") : t("no")),
  },
  single_choice: {
    oneTap: true,
    ask: (item, { choiceButtons }) => [el("div", { class: "choices" }, ...choiceButtons(options(item), false))],
    read: (item, value) => optionText(item, value),
  },
  multiple_choice: {
    oneTap: false,
    ask: (item, { choiceButtons }) => [el("div", { class: "choices" }, ...choiceButtons(options(item), true))],
    read: (item, value) => value.map((code) => optionText(item, code)).join(", "),
  },
  text: {
    oneTap: false,
    ask(item, { answers, headingId }) {
      const area = el("textarea", { id: `${headingId}-text`, maxlength: item.max_length ?? 500, rows: "4", "aria-labelledby": headingId });
      area.value = answers[item.code] ?? "";
      area.addEventListener("input", () => { answers[item.code] = area.value; });
      return [area];
    },
    read: (item, value) => value,
  },
};

// A question this copy of the app cannot draw (the server is newer, or a questionnaire is
// broken): say so in plain words and stop, rather than show a blank or skip a question the
// clinic asked. Nothing is saved or sent.
function cannotShow(questionnaire, unknown) {
  const types = unknown.map((item) => `${JSON.stringify(item.type)} (item ${item.code})`).join(", ");
  console.error(
    `Check-in ${questionnaire.code} v${questionnaire.version} not shown: no renderer for item type ${types};`
      + ` this app draws ${Object.keys(RENDERERS).join(", ")}.`,
  );
  show(el("h2", {}, t("cannot_show_heading")), el("p", { role: "alert" }, t("cannot_show")));
}

// The same rule as the server: show_if {item, equals} or {item, includes}.
function shown(item, answers) {
  const rule = item.show_if;
  if (!rule) return true;
  const earlier = answers[rule.item];
  if (rule.includes !== undefined) return Array.isArray(earlier) && earlier.includes(rule.includes);
  return earlier === rule.equals;
}

function empty(value) {
  return value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0);
}

export function runCheckin(due, onDone) {
  const { questionnaire } = due;
  const items = questionnaire.items;
  const unknown = items.filter((item) => !Object.hasOwn(RENDERERS, item.type));
  if (unknown.length) {
    cannotShow(questionnaire, unknown);
    return;
  }
  const answers = {};
  let returnToReview = false;

  const visible = () => items.filter((item) => shown(item, answers));
  const after = (item) => {
    const list = visible();
    return list[list.indexOf(item) + 1] ?? null;
  };
  const before = (item) => {
    const list = visible();
    return list[list.indexOf(item) - 1] ?? null;
  };
  const advance = (item) => {
    const next = returnToReview ? null : after(item);
    setTimeout(() => (next ? question(next) : review()), ADVANCE_MS);
  };

  function answerText(item, value) {
    return empty(value) ? t("not_answered") : RENDERERS[item.type].read(item, value);
  }

  function choiceButtons(item, choices, multiple) {
    const buttons = choices.map(({ value, label, exclusive }) =>
      el("button", {
        type: "button",
        class: "choice",
        "aria-pressed": String(multiple ? (answers[item.code] ?? []).includes(value) : answers[item.code] === value),
        "data-exclusive": exclusive ? "true" : null,
        onclick: (event) => {
          if (multiple) {
            let chosen = answers[item.code] ?? [];
            if (chosen.includes(value)) chosen = chosen.filter((code) => code !== value);
            else if (exclusive) chosen = [value];
            else chosen = [...chosen.filter((code) => !item.options.find((o) => o.code === code)?.exclusive), value];
            answers[item.code] = chosen;
            for (const [index, button] of buttons.entries()) {
              button.setAttribute("aria-pressed", String(chosen.includes(choices[index].value)));
            }
            return;
          }
          answers[item.code] = value;
          for (const button of buttons) button.setAttribute("aria-pressed", String(button === event.currentTarget));
          advance(item);
        },
      }, label),
    );
    return buttons;
  }

  function question(item) {
    const list = visible();
    const headingId = `q-${item.code}`;
    const renderer = RENDERERS[item.type];
    const body = renderer.ask(item, {
      answers,
      headingId,
      choiceButtons: (choices, multiple) => choiceButtons(item, choices, multiple),
    });
    const needsNext = !renderer.oneTap;
    const previous = before(item);
    const nav = el("div", { class: "nav" },
      previous ? el("button", { type: "button", onclick: () => { returnToReview = false; question(previous); } }, t("back")) : null,
      needsNext || !item.required
        ? el("button", { type: "button", class: "primary", onclick: () => {
            if (!needsNext) delete answers[item.code];
            advance(item);
          } }, needsNext ? t("next") : t("skip"))
        : null,
    );
    show(
      el("p", { class: "progress" }, t("question_of", { n: list.indexOf(item) + 1, total: list.length })),
      el("fieldset", { "aria-labelledby": headingId },
        el("legend", {}, el("h2", { id: headingId }, item.text)),
        ...body),
      nav,
    );
  }

  function review() {
    returnToReview = true;
    const list = visible();
    const rows = list.flatMap((item) => [
      el("dt", {}, item.text),
      el("dd", {}, el("span", {}, answerText(item, answers[item.code])), " ",
        el("button", { type: "button", "aria-label": t("change_named", { question: item.text }), onclick: () => question(item) }, t("change"))),
    ]);
    const send = el("button", { type: "button", class: "primary", onclick: async () => {
      send.disabled = true;
      await submit(send);
    } }, t("send"));
    show(
      el("h2", {}, t("review")),
      el("dl", { class: "review" }, ...rows),
      el("div", { class: "nav" },
        el("button", { type: "button", onclick: () => { returnToReview = false; question(list.at(-1)); } }, t("back")),
        send),
    );
  }

  async function submit(send) {
    const kept = {};
    for (const item of visible()) if (!empty(answers[item.code])) kept[item.code] = answers[item.code];
    const body = {
      id: crypto.randomUUID(),
      due_id: due.id,
      questionnaire: questionnaire.code,
      questionnaire_version: questionnaire.version,
      answered_at: new Date().toISOString(),
      answers: kept,
    };
    // Saved on the phone before anything else, so closing the app now loses nothing.
    await enqueue(body);
    await flush();
    const state = await stateOf(body.id);
    if (state === "rejected") {
      // The outbox line names what the clinic refused; the answers stay here to change.
      send.disabled = false;
      return;
    }
    if (state === "pending") say(t("saved_offline"));
    else say(t("saved"), "done");
    await onDone({ sent: state === undefined });
  }

  const first = visible()[0];
  question(first);
}
