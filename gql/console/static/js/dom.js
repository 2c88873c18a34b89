// Small DOM helpers: build elements without a framework, format dates, announce to screen readers.

/** h("button", {type: "button", onclick}, "Save") -> HTMLButtonElement. Attributes starting with "on" are listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Make `el` show what `fresh` (a new rendering of it) shows, in place: attributes, texts and children, recursively,
 * each element kept where `fresh` has one of the same tag at the same place. For content without listeners (a
 * listener is not copied, and one added by h() holds what it was rendered with): a live update then keeps the link
 * or button a merchant is pressing or has focused, which a replacement would take away (a click whose press and
 * release straddle it is lost: its target went). Rows with buttons: patchRows below. */
export function patch(el, fresh) {
  for (const { name } of [...el.attributes]) if (!fresh.hasAttribute(name)) el.removeAttribute(name);
  for (const { name, value } of [...fresh.attributes]) if (el.getAttribute(name) !== value) el.setAttribute(name, value);
  const olds = [...el.childNodes];
  const news = [...fresh.childNodes];
  news.forEach((node, i) => {
    const old = olds[i];
    if (!old) el.append(node);
    else if (old.nodeType !== node.nodeType || old.nodeName !== node.nodeName) old.replaceWith(node);
    else if (node.nodeType === Node.ELEMENT_NODE) patch(old, node);
    else if (old.nodeValue !== node.nodeValue) old.nodeValue = node.nodeValue;
  });
  for (const old of olds.slice(news.length)) old.remove();
}

/** Make `container`'s children the elements `fresh` (new renderings of its rows), in place: a child whose `data-key`
 * a fresh row has is patched to it (patch above), a fresh row with a key not shown (or none) is added, a child left
 * over is removed (before any row is placed: a row kept after it was moved up to its place). A row moves only when
 * it is out of `fresh`'s order (a move takes the focus: keepingFocus gives it back; and the click pressed on it). The rows' controls get their listener on `container` (delegation), finding the row's object by its key: a
 * listener on a control would hold the object it was rendered with, and a new row's would be the only one. */
export function patchRows(container, fresh) {
  const shown = new Map();
  for (const child of container.children) if (child.dataset.key !== undefined) shown.set(child.dataset.key, child);
  const rows = fresh.map((row) => {
    const old = row.dataset.key === undefined ? undefined : shown.get(row.dataset.key);
    if (!old) return row;
    shown.delete(row.dataset.key); // a key twice in `fresh`: its second row is added
    patch(old, row);
    return old;
  });
  // the rows going first: a row kept after one that goes would otherwise be moved up to its place
  const kept = new Set(rows);
  for (const child of [...container.children]) if (!kept.has(child)) child.remove();
  rows.forEach((row, i) => {
    if (container.children[i] !== row) container.insertBefore(row, container.children[i] ?? null);
  });
}

/** Focus the control of `container` named `label` (its aria-label); false when it has none by that name. */
export function focusLabelled(container, label) {
  for (const control of container.querySelectorAll("[aria-label]")) {
    if (control.getAttribute("aria-label") === label) {
      control.focus();
      return true;
    }
  }
  return false;
}

/** Run `replace()`, which re-renders (part of) `container`, keeping the keyboard focus: a live refresh must not take
 * it away, so it moves to the control of the same name (aria-label) in the new content. */
export function keepingFocus(container, replace) {
  const focused = container.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
  const result = replace();
  if (focused) focusLabelled(container, focused);
  return result;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

/** An ISO date as a <time> element in the merchant's locale ("—" when missing). */
export function time(iso, { day = false } = {}) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  return h("time", { datetime: iso, title: date.toISOString() }, (day ? dayFormat : dateFormat).format(date));
}

/** Say something to screen readers (and show it) in the page's polite live region. */
export function announce(message, { kind = "info" } = {}) {
  const region = document.getElementById("notice");
  if (!region) return;
  region.hidden = !message;
  region.className = `notice ${kind}`;
  fill(region, message || "");
}

export function number(value) {
  return value === null || value === undefined ? "—" : new Intl.NumberFormat().format(value);
}
