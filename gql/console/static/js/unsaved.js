// What a console form says when its save failed: a "Not saved" mark that stays until the form is saved or reset
// (tryout58 F-low-d: once the server was back, the page cleared "cannot be reached" and showed the edits as typed,
// with nothing saying they were never saved), and what a save whose answer was lost says (tryout58 F-low-b: the
// server saved it, the connection dropped before its answer, and the form said "Shopbridge cannot be reached" beside
// the old value).

import { h } from "./dom.js";

/** Whether a save's error is a lost answer (api.js ApiError code NETWORK: no HTTP answer came): the request may have
 * reached the server, which may have saved it before the connection dropped. The page cannot tell which, so it says
 * so and reads what is saved once Shopbridge answers again. A server's answer (a refusal, an HTTP error) is no such
 * doubt: nothing was saved. */
export const answerLost = (error) => error?.code === "NETWORK";

/** The sentence under a form whose save's answer was lost, after its subject (`change`, as the page names it for
 * app.js pageGraphql: "The push policy of “Maple”"). */
export const mayHaveBeenSaved = (change) =>
  `${change} may have been saved: Shopbridge did not answer. The page shows what is saved as soon as Shopbridge answers again.`;

/**
 * A form's "Not saved" mark: a line (`element`, class `unsaved`, hidden while off) saying `text` ("Not saved: press
 * Save push policy to save it."). `set(on)` shows or hides it; `on` tells whether it is shown. A page shows it after a
 * failed save (refused, or not answered) and hides it once a save of that form succeeds or the form is reset to what
 * is saved; a read of the saved state does not hide it while the form differs from it.
 */
export function unsavedMark(id, text) {
  const element = h("p", { id, class: "unsaved", hidden: true }, text);
  return {
    element,
    set(on) {
      element.hidden = !on;
    },
    get on() {
      return !element.hidden;
    },
  };
}
