// A shop's push policy (`Shop.inventoryPolicy`, `shopInventoryPolicyUpdate`): whether Shopbridge pushes the shared
// pool's stock to the shop at all, and how much of each item's available it shows there (a share, a maximum, an
// out-of-stock threshold). The rule is the API's (schema.graphql `InventoryPolicy`, domain/inventory_push.py); the
// page says it in words and never computes a SKU's quantity itself: the API tells no quantity before it is pushed.

import { announce, fill, h, number } from "./dom.js";
import { STATUS_LABELS, explain, notFoundWhy } from "./messages.js";
import { answerLost, mayHaveBeen, unsavedMark } from "./unsaved.js";

const POLICY_FIELDS = "pushEnabled sharePercent maxQuantity outOfStockThreshold";
// `joinedSkuCount`: the shop's SKUs that joined items the merchant already had, whose TikTok stock a push replaces
// (decide62: Add store's "Start with stock push off" sends the merchant here to turn push on).
const POLICY = `query Policy($id: ID!) { shop(id: $id) { id name status joinedSkuCount inventoryPolicy { ${POLICY_FIELDS} } } }`;
const UPDATE = `mutation PolicyUpdate($input: ShopInventoryPolicyUpdateInput!) { shopInventoryPolicyUpdate(input: $input) {
  shop { id name } inventoryPolicy { ${POLICY_FIELDS} } userErrors { code field message } } }`;
// Each shop as it is, then as it changes: its name (the heading) and its push policy, saved in another tab or on
// another device (`shopsUpdated` sends a shop whose policy changed): the form follows it (tryout58 F1).
const SHOP_CHANGES = `subscription PolicyShops { shopsUpdated { id name status inventoryPolicy { ${POLICY_FIELDS} } } }`;
// Each shop deleted, in another tab or on another device: this page's shop among them ends the page.
const SHOP_DELETIONS = "subscription PolicyShopsDeleted { shopsDeleted }";
// How many of the shop's linked SKUs show 0 at an out-of-stock bound (`n`: the threshold, or the available a share
// rounds down to 0) and at the saved policy's (`saved`), of every linked one (schema.graphql `Shop.linkedSkuCount`: the API's count, the page computes no quantity).
const ZEROED = `query PolicyZeroed($id: ID!, $n: Int!, $saved: Int!) { shop(id: $id) { id
  every: linkedSkuCount zeroed: linkedSkuCount(availableAtMost: $n) zeroedNow: linkedSkuCount(availableAtMost: $saved) } }`;
// The server's bound on the threshold (domain/inventory_push.py, 0..10**9): past it the API refuses it, in its words.
const MAX_THRESHOLD = 1_000_000_000;
// GraphQL's Int (32 bits): a number past it is refused by GraphQL itself, in its raw words ("Int cannot represent
// …"), before the policy's rule is asked; such a number gets the field's own sentence instead, and is not sent.
const MAX_INT = 2 ** 31 - 1;

/** The sentence of what the saved `policy` shows at TikTok (schema.graphql InventoryPolicy), in the merchant's words. */
export function policyEffect(policy) {
  if (!policy.pushEnabled) {
    return "Shopbridge pushes no stock to this shop: each SKU keeps the quantity TikTok has (the last one pushed, or "
      + "one set in Seller Center). Its orders still reserve units in the pool.";
  }
  const share = policy.sharePercent === 100 ? "all of its item's available" : `${policy.sharePercent} % of its item's available, rounded down`;
  const most = policy.maxQuantity === null ? "" : `, at most ${number(policy.maxQuantity)} units`;
  return `Each linked SKU of this shop is shown ${share}${most}; 0 when the available is ${number(policy.outOfStockThreshold)} `
    + "units or fewer, or the item is oversold. TikTok takes at most 99,999 units.";
}

// What the API does not tell (newcomer57 F11): the quantity each SKU will get. Said, with where the result shows.
const NOT_PREDICTED = "Shopbridge does not tell the quantity each SKU will get before it is pushed: once pushed, each "
  + "SKU's quantity is on its item's page (Inventory, “Pushed to TikTok”).";

