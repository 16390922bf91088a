// Small DOM helpers: build elements, swap screens (focus to the new heading), announce status.
const view = () => document.getElementById("view");
const status = () => document.getElementById("status");

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function say(text, kind = "") {
  status().textContent = text;
  status().className = kind;
}

// Replace the screen and move focus to its heading, so a screen reader starts at the question.
export function show(...nodes) {
  view().replaceChildren(...nodes);
  const heading = view().querySelector("h2, legend h2, [data-focus]");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  }
  window.scrollTo(0, 0);
}
