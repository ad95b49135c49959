/* The editors' search insight page: sign in with the admin key, then searches per day (a chart drawn by the
 * server), the gap groups with one-click fixes, top queries and the helpful ratio per article.
 * The session lives in an HttpOnly cookie; requests that change something carry the CSRF token. */
(function () {
  "use strict";
  const { t, el } = window.KB;

  const signin = document.getElementById("signin");
  const signinForm = document.getElementById("signin-form");
  const signinError = document.getElementById("signin-error");
  const insight = document.getElementById("insight");
  const signoutBtn = document.getElementById("signout");
  const daysSelect = document.getElementById("days");
  const loadError = document.getElementById("load-error");
  const fixStatus = document.getElementById("fix-status");
  const groupsList = document.getElementById("groups");
  const gapsLoading = document.getElementById("gaps-loading");
  const chart = document.getElementById("chart");

  const DAY_CHOICES = [7, 30, 90];
  const POLL_MS = 1000;
  const POLL_RETRIES = 30; // polls in a row that may find the status unavailable (503) before the page gives up
  const state = { csrf: "", days: 30, loadSeq: 0, fixing: false };

  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
    const res = await fetch(url, { method, headers, credentials: "same-origin",
                                   body: body === undefined ? undefined : JSON.stringify(body) });
    const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((data && data.detail) || "HTTP " + res.status);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // --- signing in and out ---------------------------------------------------------------------

  function showSignin() {
    state.csrf = "";
    insight.hidden = true;
    signoutBtn.hidden = true;
    signin.hidden = false;
    document.getElementById("admin-key").focus();
  }

  function showInsight(session) {
    state.csrf = session.csrf;
    signin.hidden = true;
    insight.hidden = false;
    signoutBtn.hidden = false;
    load();
  }

  signinForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("admin-key");
    signinError.textContent = "";
    try {
      const session = await api("POST", "/admin/session", { key: input.value });
      input.value = "";
      showInsight(session);
    } catch (err) {
      signinError.textContent = t(err.status === 429 ? "admin_too_many" : err.status === 401 ? "admin_wrong_key"
                                                                                              : "admin_error");
      input.select();
    }
  });

  signoutBtn.addEventListener("click", async () => {
    try {
      await api("DELETE", "/admin/session");
    } catch (err) {
      /* the cookie may be gone already: signed out either way */
    }
    showSignin();
  });

  // --- the insight ----------------------------------------------------------------------------------

  // The numbers first (they answer at once), then the groups (the first grouping after a start embeds
  // every gap query, which takes a while).
  async function load() {
    const seq = ++state.loadSeq;
    const days = String(state.days);
    loadError.textContent = "";
    gapsLoading.hidden = false;
    chart.src = "/admin/chart.svg?" + new URLSearchParams({ days, lang: window.KB.lang, t: String(Date.now()) });
    const failed = (err) => {
      if (seq !== state.loadSeq) return;
      if (err.status === 401) showSignin();
      else loadError.textContent = t("admin_error");
    };
    api("GET", "/admin/insight.json?" + new URLSearchParams({ days, groups: "false" }))
      .then((data) => { if (seq === state.loadSeq) render(data); }, failed);
    try {
      const data = await api("GET", "/admin/gaps.json?" + new URLSearchParams({ days }));
      if (seq === state.loadSeq) renderGroups(data.groups);
    } catch (err) {
      failed(err);
    } finally {
      if (seq === state.loadSeq) gapsLoading.hidden = true;
    }
  }

  const pct = (x) => Math.round(x * 100) + "%";
  const decisionLabel = (d) => t("decision_" + d);

  function render(data) {
    const s = data.searches;
    document.getElementById("shares").replaceChildren(
      el("li", { class: "admin-share admin-share-total" }, t("admin_total", { n: s.total })),
      ...["answer", "suggest", "none"].map((d) => el("li", { class: "admin-share admin-share-" + d },
        el("span", { class: "admin-dot admin-dot-" + d, "aria-hidden": "true" }),
        decisionLabel(d) + " " + pct(s.share[d]) + " (" + s.totals[d] + ")")));
    document.getElementById("per-day").replaceChildren(...s.per_day.map((d) => el("tr", {},
      el("th", { scope: "row" }, d.day), el("td", {}, String(d.answer)), el("td", {}, String(d.suggest)),
      el("td", {}, String(d.none)))));
    document.getElementById("top-queries").replaceChildren(...(data.top_queries.length ? data.top_queries.map((q) =>
      el("tr", {}, el("td", {}, q.query), el("td", { class: "num" }, String(q.clients)),
         el("td", {}, el("span", { class: "admin-tag admin-tag-" + q.decision }, decisionLabel(q.decision)))))
      : [emptyRow(3)]));
    document.getElementById("ratings").replaceChildren(...(data.articles.length ? data.articles.map((a) =>
      el("tr", {}, el("td", {}, a.title || a.article_id, el("span", { class: "admin-id" }, a.article_id)),
         el("td", { class: "num" }, String(a.helpful)), el("td", { class: "num" }, String(a.not_helpful)),
         el("td", { class: "num" }, a.ratio === null ? "–" : pct(a.ratio))))
      : [emptyRow(4)]));
  }

  function emptyRow(span) {
    return el("tr", {}, el("td", { colspan: String(span), class: "muted" }, t("admin_none_yet")));
  }

  function renderGroups(groups) {
    if (!groups.length) {
      groupsList.replaceChildren(el("li", { class: "muted admin-group-empty" }, t("admin_gaps_empty")));
      return;
    }
    groupsList.replaceChildren(...groups.map(group));
  }

  function group(g, index) {
    const add = g.suggestion.kind === "add_question";
    const title = g.suggestion.title || g.suggestion.article_id;
    const boxes = g.examples.map((q, i) => {
      const id = "g" + index + "-q" + i;
      return el("li", { class: "admin-query" },
        el("input", { type: "checkbox", id, checked: true, value: q }), " ", el("label", { for: id }, q));
    });
    const list = el("ul", { class: "admin-queries" }, ...boxes);
    const chosen = () => Array.from(list.querySelectorAll("input:checked")).map((b) => b.value);
    const buttons = [];
    if (add) {
      buttons.push(el("button", { type: "button", class: "btn btn-small btn-primary", dataset: { fix: "add_question" },
                                  onclick: () => fix({ kind: "add_question", article_id: g.suggestion.article_id },
                                                     chosen()) },
                      t("admin_fix_add", { title })));
    }
    buttons.push(el("button", { type: "button", class: "btn btn-small" + (add ? "" : " btn-primary"),
                                dataset: { fix: "new_article" },
                                onclick: () => fix({ kind: "new_article" }, chosen()) }, t("admin_fix_new")));
    return el("li", { class: "admin-group", dataset: { kind: g.suggestion.kind,
                                                        articleId: g.suggestion.article_id || "" } },
      el("div", { class: "admin-group-head" },
        el("strong", { class: "admin-group-count" }, t("admin_group_count", { n: g.count, q: g.queries })),
        el("span", { class: "admin-suggestion admin-suggestion-" + g.suggestion.kind },
           add ? t("admin_suggest_add", { title }) : t("admin_suggest_new"))),
      list,
      el("div", { class: "admin-group-actions" }, ...buttons));
  }

  // --- one-click fixes -------------------------------------------------------------------------------

  async function fix(target, queries) {
    if (state.fixing) return;
    if (!queries.length) {
      showFix("admin-fix-error", t("admin_fix_pick"));
      return;
    }
    setFixing(true);
    showFix("admin-fix-running", t("admin_fix_running"));
    try {
      let job = await api("POST", "/admin/fixes", Object.assign({ queries }, target));
      let unavailable = 0; // the store (or a replica) away for a moment: keep asking, then give up with its reason
      while (job.state === "running") {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        try {
          job = await api("GET", "/admin/fixes/" + encodeURIComponent(job.id));
          unavailable = 0;
        } catch (err) {
          if ((err.status !== 503 && err.status !== 502 && err.status !== 504) || ++unavailable > POLL_RETRIES) throw err;
        }
      }
      if (job.state === "built") {
        showFix("admin-fix-built", job.kind === "new_article" ? t("admin_fix_draft", { file: job.file })
                                                              : t("admin_fix_built"));
        load();
      } else {
        showFix("admin-fix-failed", t("admin_fix_failed"), job.messages);
      }
    } catch (err) {
      if (err.status === 401) showSignin();
      else showFix("admin-fix-error", t("admin_fix_error", { reason: err.message }));
    } finally {
      setFixing(false);
    }
  }

  function setFixing(on) {
    state.fixing = on;
    groupsList.querySelectorAll("button[data-fix]").forEach((b) => { b.disabled = on; });
  }

  function showFix(kind, text, messages) {
    fixStatus.className = "admin-fix-status " + kind;
    fixStatus.dataset.state = kind.replace("admin-fix-", "");
    fixStatus.replaceChildren(text, ...(messages && messages.length
      ? [el("ul", { class: "admin-messages" }, ...messages.map((m) => el("li", {}, m)))] : []));
  }

  // --- start ---------------------------------------------------------------------------------------

  daysSelect.replaceChildren(...DAY_CHOICES.map((n) => el("option", { value: String(n) },
                                                           t("admin_days_option", { n }))));
  daysSelect.value = String(state.days);
  daysSelect.addEventListener("change", () => {
    state.days = Number(daysSelect.value) || 30;
    load();
  });

  api("GET", "/admin/session").then(showInsight, showSignin);
})();