/** A labelled number field with its help and error lines (as inventory-item.js `field`); returns {input, error, nodes}. */
function field(id, label, help, attrs = {}) {
  const error = h("p", { id: `${id}-error`, class: "field-error", role: "alert" });
  const input = h("input", { id, name: id, type: "number", step: 1, inputmode: "numeric",
    "aria-describedby": `${id}-help ${id}-error`, ...attrs });
  return { input, error, nodes: [h("label", { for: id }, label), input, h("p", { id: `${id}-help`, class: "help" }, help), error] };
}

export function renderPolicy(ctx, shopId) {
  const heading = h("h1", {}, "Push policy");
  const effect = h("p", { id: "policy-effect", "aria-live": "polite" });
  const push = h("input", { id: "push-enabled", name: "pushEnabled", type: "checkbox", "aria-describedby": "push-help" });
  // What pushing does to the SKUs that joined the merchant's items (said once the shop is read; hidden when none did)
  const pushHelp = h("p", { id: "push-help", class: "help", hidden: true });
  let joinedCount = 0; // Shop.joinedSkuCount, said in pushHelp (`joined`)
  // A revoked or expired shop is pushed nothing whatever its policy (schema ShopStatus): said under "What TikTok
  // shows", which, with pushHelp, told the policy's effect as if pushed (tryout66).
  const paused = h("p", { id: "policy-paused", class: "push-error", hidden: true });
  let ended = false; // the shop's status is REVOKED or EXPIRED (`status`)
  const share = field("share-percent", "Share of available shown (%)",
    "1 to 100: the shop shows this share of each item's available, rounded down.", { min: 1, max: 100 });
  const most = field("max-quantity", "Most units shown",
    "0 to 99,999 units; leave it empty for no maximum.", { min: 0, max: 99999 });
  const threshold = field("out-of-stock-threshold", "Out-of-stock threshold (units)",
    // The server's bound (domain/inventory_push.py, 0..10**9), said and set (tryout58 F-low-a: "0 or more" only).
    "0 to 1,000,000,000 units: when an item's available is this many units or fewer, the shop shows 0.",
    { min: 0, max: MAX_THRESHOLD });
  const formError = h("p", { id: "policy-error", class: "field-error", role: "alert" });
  const save = h("button", { type: "submit", class: "primary" }, "Save push policy");
  // The userError's `field` (the input's name in ShopInventoryPolicyUpdateInput) -> that field (its error line).
  const fields = { sharePercent: share, maxQuantity: most, outOfStockThreshold: threshold };
  let shopName = null; // the shop's name as the heading shows it, once read
  let shown = null; // the policy as last read or saved: a save sends only the fields that differ from it
  let stopped = false; // the page left, or its shop deleted
  // On after a failed save (refused, not answered), until a save succeeds or the form holds no edit (js/unsaved.js):
  // once the server was back, the form showed push off and 12 % with nothing saying they were not saved (tryout58
  // F-low-d), while the policy kept push on.
  const mark = unsavedMark("policy-unsaved", "Not saved: the form shows changes that are not saved. Press Save push policy to save them.");
  let lost = null; // the save whose answer was lost, told by the next read (load): {input (the fields sent), change}
  let askedFor = null; // the share, maximum and threshold the merchant was asked about (zeroesMost): saved if sent again

  function title(name) {
    shopName = name;
    fill(heading, `Push policy of “${name}”`);
  }

  // Each field of the policy: its control, how the control shows a value, and the value the control holds now
  // (undefined: not a value the API takes; its line then says so on a save).
  const controls = {
    pushEnabled: { show: (v) => { push.checked = v; }, read: () => push.checked },
    sharePercent: { show: (v) => { share.input.value = String(v); }, read: () => value(share, "INVALID_SHARE_PERCENT") },
    maxQuantity: { show: (v) => { most.input.value = v === null ? "" : String(v); },
      read: () => value(most, "INVALID_MAX_QUANTITY", { optional: true }) },
    outOfStockThreshold: { show: (v) => { threshold.input.value = String(v); },
      read: () => value(threshold, "INVALID_OUT_OF_STOCK_THRESHOLD") },
  };
  const changedElsewhere = h("p", { id: "policy-changed", class: "help", role: "status" });

  /** The fields whose control differs from the policy shown (the merchant's edits), by name; reading them quietly. */
  function edits() {
    if (shown === null) return [];
    return Object.keys(controls).filter((name) => readNow(name) !== shown[name]);
  }

  /** What a field's control holds now, read quietly. */
  function readNow(name) {
    return name === "pushEnabled" ? push.checked : quiet(name);
  }

  /** A control's value with no error line written (a comparison, not a save). */
  function quiet(name) {
    const control = { sharePercent: share, maxQuantity: most, outOfStockThreshold: threshold }[name];
    if (control.input.value.trim() === "" && name === "maxQuantity") return null;
    const n = control.input.valueAsNumber;
    return Number.isInteger(n) ? n : control.input.value; // a half-typed value differs from any number
  }

  /** The form and the effect show `policy` as saved; the merchant's edits not yet saved are kept (`keep`). */
  function show(policy, keep = []) {
    for (const [name, control] of Object.entries(controls)) {
      if (!keep.includes(name)) control.show(policy[name]);
    }
    shown = policy;
    effect.textContent = policyEffect(policy);
    sayJoined();
    settleMark();
  }

  /** The mark off once the form holds no edit (reset to the policy saved, or following it). */
  function settleMark() {
    if (mark.on && !edits().length) mark.set(false);
  }

  /** `policy` read (a re-read, or the live feed): shown, and said when it changed while the page was open. */
  function follow(policy) {
    if (shown === null) return show(policy);
    const changed = Object.keys(controls).filter((name) => policy[name] !== shown[name]);
    if (!changed.length) return;
    // What the form does not hold already (a change this page is saving arrives as the form holds it: no news).
    const news = changed.filter((name) => policy[name] !== readNow(name));
    const kept = edits().filter((name) => !changed.includes(name) || news.includes(name));
    show(policy, kept);
    if (!news.length) return;
    changedElsewhere.textContent = "This push policy was changed in another tab or on another device: the form "
      + "and “What TikTok shows” follow the saved policy"
      + (kept.length ? ", except the fields you changed here and did not save yet." : ".");
  }

  for (const control of [push, share.input, most.input, threshold.input]) {
    control.addEventListener("input", () => {
      for (const line of [formError, share.error, most.error, threshold.error]) line.textContent = ""; // about the values sent
      lost = null; // (the form changed since: the next read tells nothing about it)
      askedFor = null; // another value: asked again if it zeroes most SKUs or cuts the share
      settleMark();
    });
  }

  function deleted() {
    stopped = true;
    fill(ctx.main, h("h1", {}, "This shop was deleted"),
      h("p", {}, "It was deleted from Shopbridge in another tab or on another device. ",
        h("a", { href: "#/stores" }, "Back to Store management")));
  }

  const toldDuringReads = new Set(); // per read of the policy on its way, what messages told of this shop (load)

  /** Read the policy and follow it; `quiet`: a failure is not announced (a lost answer's read: its line says it).
   * The server may have answered before a change whose message the page heard first (one heard before the page's
   * first read is left to that read, and was lost with its older answer: flake65): an answer that differs from what
   * a message told while it was on its way (`told`) may be the older of the two, and the policy is read once more. */
  async function load({ quiet = false } = {}) {
    const asked = lost; // (a save whose answer was lost before this read began: a read begun earlier may not see it)
    const told = { shop: null }; // this shop as the last message heard while this read is on its way told it
    toldDuringReads.add(told);
    try {
      const shop = (await ctx.graphql(POLICY, { id: shopId })).shop;
      if (stopped) return;
      if (!shop) {
        stopped = true;
        fill(ctx.main, h("h1", {}, "Shop not found"), h("p", {}, notFoundWhy("shop", shopName !== null),
          h("a", { href: "#/stores" }, "Back to Store management")));
        return;
      }
      title(shop.name);
      status(shop.status);
      joined(shop.joinedSkuCount);
      follow(shop.inventoryPolicy); // a re-read (a reconnect) keeps the merchant's edits not saved yet
      save.disabled = false;
      if (asked && lost === asked) tellLost(asked, shop);
      const saved = (each) => JSON.stringify([each.name, each.status, each.inventoryPolicy]);
      if (told.shop && saved(told.shop) !== saved(shop)) load({ quiet: true }); // which is newer, a read tells
    } catch (exc) {
      if (!quiet) announce(exc.message, { kind: "error" });
    } finally {
      toldDuringReads.delete(told);
    }
  }

  /** Say under "Push stock to this shop" what pushing does to the `count` SKUs of the shop that joined inventory items
   * the merchant already had (`Shop.joinedSkuCount`): their TikTok stock is replaced by the pool's available. A shop
   * added with push off is turned on here (js/addstore.js); nothing said when none joined. Worded by the saved policy
   * (`shown`, re-said by `show`): with push on, the replacement is done, not ahead (tryout64 F2). */
  function joined(count) {
    joinedCount = count;
    sayJoined();
  }

  /** The shop's status (schema ShopStatus), read or heard: revoked or expired, the page says nothing is pushed. */
  function status(value) {
    ended = value === "REVOKED" || value === "EXPIRED";
    paused.hidden = !ended;
    paused.textContent = ended
      ? `“${shopName}” is ${STATUS_LABELS[value].toLowerCase()}: nothing is pushed to TikTok until it is re-authorized `
        + "(Re-authorize, in Store management); then TikTok shows what this policy says."
      : "";
    sayJoined();
  }

  function sayJoined() {
    const count = joinedCount;
    const skus = `${count === 1 ? "1 SKU" : `${number(count)} SKUs`} of this shop joined inventory items you already had`;
    const them = count === 1 ? "it" : "them";
    pushHelp.hidden = !count;
    pushHelp.textContent = !count ? ""
      : shown?.pushEnabled && ended
        ? `${skus}: push is on; once the shop is re-authorized, TikTok's stock of ${them} is the pool's available.`
      : shown?.pushEnabled
        ? `${skus}: push is on, so TikTok's stock of ${them} is the pool's available.`
        : `${skus}: while push is on, TikTok's stock of ${them} is replaced by the pool's available. Review the `
          + "links in Inventory before you turn push on.";
  }

  /** The line a saved policy is told with: its linked SKUs pushed again while push is on; with push off, that nothing
   * is pushed (a push turned off was told "Its linked SKUs are pushed again.", tryout66). */
  function savedLine(name, policy) {
    return policy.pushEnabled
      ? `The push policy of “${name}” is saved. Its linked SKUs are pushed again.`
      : `The push policy of “${name}” is saved. Stock push is off: nothing is pushed to TikTok, which keeps this `
        + "shop's own stock.";
  }

  /** A save whose answer was lost, told by the policy read since (`shop`): saved when every field sent holds the value
   * sent, said as a save answered says it; else its line says it was not saved, the form kept as typed, marked. */
  function tellLost({ input, change }, shop) {
    lost = null;
    const policy = shop.inventoryPolicy;
    if (Object.keys(input).every((name) => name === "shopId" || policy[name] === input[name])) {
      formError.textContent = "";
      show(policy);
      mark.set(false);
      announce(savedLine(shop.name, policy), { kind: "success" });
      return;
    }
    formError.textContent = `${change} was not saved: “What TikTok shows” says the policy saved. The form keeps your `
      + "changes: press Save push policy to save them.";
  }

  /** A field's value for the input: an integer GraphQL can carry, null for an empty optional field, or undefined
   * (its line then says the field's rule, `code`'s sentence, and nothing is sent). */
  function value(control, code, { optional = false } = {}) {
    if (control.input.value.trim() === "" && optional) return null;
    const n = control.input.valueAsNumber;
    if (Number.isInteger(n) && Math.abs(n) <= MAX_INT) return n;
    control.error.textContent = explain(code);
    return undefined;
  }

  async function submit(event) {
    event.preventDefault();
    if (save.disabled) return; // one save at a time (a double-click, Enter pressed twice), and none before the read
    formError.textContent = "";
    for (const line of [share.error, most.error, threshold.error]) line.textContent = "";
    // Only the fields the merchant changed on this page (the API keeps those left out): a save from a tab left open
    // never puts back what another tab saved meanwhile, e.g. push turned on again (tryout58 F1).
    const input = { shopId };
    for (const name of edits()) input[name] = controls[name].read();
    const unsent = [share, most, threshold].find((control) => control.error.textContent);
    if (unsent) return unsent.input.focus();
    announce(""); // the outcome of a previous save must not stand beside this one's refusal
    changedElsewhere.textContent = "";
    save.disabled = true;
    save.textContent = "Saving…";
    const change = `The push policy of “${shopName ?? "this shop"}”`;
    let asked;
    try {
      asked = await zeroesMost(input);
    } catch (exc) {
      asked = true; // (the counts unread: nothing is sent, so the line says what failed, not "may have been saved")
      formError.textContent = `Nothing was saved: ${exc.message}`;
    }
    if (asked) {
      save.disabled = false;
      save.textContent = "Save push policy";
      return;
    }
    try {
      const result = (await ctx.graphql(UPDATE, { input }, { change })).shopInventoryPolicyUpdate;
      if (result.userErrors.length) {
        const [refusal] = result.userErrors;
        if (refusal.code === "NOT_FOUND") return deleted();
        const named = fields[refusal.field?.[0]];
        (named?.error ?? formError).textContent = explain(refusal);
        mark.set(true);
        named?.input.focus();
        return;
      }
      title(result.shop.name);
      mark.set(false);
      show(result.inventoryPolicy);
      announce(savedLine(result.shop.name, result.inventoryPolicy), { kind: "success" });
    } catch (exc) {
      mark.set(true);
      if (answerLost(exc)) {
        // (tryout58 F-low-b: "Shopbridge cannot be reached" beside a policy the server had saved)
        formError.textContent = mayHaveBeen(change, "saved");
        lost = { input, change };
        load({ quiet: true }); // and again on a reconnection, if Shopbridge cannot be reached yet
      } else {
        formError.textContent = exc.message;
      }
    } finally {
      save.disabled = false;
      save.textContent = "Save push policy";
    }
  }

  /** Whether the save of `input` was asked about instead of saved: a policy under which most of the shop's linked
   * SKUs (more than half, and more than now) would show 0, the shop looking sold out, or a share cut to a tenth or
   * less of the saved one, is saved only when Save push policy is pressed again, the line of the field that does it
   * having said how many (tryout61 F1: a threshold of 4500 typed for 45; tryout62 F2: "Most units shown" 0, typed
   * for "no maximum", pushed all 104 linked SKUs 0, and a share of 1 % for 10 or 100 showed 4 where 460 was shown,
   * both unasked). A SKU shows 0 when its item's available is at most the threshold, or at most ⌊99 ÷ share⌋ units
   * (its share rounds down to 0), or the maximum is 0 (domain/inventory_push.py): the counts are the API's
   * (ZEROED, `Shop.linkedSkuCount(availableAtMost)`), the page computes no SKU's quantity. A save that turns push on
   * weighs the whole policy it turns on, whenever its fields were saved, against a shop that shows all of its items'
   * available (tryout63 F2: "Most units shown" 0 saved while push was off, then push turned on, pushed every linked
   * SKU 0, unasked): while push is off Shopbridge shows nothing at TikTok, so nothing of it "shows 0 now". */
  async function zeroesMost(input) {
    const next = { ...shown, ...input };
    const valid = Number.isInteger(next.sharePercent) && next.sharePercent >= 1 && next.sharePercent <= 100
      && (next.maxQuantity === null || next.maxQuantity >= 0)
      && next.outOfStockThreshold >= 0 && next.outOfStockThreshold <= MAX_THRESHOLD;
    const turningOn = !shown.pushEnabled;
    const key = JSON.stringify([turningOn, next.sharePercent, next.maxQuantity, next.outOfStockThreshold]);
    if (!valid || !next.pushEnabled || askedFor === key) return false; // (an invalid one: the API refuses it, in words)
    // The policy in force before the save, and the fields it changes (turning push on: all of them, from the default)
    const before = turningOn ? { ...shown, sharePercent: 100, maxQuantity: null, outOfStockThreshold: 0 } : shown;
    const changed = turningOn ? next : input;
    const raised = changed.outOfStockThreshold !== undefined && changed.outOfStockThreshold > before.outOfStockThreshold;
    const zeroMost = changed.maxQuantity === 0 && before.maxQuantity !== 0;
    const lowered = changed.sharePercent !== undefined && changed.sharePercent < before.sharePercent;
    if (!raised && !zeroMost && !lowered) return false;
    const bound = (policy) => Math.max(policy.outOfStockThreshold, Math.floor(99 / policy.sharePercent));
    const n = bound(next);
    const counts = (await ctx.graphql(ZEROED, { id: shopId, n, saved: bound(before) })).shop;
    if (!counts || !counts.every) return false;
    const zeroed = next.maxQuantity === 0 ? counts.every : counts.zeroed;
    const zeroedNow = before.maxQuantity === 0 ? counts.every : counts.zeroedNow;
    const soldOut = zeroed > zeroedNow && zeroed * 2 > counts.every;
    const cut = lowered && next.sharePercent * 10 <= before.sharePercent;
    if (!soldOut && !cut) return false;
    askedFor = key;
    const of = `${number(zeroed)} of the ${number(counts.every)} linked SKUs of “${shopName}” would show 0 on TikTok`;
    const now = turningOn ? "push is off now" : `${number(zeroedNow)} show 0 now`;
    // (turning push on: the question says so, as the field it names may have been saved long before)
    const say = (text) => (turningOn ? `Turning push on: ${text[0].toLowerCase()}${text.slice(1)}` : text);
    const again = "press Save push policy again.";
    let control;
    if (soldOut && zeroMost) {
      control = most;
      most.error.textContent = say(`At most 0 units shown, ${of} (${now}): the shop would look sold out. For no maximum, `
        + `leave Most units shown empty; to save 0, ${again}`);
    } else if (soldOut && raised) {
      control = threshold;
      threshold.error.textContent = say(`At ${number(next.outOfStockThreshold)} units, ${of} (their item's available is `
        + `${number(n)} units or fewer; ${now}): the shop would look sold out. Check the threshold; to save it, ${again}`);
    } else if (soldOut) {
      control = share;
      share.error.textContent = say(`At ${next.sharePercent} %, ${of} (${next.sharePercent} % of their item's available, `
        + `rounded down, is 0 when it is ${number(n)} units or fewer; ${now}): the shop would look sold out. Check the `
        + `share; to save it, ${again}`);
    } else {
      control = share;
      const was = turningOn ? "of the whole available" : `of the ${before.sharePercent} % it shows now`;
      share.error.textContent = say(`At ${next.sharePercent} %, each linked SKU of “${shopName}” would show `
        + `${next.sharePercent} % of its item's available, rounded down, a tenth or less ${was} `
        + `(${number(zeroed)} of the ${number(counts.every)} would show 0). Check the share; to save it, ${again}`);
    }
    control.input.focus();
    return true;
  }

  save.disabled = true; // until the policy is read: a save would send the empty form
  fill(
    ctx.main,
    h("div", { class: "page-head" }, heading, h("a", { href: "#/stores" }, "Back to Store management")),
    h("p", { class: "help" }, "How much of the shared inventory pool this shop shows on TikTok. A change is pushed to "
      + "every linked SKU of the shop at once."),
    h("form", { class: "card policy", "aria-labelledby": "policy-title", novalidate: true, onsubmit: submit },
      h("h2", { id: "policy-title" }, "Push policy"),
      h("label", { class: "choice", for: "push-enabled" }, push, "Push stock to this shop"), pushHelp,
      share.nodes, most.nodes, threshold.nodes, formError, mark.element, changedElsewhere, save),
    h("section", { class: "card policy-effect", "aria-labelledby": "effect-title" },
      h("h2", { id: "effect-title" }, "What TikTok shows"), paused, effect, h("p", { class: "help" }, NOT_PREDICTED)),
  );
  load();
  const stopDeletions = ctx.socket.subscribe(SHOP_DELETIONS, {}, {
    next: (payload) => {
      if (payload.data?.shopsDeleted === shopId && !stopped) deleted();
    },
  });
  const stopChanges = ctx.socket.subscribe(SHOP_CHANGES, {}, {
    next: (payload) => {
      const shop = payload.data?.shopsUpdated;
      if (shop?.id === shopId) for (const told of toldDuringReads) told.shop = shop;
      if (!shop || shop.id !== shopId || stopped || shopName === null) return; // before the page's own read: it reads
      if (shop.name !== shopName) title(shop.name);
      status(shop.status);
      follow(shop.inventoryPolicy);
    },
  });
  const stopReconnect = ctx.socket.onReconnect(() => {
    // a change made elsewhere meanwhile (the form kept as typed if edited); a save whose answer was lost told
    if (!stopped) load();
  });
  return () => {
    stopped = true;
    stopDeletions();
    stopChanges();
    stopReconnect();
  };
}
