/* The customer help-center page: search as you type, suggestions, categories, answers, feedback,
 * and the contact panel when nothing fits. */
(function () {
  "use strict";
  const { t, el, trustedHTML, getJSON, postJSON, debounce, endsUnfinished } = window.KB;

  const input = document.getElementById("q");
  const form = document.getElementById("search-form");
  const clearBtn = document.getElementById("clear");
  const list = document.getElementById("suggest-list");
  const chips = document.getElementById("chips");
  const statusEl = document.getElementById("status");
  const popular = document.getElementById("popular");
  const popularList = document.getElementById("popular-list");
  const results = document.getElementById("results");
  const contact = document.getElementById("contact");
  const contactCta = document.getElementById("contact-cta");
  const inquiry = document.getElementById("inquiry-form");
  const summary = document.getElementById("inquiry-summary");
  const langSwitch = document.getElementById("lang-switch");

  const params = new URLSearchParams(location.search);
  const state = {
    query: "",              // the query the results on screen answer
    category: params.get("category") || "",
    categories: [],
    searchSeq: 0,           // a response is drawn only if it answers the newest request
    searchAbort: null,
    suggestSeq: 0,
    suggestAbort: null,
    suggestions: [],
    active: -1,
    lastData: null,
    settleTimer: 0,         // reports "no answer" once the customer stops typing
    reported: new Set(),    // "kind:query" already reported from this page view
  };
  // As-you-type searches a query's every prefix: only one the customer stays on counts as unanswered.
  const SETTLE_MS = 3000;

  // --- search ------------------------------------------------------------------------------

  // settled: the customer asked for this search (Enter, a shared link), rather than typing past it
  async function runSearch(query, settled = false) {
    const q = query.trim();
    const seq = ++state.searchSeq;
    clearTimeout(state.settleTimer);
    if (state.searchAbort) state.searchAbort.abort();
    if (!q) {
      state.query = "";
      showHome();
      return;
    }
    const ctrl = new AbortController();
    state.searchAbort = ctrl;
    results.setAttribute("aria-busy", "true");
    const url = new URLSearchParams({ q, k: "5" });
    if (state.category) url.set("category", state.category);
    try {
      const data = await getJSON("/search?" + url, ctrl.signal);
      if (seq !== state.searchSeq) return; // a newer search was started meanwhile
      state.query = q;
      render(data);
      updateURL();
      const decision = results.dataset.decision; // as render() decided it
      const report = () => {
        logSearch(q, decision, data);
        if (decision === "none") reportUnanswered(q, "none");
      };
      if (settled) report();
      else state.settleTimer = setTimeout(() => {
        if (seq === state.searchSeq) report();
      }, SETTLE_MS);
    } catch (err) {
      if (err.name === "AbortError" || seq !== state.searchSeq) return;
      statusEl.textContent = t("status_error");
    } finally {
      if (seq === state.searchSeq) results.removeAttribute("aria-busy");
    }
  }

  // Tell editors (kb feedback) which searches found nothing; a lost report must never disturb the page.
  function reportUnanswered(query, kind) {
    const key = kind + ":" + query;
    if (!query || state.reported.has(key)) return;
    state.reported.add(key);
    postJSON("/unanswered", { query, kind }).catch(() => state.reported.delete(key));
  }

  // Log each settled search for the editors' insight page (/admin), by the same rule as the reports above:
  // never the prefixes typed on the way. The server keeps no address and scrubs personal data.
  function logSearch(query, decision, data) {
    const key = "search:" + decision + ":" + query;
    if (!query || state.reported.has(key)) return;
    state.reported.add(key);
    const top = (data.results || [])[0];
    const confidence = Math.min(1, Math.max(0, Number(data.confidence) || 0));
    postJSON("/searches", { query, decision, article_id: top ? top.article_id : null, confidence,
                            locale: window.KB.lang }).catch(() => state.reported.delete(key));
  }

  function showHome() {
    results.replaceChildren();
    contact.hidden = true;
    contactCta.hidden = true;
    statusEl.textContent = "";
    popular.hidden = false;
    state.lastData = null;
    updateURL();
    if (!popularList.children.length) loadPopular();
  }

  function render(data) {
    state.lastData = data;
    popular.hidden = true;
    results.replaceChildren();
    const hits = data.results || [];
    const none = data.decision === "none" || hits.length === 0;
    results.dataset.decision = none ? "none" : data.decision;
    if (none) {
      statusEl.textContent = t("status_none", { q: data.query });
      results.before(contact); // nothing fits: the way to a person comes first
      showContact(data.query, hits.length ? hits[0].category : state.category);
      contactCta.hidden = true;
      if (hits.length) {
        results.append(el("h2", { class: "section-title" }, t("maybe_heading")));
        hits.forEach((hit, i) => results.append(card(hit, i, false, false)));
      }
      return;
    }
    contact.hidden = true;
    contactCta.hidden = false;
    statusEl.textContent = t("status_count", { q: data.query, n: hits.length });
    if (data.decision === "answer") {
      results.append(card(hits[0], 0, true, true));
      if (hits.length > 1) results.append(el("h2", { class: "section-title" }, t("more_heading")));
      hits.slice(1).forEach((hit, i) => results.append(card(hit, i + 1, false, false)));
    } else {
      results.append(el("h2", { class: "section-title" }, t("suggest_heading")));
      hits.forEach((hit, i) => results.append(card(hit, i, false, false)));
    }
  }

  const chevron = () => {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("class", "chevron");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", "m6 9 6 6 6-6");
    svg.append(path);
    return svg;
  };

  function card(hit, index, best, open) {
    const id = "r" + index;
    const answerId = id + "-answer";
    const toggle = el("button", { type: "button", class: "card-toggle", "aria-expanded": String(open),
                                  "aria-controls": answerId },
                      el("span", { class: "card-title-text" }, hit.title), chevron());
    const answer = el("div", { class: "card-answer", id: answerId, hidden: !open },
                      trustedHTML("div", "prose", hit.answer_html), helpful(hit));
    const snippet = trustedHTML("p", "card-snippet", hit.snippet_html);
    snippet.hidden = open;
    const node = el("article", { class: "card" + (best ? " card-best" : ""), id,
                                 dataset: { articleId: hit.article_id } },
      el("div", { class: "card-top" },
        // a heading: the card's title (h3) needs an h2 above it, and "best answer" is what this part is
        best ? el("h2", { class: "best-label" }, t("best_answer")) : null,
        el("span", { class: "badge" }, hit.category)),
      el("h3", { class: "card-title" }, toggle),
      hit.question && hit.question !== hit.title
        ? el("p", { class: "card-matched" }, el("span", { class: "card-matched-label" }, t("matched_question")),
             " ", hit.question)
        : null,
      snippet, answer);
    toggle.addEventListener("click", () => {
      const expand = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(expand));
      answer.hidden = !expand;
      snippet.hidden = expand;
    });
    return node;
  }

  function helpful(hit) {
    const msg = el("p", { class: "helpful-msg", role: "status" });
    const group = el("div", { class: "helpful", role: "group", "aria-label": t("helpful_q") },
      el("span", { class: "helpful-q" }, t("helpful_q")));
    const buttons = [true, false].map((yes) => el("button", {
      type: "button", class: "btn btn-small" + (yes ? " btn-yes" : ""), dataset: { helpful: String(yes) },
      onclick: () => vote(hit, yes, group, buttons, msg),
    }, t(yes ? "helpful_yes" : "helpful_no")));
    group.append(...buttons);
    return el("div", { class: "helpful-wrap" }, group, msg);
  }

  async function vote(hit, yes, group, buttons, msg) {
    buttons.forEach((b) => { b.disabled = true; });
    msg.textContent = "";
    try {
      await postJSON("/feedback", { query: state.query, article_id: hit.article_id, helpful: yes });
      group.hidden = true;
      msg.classList.add("helpful-thanks");
      msg.textContent = t(yes ? "thanks" : "thanks_no");
      if (!yes) {
        msg.append(" ", el("button", { type: "button", class: "link-btn", onclick: openContact },
                           t("contact_cta_link")));
      }
    } catch (err) {
      buttons.forEach((b) => { b.disabled = false; });
      msg.textContent = t("feedback_error");
    }
  }

  // --- contact panel ---------------------------------------------------------------------------

  function showContact(query, category) {
    contact.hidden = false;
    summary.hidden = true;
    inquiry.hidden = false;
    const select = document.getElementById("f-category");
    select.replaceChildren(...state.categories.map((c) => el("option", { value: c.name }, c.name)));
    if (category && !state.categories.some((c) => c.name === category)) {
      select.prepend(el("option", { value: category }, category));
    }
    if (category) select.value = category;
    const message = document.getElementById("f-message");
    message.value = query || "";
    document.getElementById("f-message-error").hidden = true;
  }

  function openContact() {
    const data = state.lastData;
    showContact(state.query, data && data.results.length ? data.results[0].category : state.category);
    if (data && data.decision !== "none") results.after(contact); // asked for after reading the answers
    contactCta.hidden = true;
    document.getElementById("contact-title").focus();
    contact.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  inquiry.addEventListener("submit", (event) => {
    event.preventDefault();
    const fields = Object.fromEntries(new FormData(inquiry).entries());
    const message = String(fields.message || "").trim();
    const error = document.getElementById("f-message-error");
    if (!message) {
      error.hidden = false;
      document.getElementById("f-message").setAttribute("aria-invalid", "true");
      document.getElementById("f-message").focus();
      return;
    }
    error.hidden = true;
    document.getElementById("f-message").removeAttribute("aria-invalid");
    if (state.query) reportUnanswered(state.query, "contact");
    const rows = [
      [t("form_category"), fields.category],
      [t("form_order"), fields.order],
      [t("form_email"), fields.email],
      [t("form_message"), message],
    ].filter(([, v]) => String(v || "").trim());
    document.getElementById("summary-list").replaceChildren(
      ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
    const subject = t("mail_subject", { category: fields.category || "" });
    const body = rows.map(([k, v]) => k + ": " + v).join("\n");
    document.getElementById("summary-mail").href = "mailto:help@hangyeol.example?subject="
      + encodeURIComponent(subject) + "&body=" + encodeURIComponent(body);
    inquiry.hidden = true;
    summary.hidden = false;
    summary.focus();
  });
  document.getElementById("summary-edit").addEventListener("click", () => {
    summary.hidden = true;
    inquiry.hidden = false;
    document.getElementById("f-message").focus();
  });
  document.getElementById("contact-open").addEventListener("click", openContact);

  // --- suggestions -------------------------------------------------------------------------------

  async function loadSuggestions(query) {
    const q = query.trim();
    const seq = ++state.suggestSeq;
    if (state.suggestAbort) state.suggestAbort.abort();
    if (!q) {
      closeSuggestions();
      return;
    }
    const ctrl = new AbortController();
    state.suggestAbort = ctrl;
    try {
      const data = await getJSON("/suggest?" + new URLSearchParams({ q, limit: "8" }), ctrl.signal);
      if (seq !== state.suggestSeq || input.value.trim() !== q) return;
      showSuggestions(data.suggestions.filter((s) => s.text.trim() !== q));
    } catch (err) {
      if (err.name !== "AbortError") closeSuggestions();
    }
  }

  function showSuggestions(items) {
    state.suggestions = items;
    state.active = -1;
    input.removeAttribute("aria-activedescendant");
    if (!items.length || document.activeElement !== input) {
      closeSuggestions();
      return;
    }
    list.replaceChildren(...items.map((s, i) => el("li", {
      id: "sug-" + i, role: "option", class: "suggest-item", "aria-selected": "false",
      dataset: { kind: s.kind },
      onmousedown: (e) => e.preventDefault(), // keep focus in the box
      onclick: () => choose(i),
    }, el("span", { class: "suggest-text" }, s.text),
       el("span", { class: "suggest-kind" }, t("kind_" + s.kind)))));
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function closeSuggestions() {
    list.hidden = true;
    list.replaceChildren();
    state.suggestions = [];
    state.active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    const items = list.querySelectorAll(".suggest-item");
    if (!items.length) return;
    state.active = (index + items.length) % items.length;
    items.forEach((item, i) => item.setAttribute("aria-selected", String(i === state.active)));
    input.setAttribute("aria-activedescendant", items[state.active].id);
    items[state.active].scrollIntoView({ block: "nearest" });
  }

  function choose(index) {
    const s = state.suggestions[index];
    if (!s) return;
    input.value = s.text;
    syncClear();
    closeSuggestions();
    if (s.kind === "category" && state.categories.some((c) => c.name === s.text)) {
      setCategory(s.text, false);
    }
    typed.cancel();
    runSearch(s.text);
  }

  // --- categories and popular questions --------------------------------------------------------

  async function loadCategories() {
    try {
      const data = await getJSON("/categories");
      state.categories = data.categories;
    } catch (err) {
      state.categories = [];
    }
    const make = (name, label) => el("button", {
      type: "button", class: "chip", "aria-pressed": String(state.category === name), dataset: { category: name },
      onclick: () => setCategory(state.category === name && name ? "" : name, true),
    }, label);
    chips.replaceChildren(make("", t("all")), ...state.categories.map((c) => make(c.name, c.name)));
  }

  function setCategory(name, search) {
    state.category = name;
    chips.querySelectorAll(".chip").forEach((chip) => {
      chip.setAttribute("aria-pressed", String(chip.dataset.category === name));
    });
    updateURL();
    if (search && input.value.trim()) runSearch(input.value);
  }

  async function loadPopular() {
    try {
      const data = await getJSON("/popular?" + new URLSearchParams({ limit: "6", locale: window.KB.lang }));
      popularList.replaceChildren(...data.questions.map((p) => el("li", {},
        el("button", { type: "button", class: "popular-item", dataset: { articleId: p.article_id },
                       onclick: () => { input.value = p.title; syncClear(); runSearch(p.title); } },
          el("span", { class: "popular-title" }, p.title),
          el("span", { class: "popular-cat" }, p.category)))));
    } catch (err) {
      popular.hidden = true;
    }
  }

  // --- URL, input wiring -------------------------------------------------------------------------

  function updateURL() {
    const url = new URL(location.href);
    const q = state.query;
    if (q) url.searchParams.set("q", q); else url.searchParams.delete("q");
    if (state.category) url.searchParams.set("category", state.category); else url.searchParams.delete("category");
    history.replaceState(null, "", url);
    const other = new URL(langSwitch.href, location.href);
    if (q) other.searchParams.set("q", q); else other.searchParams.delete("q");
    langSwitch.href = other.pathname + other.search;
  }

  function syncClear() {
    clearBtn.hidden = !input.value;
  }

  const typed = debounce(() => {
    const value = input.value;
    if (!value.trim()) {
      loadSuggestions("");
      runSearch("");
      return;
    }
    loadSuggestions(value);
    // mid-syllable (반ㅍ) or consonants only (ㅂㅍ): suggestions help, a search would not yet
    if (!endsUnfinished(value)) runSearch(value);
  }, 150);

  input.addEventListener("input", () => {
    clearTimeout(state.settleTimer); // still typing: the query on screen was not the one
    syncClear();
    typed();
  });

  input.addEventListener("keydown", (event) => {
    const open = !list.hidden && state.suggestions.length > 0;
    if (event.key === "ArrowDown" && open) {
      event.preventDefault();
      highlight(state.active + 1);
    } else if (event.key === "ArrowUp" && open) {
      event.preventDefault();
      highlight(state.active - 1);
    } else if (event.key === "Enter" && open && state.active >= 0) {
      event.preventDefault();
      choose(state.active);
    } else if (event.key === "Escape") {
      if (open) {
        event.preventDefault();
        closeSuggestions();
      }
    }
  });

  input.addEventListener("blur", () => setTimeout(closeSuggestions, 100));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    typed.cancel();
    closeSuggestions();
    runSearch(input.value, true);
  });

  clearBtn.addEventListener("click", () => {
    input.value = "";
    syncClear();
    typed.cancel();
    closeSuggestions();
    runSearch("");
    input.focus();
  });

  // --- start -------------------------------------------------------------------------------------

  const categoriesReady = loadCategories();
  const initial = (params.get("q") || "").trim();
  input.value = initial;
  syncClear();
  if (initial) {
    popular.hidden = true;
    categoriesReady.then(() => runSearch(initial, true));
  } else {
    showHome();
  }
})();
