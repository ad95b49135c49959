/* The editors' search insight page: sign in with the admin key, then searches per day (a chart drawn by the
 * server), the gap groups with one-click fixes, top queries and the helpful ratio per article.
 * A group's queries go to the article the editor picks (the suggestion preselected); queries an article or a
 * draft asks already are shown as handled, not offered again. Errors are shown in the page's language.
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
      err.field = data && data.field;
      throw err;
    }
    return data;
  }

  // the learned wordings' list (admin-learned.js) asks through the same session and CSRF token
  window.KBAdmin = { api };

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
    drawChart();
    const failed = (err) => {
      if (seq !== state.loadSeq) return;
      if (err.status === 401) showSignin();
      else loadError.textContent = t("admin_error");
    };
    api("GET", "/admin/insight.json?" + new URLSearchParams({ days, groups: "false" }))
      .then((data) => { if (seq === state.loadSeq) render(data); }, failed);
    try {
      const data = await api("GET", "/admin/gaps.json?" + new URLSearchParams({ days }));
      if (seq === state.loadSeq) renderGroups(data.groups, data.targets || []);
    } catch (err) {
      failed(err);
    } finally {
      if (seq === state.loadSeq) gapsLoading.hidden = true;
    }
  }

  // the server draws the chart as wide as the panel shows it (text stays its size, the bars use the width)
  function drawChart() {
    const width = Math.round(chart.getBoundingClientRect().width) || 760;
    chart.dataset.width = String(width);
    chart.src = "/admin/chart.svg?" + new URLSearchParams({
      days: String(state.days), lang: window.KB.lang, width: String(Math.min(Math.max(width, 280), 2400)),
      t: String(Date.now()) });
  }
  const redraw = window.KB.debounce(() => {
    if (!insight.hidden && Math.abs(chart.getBoundingClientRect().width - Number(chart.dataset.width)) > 24) {
      drawChart();
    }
  }, 300);
  window.addEventListener("resize", redraw);

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

  function renderGroups(groups, targets) {
    if (!groups.length) {
      groupsList.replaceChildren(el("li", { class: "muted admin-group-empty" }, t("admin_gaps_empty")));
      return;
    }
    groupsList.replaceChildren(...groups.map((g, i) => group(g, i, targets)));
  }

  function group(g, index, targets) {
    const add = g.suggestion.kind === "add_question";
    const title = g.suggestion.title || g.suggestion.article_id;
    const handled = new Map((g.handled || []).map((h) => [h.query, h]));
    const done = g.status === "handled";
    // one article or draft asks them all: said once, in the head, rather than beside every query
    const owner = done && new Set(g.handled.map((h) => h.article_id)).size === 1 ? g.handled[0] : null;
    const boxes = g.examples.map((q, i) => {
      const id = "g" + index + "-q" + i;
      const h = handled.get(q);
      return el("li", { class: "admin-query" + (h ? " admin-query-handled" : "") },
        el("input", { type: "checkbox", id, checked: !h, disabled: Boolean(h), value: q }), " ",
        el("label", { for: id }, q),
        h && !owner ? el("span", { class: "admin-query-note" }, handledNote(h)) : null);
    });
    const list = el("ul", { class: "admin-queries" }, ...boxes);
    const chosen = () => Array.from(list.querySelectorAll("input:checked:not(:disabled)")).map((b) => b.value);
    const voted = g.not_helpful || [];
    const titleOf = (id) => (targets.find((a) => a.article_id === id) || {}).title || id;
    const head = el("div", { class: "admin-group-head" },
      el("strong", { class: "admin-group-count" }, t("admin_group_count", { n: g.count, q: g.queries })),
      done ? el("span", { class: "admin-handled" }, t("admin_group_handled"))
           : el("span", { class: "admin-suggestion admin-suggestion-" + g.suggestion.kind },
                add ? t("admin_suggest_add", { title }) : t("admin_suggest_new")),
      owner ? el("span", { class: "admin-query-note" }, handledNote(owner)) : null);
    const item = el("li", { class: "admin-group", dataset: { kind: g.suggestion.kind, status: g.status || "open",
                                                             articleId: g.suggestion.article_id || "" } },
      head,
      voted.length ? el("p", { class: "admin-voted muted" },
                        t("admin_voted_down", { titles: voted.map((id) => "‘" + titleOf(id) + "’").join(", ") }))
                   : null,
      list);
    if (done) return item; // every shown query is asked already: nothing left to fix here

    const selectId = "g" + index + "-target";
    const select = el("select", { id: selectId, class: "admin-target-select" },
      el("option", { value: "" }, t("admin_target_choose")),
      ...categories(targets).map(([category, articles]) => el("optgroup", { label: category },
        ...articles.map((a) => el("option", { value: a.article_id },
          a.title + (voted.includes(a.article_id) ? " (" + t("admin_not_helpful") + ")" : ""))))));
    select.value = add && targets.some((a) => a.article_id === g.suggestion.article_id) ? g.suggestion.article_id : "";
    const addButton = el("button", { type: "button", class: "btn btn-small" + (add ? " btn-primary" : ""),
                                     dataset: { fix: "add_question" },
                                     onclick: () => fix({ kind: "add_question", article_id: select.value }, chosen()) });
    const update = () => {
      addButton.textContent = select.value ? t("admin_fix_add", { title: titleOf(select.value) })
                                           : t("admin_target_choose");
      addButton.disabled = state.fixing || !select.value;
    };
    select.addEventListener("change", update);
    update();
    const newButton = el("button", { type: "button", class: "btn btn-small" + (add ? "" : " btn-primary"),
                                     dataset: { fix: "new_article" },
                                     onclick: () => fix({ kind: "new_article" }, chosen()) }, t("admin_fix_new"));
    item.append(el("div", { class: "admin-group-actions" },
      el("label", { class: "admin-target", for: selectId }, t("admin_target_label")), select, addButton, newButton));
    return item;
  }

  function categories(targets) {
    const out = new Map();
    for (const a of targets) {
      if (!out.has(a.category)) out.set(a.category, []);
      out.get(a.category).push(a);
    }
    return Array.from(out);
  }

  function handledNote(h) {
    return h.draft ? t("admin_handled_draft", { file: h.file || h.article_id })
                   : t("admin_handled_question", { title: h.title || h.article_id });
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
        // lint's and the content tests' lines name files and lines: kept as written, under a translated summary
        showFix("admin-fix-failed", t("admin_fix_failed"), job.messages);
      }
    } catch (err) {
      if (err.status === 401) showSignin();
      else showFix("admin-fix-error", t("admin_fix_error", { reason: await errorReason(err) }));
    } finally {
      setFixing(false);
    }
  }

  // The server's reasons are English, for API clients and logs; the page says what happened in its language.
  async function errorReason(err) {
    switch (err.status) {
      case 403: return t("admin_err_session");
      case 409: return (await fixRunning()) ? t("admin_err_busy") : t("admin_err_cannot");
      case 422: return t("admin_err_cannot"); // the page offers only what the server accepts: a stale page
      case 502: case 503: case 504: return t("admin_err_unavailable");
      default: return t("admin_err_other"); // no answer at all (network), a lost fix (404), ...
    }
  }

  // A 409 is either another fix holding the articles (one at a time, on every replica) or this one impossible.
  async function fixRunning() {
    try {
      const data = await api("GET", "/admin/insight.json?" + new URLSearchParams({ days: "1", groups: "false" }));
      return Boolean(data.fix && data.fix.state === "running");
    } catch (err) {
      return false;
    }
  }

  function setFixing(on) {
    state.fixing = on;
    groupsList.querySelectorAll("button[data-fix]").forEach((b) => {
      const select = b.parentElement && b.parentElement.querySelector("select");
      b.disabled = on || (b.dataset.fix === "add_question" && Boolean(select) && !select.value);
    });
  }

  function showFix(kind, text, messages) {
    fixStatus.className = "admin-fix-status " + kind;
    fixStatus.dataset.state = kind.replace("admin-fix-", "");
    fixStatus.replaceChildren(text, ...(messages && messages.length
      ? [el("details", { class: "admin-messages-box" }, el("summary", {}, t("admin_fix_details")),
            el("ul", { class: "admin-messages" }, ...messages.map((m) => el("li", {}, m))))] : []));
  }

  // --- start ---------------------------------------------------------------------------------------

  daysSelect.replaceChildren(...DAY_CHOICES.map((n) => el("option", { value: String(n) },
                                                           t("admin_days_option", { n }))));
  daysSelect.value = String(state.days);
  daysSelect.addEventListener("change", () => {
    state.days = Number(daysSelect.value) || 30;
    load();
  });

  // signed in only with a session cookie (the page says whether it came with one): else the form at once
  if (document.getElementById("main").dataset.session) api("GET", "/admin/session").then(showInsight, showSignin);
  else showSignin();
})();
