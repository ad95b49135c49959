"""The shop's identity (:class:`kb.articles.site.Site`, from the serving build) as the pages and the widget show
it: the name in titles and the top bar, the contact channels, the logo, the brand colour.

The strings table (:mod:`kb.app.i18n`) holds the words (``{name}``, ``{phone}`` placeholders); this module
fills them from the site. A shop without a site file gets neutral words (고객센터 / Help center) and no contact.
"""

from __future__ import annotations

import html
from functools import lru_cache
from urllib.parse import urlsplit

from kb.app.i18n import STRINGS
from kb.articles.site import Site, ink_against, mix, text_on

BG = "#f5f7f9"  # kb.css --bg: text in the brand's dark shade sits on it too


def page_strings(site: Site, lang: str) -> dict[str, str]:
    """The strings that name the shop or reach it, for ``site`` (the locale's variant, :meth:`Site.for_locale`)
    in ``lang``; an absent channel is an empty string. They go into the page and into its scripts' table."""
    s = STRINGS[lang]
    contact = site.contact
    brand = site.name or s["brand"]
    footer = [s["footer"].replace("{name}", site.name) if site.name else "",
              s["footer_phone"].replace("{phone}", contact.phone) if contact.phone else "", contact.hours or ""]
    return {
        "brand": brand,
        "brand_sub": s["brand_sub"] if site.name else s["brand_sub_unnamed"],
        "page_title": s["page_title"].replace("{name}", site.name) if site.name else s["brand"],
        "meta_description": s["meta_description"].replace("{name}", brand),
        "footer": " · ".join(p for p in footer if p),
        "contact_phone": contact.phone or "",
        "contact_tel": contact.tel or "",
        "contact_hours": contact.hours or "",
        "contact_email": contact.email or "",
        "contact_chat_url": contact.chat_url or "",
        "contact_form_url": contact.form_url or "",
    }


def _link(href: str, text: str, cls: str = "channel-main") -> str:
    return f'<a class="{cls}" href="{html.escape(href, quote=True)}">{html.escape(text)}</a>'


def _channel(label: str, main: str, note: str = "") -> str:
    note_html = f'\n          <span class="channel-note">{html.escape(note)}</span>' if note else ""
    return (f'        <div class="channel">\n          <span class="channel-label">{html.escape(label)}</span>\n'
            f"          {main}{note_html}\n        </div>")


def channels_html(site: Site, lang: str) -> str:
    """The help page's contact channels (phone with its hours, the inquiry form that mails the shop, chat, the
    shop's own form); only those the site sets. Without any: a hint to search again."""
    s = STRINGS[lang]
    c = site.contact
    out = []
    if c.phone and c.tel:
        out.append(_channel(s["contact_phone_label"], _link(c.tel, c.phone), c.hours or ""))
    if c.email:
        out.append(_channel(s["contact_inquiry_label"], _link("#inquiry-form", s["form_title"]),
                            s["contact_inquiry_hours"]))
    if c.chat_url:
        out.append(_channel(s["contact_chat_label"], _link(c.chat_url, s["contact_chat_link"])))
    if c.form_url:
        out.append(_channel(s["contact_form_label"], _link(c.form_url, s["contact_form_link"])))
    if not out:
        return f'      <p class="contact-intro">{html.escape(s["contact_unset"])}</p>'
    hours = "" if c.phone or not c.hours else f'\n      <p class="channel-note">{html.escape(c.hours)}</p>'
    return '      <div class="contact-grid">\n' + "\n".join(out) + "\n      </div>" + hours


MARK = ('<svg class="brand-mark" viewBox="0 0 32 32" aria-hidden="true" focusable="false"><rect width="32" '
        'height="32" rx="9"/><path d="M9 11.5h14M9 16h14M9 20.5h9" /></svg>')


def logo_src(site: Site, version: str) -> str | None:
    """Where the page loads the logo from: the shop's https address, or the build's copy (``/site/<file>``)."""
    if not site.logo:
        return None
    return f"/site/{site.logo_file}?v={version}" if site.logo_file else site.logo


def brand_mark(site: Site, version: str) -> str:
    """The top bar's mark: the shop's logo (the name beside it says what it is: alt ""), or kb's."""
    src = logo_src(site, version)
    if src is None:
        return MARK
    return f'<img class="brand-logo" src="{html.escape(src, quote=True)}" alt="" height="30">'


def image_sources(site: Site) -> str:
    """CSP ``img-src`` for the page: its own origin, data: and the origin of an https logo."""
    sources = "'self' data:"
    if site.logo and not site.logo_file:
        parts = urlsplit(site.logo)
        sources += f" {parts.scheme}://{parts.netloc}"
    return sources


def colours(site: Site) -> dict[str, str] | None:
    """The brand colour and what goes with it, each readable (WCAG AA, 4.5:1) where kb.css puts text: on the
    colour (white or black), the colour's dark shade on white, on the light tint and on the page's grey."""
    if not site.brand_color:
        return None
    brand = site.brand_color.lower()
    soft = mix(brand, "#ffffff", 0.9)
    strong = ink_against(ink_against(brand, soft), BG)
    return {"brand": brand, "brand_strong": strong, "brand_soft": soft, "on_brand": text_on(brand),
            "on_brand_strong": text_on(strong), "hero": mix(brand, "#ffffff", 0.92)}


@lru_cache(maxsize=16)
def site_css(site: Site) -> str:
    """``/site.css``: kb.css's brand variables set to the shop's colour (empty without one)."""
    c = colours(site)
    if c is None:
        return ""
    return (f":root {{ --brand: {c['brand']}; --brand-strong: {c['brand_strong']}; --brand-soft: {c['brand_soft']};"
            f" --on-brand: {c['on_brand']}; --on-brand-strong: {c['on_brand_strong']}; --hero: {c['hero']}; }}\n")
