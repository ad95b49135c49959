/* The agent view: a dense result list with filters, copy buttons and why each result matched. */
(function () {
  "use strict";
  const { t, el, trustedHTML, getJSON, debounce, htmlToText, copyText } = window.KB;

  const form = document.getElementById("agent-form");
  const input = document.getElementById("aq");
  const catSel = document.getElementById("acat");
  const locSel = document.getElementById("aloc");
  const kInput = document.getElementById("ak");
  const summaryEl = document.getElementById("agent-summary");
  const list = document.getElementById("agent-results");

  const keyForm = document.getElementById("agent-key-form");
  const keyInput = document.getElementById("akey");
  const keyOn = document.getElementById("agent-key-on");
  const keyStatus = document.getElementById("agent-key-status");
  const KEY = "kb-agent-key";  // asked once per browser session: sessionStorage ends with the tab

  const params = new URLSearchParams(location.search);
  let seq = 0;
  let abort = null;
  let lastQuery = "";  // the wording of the results shown: what a copy teaches

  function storedKey() {
    try { return sessionStorage.getItem(KEY) || ""; } catch (err) { return ""; }
  }

  function auth() {
    const key = storedKey();
    return key ? { Authorization: "Bearer " + key } : {};
  }

  function showKeyState(message) {
    const on = Boolean(storedKey());
    keyForm.hidden = on;
    keyOn.hidden = !on;
    keyStatus.textContent = message || "";
  }

  function forgetKey(message) {
    try { sessionStorage.removeItem(KEY); } catch (err) { /* storage blocked: nothing kept */ }
    showKeyState(message);
  }

  function clampK() {
    const k = Math.max(1, Math.min(20, parseInt(kInput.value, 10) || 10));
    kInput.value = String(k);
    return k;
  }

  async function search() {
    const q = input.value.trim();
    const mine = ++seq;
    if (abort) abort.abort();
    updateURL(q);
    if (!q) {
      list.replaceChildren();
      summaryEl.replaceChildren(el("span", { class: "muted" }, t("agent_empty")));
      return;
    }
    abort = new AbortController();
    const url = new URLSearchParams({ q, k: String(clampK()) });
    if (catSel.value) url.set("category", catSel.value);
    if (locSel.value) url.set("locale", locSel.value);
    list.setAttribute("aria-busy", "true");
    try {
      const data = await getJSON("/search?" + url, abort.signal, auth());
      if (mine !== seq) return;
      render(data);
    } catch (err) {
      if (err.name === "AbortError" || mine !== seq) return;
      if (err.status === 401) {
        forgetKey(t("agent_key_wrong"));
        search();
        return;
      }
      summaryEl.textContent = t("status_error");
    } finally {
      if (mine === seq) list.removeAttribute("aria-busy");
    }
  }

  function render(data) {
    const decision = data.decision;
    lastQuery = data.query;
    summaryEl.replaceChildren(
      el("span", { class: "decision decision-" + decision }, t("decision") + ": " + t("decision_" + decision)),
      el("span", { class: "stat" }, t("confidence") + " " + Number(data.confidence).toFixed(3)),
      el("span", { class: "stat" }, t("took", { ms: Number(data.took_ms).toFixed(1) })),
      el("span", { class: "stat" }, data.results.length ? t("status_count", { q: data.query, n: data.results.length })
                                                        : t("agent_no_results")));
    list.replaceChildren(...data.results.map(row));
  }

  // An agent's copy of an answer after a search is evidence for learning (POST /signals, kind "copied"):
  // the server ranks the article for the wording itself; agents' signals need the agent key.
  function copied(hit) {
    if (!storedKey() || !lastQuery) return;
    fetch("/signals", {
      method: "POST", keepalive: true,
      headers: { "Content-Type": "application/json", ...auth() },
      body: JSON.stringify({ kind: "copied", query: lastQuery, article_id: hit.article_id }),
    }).catch(() => {});
  }

  function row(hit, index) {
    const copyMsg = el("span", { class: "copy-msg", role: "status" });
    const copyBtn = (label, getText) => el("button", {
      type: "button", class: "btn btn-small",
      onclick: async () => {
        const ok = await copyText(getText());
        copyMsg.textContent = ok ? t("copied") : t("copy_failed");
        if (ok) copied(hit);
        setTimeout(() => { copyMsg.textContent = ""; }, 2000);
      },
    }, label);
    const why = hit.why;
    const field = t("field_" + why.field);
    const whyRows = [
      [t("why_question"), why.matched_question],
      [t("why_field"), field === "field_" + why.field ? why.field : field], // a field this page has no name for
      [t("why_terms"), why.matched_terms.length ? why.matched_terms.join(", ") : "-"],
      [t("why_dense"), Number(why.dense).toFixed(4)],
      [t("why_lexical"), Number(why.lexical).toFixed(4)],
      [t("why_score"), Number(hit.score).toFixed(4)],
    ];
    return el("li", { class: "arow", dataset: { articleId: hit.article_id } },
      el("div", { class: "arow-head" },
        el("span", { class: "arow-rank", "aria-hidden": "true" }, String(index + 1)),
        el("div", { class: "arow-main" },
          el("div", { class: "arow-title" }, hit.title),
          hit.question !== hit.title ? el("div", { class: "arow-q" }, "↳ " + hit.question) : null),
        el("div", { class: "arow-meta" },
          el("span", { class: "badge" }, hit.category),
          el("span", { class: "badge badge-muted" }, hit.locale),
          el("span", { class: "score", title: t("why_score") }, Number(hit.score).toFixed(3)))),
      trustedHTML("p", "arow-snippet", hit.snippet_html),
      el("div", { class: "arow-actions" },
        copyBtn(t("copy_text"), () => htmlToText(hit.answer_html)),
        copyBtn(t("copy_md"), () => hit.answer),
        el("a", { class: "btn btn-small btn-ghost", href: "/articles/" + encodeURIComponent(hit.article_id),
                  target: "_blank", rel: "noopener" }, t("open_article")),
        copyMsg),
      el("details", { class: "arow-details" },
        el("summary", {}, t("show_answer")),
        trustedHTML("div", "prose", hit.answer_html)),
      el("details", { class: "arow-details" },
        el("summary", {}, t("why")),
        el("dl", { class: "why" }, ...whyRows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))));
  }

  function updateURL(q) {
    const url = new URL(location.href);
    const set = (name, value) => (value ? url.searchParams.set(name, value) : url.searchParams.delete(name));
    set("q", q);
    set("category", catSel.value);
    set("locale", locSel.value);
    set("k", kInput.value !== "10" ? kInput.value : "");
    history.replaceState(null, "", url);
  }

  async function loadCategories() {
    try {
      const data = await getJSON("/categories", undefined, auth());
      const chosen = catSel.value;
      catSel.replaceChildren(el("option", { value: "" }, t("all")));
      catSel.append(...data.categories.map((c) => el("option", { value: c.name }, c.name + " (" + c.count + ")")));
    } catch (err) {
      /* the filter stays at "all" */
    }
  }

  const typed = debounce(search, 200);
  input.addEventListener("input", typed);
  [catSel, locSel, kInput].forEach((c) => c.addEventListener("change", search));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    typed.cancel();
    search();
  });

  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    keyInput.value = "";
    if (!key) return;
    try { sessionStorage.setItem(KEY, key); } catch (err) { /* storage blocked: key kept for this page only */ }
    showKeyState(t("agent_key_saved"));
    loadCategories().then(search);
  });
  document.getElementById("agent-key-forget").addEventListener("click", () => {
    forgetKey("");
    loadCategories().then(search);
  });
  showKeyState("");

  loadCategories().then(() => {
    input.value = params.get("q") || "";
    catSel.value = params.get("category") || "";
    locSel.value = params.get("locale") || "";
    if (params.get("k")) kInput.value = params.get("k");
    search();
    input.focus();
  });
})();
