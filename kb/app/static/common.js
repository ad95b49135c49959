/* Shared helpers of the kb pages (help page, agent view, insight page) on searchbox.js's basics: the page's
 * strings, JSON requests to this origin, answers as plain text, the clipboard.
 * Text from the server is always set with textContent; the only HTML ever inserted is answer_html
 * and snippet_html, which the server renders and escapes. */
(function () {
  "use strict";
  const { el, serverHTML, translator, jsonClient, debounce } = window.kbSearchBox;

  /** A UI string, with {name} placeholders filled from vars. */
  const t = translator(JSON.parse(document.getElementById("kb-i18n").textContent));
  const { getJSON, postJSON } = jsonClient("", {});

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

  window.KB = { t, el, trustedHTML: serverHTML, getJSON, postJSON, debounce, htmlToText, copyText,
                lang: document.documentElement.lang || "ko" };
})();
