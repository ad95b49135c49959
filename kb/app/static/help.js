/* The customer help-center page: the search box (searchbox.js: as you type, suggestions, votes), categories,
 * answers, and the contact panel when nothing fits. */
(function () {
  "use strict";
  const { t, el, getJSON, postJSON, lang } = window.KB;

  const input = document.getElementById("q");
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
    category: params.get("category") || "",
    categories: [],
    lastData: null,
  };

  // the query the results on screen answer: box.query
  const box = window.kbSearchBox.searchBox({
    input, list: document.getElementById("suggest-list"), clear: document.getElementById("clear"),
    form: document.getElementById("search-form"), t, api: { getJSON, postJSON }, locale: lang, suggestions: 8,
    cls: { option: "suggest-item", optionText: "suggest-text", optionKind: "suggest-kind", optionId: "sug-",
           toggle: "card-toggle", snippet: "card-snippet", answer: "card-answer", votes: "helpful-wrap",
           msg: "helpful-msg", vote: "btn btn-small", voteYes: "btn-yes" },
    params: (q) => {
      const url = new URLSearchParams({ q, k: "5" });
      if (state.category) url.set("category", state.category);
      return url;
    },
    onStart: () => results.setAttribute("aria-busy", "true"),
    onDone: () => results.removeAttribute("aria-busy"),
    onResults: (data) => {
      render(data);
      updateURL();
    },
    onEmpty: showHome,
    onError: () => { statusEl.textContent = t("status_error"); },
    onChoose: (s) => {
      if (s.kind === "category" && state.categories.some((c) => c.name === s.text)) setCategory(s.text, false);
    },
    contactLink: () => el("button", { type: "button", class: "link-btn", onclick: openContact }, t("contact_cta_link")),
  });

  // --- results -----------------------------------------------------------------------------------

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
    // only a confident answer makes the list "related help"; a weaker one is just what the search found
    statusEl.textContent = t(data.decision === "answer" ? "status_count" : "status_suggest",
                             { q: data.query, n: hits.length });
    if (data.decision === "answer") {
      results.append(card(hits[0], 0, true, true));
      if (hits.length > 1) results.append(el("h2", { class: "section-title" }, t("more_heading")));
      hits.slice(1).forEach((hit, i) => results.append(card(hit, i + 1, false, false)));
    } else {
      results.append(el("h2", { class: "section-title" }, t("suggest_heading")));
      hits.forEach((hit, i) => results.append(card(hit, i, false, false)));
    }
  }

  function card(hit, index, best, open) {
    const id = "r" + index;
    const { toggle, snippet, answer } = box.answer(hit, id + "-answer", open,
                                                   el("span", { class: "card-title-text" }, hit.title));
    return el("article", { class: "card" + (best ? " card-best" : ""), id, dataset: { articleId: hit.article_id } },
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
    box.contacted();
    const data = state.lastData;
    showContact(box.query, data && data.results.length ? data.results[0].category : state.category);
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
    box.report(box.query, "contact");
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
    const mail = document.getElementById("summary-mail"); // mailto: the shop's address (articles/_site.yml)
    mail.href = mail.getAttribute("href").split("?")[0] + "?subject="
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

  // --- categories and popular questions --------------------------------------------------------

  async function loadCategories() {
    try {
      const data = await getJSON("/categories?" + new URLSearchParams({ locale: lang })); // the page's language
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
    if (search && input.value.trim()) box.search(input.value, false);
  }

  async function loadPopular() {
    try {
      const data = await getJSON("/popular?" + new URLSearchParams({ limit: "6", locale: lang }));
      popularList.replaceChildren(...data.questions.map((p) => el("li", {},
        el("button", { type: "button", class: "popular-item", dataset: { articleId: p.article_id },
                       onclick: () => { box.fill(p.title); box.search(p.title, false); } },
          el("span", { class: "popular-title" }, p.title),
          el("span", { class: "popular-cat" }, p.category)))));
    } catch (err) {
      popular.hidden = true;
    }
  }

  // --- URL -------------------------------------------------------------------------------------

  function updateURL() {
    const url = new URL(location.href);
    const q = box.query;
    if (q) url.searchParams.set("q", q); else url.searchParams.delete("q");
    if (state.category) url.searchParams.set("category", state.category); else url.searchParams.delete("category");
    history.replaceState(null, "", url);
    const other = new URL(langSwitch.href, location.href);
    if (q) other.searchParams.set("q", q); else other.searchParams.delete("q");
    langSwitch.href = other.pathname + other.search;
  }

  // --- start -------------------------------------------------------------------------------------

  const categoriesReady = loadCategories();
  const initial = (params.get("q") || "").trim();
  box.fill(initial);
  if (initial) {
    popular.hidden = true;
    categoriesReady.then(() => box.search(initial, true));
  } else {
    showHome();
  }
})();
