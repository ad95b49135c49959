/* The editors' list of what kb learned from customers and agents (/admin/learned.json): per article, the
 * wordings live at the next build, pending review, vetoed or rejected, with their evidence; one click accepts,
 * rejects, promotes a wording into the article's questions (a one-click fix) or undoes a decision.
 * It starts when admin.js shows the signed-in page, and asks the session for the CSRF token itself. */
(function () {
  "use strict";
  const { t, el } = window.KB;
  const insight = document.getElementById("insight");
  const listEl = document.getElementById("learned");
  const statusEl = document.getElementById("learned-status");
  const modeEl = document.getElementById("learned-mode");
  if (!insight || !listEl) return;
  const ACTIONS = { live: ["reject", "promote"], pending: ["accept", "reject"], vetoed: ["reject"],
                    rejected: ["undo"] };
  let csrf = "";
  let loading = false;

  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const res = await fetch(url, { method, headers, credentials: "same-origin",
                                   body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((data && data.detail) || "HTTP " + res.status);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  async function load() {
    if (loading) return;
    loading = true;
    try {
      const session = await api("GET", "/admin/session").catch(() => ({}));
      csrf = session.csrf || "";
      render(await api("GET", "/admin/learned.json"));
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

  function wording(article, w) {
    const rank = w.best_rank === null || w.best_rank === undefined ? "-" : String(w.best_rank);
    const buttons = (ACTIONS[w.state] || []).map((action) => el("button", {
      type: "button", class: "btn btn-small" + (action === "reject" ? " btn-ghost" : ""),
      dataset: { action }, onclick: () => decide(article.article_id, w.wording, action),
    }, t("learned_" + action)));
    return el("li", { class: "admin-learned-word", dataset: { state: w.state } },
      el("span", { class: "admin-learned-text" }, w.wording), " ",
      el("span", { class: "chip" }, t("learned_state_" + w.state)), " ",
      el("span", { class: "muted" }, t("learned_evidence", { n: w.clients, rank }) + (w.reason ? " · " + w.reason : "")),
      " ", ...buttons);
  }

  async function decide(articleId, text, action) {
    statusEl.textContent = "";
    try {
      await api("POST", "/admin/learned", { wording: text, article_id: articleId, action });
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
