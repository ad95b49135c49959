/* Shared helpers of the kb pages: strings, DOM building, JSON fetching, debouncing, clipboard.
 * Text from the server is always set with textContent; the only HTML ever inserted is answer_html
 * and snippet_html, which the server renders and escapes. */
(function () {
  "use strict";

  const strings = JSON.parse(document.getElementById("kb-i18n").textContent);

  /** A UI string, with {name} placeholders filled from vars. */
  function t(key, vars) {
    const s = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
    return s.replace(/\{(\w+)\}/g, (m, name) => (vars && name in vars ? String(vars[name]) : m));
  }

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

  /** Insert HTML that the server made safe (answer_html, snippet_html) into a fresh element. */
  function trustedHTML(tag, className, html) {
    const node = document.createElement(tag);
    node.className = className;
    node.innerHTML = html;
    return node;
  }

  async function getJSON(url, signal, headers) {
    const res = await fetch(url, { signal, headers: Object.assign({ Accept: "application/json" }, headers || {}) });
    if (!res.ok) {
      const err = new Error("HTTP " + res.status);
      err.status = res.status;
      throw err;
    }
    return res.json();
  }

  async function postJSON(url, body) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((data && data.detail) || "HTTP " + res.status);
      err.status = res.status;
      throw err;
    }
    return data;
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

  /** True while the last letter is a lone jamo (반ㅍ, ㅂㅍ): the user is in the middle of a syllable. */
  function endsUnfinished(text) {
    const s = text.trimEnd();
    if (!s) return false;
    const code = s.charCodeAt(s.length - 1);
    return code >= 0x3131 && code <= 0x318e;
  }

  /** Plain text of server-rendered answer HTML: paragraphs, list bullets and line breaks kept. */
  function htmlToText(html) {
    const root = document.createElement("div");
    root.innerHTML = html;
    const out = [];
    const walk = (node, prefix) => {
      for (const child of node.childNodes) {
        if (child.nodeType === Node.TEXT_NODE) {
          out.push(child.textContent.replace(/\s+/g, " "));
          continue;
        }
        if (child.nodeType !== Node.ELEMENT_NODE) continue;
        const tag = child.tagName;
        if (tag === "BR") { out.push("\n"); continue; }
        if (tag === "LI") {
          const ordered = child.parentElement && child.parentElement.tagName === "OL";
          const n = Array.prototype.indexOf.call(child.parentElement.children, child) + 1;
          out.push("\n" + prefix + (ordered ? n + ". " : "- "));
          walk(child, prefix + "  ");
          continue;
        }
        if (tag === "TR") { out.push("\n"); walk(child, prefix); continue; }
        if (tag === "TD" || tag === "TH") { walk(child, prefix); out.push("\t"); continue; }
        const block = /^(P|DIV|H[1-6]|UL|OL|PRE|BLOCKQUOTE|TABLE|HR)$/.test(tag);
        if (block) out.push("\n\n");
        walk(child, prefix);
        if (block) out.push("\n\n");
      }
    };
    walk(root, "");
    return out.join("").replace(/[ \t]+\n/g, "\n").replace(/\n[ ]+(?=\S)/g, (m) => m)
      .replace(/\n{3,}/g, "\n\n").trim();
  }

  /** Copy text: the async clipboard where allowed, else a hidden textarea and execCommand. */
  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (e) {
        /* permission refused: fall through to the old way */
      }
    }
    const area = el("textarea", { readonly: true, class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  window.KB = { t, el, trustedHTML, getJSON, postJSON, debounce, endsUnfinished, htmlToText, copyText,
                lang: document.documentElement.lang || "ko" };
})();
