// One inventory item: its numbers (live from `inventoryItemUpdated`), a stock count (set on-hand, compare-and-set
// against the value the merchant saw), an adjustment with a reason, the safety stock, and its links (js/links.js).
//
// compareOnHand is the on-hand shown when the merchant started typing the new count: if it changed before they
// saved (another tab, a sale shipped), the server answers VERSION_CONFLICT and the page says what it is now.

import { announce, fill, h, number, time } from "./dom.js";
import { explain, notFoundWhy } from "./messages.js";
import { COUNTERS, describeChange, ITEM_FIELDS, ITEM_UPDATES, oversoldBadge } from "./inventory.js";
import { renderLinks } from "./links.js";
import { answerLost, mayHaveBeen, unsavedMark } from "./unsaved.js";

const ITEM = `query Item($id: ID!) { inventoryItem(id: $id) { ${ITEM_FIELDS} } }`;
const PAYLOAD = `inventoryItem { ${ITEM_FIELDS} } userErrors { code field message }`;
const SET_ON_HAND = `mutation SetOnHand($input: InventorySetOnHandInput!) { inventorySetOnHand(input: $input) { ${PAYLOAD} } }`;
const ADJUST = `mutation Adjust($input: InventoryAdjustInput!) { inventoryAdjust(input: $input) { ${PAYLOAD} } }`;
const DELETE = `mutation Delete($input: InventoryItemDeleteInput!) { inventoryItemDelete(input: $input) {
  deletedInventoryItemId userErrors { code field message } } }`;
const UPDATE = `mutation Update($input: InventoryItemUpdateInput!) { inventoryItemUpdate(input: $input) { ${PAYLOAD} } }`;
// The item with its latest movements: read after a count or an adjustment whose answer was lost, to tell whether it
// was made (a movement of its kind, size and reason recorded after the item's last change the page had seen).
const ITEM_AND_MOVEMENTS = `query ItemAndMovements($id: ID!) { inventoryItem(id: $id) { ${ITEM_FIELDS}
  movements(first: 20) { edges { node { kind onHandDelta reason createdAt } } } } }`;

// The server's bounds (domain/inventory/items.py MAX_UNITS): the browser refuses a number beyond them before
// anything is sent, instead of the API's raw "Int cannot represent…" for a number past 32 bits.
const MAX_UNITS = 1_000_000_000;

// A count this far from the on-hand it replaces is asked again before it is saved: more than FAR_UNITS apart and
// more than FAR_RATIO times as many (or as few). "490" typed after the 484 shown made 484490, saved without a
// question, and every linked shop was pushed TikTok's maximum, 99,999.
const FAR_UNITS = 1_000;
const FAR_RATIO = 10;

/** Whether a count `next` is far from the on-hand `current` (units) it replaces (FAR_UNITS, FAR_RATIO). */
function farFrom(next, current) {
  const [low, high] = [Math.min(next, current), Math.max(next, current)];
  return high - low > FAR_UNITS && high > FAR_RATIO * Math.max(low, 0);
}

/** How far `next` is from `current` when `farFrom` holds, in words: "more than 10 times as many", "less than a tenth". */
function farWords(next, current) {
  return next > current ? `more than ${FAR_RATIO} times as many` : `less than a ${FAR_RATIO === 10 ? "tenth" : `1/${FAR_RATIO}`}`;
}

/** Select a prefilled field's text when it gets the focus, so that typing replaces the value instead of adding
 * digits to it; the click that focused it does not put the caret back (its mouseup would). */
function selectOnFocus(input) {
  let focusedByPointer = false;
  input.addEventListener("pointerdown", () => (focusedByPointer = document.activeElement !== input));
  input.addEventListener("focus", () => input.select());
  input.addEventListener("mouseup", (event) => {
    if (focusedByPointer) event.preventDefault();
    focusedByPointer = false;
  });
}

/** Run `work` with `button` disabled; nothing when it is disabled already (a submission under way): a double-click,
 * or Enter pressed twice, sends one mutation. */
async function once(button, work) {
  if (button.disabled) return;
  button.disabled = true;
  try {
    await work();
  } finally {
    button.disabled = false;
  }
}

const units = (n) => `${number(n)} unit${n === 1 || n === -1 ? "" : "s"}`;

