// Every code the API can answer, as a sentence a merchant understands (README: userErrors, sync task codes).

const REGIONS = "the United States, the United Kingdom, Malaysia or Singapore";

// The end of the sentences of refusals that come with a `retryAt`, replaced by that time when it is known.
const RETRY_LATER = {
  TOO_MANY_AUTHORIZATIONS: "Try again once the oldest is 30 minutes old.",
  TOO_MANY_SYNC_STARTS: "Try again later.",
};

export const USER_ERRORS = {
  INVALID_INPUT: "Something in the form is not valid. Check the fields and try again.",
  INVALID_NAME: "Enter a shop name of 1 to 64 characters, without line breaks or control characters.",
  // No two of a merchant's shops share a name (domain.shops folded_shop_name; tryout60 F3): `explain` shows the
  // server's message instead when there is one, since it names the shop that has the name.
  NAME_TAKEN: "Another of your shops already has this name (upper and lower case and extra spaces do not count). Choose a name none of your other shops has.",
  UNSUPPORTED_REGION: `That region is not supported. Shops can be connected in ${REGIONS}.`,
  REGION_NOT_CONFIRMED: `Confirm that your TikTok Shop is a local shop in ${REGIONS}.`,
  CROSS_BORDER_SHOP: `This TikTok Shop is a cross-border shop. Only local shops in ${REGIONS} can be connected.`,
  REGION_MISMATCH: "The TikTok Shop you authorized is in another region than the one you chose. Add it again and pick its region.",
  SHOP_ALREADY_CONNECTED: "This TikTok Shop is already connected to another account. Delete it there first, then connect it here.",
  SHOP_MISMATCH: "You signed in to TikTok with a different shop. Re-authorize with the account of this shop; nothing was changed.",
  INVALID_STATE: "This authorization link has expired, was already used or was started by another account, so nothing was connected. Start again from Add store or Re-authorize.",
  AUTHORIZATION_DENIED: "The authorization was declined on TikTok, so nothing was connected.",
  AUTHORIZATION_UNCONFIRMED: "TikTok did not confirm the authorization in time, so nothing was connected. Authorize again.",
  // The rule since migration 0044 (domain.authorization TooManyAuthorizationsError, README "OAuth"): a start counts
  // while it is not completed, so finishing one still open frees its place at once (newcomer57 F7: the sentence said
  // "finishing one does not help", and sent the merchant away for 30 minutes).
  TOO_MANY_AUTHORIZATIONS: `Too many authorizations were started in the last 30 minutes. One not finished (pending, denied or failed) counts until 30 minutes after it started; finishing one still open on TikTok's consent page frees its place at once. ${RETRY_LATER.TOO_MANY_AUTHORIZATIONS}`,
  NOT_FOUND: "This shop, task, inventory item or SKU does not exist any more. The list has been refreshed.",
  TIKTOK_UNAVAILABLE: "TikTok Shop could not be reached. Try again in a few minutes.",
  TIKTOK_REJECTED: "TikTok Shop refused the request.",
  REAUTHORIZATION_REQUIRED: "TikTok no longer accepts this shop's authorization. Re-authorize the shop, then try again.",
  SYNC_ALREADY_RUNNING: "A sync of this shop is already running. Follow it in the Task Center.",
  SYNC_TASK_FINISHED: "This task has already finished, so it cannot be cancelled.",
  TOO_MANY_SYNC_STARTS: `This shop's sync was started too often in the last hour. ${RETRY_LATER.TOO_MANY_SYNC_STARTS}`,
  INVALID_SYNC_WINDOW: "Orders can be imported for at most the past 90 days.",
  MISSING_SCOPE: "The shop's authorization lacks a permission Shopbridge needs. Re-authorize the shop.",
  TIKTOK_CURSOR_STUCK: "TikTok kept returning the same page, so the import stopped. Try Sync now again later.",
  TIME_LIMIT_EXCEEDED: "The import took too long and was stopped. Try Sync now again.",
  INTERNAL: "Something went wrong on our side. Try again; if it keeps happening, contact support.",
  SHOP_DELETED: "The shop was deleted, so its import stopped.",
  VERSION_CONFLICT: "The on-hand changed since you looked at it, so nothing was saved. Check the new value and save again.",
  SKU_ALREADY_EXISTS: "An inventory item with this SKU already exists. Find it in Inventory instead.",
  INVALID_SHARE_PERCENT: "The share of stock to show must be a whole percentage from 1 to 100.",
  INVALID_MAX_QUANTITY: "The most units to show must be a whole number from 0 to 99,999, or left empty for no maximum.",
  INVALID_OUT_OF_STOCK_THRESHOLD: "The out-of-stock threshold must be a whole number of units from 0 to 1,000,000,000.",
  SKU_LINK_CHANGED: "This SKU was linked to an item in another tab or on another device since the list was read, so "
    + "it was not taken from it. The list has been refreshed.",
  SKU_NOT_LINKABLE: "This SKU is a bundle: TikTok works out its stock from its parts, so it cannot be linked to an item.",
  PRODUCT_DELETED: "This SKU's product was deleted at TikTok, which sells it no more, so it cannot be linked or unlinked. Any open orders of it still count on the item they reserved.",
  // inventoryItemCreate with skuId, on-hand left out, for a SKU whose stored stock has no read time (review59b F1):
  // shown at the create dialog's on-hand field, which the merchant fills in
  // inventoryItemDelete (tryout61 F3): what still draws on the item
  ITEM_LINKED: "Shop SKUs are still linked to this item, so it was not deleted. Unlink them below first, then delete it.",
  ITEM_IN_USE: "Open orders still reserve units of this item, so it was not deleted. Delete it once they ship or are cancelled.",
  ON_HAND_REQUIRED: "TikTok's stock of this SKU was stored without the time it was read, so its open orders cannot be counted in once. Enter the units on the shelf (those of unshipped orders included), or sync the shop's products and try again.",
};

