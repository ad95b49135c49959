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

  /** Plain text of server-rendered answer HTML: paragraphs, list bullets and line breaks kept; a table row is
   * one line of its cells' text, tab-separated (pastes into a spreadsheet or an e-mail as columns). */
  function htmlToText(html) {
    const root = document.createElement("div");
    root.innerHTML = html;
    const layout = /^(TABLE|THEAD|TBODY|TFOOT|TR)$/; // the line breaks between their children are markup only
    const walk = (node, prefix, out) => {
      for (const child of node.childNodes) {
        if (child.nodeType === Node.TEXT_NODE) {
          if (layout.test(node.tagName) && !child.textContent.trim()) continue;
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
          walk(child, prefix + "  ", out);
          continue;
        }
        if (tag === "TR") {
          const cells = Array.from(child.children).filter((c) => /^(TD|TH)$/.test(c.tagName)).map((c) => {
            const text = [];
            walk(c, "", text);
            return text.join("").replace(/\s+/g, " ").trim();
          });
          out.push("\n" + prefix + cells.join("\t"));
          continue;
        }
        const block = /^(P|DIV|H[1-6]|UL|OL|PRE|BLOCKQUOTE|TABLE|HR)$/.test(tag);
        if (block) out.push("\n\n");
        walk(child, prefix, out);
        if (block) out.push("\n\n");
      }
    };
    const out = [];
    walk(root, "", out);
    // spaces (never a tab: an empty last cell keeps its column) before a line break go
    return out.join("").replace(/ +\n/g, "\n").replace(/\n{3,}/g, "\n\n").replace(/^\s+/, "")
      .replace(/[ \n]+$/, "");
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