/** A labelled number field with its error line; returns {input, error, nodes}. */
function field(id, label, help, attrs = {}) {
  const error = h("p", { id: `${id}-error`, class: "field-error", role: "alert" });
  const input = h("input", { id, name: id, type: "number", step: 1, required: true, inputmode: "numeric",
    "aria-describedby": `${id}-help ${id}-error`, ...attrs });
  return { input, error, nodes: [h("label", { for: id }, label), input, h("p", { id: `${id}-help`, class: "help" }, help), error] };
}

export function renderItem(ctx, itemId) {
  let item = null;
  let seenOnHand = null; // the on-hand shown when the merchant started editing the count
  let typedBeforeRead = false; // a count typed before the item's first read landed: that read must not replace it
  const heading = h("h1", {}, "Inventory item");
  const numbers = h("dl", { class: "counters" });
  const changes = h("p", { class: "visually-hidden", "aria-live": "polite", id: "item-changes" });
  const updated = h("p", { class: "muted small" });

  const count = field("on-hand", "New on-hand (units counted)", "Replaces the on-hand; every linked shop gets the new quantity.", { min: 0, max: MAX_UNITS });
  const delta = field("delta", "Units to add or remove", "Negative removes units, e.g. −2 for damaged goods.", { min: -MAX_UNITS, max: MAX_UNITS });
  const reasonError = h("p", { id: "reason-error", class: "field-error", role: "alert" });
  // No maxlength: it counts UTF-16 code units and cuts what is typed or pasted (300 emoji became 150), where the API
  // takes 500 characters; a longer reason is refused by the API under this field, with its length.
  const reason = h("input", { id: "reason", name: "reason", type: "text", required: true, "aria-describedby": "reason-error" });
  const safety = field("safety-stock", "Safety stock (units)", "Units kept back from every shop.", { min: 0, max: MAX_UNITS });
  const links = renderLinks(ctx, itemId, (options) => load(options));
  const errors = [count.error, delta.error, reasonError, safety.error];
  let outcome = null; // the notice this page's last change put up ("The on-hand of … is now 600 units."), or null
  let askedFor = null; // a count far from the on-hand (farFrom) the merchant was asked about: saved if sent again
  let askedSafety = null; // a safety stock over the on-hand the merchant was asked to confirm (saveSafety)
  let askedDelta = null; // an adjustment taking the on-hand far from it (farFrom) the merchant was asked about
  // Each form's "Not saved" mark (js/unsaved.js): on after a failed save, off once saved or showing what is saved.
  const marks = {
    count: unsavedMark("on-hand-unsaved", "Not saved: press Set on-hand to save this count."),
    adjust: unsavedMark("adjust-unsaved", "Not saved: press Adjust to make this adjustment."),
    safety: unsavedMark("safety-stock-unsaved", "Not saved: press Save safety stock to save it."),
  };
  // The saves whose answer was lost (js/unsaved.js answerLost), each told by the next read of the item (load): its
  // error line (kept through the item's changes meanwhile) -> {movements (whether that read needs them), settle(fresh)}.
  const lost = new Map();
  let seen = false; // the item was read and shown on this page once (a later "not found" is a delete)
  selectOnFocus(count.input);
  selectOnFocus(safety.input);

  /** The item's SKU as the page shows it, naming a change sent (app.js pageGraphql); "this item" until it is read. */
  const shownSku = () => item?.sku ?? "this item";

  /** Say the outcome of one of this page's changes in the notice (kept to take it down once the item changes). */
  function tell(message) {
    outcome = message;
    announce(message, { kind: "success" });
  }

  // A field's error goes once its value changes: it was about the value sent.
  for (const [input, error] of [[count.input, count.error], [delta.input, delta.error], [reason, reasonError], [safety.input, safety.error]]) {
    input.addEventListener("input", () => {
      error.textContent = "";
      askedFor = null; // another number: asked again if far
      askedSafety = null;
      askedDelta = null;
    });
  }

  /** Each mark off whose form shows what is saved again (reset: the count or safety stock typed back, the adjustment
   * emptied), or once the form itself shows the item's value (a count saved). */
  function settleMarks() {
    if (!item) return;
    if (marks.count.on && count.input.value === String(item.onHand)) marks.count.set(false);
    if (marks.adjust.on && delta.input.value === "" && reason.value === "") marks.adjust.set(false);
    if (marks.safety.on && safety.input.value === String(item.safetyStock)) marks.safety.set(false);
  }

  for (const control of [count.input, delta.input, reason, safety.input]) control.addEventListener("input", settleMarks);

  function show(fresh, { live = false } = {}) {
    if (item && fresh.version < item.version) return; // an older state than the one shown
    const before = item;
    item = fresh;
    if (before && fresh.version !== before.version) {
      // The item changed (here, elsewhere, a sale): the errors about what was sent against the previous numbers and
      // the outcome of the previous change no longer describe it ("… is now 600 units" stayed beside -2).
      for (const error of errors) if (!lost.has(error)) error.textContent = "";
      askedFor = null;
      askedSafety = null;
      askedDelta = null;
      if (outcome && document.getElementById("notice")?.textContent === outcome) announce("");
      outcome = null;
    }
    fill(heading, fresh.sku, " ", oversoldBadge(fresh));
    deleteButton.disabled = false; // its dialog names the SKU: offered once the item is read
    fill(numbers, COUNTERS.map(([fieldName, label]) => h("div", {
      class: `counter${before && before[fieldName] !== fresh[fieldName] ? " changed" : ""}${fieldName === "available" && fresh.oversold ? " oversold" : ""}`,
      dataset: { field: fieldName },
    }, h("dt", {}, label), h("dd", {}, number(fresh[fieldName])))));
    fill(updated, "Last change ", time(fresh.updatedAt));
    if (!before) count.error.textContent = ""; // "still being read" (saveCount), said before this first read
    if (seenOnHand === null && typedBeforeRead) seenOnHand = fresh.onHand; // the on-hand the page shows beside it
    else if (seenOnHand === null) count.input.value = String(fresh.onHand);
    typedBeforeRead = false;
    // (a safety stock not saved stays as typed, under its mark, until saved or typed back)
    if (document.activeElement !== safety.input && !marks.safety.on) safety.input.value = String(fresh.safetyStock);
    links.show(fresh);
    settleMarks();
    if (before && live) {
      const said = describeChange(before, fresh);
      if (said) changes.textContent = said;
    }
  }

  /** Read the item and show it; `quiet`: a failure is not announced (a lost answer's read: its line says it all). */
  async function load({ quiet = false } = {}) {
    try {
      // (the saves whose answer was lost before this read began: a read begun earlier may not see them)
      const asked = [...lost.entries()];
      const movements = asked.some(([, save]) => save.movements);
      const fresh = (await ctx.graphql(movements ? ITEM_AND_MOVEMENTS : ITEM, { id: itemId })).inventoryItem;
      if (!fresh) {
        fill(ctx.main, h("h1", {}, "Item not found"), h("p", {}, notFoundWhy("inventory item", seen),
          h("a", { href: "#/inventory" }, "Back to Inventory")));
        return null;
      }
      seen = true;
      show(fresh);
      for (const [line, save] of asked) {
        if (lost.get(line) !== save) continue; // told by another read meanwhile
        lost.delete(line);
        save.settle(fresh);
      }
      return fresh;
    } catch (exc) {
      if (!quiet) announce(exc.message, { kind: "error" });
      return null;
    }
  }

  /** A save whose answer was lost: its line says it may have been saved, and the item is read now (and again on a
   * reconnection, if Shopbridge cannot be reached yet): `settle(fresh)` then says whether it was, the form and its
   * mark following. `made(fresh)` tells it from the item read (with its movements if `movements`); `done` is its
   * verb (js/unsaved.js mayHaveBeen: "saved", "made" for an adjustment, whose read says "was not made"). */
  function answerLostFor(error, change, { movements = false, done = "saved", made, saved, notSaved }) {
    error.textContent = mayHaveBeen(change, done);
    lost.set(error, {
      movements,
      settle: (fresh) => {
        if (made(fresh)) saved(fresh);
        else notSaved(fresh);
      },
    });
    load({ quiet: true });
  }

  /** Whether `fresh` (read with its movements) records a movement of `kind` moving on-hand by `onHandDelta`, with
   * `reason` if given, after `since` (the item's updatedAt when the change was sent; ISO times of one server compare
   * as strings, as tasks.js newerFirst says). */
  const recorded = (fresh, since, kind, onHandDelta, reason = undefined) => fresh.movements.edges.some(({ node }) =>
    node.kind === kind && node.onHandDelta === onHandDelta && (reason === undefined || node.reason === reason)
    && node.createdAt > since);

  /** Send one of the item's mutations, named `change` (app.js pageGraphql); a userError is shown under the field it
   * names among `fields` ({name: error line}), else under `error`. Returns the item, or null. */
  async function mutate(query, input, key, change, error, fields = {}, { mark, lostAnswer }) {
    error.textContent = "";
    announce(""); // the outcome of a previous change ("… is now 77 units") must not stand beside this one's failure
    try {
      const result = (await ctx.graphql(query, { input }, { change }))[key];
      if (result.userErrors.length) {
        const first = result.userErrors[0];
        (fields[first.field?.[0]] ?? error).textContent = explain(first);
        mark.set(true);
        return null;
      }
      mark.set(false);
      show(result.inventoryItem);
      return result.inventoryItem;
    } catch (exc) {
      mark.set(true);
      if (answerLost(exc)) answerLostFor(error, change, lostAnswer);
      else error.textContent = exc.message;
      return null;
    }
  }

  count.input.addEventListener("input", () => {
    if (seenOnHand === null && item) seenOnHand = item.onHand;
    else if (!item) typedBeforeRead = true;
  });

  // One submission at a time: `inventoryAdjust` adds its units on every call, and a second count sent with the same
  // compareOnHand is refused as a conflict with the first.
  const setButton = h("button", { type: "submit", class: "primary" }, "Set on-hand");
  const adjustButton = h("button", { type: "submit", class: "primary" }, "Adjust");

  function setOnHand(event) {
    event.preventDefault();
    once(setButton, saveCount);
  }

  async function saveCount() {
    if (seenOnHand === null && !item) {
      // Nothing read yet, so no on-hand the count could be checked against (`compareOnHand`): it is not sent. Before,
      // the page stopped on an error of its own (`item` null) and the merchant was told nothing.
      count.error.textContent = `The on-hand of ${shownSku()} is still being read. Save your count once it shows.`;
      return;
    }
    const compareOnHand = seenOnHand ?? item.onHand;
    const onHand = count.input.valueAsNumber;
    const input = { inventoryItemId: itemId, onHand, compareOnHand };
    if (Number.isInteger(onHand) && farFrom(onHand, compareOnHand) && askedFor !== onHand) {
      askedFor = onHand;
      count.error.textContent = `${units(onHand)} is far from the ${units(compareOnHand)} on hand (${farWords(onHand, compareOnHand)}), and every linked `
        + "shop would get it. Check the count; to save it, press Set on-hand again.";
      count.input.focus();
      return;
    }
    askedFor = null;
    count.error.textContent = "";
    announce(""); // the outcome of a previous count ("… is now 77 units") must not stand beside this one's failure
    let result;
    const change = `The stock count of ${shownSku()} (${units(onHand)})`;
    const since = item?.updatedAt ?? "";
    try {
      result = (await ctx.graphql(SET_ON_HAND, { input }, { change })).inventorySetOnHand;
    } catch (exc) {
      marks.count.set(true);
      if (!answerLost(exc)) {
        count.error.textContent = exc.message;
        return;
      }
      answerLostFor(count.error, change, {
        movements: true,
        made: (fresh) => fresh.onHand === onHand || recorded(fresh, since, "SET", onHand - compareOnHand),
        saved: (fresh) => {
          seenOnHand = null;
          count.input.value = String(fresh.onHand);
          count.error.textContent = "";
          marks.count.set(false);
          tell(`The stock count of ${fresh.sku} was saved: its on-hand is now ${units(fresh.onHand)}.`);
        },
        notSaved: (fresh) => {
          seenOnHand = fresh.onHand; // saving again means: I counted, knowing the on-hand shown
          count.error.textContent = `${change} was not saved: the on-hand is ${units(fresh.onHand)}. Check your count and save again to replace it.`;
        },
      });
      return;
    }
    const conflict = result.userErrors.find((e) => e.code === "VERSION_CONFLICT");
    marks.count.set(result.userErrors.length > 0);
    if (conflict) {
      const fresh = await load();
      seenOnHand = fresh ? fresh.onHand : null; // saving again means: I counted, knowing the new value
      count.error.textContent = fresh
        ? `The on-hand changed to ${units(fresh.onHand)} since you looked at it (you saw ${units(compareOnHand)}), so nothing was saved. Check your count and save again to replace it.`
        : explain(conflict);
      count.input.focus();
      return;
    }
    if (result.userErrors.length) {
      count.error.textContent = explain(result.userErrors[0]);
      return;
    }
    seenOnHand = null;
    show(result.inventoryItem);
    tell(`The on-hand of ${result.inventoryItem.sku} is now ${units(result.inventoryItem.onHand)}.`);
  }

  function adjust(event) {
    event.preventDefault();
    once(adjustButton, saveAdjustment);
  }

  async function saveAdjustment() {
    reasonError.textContent = "";
    if (!reason.value.trim()) {
      reasonError.textContent = "Say why the stock changes (a count, damage, a delivery).";
      reason.focus();
      return;
    }
    const n = delta.input.valueAsNumber;
    const why = reason.value.trim();
    // An adjustment whose on-hand would be far from the one shown (farFrom, as a stock count) is asked again before
    // it is made: +4,500 typed for +45 on 458 was made at once, and every linked shop was pushed 4,951 units that
    // do not exist (tryout61 F1). A result below 0 is not asked: the API refuses it, and says so under the field.
    if (item && Number.isInteger(n) && item.onHand + n >= 0 && farFrom(item.onHand + n, item.onHand) && askedDelta !== n) {
      askedDelta = n;
      delta.error.textContent = `${n > 0 ? "+" : ""}${units(n)} takes the on-hand of ${item.sku} from ${number(item.onHand)} `
        + `to ${units(item.onHand + n)} (${farWords(item.onHand + n, item.onHand)}), and every linked shop would get it. `
        + "Check the units; to make this adjustment, press Adjust again.";
      delta.input.focus();
      return;
    }
    askedDelta = null;
    const change = `The adjustment of ${shownSku()} by ${n > 0 ? "+" : ""}${units(n)} (${why})`;
    const adjusted = (fresh) => {
      tell(`${n > 0 ? "Added" : "Removed"} ${units(Math.abs(n))} (${why}): the on-hand of ${fresh.sku} is now ${units(fresh.onHand)}.`);
      delta.input.value = "";
      reason.value = "";
      marks.adjust.set(false);
    };
    const since = item?.updatedAt ?? "";
    const done = await mutate(ADJUST, { inventoryItemId: itemId, delta: n, reason: why }, "inventoryAdjust", change,
      delta.error, { reason: reasonError }, {
        mark: marks.adjust,
        // made or not, told by its movement: adjusting again would add the units again
        lostAnswer: {
          movements: true,
          done: "made",
          made: (fresh) => recorded(fresh, since, "ADJUSTED", n, why),
          saved: (fresh) => {
            delta.error.textContent = "";
            adjusted(fresh);
          },
          notSaved: (fresh) => {
            delta.error.textContent = `${change} was not made: the on-hand is ${units(fresh.onHand)}. Press Adjust to make it.`;
          },
        },
      });
    if (done) adjusted(done);
  }

  async function saveSafety(event) {
    event.preventDefault();
    const safetyStock = safety.input.valueAsNumber;
    // More than the on-hand holds back every unit: available goes below 0 and every linked shop is pushed 0. Asked
    // again, as a far-off stock count is: 5000 typed for 500 on 1,000 (or 1e9) was saved at once.
    if (item && Number.isInteger(safetyStock) && safetyStock > item.onHand && safetyStock !== item.safetyStock
      && askedSafety !== safetyStock) {
      askedSafety = safetyStock;
      safety.error.textContent = `${units(safetyStock)} is more than the ${units(item.onHand)} on hand: available would be `
        + `${number(item.onHand - item.reserved - safetyStock)} and every linked shop would get 0. Check it; to save it, `
        + "press Save safety stock again.";
      safety.input.focus();
      return;
    }
    askedSafety = null;
    const change = `The safety stock of ${shownSku()} set to ${units(safetyStock)}`;
    const done = await mutate(UPDATE, { inventoryItemId: itemId, safetyStock }, "inventoryItemUpdate", change, safety.error, {}, {
      mark: marks.safety,
      lostAnswer: {
        made: (fresh) => fresh.safetyStock === safetyStock,
        saved: (fresh) => {
          safety.error.textContent = "";
          marks.safety.set(false);
          tell(`The safety stock of ${fresh.sku} was saved: it is now ${units(fresh.safetyStock)}.`);
        },
        notSaved: (fresh) => {
          safety.error.textContent = `${change} was not saved: the safety stock is ${units(fresh.safetyStock)}. Save it again to set it.`;
        },
      },
    });
    if (done) tell(`The safety stock of ${done.sku} is now ${units(done.safetyStock)}.`);
  }

  // Delete (inventoryItemDelete, tryout61 F3): asked first in a modal <dialog> naming the SKU, as every destructive
  // action of the console (links.js: Unlink); refused while SKUs are linked (ITEM_LINKED) or units are reserved
  // (ITEM_IN_USE), in the console's words (messages.js) under the button; done, the Inventory list is shown again.
  const deleteError = h("p", { id: "delete-error", class: "field-error", role: "alert" });
  const deleteButton = h("button", { type: "button", class: "danger", disabled: true, onclick: () => confirmDelete() }, "Delete item");

  function confirmDelete() {
    const sku = shownSku();
    const confirmButton = h("button", { type: "submit", class: "danger" }, "Delete item");
    const dialog = h(
      "dialog",
      { "aria-labelledby": "delete-title", "aria-describedby": "delete-what", class: "card" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "delete-title" }, `Delete “${sku}”?`),
        h("p", { id: "delete-what" }, "The item and its movements are deleted; this cannot be undone. Only an item no "
          + "shop SKU is linked to and no open order reserves units of can be deleted."),
        h("div", { class: "buttons" }, h("button", { type: "button", value: "cancel", onclick: () => dialog.close() }, "Cancel"),
          confirmButton),
      ),
    );
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      confirmButton.disabled = true; // one delete per confirmation, however often it is clicked
      deleteError.textContent = "";
      try {
        const result = (await ctx.graphql(DELETE, { input: { inventoryItemId: itemId } }, { change: `The delete of ${sku}` })).inventoryItemDelete;
        if (result.userErrors.length) deleteError.textContent = explain(result.userErrors[0]);
        else {
          dialog.close();
          // The Inventory list, read again without the item; the notice once it is shown (the router takes down the
          // notice of the page left), as links.js does for an item created from a SKU.
          window.addEventListener("hashchange", () => announce(`${sku} is deleted.`, { kind: "success" }), { once: true });
          ctx.navigate("#/inventory");
          return;
        }
      } catch (exc) {
        deleteError.textContent = exc.message;
      }
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (deleteButton.isConnected) deleteButton.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  fill(
    ctx.main,
    h("div", { class: "page-head" }, heading, h("a", { href: "#/inventory" }, "Back to Inventory")),
    numbers,
    changes,
    updated,
    h("div", { class: "item-forms" },
      h("form", { class: "card", "aria-labelledby": "count-title", onsubmit: setOnHand },
        h("h2", { id: "count-title" }, "Stock count"), count.nodes, marks.count.element,
        setButton),
      h("form", { class: "card", "aria-labelledby": "adjust-title", onsubmit: adjust },
        h("h2", { id: "adjust-title" }, "Adjust"), delta.nodes,
        h("label", { for: "reason" }, "Reason"), reason, reasonError, marks.adjust.element,
        adjustButton),
      h("form", { class: "card", "aria-labelledby": "safety-title", onsubmit: saveSafety },
        h("h2", { id: "safety-title" }, "Safety stock"), safety.nodes, marks.safety.element,
        h("button", { type: "submit", class: "primary" }, "Save safety stock"))),
    links.element,
    h("section", { class: "card", "aria-labelledby": "delete-item-title" },
      h("h2", { id: "delete-item-title" }, "Delete item"),
      h("p", { class: "help" }, "For an item made by mistake: unlink its SKUs first."), deleteButton, deleteError),
  );
  load();
  const stop = ctx.socket.subscribe(ITEM_UPDATES, { id: itemId }, {
    next: (payload) => {
      // The item went meanwhile (with the shop whose SKUs alone it held, deleted elsewhere): the subscription ends
      // with NOT_FOUND, and reading the item again says so. The page went on showing it, "Live", until a save was
      // refused.
      if (payload.errors?.some((e) => e.extensions?.code === "NOT_FOUND")) return load();
      const fresh = payload.data?.inventoryItemUpdated;
      if (fresh) show(fresh, { live: true });
    },
  });
  // Reached again: a save whose answer was lost (never "cannot be reached": js/unsaved.js) is told by this read.
  const stopReconnect = ctx.socket.onReconnect(() => load());
  return () => {
    stop();
    links.stop();
    stopReconnect();
  };
}
