// Each shop's name as it is, then as it changes (a rename in another tab or on another device), for the pages that
// name shops without following `shopsUpdated` for anything else: Task Center, an item's links, Inventory, a shop's
// products or orders. They kept a renamed shop's old name until a reload, as they kept a deleted one (`shopsDeleted`).

const SHOP_NAMES = "subscription ShopNames { shopsUpdated { id name } }";

/**
 * Call `renamed({ id, name })` for every shop of the merchant first (the subscription's first messages: the current
 * list, gql/subscriptions.py), then for each change to one; a page compares with the name it shows. Returns the stop.
 */
export function followShopNames(ctx, renamed) {
  return ctx.socket.subscribe(SHOP_NAMES, {}, {
    next: (payload) => {
      const shop = payload.data?.shopsUpdated;
      if (shop) renamed(shop);
    },
  });
}
