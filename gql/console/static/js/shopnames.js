// Each shop's name as it is, then as it changes (a rename in another tab or on another device), for the pages that
// name shops without following `shopsUpdated` for anything else: Task Center, an item's links, Inventory, a shop's
// products or orders. They kept a renamed shop's old name until a reload, as they kept a deleted one (`shopsDeleted`).
//
// The pool pages (Inventory, an item's links) also follow what a link's note says of its shop (js/inventory.js
// `notReceiving`): its status and whether push is on. A revocation, an authorization ending, a re-authorization or
// push turned off or on changes the shop, not the item, so no `inventoryItemUpdated` comes: the note stayed wrong, both
// ways, until a reload (tryout61 F4).

const SHOP_NAMES = "subscription ShopNames { shopsUpdated { id name } }";
// The shop as a link shows it (js/inventory.js ITEM_FIELDS `links { shop { … } }`): the same fields.
const LINK_SHOPS = "subscription LinkShops { shopsUpdated { id name status inventoryPolicy { pushEnabled } } }";

function follow(ctx, query, changed) {
  return ctx.socket.subscribe(query, {}, {
    next: (payload) => {
      const shop = payload.data?.shopsUpdated;
      if (shop) changed(shop);
    },
  });
}

/**
 * Call `renamed({ id, name })` for every shop of the merchant first (the subscription's first messages: the current
 * list, gql/subscriptions.py), then for each change to one; a page compares with the name it shows. Returns the stop.
 */
export function followShopNames(ctx, renamed) {
  return follow(ctx, SHOP_NAMES, renamed);
}

/**
 * The shops of the merchant as `shopsUpdated` last sent them (first each as it is, then each change), as a link shows
 * its shop ({id, name, status, inventoryPolicy: {pushEnabled}}): returns `{shops, stop}`, `shops` a Map id -> shop,
 * and calls `changed(shop, before)` after each message, `before` the shop as sent before (undefined the first
 * time). A page shows a link with `withShopAsSent(link, shops)`: the shop a message sent after the item was read wins
 * over the one the item was read with, and an item read begun before a change and answered after its message does
 * not bring the old state back.
 */
export function followLinkShops(ctx, changed) {
  const shops = new Map();
  const stop = follow(ctx, LINK_SHOPS, (shop) => {
    const before = shops.get(shop.id);
    shops.set(shop.id, shop);
    changed(shop, before);
  });
  return { shops, stop };
}

/** Whether a link's `shop` shows something else than `sent` (its name, status or push). */
export function shopDiffers(shop, sent) {
  return shop.name !== sent.name || shop.status !== sent.status
    || shop.inventoryPolicy?.pushEnabled !== sent.inventoryPolicy?.pushEnabled;
}

/** `link` with its shop as `shops` (followLinkShops) has it; `link` itself when that shop was not sent or is the same. */
export function withShopAsSent(link, shops) {
  const sent = link.shop && shops.get(link.shop.id);
  return sent && shopDiffers(link.shop, sent) ? { ...link, shop: { ...link.shop, ...sent } } : link;
}
