/* kb's search box for a shop's own pages.
 *
 *   <script src="https://kb.example/widget.js" data-kb-lang="ko" defer></script>
 *   <div data-kb-search></div>
 *
 * Every [data-kb-search] element gets the box: suggestions as you type (an ARIA combobox), answers,
 * "was this helpful?", and the way to a person when nothing fits. It lives in an open shadow root, so the
 * shop's CSS cannot reach it and its CSS cannot reach the shop. The API is wherever this script came from.
 *
 * This is the widget's own part: the box itself (kbSearchBox) is static/searchbox.js, the help page's too;
 * the server serves the two as one script (kb/app/routes/widget.py).
 *
 * Strict CSP on the host page: the styles go in through a constructed stylesheet (adoptedStyleSheets),
 * which Chromium does not hold to style-src; only where that API is missing does a <style> element inside
 * the shadow root carry them (and then the page's style-src must allow it). No style attributes, no eval,
 * no cookies (every request is credentials: "omit"), nothing from a CDN. The host page's CSP must allow
 * this origin in script-src and connect-src.
 */
(function () {
  "use strict";

  const { el, icon, translator, jsonClient, searchBox } = kbSearchBox;
  // written in by the server (kb/app/routes/widget.py): {"ko": {...}, "en": {...}}
  const STRINGS = /*@kb-strings*/{};
  const script = document.currentScript || document.querySelector("script[src*='/widget.js']");
  if (!script || window.kbSearch) return; // no way to know the API, or loaded twice
  const BASE = new URL(script.src, location.href).href.replace(/\/widget\.js([?#].*)?$/, "");
  const SCRIPT_LANG = script.getAttribute("data-kb-lang");
  const api = jsonClient(BASE, { credentials: "omit", mode: "cors" }); // no cookies, ever

  const CSS = `
:host { display: block; }
.kb {
  all: initial; display: block; box-sizing: border-box; max-width: 640px; color: #17212b; text-align: left;
  font: 16px/1.6 "Pretendard", "Apple SD Gothic Neo", "Noto Sans KR", "Noto Sans CJK KR", "Malgun Gothic",
    system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  word-break: keep-all; overflow-wrap: anywhere;
  /* the shop's brand_color sets these (articles/_site.yml; kb/app/identity.py keeps text on them readable) */
  --brand: #0f766e; --brand-strong: #0b5d57; --brand-soft: #e6f4f1; --on-brand: #fff; --on-brand-strong: #fff;
}
.kb *, .kb *::before, .kb *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.sr { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden;
      clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
:focus-visible { outline: 3px solid #2563eb; outline-offset: 2px; border-radius: 6px; }
.search { position: relative; margin: 0; }
.box { display: flex; align-items: center; gap: 6px; padding: 5px 5px 5px 12px; background: #fff;
       border: 1.5px solid #b9c4cd; border-radius: 14px; }
.box:focus-within { border-color: var(--brand); box-shadow: 0 0 0 3px rgba(15, 118, 110, .18); }
.icon { width: 20px; height: 20px; stroke: #46525e; stroke-width: 2; fill: none; stroke-linecap: round; }
input { flex: 1; min-width: 0; border: 0; outline: none; background: transparent; font: inherit; color: inherit;
        padding: 8px 2px; }
input:focus-visible { outline: none; } /* the box's ring shows the focus */
input::placeholder { color: #6b7682; }
input::-webkit-search-cancel-button { display: none; }
button { font: inherit; color: inherit; cursor: pointer; }
.clear { display: inline-grid; place-items: center; width: 34px; height: 34px; border: 0; border-radius: 50%;
         background: transparent; }
.clear:hover { background: #f5f7f9; }
.clear svg { width: 16px; height: 16px; stroke: #46525e; stroke-width: 2.2; fill: none; stroke-linecap: round; }
.go { min-height: 40px; padding: 0 16px; border: 0; border-radius: 10px; background: var(--brand); color: var(--on-brand);
      font-weight: 700; white-space: nowrap; }
.go:hover { background: var(--brand-strong); color: var(--on-brand-strong); }
.list { position: absolute; z-index: 10; left: 0; right: 0; top: calc(100% + 4px); margin: 0; padding: 4px;
        list-style: none; background: #fff; border: 1px solid #d5dde3; border-radius: 12px;
        box-shadow: 0 12px 32px -8px rgba(16, 24, 40, .25); max-height: 320px; overflow-y: auto; }
.option { display: flex; justify-content: space-between; gap: 10px; padding: 8px 10px; border-radius: 8px;
          cursor: pointer; }
.option:hover, .option[aria-selected="true"] { background: var(--brand-soft); }
.option[aria-selected="true"] { outline: 2px solid var(--brand); outline-offset: -2px; }
.option-text { min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.option-kind { flex-shrink: 0; font-size: 12px; color: #46525e; }
.status { margin: 10px 2px 6px; font-size: 14px; color: #46525e; }
.status:empty { margin: 0; }
.results { list-style: none; margin: 0; padding: 0; display: grid; gap: 8px; }
.hit { background: #fff; border: 1px solid #e2e7ec; border-radius: 12px; padding: 12px 14px; }
.hit-best { border: 1.5px solid var(--brand); }
.best { display: inline-block; margin-bottom: 4px; padding: 0 8px; border-radius: 999px; background: var(--brand);
        color: var(--on-brand); font-size: 12px; font-weight: 700; line-height: 22px; }
.toggle { display: flex; width: 100%; align-items: flex-start; justify-content: space-between; gap: 10px;
          padding: 0; border: 0; background: none; text-align: left; font-weight: 700; }
.toggle:hover .title { color: var(--brand-strong); }
.chevron { width: 20px; height: 20px; margin-top: 2px; stroke: #46525e; stroke-width: 2; fill: none;
           stroke-linecap: round; stroke-linejoin: round; }
.toggle[aria-expanded="true"] .chevron { transform: rotate(180deg); }
.category { display: block; margin-top: 2px; font-size: 12.5px; font-weight: 600; color: var(--brand-strong); }
.snippet { margin: 6px 0 0; font-size: 14.5px; color: #46525e; }
mark { background: #fff1a8; color: inherit; padding: 0 2px; border-radius: 3px; }
.answer { margin-top: 10px; padding-top: 10px; border-top: 1px solid #e2e7ec; }
.prose { font-size: 15px; }
.prose > :first-child { margin-top: 0; }
.prose > :last-child { margin-bottom: 0; }
.prose p, .prose ul, .prose ol { margin: 0 0 8px; }
.prose ul, .prose ol { padding-left: 22px; }
.prose ul { list-style: disc; }
.prose h1, .prose h2, .prose h3, .prose h4 { font-size: 15px; margin: 12px 0 4px; }
.prose a, .more, .cta, .tel { color: var(--brand-strong); }
.prose code { background: #f0f3f6; border-radius: 4px; padding: 1px 4px; }
.prose table { border-collapse: collapse; display: block; overflow-x: auto; font-size: 14px; }
.prose th, .prose td { border: 1px solid #e2e7ec; padding: 5px 8px; text-align: left; }
.helpful { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-top: 12px; padding: 10px 12px;
           background: #f5f7f9; border-radius: 10px; }
.helpful-q { margin-right: auto; font-size: 14px; font-weight: 600; color: #46525e; }
.vote { min-height: 32px; padding: 0 12px; border: 1px solid #d5dde3; border-radius: 8px; background: #fff;
        font-size: 14px; font-weight: 600; }
.vote:hover { background: #f5f7f9; }
.vote:disabled { opacity: .6; cursor: default; }
.vote-yes { border-color: var(--brand); color: var(--brand-strong); }
.msg { margin: 8px 0 0; font-size: 14px; font-weight: 600; color: var(--brand-strong); }
.msg:empty { display: none; }
.more { display: inline-block; margin-top: 8px; font-size: 14px; }
.contact { margin-top: 8px; padding: 14px 16px; background: #fff; border: 1px solid #e2e7ec; border-radius: 12px; }
.contact-title { margin: 0; font-weight: 700; }
.contact p { margin: 4px 0 0; font-size: 14.5px; color: #46525e; }
.phone-label { font-weight: 700; color: #17212b; }
.tel { font-weight: 700; }
.cta { display: inline-block; margin-top: 8px; font-weight: 700; }
.footer { margin: 10px 2px 0; font-size: 14px; color: #46525e; }
`;

  let sheet = null;

  /** Styles for one shadow root: a shared constructed sheet, or a <style> where that API is missing. */
  function addStyles(root) {
    if (window.CSSStyleSheet && "adoptedStyleSheets" in root && "replaceSync" in CSSStyleSheet.prototype) {
      try {
        if (!sheet) {
          sheet = new CSSStyleSheet();
          sheet.replaceSync(CSS);
        }
        root.adoptedStyleSheets = [sheet];
        return;
      } catch (e) {
        sheet = null; /* fall through to a <style> element */
      }
    }
    const style = document.createElement("style");
    style.textContent = CSS;
    root.append(style);
  }

  function pickLang(...wanted) {
    for (const w of wanted) {
      const code = String(w || "").trim().toLowerCase().slice(0, 2);
      if (STRINGS[code]) return code;
    }
    return STRINGS.ko ? "ko" : Object.keys(STRINGS)[0] || "ko";
  }

  /** One search box in ``host``. */
  function mount(host) {
    if (!host || host.shadowRoot) return;
    const lang = pickLang(host.getAttribute("data-kb-lang"), SCRIPT_LANG, document.documentElement.lang);
    const t = translator(STRINGS[lang] || {});
    const root = host.attachShadow({ mode: "open" }); // open: assistive tech and test tools can see inside
    addStyles(root);

    const input = el("input", {
      id: "kb-q", type: "search", placeholder: t("search_placeholder"), maxlength: "200", autocomplete: "off",
      autocapitalize: "off", spellcheck: "false", enterkeyhint: "search", role: "combobox",
      "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": "kb-list",
    });
    const clear = el("button", { type: "button", class: "clear", "aria-label": t("clear"), hidden: true },
      icon("", ["M6 6l12 12M18 6 6 18"]));
    const list = el("ul", { id: "kb-list", class: "list", role: "listbox", "aria-label": t("suggestions_label"),
                            hidden: true });
    const form = el("form", { class: "search", role: "search", "aria-label": t("widget_label") },
      el("label", { for: "kb-q", class: "sr" }, t("search_label")),
      el("div", { class: "box" }, icon("icon", ["M20 20l-3.5-3.5", "M18 11a7 7 0 1 1-14 0 7 7 0 0 1 14 0"]),
        input, clear, el("button", { type: "submit", class: "go" }, t("search_button"))),
      list);
    const status = el("p", { class: "status", role: "status", "aria-live": "polite", "aria-atomic": "true" });
    const results = el("ul", { class: "results", "aria-label": t("widget_results"), hidden: true });
    const contact = el("div", { class: "contact", hidden: true });
    const footer = el("p", { class: "footer", hidden: true });
    const box_ = el("div", { class: "kb", lang }, form, status, results, contact, footer);
    const strings = STRINGS[lang] || {};
    // the shop's brand colour: CSS variables set through the CSSOM, which a strict style-src allows
    ["brand", "brand_strong", "brand_soft", "on_brand", "on_brand_strong"].forEach((k) => {
      if (strings["colour_" + k]) box_.style.setProperty("--" + k.replace(/_/g, "-"), strings["colour_" + k]);
    });
    root.append(box_);

    const helpURL = (query, hash) => BASE + "/?" + new URLSearchParams({ q: query, lang }) + (hash || "");
    // on to the help center's contact panel; editors learn that this search sent a customer there
    const contactLink = (query) => el("a", { class: "cta", href: helpURL(query, "#contact"),
                                             onclick: () => { box.contacted(); box.report(query, "contact"); } },
                                          t("contact_cta_link"));

    const box = searchBox({
      input, list, clear, form, t, api, locale: lang, suggestions: 6, base: BASE, choiceSettles: true,
      quietQuestion: true, contactLink,
      cls: { option: "option", optionText: "option-text", optionKind: "option-kind", optionId: "kb-o",
             toggle: "toggle", snippet: "snippet", answer: "answer", msg: "msg", vote: "vote", voteYes: "vote-yes" },
      params: (q) => new URLSearchParams({ q, k: "3" }),
      onStart: () => { status.textContent = t("status_searching"); },
      onResults: render,
      onEmpty: () => {
        status.textContent = "";
        results.hidden = true;
        results.replaceChildren();
        contact.hidden = true;
        footer.hidden = true;
      },
      onError: () => { status.textContent = t("status_error"); },
    });

    function render(data) {
      const hits = data.results || [];
      const none = data.decision === "none" || !hits.length;
      results.replaceChildren();
      results.hidden = none; // nothing fits: the way to a person, not a list of near-misses
      status.textContent = none ? t("status_none", { q: data.query })
        : t(data.decision === "answer" ? "status_count" : "status_suggest", { q: data.query, n: hits.length });
      if (!none) hits.forEach((hit, i) => results.append(card(hit, i, data.decision === "answer" && i === 0)));
      contact.hidden = !none;
      footer.hidden = none;
      if (none) showContact(data.query);
      else footer.replaceChildren(t("contact_cta"), " ", contactLink(data.query));
    }

    function card(hit, index, best) {
      const { toggle, snippet, answer } = box.answer(hit, "kb-a" + index, best,
        el("span", {}, el("span", { class: "title" }, hit.title), el("span", { class: "category" }, hit.category)),
        el("a", { class: "more", href: helpURL(hit.title) }, t("widget_more")));
      return el("li", { class: "hit" + (best ? " hit-best" : ""), "data-article-id": hit.article_id },
        best ? el("span", { class: "best" }, t("best_answer")) : null, toggle, snippet, answer);
    }

    // the shop's channels (articles/_site.yml), each only when it is set
    function showContact(query) {
      const phone = strings.contact_phone;
      const hours = strings.contact_hours;
      const link = (href, text) => el("a", { class: "tel", href }, text);
      contact.replaceChildren(
        el("p", { class: "contact-title" }, t("contact_title")),
        el("p", {}, t("contact_intro")),
        phone ? el("p", {}, el("span", { class: "phone-label" }, t("contact_phone_label")), " ",
                   link(strings.contact_tel, phone), hours ? " · " + hours : "") : null,
        !phone && hours ? el("p", {}, hours) : null,
        strings.contact_email ? el("p", {}, el("span", { class: "phone-label" }, t("contact_inquiry_label")), " ",
                                   link("mailto:" + strings.contact_email, strings.contact_email)) : null,
        strings.contact_chat_url ? el("p", {}, link(strings.contact_chat_url, t("contact_chat_link"))) : null,
        strings.contact_form_url ? el("p", {}, link(strings.contact_form_url, t("contact_form_link"))) : null,
        contactLink(query));
    }
  }

  function start() {
    document.querySelectorAll("[data-kb-search]").forEach(mount);
  }

  // for pages that add a box later (single-page shops): window.kbSearch.mount(element)
  window.kbSearch = { mount };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