// TikTok's redirect came back with no state (gql/callback.py hands `?error=INVALID_STATE` alone): no authorization
// was started from Shopbridge for it, typically the sandbox's consent page opened from `make run`'s banner and
// approved. INVALID_STATE's sentence said the link "has expired, was already used or was started by another
// account", none of which had happened (newcomer57 F4).
export const RETURN_WITHOUT_AUTHORIZATION =
  "TikTok's consent page was not opened from Shopbridge (it came back with no authorization to finish), so nothing was connected. Connect a shop with Add store, which opens that page for it.";

// A code whose sentence depends on the input it is on (a userError's `field`, joined with "."), where the code's own
// sentence would mislead: NOT_FOUND on `state` is shopAuthorizationComplete's re-authorization of a shop deleted
// since it started (domain.authorization REAUTHORIZED_SHOP_DELETED): no list was refreshed, nothing was connected.
export const FIELD_ERRORS = {
  "NOT_FOUND state": "The shop this re-authorization was for has been deleted, so nothing was connected. To connect it again, start a new authorization (Add store).",
};

// Refusals of the shop TikTok's consent returned (shopAuthorizationComplete, on no `field`): the API's message gives
// the facts, the shop's region and the region chosen ("The shop is in region ID; only US, UK, MY and SG are
// supported."; "The authorized shop is in SG, not in the chosen region MY."), and is shown, followed by what it means.
// The code's own sentence alone said "That region is not supported" when the merchant had chosen US, and named no
// region on a mismatch (try-out regions53).
const SHOP_REFUSALS = {
  UNSUPPORTED_REGION: `It is the shop's region that Shopbridge does not support, so nothing was connected: shops can be connected in ${REGIONS}.`,
  REGION_MISMATCH: "Nothing was connected. Add the store again and pick the shop's region.",
};

/** "17:05", the browser's local time of an ISO 8601 instant; rounded up to the next minute when it has seconds, so
 * that "after" holds. */
