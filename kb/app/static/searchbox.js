/* The search box of the help page and of the widget on shops' pages, and the few helpers it needs.
 *
 * One file for both faces: the pages load it before common.js (it defines the global kbSearchBox); for
 * /widget.js the server puts it in front of static/widget.js inside one function (kb/app/routes/widget.py), so
 * a shop's page gets no global from it. It looks up no element itself: each face hands in its elements, class
 * names and callbacks, and draws its results with box.answer().
 *
 * Text from the server is always set with textContent; the only HTML ever inserted is answer_html and
 * snippet_html, which the server renders and escapes.
 */
var kbSearchBox = (function () {
  "use strict";

  const SETTLE_MS = 3000; // as-you-type searches every prefix: only a query the customer stays on counts
  const DEBOUNCE_MS = 150;
  const SVG = "http://www.w3.org/2000/svg";

  /** Build an element: el("a", {href: "/", class: "x"}, "text", child). Strings become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** A decorative SVG icon (hidden from assistive tech) of 24x24 paths. */
  function icon(cls, paths) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", cls);
    for (const d of paths) {
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", d);
      svg.append(path);
    }
    return svg;
  }

  /** HTML the server rendered and made safe (answer_html, snippet_html) in a fresh element; with a base, its
   * links point there (the widget's point at kb, not at the shop). */
  function serverHTML(tag, cls, html, base) {
    const node = el(tag, { class: cls });
    node.innerHTML = html || "";
    if (base) {
      for (const a of node.querySelectorAll("a[href]")) a.href = new URL(a.getAttribute("href"), base + "/").href;
    }
    return node;
  }

  /** t(key, vars): a UI string of the table, with {name} placeholders filled from vars. */
  function translator(strings) {
    return (key, vars) => {
      const s = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
      return s.replace(/\{(\w+)\}/g, (m, name) => (vars && name in vars ? String(vars[name]) : m));
    };
  }

  /** getJSON and postJSON against base ("" for this origin) with fetch options init; a failed request throws
   * an Error with the server's detail and .status. */
  function jsonClient(base, init) {
    async function request(path, options) {
      const res = await fetch(base + path, Object.assign({}, init, options));
      if (!res.ok) {
        const data = await res.json().catch(() => ({}));
        const err = new Error((data && data.detail) || "HTTP " + res.status);
        err.status = res.status;
        throw err;
      }
      return res.json();
    }
    return {
      getJSON: (path, signal, headers) => request(path, {
        signal, headers: Object.assign({ Accept: "application/json" }, headers) }),
      // keepalive: a report sent as the customer leaves the page still arrives
      postJSON: (path, body, keepalive) => request(path, {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body), keepalive: !!keepalive }),
    };
  }

  function debounce(fn, ms) {
    let timer = 0;
    const wrapped = (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
    wrapped.cancel = () => clearTimeout(timer);
    return wrapped;
  }

  /** True while the last letter is a lone jamo (반ㅍ, ㅂㅍ): a search would not help yet, suggestions do. */
  function endsUnfinished(text) {
    const s = text.trimEnd();
    const code = s ? s.charCodeAt(s.length - 1) : 0;
    return code >= 0x3131 && code <= 0x318e;
  }

  /**
   * One search box: a search as the typing settles, suggestions as an ARIA 1.2 combobox (the focus stays in
   * the input), the "was this helpful?" votes, and what the editors learn (kb feedback, /admin): each settled
   * search and the searches that found nothing, never the prefixes typed on the way.
   *
   * o.input, o.list, o.clear, o.form   the face's combobox input, its listbox, its clear button and form
   * o.t, o.api                         translator() and jsonClient() of the face; o.locale: for /searches
   * o.params(q)                        the /search parameters; o.suggestions: how many to ask for
   * o.cls                              class names: option, optionText, optionKind, optionId (an id prefix),
   *                                    toggle, snippet, answer, votes, msg, vote, voteYes
   * o.base                             where links in answers point (the widget: kb)
   * o.choiceSettles                    a chosen suggestion is a settled search (reported at once)
   * o.quietQuestion                    the vote's question hidden from assistive tech (the group says it)
   * o.onStart(), o.onResults(data), o.onEmpty(), o.onError(), o.onDone()   the face draws
   * o.onChoose(suggestion)             before a chosen suggestion's search
   * o.contactLink(query)               what a "no" vote offers: the way to a person
   */
  function searchBox(o) {
    const { input, list, clear, form, t, api, cls } = o;
    const state = { query: "", seq: 0, abort: null, settle: 0, reported: new Set(),
                    suggestSeq: 0, suggestAbort: null, suggestions: [], active: -1 };
    // this visit, for learning (POST /signals; the server checks and ranks everything itself):
    // poor: the last settled wording that got no good answer; opened: the article opened for a wording, told
    // as the visit ends unless the customer searched again or went to a person meanwhile
    const visit = { poor: "", opened: null };
    const signal = (body) => api.postJSON("/signals", body, true).catch(() => {});
    const leaving = () => {
      if (visit.opened) signal({ kind: "opened", query: visit.opened.query, article_id: visit.opened.article_id });
      visit.opened = null;
    };
    window.addEventListener("pagehide", leaving);
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") leaving(); });

    // --- search --------------------------------------------------------------------------------

    // settled: the customer asked for this search (Enter, a shared link), rather than typing past it
    async function search(query, settled) {
      const q = query.trim();
      const seq = ++state.seq;
      clearTimeout(state.settle);
      if (state.abort) state.abort.abort();
      if (!q) {
        state.query = "";
        o.onEmpty();
        return;
      }
      const ctrl = new AbortController();
      state.abort = ctrl;
      o.onStart();
      try {
        const data = await api.getJSON("/search?" + o.params(q), ctrl.signal);
        if (seq !== state.seq) return; // a newer search was started meanwhile
        state.query = q;
        o.onResults(data);
        const decision = data.decision === "none" || !(data.results || []).length ? "none" : data.decision;
        const settle = () => {
          logSearch(q, decision, data);
          if (decision === "none") report(q, "none");
          visit.opened = null; // searched again: what was opened did not settle it
          if (decision !== "answer") visit.poor = q;
        };
        if (settled) settle();
        else state.settle = setTimeout(() => { if (seq === state.seq) settle(); }, SETTLE_MS);
      } catch (err) {
        if (err.name !== "AbortError" && seq === state.seq) o.onError(err);
      } finally {
        if (seq === state.seq && o.onDone) o.onDone();
      }
    }

    // Tell editors (kb feedback) which searches found nothing; a lost report must never disturb the page.
    function report(query, kind) {
      const key = kind + ":" + query;
      if (!query || state.reported.has(key)) return;
      state.reported.add(key);
      api.postJSON("/unanswered", { query, kind }, true).catch(() => state.reported.delete(key));
    }

    // Log each settled search for the editors' insight page (/admin). The server keeps no address and scrubs
    // personal data; the decision it logs is its own, signed in the search's search_id (none: nothing to log).
    function logSearch(query, decision, data) {
      const key = "search:" + decision + ":" + query;
      if (!data.search_id || state.reported.has(key)) return;
      state.reported.add(key);
      api.postJSON("/searches", { query, search_id: data.search_id, locale: o.locale }, true)
        .catch(() => state.reported.delete(key));
    }

    // --- an answer and its votes -----------------------------------------------------------------

    /** A result's answer behind its title button (title: the button's content, more: after the votes):
     * {toggle, snippet, answer}; the snippet shows while the answer is closed. The face places them. */
    function answer(hit, id, open, title, ...more) {
      const toggle = el("button", { type: "button", class: cls.toggle, "aria-expanded": String(open),
                                    "aria-controls": id }, title, icon("chevron", ["m6 9 6 6 6-6"]));
      const snippet = serverHTML("p", cls.snippet, hit.snippet_html, o.base);
      snippet.hidden = open;
      const body = el("div", { class: cls.answer, id, hidden: !open },
        serverHTML("div", "prose", hit.answer_html, o.base), votes(hit), ...more);
      toggle.addEventListener("click", () => {
        const expand = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", String(expand));
        body.hidden = !expand;
        snippet.hidden = expand;
        if (expand) settledOn(hit);
      });
      return { toggle, snippet, answer: body };
    }

    // The customer settled on this article for the current wording: the earlier poorly answered wording of the
    // visit (a reformulation) may have meant it too, and an article opened and kept is weak evidence.
    function settledOn(hit) {
      if (!state.query) return;
      if (visit.poor && visit.poor !== state.query) {
        signal({ kind: "reformulated", query: visit.poor, article_id: hit.article_id, settled_query: state.query });
        visit.poor = "";
      }
      visit.opened = { query: state.query, article_id: hit.article_id };
    }

    function votes(hit) {
      // focusable: the buttons disappear after a vote, and the focus would fall to <body>
      const msg = el("p", { class: cls.msg, role: "status", tabindex: "-1" });
      const group = el("div", { class: "helpful", role: "group", "aria-label": t("helpful_q") },
        el("span", { class: "helpful-q", "aria-hidden": o.quietQuestion ? "true" : null }, t("helpful_q")));
      const buttons = [true, false].map((yes) => el("button", {
        type: "button", class: cls.vote + (yes ? " " + cls.voteYes : ""), dataset: { helpful: String(yes) },
        onclick: () => vote(yes),
      }, t(yes ? "helpful_yes" : "helpful_no")));
      group.append(...buttons);

      async function vote(yes) {
        buttons.forEach((b) => { b.disabled = true; });
        msg.textContent = "";
        try {
          await api.postJSON("/feedback", { query: state.query, article_id: hit.article_id, helpful: yes });
          if (yes) settledOn(hit);
          visit.opened = null; // a vote says it better than the visit's end would
          group.hidden = true;
          msg.classList.add("helpful-thanks");
          msg.textContent = t(yes ? "thanks" : "thanks_no");
          if (!yes) msg.append(" ", o.contactLink(state.query));
          msg.focus(); // the thanks (and the way to a person) is where the reader goes on from
        } catch (err) {
          buttons.forEach((b) => { b.disabled = false; });
          msg.textContent = t("feedback_error");
          buttons[yes ? 0 : 1].focus(); // disabling the pressed button took the focus away
        }
      }
      return el("div", { class: cls.votes }, group, msg);
    }

    // --- suggestions ---------------------------------------------------------------------------

    async function suggest(query) {
      const q = query.trim();
      const seq = ++state.suggestSeq;
      if (state.suggestAbort) state.suggestAbort.abort();
      if (!q) {
        close();
        return;
      }
      const ctrl = new AbortController();
      state.suggestAbort = ctrl;
      try {
        const data = await api.getJSON("/suggest?" + new URLSearchParams({ q, limit: String(o.suggestions) }),
                                       ctrl.signal);
        if (seq !== state.suggestSeq || input.value.trim() !== q) return;
        open(q, data.suggestions.filter((s) => s.text.trim() !== q));
      } catch (err) {
        if (err.name !== "AbortError") close();
      }
    }

    const focused = () => input.getRootNode().activeElement === input; // the document's or a shadow root's

    function open(query, items) {
      state.suggestions = items;
      list.dataset.query = query; // what the options answer (a slower, older answer never lands)
      state.active = -1;
      input.removeAttribute("aria-activedescendant");
      if (!items.length || !focused()) {
        close();
        return;
      }
      list.replaceChildren(...items.map((s, i) => el("li", {
        id: cls.optionId + i, role: "option", class: cls.option, "aria-selected": "false", dataset: { kind: s.kind },
        onmousedown: (e) => e.preventDefault(), // keep the focus in the box
        onclick: () => choose(i),
      }, el("span", { class: cls.optionText }, s.text), el("span", { class: cls.optionKind }, t("kind_" + s.kind)))));
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function close() {
      list.hidden = true;
      list.replaceChildren();
      state.suggestions = [];
      state.active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function highlight(index) {
      const items = list.querySelectorAll("[role=option]");
      if (!items.length) return;
      state.active = (index + items.length) % items.length;
      items.forEach((item, i) => item.setAttribute("aria-selected", String(i === state.active)));
      input.setAttribute("aria-activedescendant", items[state.active].id);
      items[state.active].scrollIntoView({ block: "nearest" });
    }

    function choose(index) {
      const s = state.suggestions[index];
      if (!s) return;
      fill(s.text);
      close();
      typed.cancel();
      if (o.onChoose) o.onChoose(s);
      search(s.text, !!o.choiceSettles);
    }

    // --- wiring --------------------------------------------------------------------------------

    /** Put text in the box (the clear button shows when there is some). */
    function fill(text) {
      input.value = text;
      clear.hidden = !input.value;
    }

    const typed = debounce(() => {
      const value = input.value;
      suggest(value);
      // mid-syllable (반ㅍ) or consonants only (ㅂㅍ): suggestions help, a search would not yet
      if (!value.trim() || !endsUnfinished(value)) search(value, false);
    }, DEBOUNCE_MS);

    input.addEventListener("input", () => {
      clearTimeout(state.settle); // still typing: the query on screen was not the one
      clear.hidden = !input.value;
      typed();
    });
    input.addEventListener("keydown", (event) => {
      const shown = !list.hidden && state.suggestions.length > 0;
      if (event.key === "ArrowDown" && shown) {
        event.preventDefault();
        highlight(state.active + 1);
      } else if (event.key === "ArrowUp" && shown) {
        event.preventDefault();
        highlight(state.active - 1);
      } else if (event.key === "Enter" && shown && state.active >= 0) {
        event.preventDefault();
        choose(state.active);
      } else if (event.key === "Escape" && shown) {
        event.preventDefault();
        close();
      }
    });
    // closed only if the focus really went elsewhere (a click on an option keeps it; see onmousedown)
    input.addEventListener("blur", () => setTimeout(() => { if (!focused()) close(); }, 100));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      typed.cancel();
      close();
      search(input.value, true);
    });
    clear.addEventListener("click", () => {
      fill("");
      typed.cancel();
      close();
      search("", false);
      input.focus();
    });

    // the face tells it when the customer goes to a person: what was opened did not settle the question
    const contacted = () => { visit.opened = null; };
    return { search, report, answer, fill, contacted, get query() { return state.query; } };
  }

  return { el, icon, serverHTML, translator, jsonClient, debounce, searchBox };
})();
