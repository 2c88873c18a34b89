// "Add store", as the seed's Authorization Steps: choose TikTok Shop, confirm the shop is local in a supported
// region, pick the region and a custom name, Authorize (to TikTok's consent page, which sends the merchant back).
// Step 3 says, before Authorize, what the import does to the stock of SKUs matching the merchant's items, and lets
// the shop start with stock push off (`shopAuthorizationStart`'s `pushEnabled`; decide62, tryout61 F5: a MY shop's
// 32 listings of 38 rewritten from the US pool, unannounced).

import { announce, fill, h } from "./dom.js";
import { explain, explainRefusal, REGION_NAMES } from "./messages.js";

const REGIONS = "{ supportedRegions }";
const START = `mutation Start($input: ShopAuthorizationStartInput!) { shopAuthorizationStart(input: $input) {
  authorizationUrl retryAt userErrors { code message field } } }`;

export function renderAddStore(ctx) {
  const state = { step: 1, confirmed: false, region: "", name: "", pushOff: false };
  const panel = h("section", { class: "card wizard", "aria-labelledby": "add-title" });
  fill(ctx.main, h("div", { class: "page-head" }, h("h1", { id: "add-title" }, "Add store"), h("a", { href: "#/stores" }, "Back to Store management")), panel);

  function stepHeading(n, text) {
    return h("h2", { tabindex: -1, class: "step" }, h("span", { class: "muted" }, `Step ${n} of 3: `), text);
  }

  function show() {
    if (state.step === 1) chooseChannel();
    else if (state.step === 2) confirmRegion();
    else details();
    panel.querySelector("h2")?.focus();
  }

  function chooseChannel() {
    fill(
      panel,
      stepHeading(1, "Choose a sales channel"),
      h("fieldset", {},
        h("legend", {}, "Channel"),
        h("label", { class: "choice" }, h("input", { type: "radio", name: "channel", value: "tiktok", checked: true }), " TikTok Shop")),
      h("div", { class: "buttons" }, h("button", { type: "button", class: "primary", onclick: () => ((state.step = 2), show()) }, "Authorize")),
    );
  }

  function confirmRegion() {
    const error = h("p", { id: "confirm-error", class: "field-error", role: "alert" });
    const box = h("input", { type: "checkbox", id: "region-confirmed", checked: state.confirmed, "aria-describedby": "confirm-error" });
    fill(
      panel,
      stepHeading(2, "Confirm your shop's region"),
      h("p", {}, "Only local (not cross-border) TikTok Shops in the United States, the United Kingdom, Malaysia or Singapore can be connected. ",
        "Each TikTok Shop can be connected to one account at a time."),
      h("label", { class: "choice", for: "region-confirmed" }, box, " My TikTok Shop is a local shop in a supported region"),
      error,
      h("div", { class: "buttons" },
        h("button", { type: "button", onclick: () => ((state.step = 1), show()) }, "Back"),
        h("button", {
          type: "button",
          class: "primary",
          onclick: () => {
            state.confirmed = box.checked;
            if (!state.confirmed) {
              error.textContent = explain("REGION_NOT_CONFIRMED");
              box.focus();
              return;
            }
            state.step = 3;
            show();
          },
        }, "Next")),
    );
  }

  async function details() {
    const regionError = h("p", { id: "region-error", class: "field-error", role: "alert" });
    const nameError = h("p", { id: "name-error", class: "field-error", role: "alert" });
    const formError = h("p", { class: "field-error", role: "alert" });
    const select = h("select", { id: "region", name: "region", required: true, "aria-describedby": "region-error" },
      h("option", { value: "" }, "Choose a region"));
    // No maxlength, as for a rename (stores.js): the API refuses a name too long rather than the browser cutting it.
    const name = h("input", { id: "shop-name", name: "name", value: state.name, required: true, "aria-describedby": "name-help name-error" });
    const pushOff = h("input", { type: "checkbox", id: "push-off", name: "pushOff", checked: state.pushOff, "aria-describedby": "push-off-help" });
    const submit = h("button", { type: "submit", class: "primary" }, "Authorize");
    const form = h(
      "form",
      { novalidate: true },
      stepHeading(3, "Region and name"),
      h("label", { for: "region" }, "TikTok Shop region"),
      select,
      regionError,
      h("label", { for: "shop-name" }, "Custom shop name"),
      h("p", { id: "name-help", class: "help" }, "For you to recognise the shop here; it can differ from its TikTok Shop name."),
      name,
      nameError,
      h("fieldset", { class: "pool-choice" },
        h("legend", {}, "SKUs that match your inventory items"),
        h("p", { id: "pool-help" }, "When this shop's products are imported, each SKU whose seller SKU matches one of your inventory items joins that item, ",
          "and TikTok's stock of it becomes the pool's available (the item's on hand, less what is reserved and its safety stock): ",
          "the stock TikTok shows for it now is replaced."),
        h("label", { class: "choice", for: "push-off" }, pushOff, " Start with stock push off"),
        h("p", { id: "push-off-help", class: "help" }, "TikTok then keeps the shop's own stock. Review the links in Inventory first, ",
          "then turn push on in the shop's Push policy.")),
      formError,
      h("div", { class: "buttons" }, h("button", { type: "button", onclick: back }, "Back"), submit),
    );
    // Back keeps what the step holds, as Authorize does: a ticked "Start with stock push off" undone by Back and
    // Next would connect the shop with push on (review62b F2)
    function back() {
      state.region = select.value;
      state.name = name.value;
      state.pushOff = pushOff.checked;
      state.step = 2;
      show();
    }
    fill(panel, form);
    try {
      const regions = (await ctx.graphql(REGIONS)).supportedRegions;
      for (const code of regions) select.append(h("option", { value: code, selected: code === state.region }, `${REGION_NAMES[code] || code} (${code})`));
    } catch (exc) {
      formError.textContent = exc.message;
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      for (const el of [regionError, nameError, formError]) el.textContent = "";
      state.region = select.value;
      state.name = name.value;
      state.pushOff = pushOff.checked;
      if (!state.region) {
        regionError.textContent = "Choose your TikTok Shop's region.";
        select.focus();
        return;
      }
      submit.disabled = true;
      try {
        const input = { region: state.region, name: state.name, regionConfirmed: state.confirmed, pushEnabled: !state.pushOff };
        const change = `Add store of “${state.name.trim()}” (${REGION_NAMES[state.region] || state.region})`;
        const result = (await ctx.graphql(START, { input }, { change })).shopAuthorizationStart;
        const [first] = result.userErrors;
        if (first) {
          const field = first.field?.[first.field.length - 1];
          const target = field === "name" ? nameError : field === "region" ? regionError : formError;
          target.textContent = explainRefusal(result);
          (field === "name" ? name : field === "region" ? select : submit).focus();
          if (field === "name") name.setAttribute("aria-invalid", "true");
          return;
        }
        announce("Opening TikTok Shop to authorize…");
        location.assign(result.authorizationUrl);
      } catch (exc) {
        formError.textContent = exc.message;
      } finally {
        submit.disabled = false;
      }
    });
  }

  show();
  return () => {};
}
