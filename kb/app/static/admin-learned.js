/* The editors' list of what kb learned from customers and agents (/admin/learned.json): per article, the
 * wordings live at the next build, pending review, vetoed or rejected, with their evidence; one click accepts,
 * rejects, promotes a wording into the article's questions (a one-click fix) or undoes a decision.
 * It starts when admin.js shows the signed-in page, and asks through admin.js's session (KBAdmin.api). */
(function () {
  "use strict";
  const { t, el } = window.KB;
  const [insight, listEl, statusEl, modeEl] = ["insight", "learned", "learned-status", "learned-mode"]
    .map((id) => document.getElementById(id));
  if (!insight || !listEl || !window.KBAdmin) return;
  const ACTIONS = { live: ["reject", "promote"], pending: ["accept", "reject"], vetoed: ["reject"],
                    rejected: ["undo"] };
  let loading = false;

  async function load() {
    if (loading) return;
    loading = true;
    try {
      render(await window.KBAdmin.api("GET", "/admin/learned.json"));
    } catch (err) {
      statusEl.textContent = t("learned_error");
    } finally {
      loading = false;
    }
  }

  function render(data) {
    modeEl.textContent = t("learned_mode", { mode: data.mode });
    if (!data.articles.length) {
      listEl.replaceChildren(el("li", { class: "muted" }, t("learned_empty")));
      return;
    }
    listEl.replaceChildren(...data.articles.map((a) => el("li", { class: "admin-group" },
      el("h3", { class: "admin-h3" }, a.title + " ", el("span", { class: "muted" }, "(" + a.article_id + ")")),
      el("ul", { class: "admin-learned-words" }, ...a.wordings.map((w) => wording(a, w))))));
  }

  /** Why a wording is where it is, in the page's language (the server's English reason for a code it does not
   * know yet). */
  function why(w) {
    const key = "learned_why_" + (w.why || "");
    const text = w.why ? t(key, { n: w.clients, unhelpful: w.unhelpful, article: w.held_by }) : "";
    return text && text !== key ? text : w.reason;
  }

  function wording(article, w) {
    const rank = w.best_rank === null || w.best_rank === undefined ? "-" : String(w.best_rank);
    const buttons = (ACTIONS[w.state] || []).map((action) => el("button", {
      type: "button", class: "btn btn-small" + (action === "reject" ? " btn-ghost" : ""),
      dataset: { action }, onclick: () => decide(article.article_id, w.wording, action),
    }, t("learned_" + action)));
    return el("li", { class: "admin-learned-word", dataset: { state: w.state } },
      el("span", { class: "admin-learned-text" }, w.wording), " ",
      el("span", { class: "chip" }, t("learned_state_" + w.state)), " ",
      el("span", { class: "muted" }, t("learned_evidence", { n: w.clients, rank }) + (why(w) ? " · " + why(w) : "")),
      " ", ...buttons);
  }

  async function decide(articleId, text, action) {
    statusEl.textContent = "";
    try {
      await window.KBAdmin.api("POST", "/admin/learned", { wording: text, article_id: articleId, action });
      statusEl.textContent = t("learned_done");
      await load();
    } catch (err) {
      statusEl.textContent = t("learned_failed");
    }
  }

  // admin.js shows #insight once signed in: load then (and again each time it is shown)
  new MutationObserver(() => { if (!insight.hidden) load(); })
    .observe(insight, { attributes: true, attributeFilter: ["hidden"] });
  if (!insight.hidden) load();
})();