function clockTime(iso) {
  const at = new Date(iso);
  if (at.getSeconds() || at.getMilliseconds()) at.setSeconds(60, 0);
  return at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** A userError ({code, message, field?}) or a bare code as a sentence; TikTok's own words are kept where they add
 * detail. A userError asked with its `field` (a list of names) gets that field's sentence first (FIELD_ERRORS); one
 * given its payload's `retryAt` (an ISO 8601 instant) names that time where the sentence would say "later". */
/** The sentence for a SKU the API cannot take as typed, said at its field before anything is sent; null when it can
 * be sent. A NUL (U+0000, pasted) is refused by the GraphQL layer before the SKU's rule runs (gql/text_inputs.py:
 * BAD_USER_INPUT "Text may not contain a NUL character…: $input.sku."), so it is said here in the words the server's
 * rule gives every other control character (domain/inventory/items.py `checked_sku`, INVALID_INPUT on `sku`,
 * tryout58 F-low-c). */
export function unsendableSku(sku) {
  return sku.includes("\u0000")
    ? "Not saved: A SKU must not contain control characters or text-direction overrides (found U+0000)."
    : null;
}

/** Why a page's shop or inventory item (`noun`) is not found, a sentence: `seen`, the page showed it before, so it was
 * deleted; never shown, the API answers another merchant's as it answers a deleted one (null), and "does not exist
 * any more" read as "someone deleted it" to a merchant signed in with the wrong token (tryout62 M2: the item page;
 * tryout63 M1: a shop's products, orders and push policy pages): both causes are said. */
export function notFoundWhy(noun, seen) {
  return seen ? `This ${noun} does not exist any more. `
    : `No ${noun} with this id is yours as you are signed in: it was deleted, or it is another merchant's `
      + "(sign in with that merchant's token to open it). ";
}

export function explain(error) {
  const code = typeof error === "string" ? error : error?.code;
  const onField = Array.isArray(error?.field) ? FIELD_ERRORS[`${code} ${error.field.join(".")}`] : undefined;
  if (onField) return onField;
  if (SHOP_REFUSALS[code] && error?.message && !error?.field?.length) return `${error.message} ${SHOP_REFUSALS[code]}`;
  const sentence = USER_ERRORS[code];
  if (!sentence) return (typeof error === "object" && error?.message) || "Something went wrong. Try again.";
  if (code === "TIKTOK_REJECTED" && error?.message) return `${sentence} ${error.message}`;
  // A refusal until a time (TOO_MANY_AUTHORIZATIONS, TOO_MANY_SYNC_STARTS): that time, in the browser's own clock.
  if (RETRY_LATER[code] && error?.retryAt) return `${sentence.replace(RETRY_LATER[code], "")}Try again after ${clockTime(error.retryAt)}.`;
  // The server says, in one sentence, what is accepted and what was given ("On-hand is 75: it cannot drop by 500 (at
  // most 75)."): show it (its period once, were a message ever to come without one).
  if (code === "INVALID_INPUT" && error?.message) return `Not saved: ${error.message.replace(/\.$/, "")}.`;
  // A name too long is told its length in characters and code points (an emoji takes several): show it.
  if (code === "INVALID_NAME" && error?.message) return `${sentence} ${error.message}`;
  // A name taken is told which shop has it ("Another of your shops is named “Maple”: give this one a name none of
  // your other shops has (...)."), and Add store's refusal how to renew that shop instead (Re-authorize): show it.
  if (code === "NAME_TAKEN" && error?.message) return error.message;
  // A re-authorization answered with another TikTok shop is told both shops' names (tryout64 F5: the code's sentence,
  // shown at the top of Store management, named neither): show it.
  if (code === "SHOP_MISMATCH" && error?.message) return error.message;
  // A consent declined says what was not done: a re-authorization names its shop and that nothing changed on it
  // (tryout65: the code's sentence, "so nothing was connected", was said of a shop connected all along); Add store's
  // says nothing was connected (domain.services.shops declined_message): show it.
  if (code === "AUTHORIZATION_DENIED" && error?.message) return error.message;
  // An item in use is refused for open orders' reservations, for units sold at TikTok whose orders are not read yet
  // (review62 R3), or for a SKU moved off it not pushed under its new item yet (review63 F1): the server's message
  // says which, how many and what lets it go. The code's sentence said "Open orders still reserve units" on a page
  // showing Reserved 0 (tryout63 F4).
  if (code === "ITEM_IN_USE" && error?.message) return `Not deleted: ${error.message}`;
  return sentence;
}

// Refusals whose own message names the cause the code alone cannot: REAUTHORIZATION_REQUIRED from syncStart says
// whether TikTok's authorization ended or Shopbridge cannot read the shop's tokens (its encryption key changed;
// domain.sync ensure_shop_can_sync), as the shop's row does. The code's sentence blamed TikTok beside a row that
// blamed the key (newcomer57 F9).
const REFUSALS_IN_SERVER_WORDS = new Set(["REAUTHORIZATION_REQUIRED"]);

/** A mutation payload's first `userErrors` entry as a sentence (`explain`), given the payload's `retryAt` where it
 * has one (TOO_MANY_SYNC_STARTS, TOO_MANY_AUTHORIZATIONS: "Try again after 10:42 PM"); the server's own message for
 * the codes in REFUSALS_IN_SERVER_WORDS. */
export function explainRefusal(payload) {
  const [refusal] = payload.userErrors;
  if (REFUSALS_IN_SERVER_WORDS.has(refusal?.code) && refusal.message) return refusal.message;
  return explain({ ...refusal, retryAt: payload.retryAt });
}

export const STATUS_LABELS = {
  ACTIVE: "Active",
  EXPIRING_SOON: "Expiring soon",
  EXPIRED: "Expired",
  REVOKED: "Revoked",
  QUEUED: "Queued",
  RUNNING: "Running",
  SUCCEEDED: "Succeeded",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
};

export const REGION_NAMES = { US: "United States", UK: "United Kingdom", MY: "Malaysia", SG: "Singapore" };
/** Why a shop SKU draws on no inventory item (SkuLinkState), and each state's short name. */
export const LINK_STATES = {
  LINKED: "Linked",
  AMBIGUOUS: "Ambiguous",
  NO_SELLER_SKU: "No seller SKU",
  LONG_SELLER_SKU: "Seller SKU too long",
  EXCLUDED: "Excluded",
  UNLINKED: "Unlinked",
};
export const LINK_REASONS = {
  AMBIGUOUS: "Its seller SKU is on several SKUs of this shop, so Shopbridge does not guess which one to link.",
  NO_SELLER_SKU: "It has no seller SKU on TikTok, so nothing links it automatically.",
  LONG_SELLER_SKU: "Its seller SKU on TikTok is over 255 characters, longer than Shopbridge keeps, so nothing links it automatically. Shorten it on TikTok, or link it here.",
  EXCLUDED: "It is a bundle: TikTok works out its stock from its parts.",
  UNLINKED: "Unlinked by you, or not decided yet.",
};
export const LINK_SOURCES = { AUTO: "automatic", MANUAL: "by you" };

export const KIND_LABELS = { PRODUCTS: "Products", ORDERS: "Orders" };
