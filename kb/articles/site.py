"""The shop's identity: ``articles/_site.yml``, parsed strictly into a frozen :class:`Site`.

::

    name: 솔방울상점
    logo: brand/logo.svg          # an image in the articles folder, or an https:// address
    brand_color: "#2f6f4e"        # quoted: YAML reads an unquoted # as a comment
    contact:                      # every channel optional; an absent one is not shown
      phone: 02-555-0199
      hours: 평일 10:00-17:00
      email: help@solbangul.example
      chat_url: https://solbangul.example/chat
      form_url: https://solbangul.example/inquiry
    locales:                      # per-locale overrides of any field above (null removes one)
      en: {name: Solbangul Shop, contact: {hours: "Weekdays 10:00-17:00"}}

Every build carries the file (``config/site.yml``, like ``_synonyms.yml``), so the server shows the identity
of the build it serves. Without the file the pages use neutral words and show no contact at all. Problems
are :class:`~kb.errors.ArticleError` with file:line, all of them at once (``kb lint``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from kb.errors import ArticleError, ArticlesInvalid

SITE_FILE = "_site.yml"
FIELDS = ("name", "logo", "brand_color", "contact", "locales")
CONTACT_FIELDS = ("phone", "hours", "email", "chat_url", "form_url")
LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
              ".webp": "image/webp", ".svg": "image/svg+xml"}
MAX_LOGO_BYTES = 512 * 1024  # a header logo; anything larger slows every page
MAX_TEXT = {"name": 60, "hours": 120, "phone": 30, "email": 254, "chat_url": 2000, "form_url": 2000, "logo": 2000}
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]*[0-9]$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_LOCALE = re.compile(r"^[a-z]{2,3}$")
_NULL = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class Contact:
    """The ways to a person; each one optional."""

    phone: str | None = None
    hours: str | None = None
    email: str | None = None
    chat_url: str | None = None
    form_url: str | None = None

    @property
    def tel(self) -> str | None:
        """``tel:`` link of the phone number (digits and a leading +)."""
        return "tel:" + re.sub(r"[^\d+]", "", self.phone) if self.phone else None

    @property
    def mailto(self) -> str | None:
        return f"mailto:{self.email}" if self.email else None

    @property
    def channels(self) -> int:
        """How many ways to reach a person are set (hours are not a way)."""
        return sum(1 for v in (self.phone, self.email, self.chat_url, self.form_url) if v)


@dataclass(frozen=True)
class Site:
    """The shop: its name, logo, brand colour and contact channels, with per-locale variants."""

    name: str | None = None
    logo: str | None = None  # an https:// address, or a path inside the articles folder
    brand_color: str | None = None  # #rrggbb
    contact: Contact = field(default_factory=Contact)
    locales: tuple[tuple[str, Site], ...] = ()  # each fully merged with the fields above

    def for_locale(self, lang: str) -> Site:
        """The site as a page in ``lang`` shows it (the locale's overrides merged in)."""
        return dict(self.locales).get(lang, self)

    @property
    def logo_file(self) -> str | None:
        """The logo's file name when it is a file the app serves (not an address)."""
        return PurePosixPath(self.logo).name if self.logo and not _is_url(self.logo) else None


# --- colour -----------------------------------------------------------------------------------------


def _luminance(color: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(color: str) -> str:
    """White or black: whichever reads better on ``color`` (one of them always reaches 4.5:1)."""
    return "#ffffff" if contrast(color, "#ffffff") >= contrast(color, "#000000") else "#000000"


def mix(color: str, other: str, share: float) -> str:
    """``color`` moved ``share`` (0..1) of the way to ``other``."""
    a = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b, strict=True))


def ink_against(color: str, background: str, ratio: float = 4.5) -> str:
    """``color`` darkened just enough to be read as text on ``background`` (WCAG AA by default)."""
    for step in range(21):
        candidate = mix(color, "#000000", step / 20)
        if contrast(candidate, background) >= ratio:
            return candidate
    return "#000000"  # pragma: no cover - black on a light background always passes


# --- parsing ----------------------------------------------------------------------------------------


def _is_url(value: str) -> bool:
    return "://" in value or value.startswith("//")


class _Reader:
    """Walks the composed YAML nodes (which keep their lines) and collects every problem."""

    def __init__(self, path: Path, lines: list[str], check_files: bool) -> None:
        self.path, self.lines, self.check_files = path, lines, check_files
        self.errors: list[ArticleError] = []

    def error(self, node: Any, message: str, hint: str = "") -> None:
        self.errors.append(ArticleError(self.path, message, node.start_mark.line + 1, hint))

    def mapping(self, node: Any, fields: tuple[str, ...] | None, what: str) -> dict[str, tuple[Any, Any]]:
        """``key -> (key node, value node)`` of a mapping; unknown (when ``fields``) and repeated keys are errors."""
        import yaml

        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping of `key: value` lines, found {_kind(node)}")
            return {}
        out: dict[str, tuple[Any, Any]] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else ""
            if fields is not None and name not in fields and not name.startswith("x-"):
                self.error(key, f"unknown field `{name}` in {what}", f"known fields: {', '.join(fields)}")
            elif name in out:
                self.error(key, f"`{name}` is given twice in {what}", "keep one")
            else:
                out[name] = (key, value)
        return out

    def text(self, key: Any, node: Any, name: str) -> str | None:
        """A one-line text value; ``None`` for an empty one."""
        import yaml

        if not isinstance(node, yaml.ScalarNode):
            self.error(node, f"`{name}` must be a single value, found {_kind(node)}")
            return None
        if node.tag == _NULL:
            if "#" in self.lines[key.start_mark.line][key.end_mark.column:]:
                self.error(key, f"`{name}` is empty: YAML reads the text after `#` as a comment",
                           f'put the value in quotes, e.g. {name}: "#2f6f4e"')
            return None
        value = " ".join(node.value.split())
        if len(value) > MAX_TEXT.get(name, 200):
            self.error(node, f"`{name}` is {len(value)} characters long, at most {MAX_TEXT.get(name, 200)}")
            return None
        return value or None

    def check(self, node: Any, name: str, value: str) -> str | None:
        """``value`` of field ``name`` if it is valid there, else ``None`` (and an error)."""
        problem = _problem(name, value)
        if problem is not None:
            self.error(node, *problem)
            return None
        return self.logo_path(node, value) if name == "logo" and not _is_url(value) else value

    def logo_path(self, node: Any, value: str) -> str | None:
        rel = PurePosixPath(value)
        if rel.is_absolute() or "\\" in value or ".." in rel.parts or any(p.startswith(".") for p in rel.parts):
            self.error(node, f"logo `{value}` must be a path inside the articles folder",
                       "e.g. logo: brand/logo.svg, with the file beside _site.yml or below it")
            return None
        if rel.suffix.lower() not in LOGO_TYPES:
            self.error(node, f"logo `{value}` is not an image kb serves",
                       f"use one of: {', '.join(sorted(LOGO_TYPES))}")
            return None
        if self.check_files:
            file = self.path.parent / rel
            if not file.is_file():
                self.error(node, f"logo `{value}` does not exist", f"put the image at {file}")
                return None
            if file.stat().st_size > MAX_LOGO_BYTES:
                self.error(node, f"logo `{value}` is {file.stat().st_size // 1024} KB, at most "
                                 f"{MAX_LOGO_BYTES // 1024} KB", "make the image smaller")
                return None
        return value

    def layer(self, node: Any, fields: tuple[str, ...], what: str) -> dict[str, Any]:
        """The fields given in one mapping (top level or a locale): name -> value (``None``: given empty);
        ``contact`` -> such a dict of its own."""
        out: dict[str, Any] = {}
        for name, (key, value) in self.mapping(node, fields, what).items():
            if name.startswith("x-") or name == "locales":
                continue
            if name == "contact":
                import yaml

                if isinstance(value, yaml.ScalarNode) and value.tag == _NULL:
                    out["contact"] = {}
                    continue
                out["contact"] = {n: self.field(k, v, n) for n, (k, v) in
                                  self.mapping(value, CONTACT_FIELDS, "`contact`").items() if not n.startswith("x-")}
            else:
                out[name] = self.field(key, value, name)
        return out

    def field(self, key: Any, node: Any, name: str) -> str | None:
        value = self.text(key, node, name)
        return self.check(node, name, value) if value is not None else None


def _problem(name: str, value: str) -> tuple[str, str] | None:
    """What is wrong with ``value`` as field ``name`` (message, hint), or ``None``."""
    if name == "brand_color" and not _COLOR.match(value):
        return f"brand_color `{value}` is not a colour", 'write it as #rrggbb, e.g. "#2f6f4e"'
    if name == "phone" and (not _PHONE.match(value) or not 3 <= len(re.sub(r"\D", "", value)) <= 15):
        return f"phone `{value}` is not a phone number", "digits with -, spaces or a leading +"
    if name == "email" and not _EMAIL.match(value):
        return f"email `{value}` is not an e-mail address", "e.g. help@shop.example"
    if name in ("chat_url", "form_url") and not _web_address(value, ("http", "https")):
        return f"{name} `{value}` is not a web address", "start it with https://"
    if name == "logo" and _is_url(value) and not _web_address(value, ("https",)):
        return (f"logo `{value}` is not an https:// address",
                "use https://, or a path to an image in the articles folder")
    return None


def _web_address(value: str, schemes: tuple[str, ...]) -> bool:
    if any(c.isspace() or ord(c) < 32 or c in "\"'<>\\`" for c in value):
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in schemes and bool(parts.hostname)
    except ValueError:
        return False


def _kind(node: Any) -> str:
    import yaml

    return {yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}.get(type(node), "a single value")


def _merge(base: Site, layer: dict[str, Any]) -> Site:
    contact = replace(base.contact, **layer.get("contact", {}))
    return replace(base, contact=contact, **{k: v for k, v in layer.items() if k != "contact"})


def parse_site(path: Path, text: str | None = None, *, check_files: bool = True) -> tuple[Site, list[ArticleError]]:
    """The site of ``path`` and every problem in it (the site is the valid part). ``check_files``: look for
    a logo file beside ``path`` (off for a build's copy, whose logo sits flat beside it)."""
    import yaml  # PyYAML: imported here so `import kb` stays cheap

    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            return Site(), [ArticleError(path, f"not UTF-8 text ({e.reason} at byte {e.start})", None,
                                         "save the file as UTF-8")]
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).split("\n")[0]
        return Site(), [ArticleError(path, f"bad YAML: {problem}", mark.line + 1 if mark is not None else 1,
                                     "check indentation, colons and quotes")]
    if root is None:
        return Site(), []
    reader = _Reader(path, text.split("\n"), check_files)
    site = _merge(Site(), reader.layer(root, FIELDS, path.name))
    variants: list[tuple[str, Site]] = []
    locales = next((v for k, v in root.value if getattr(k, "value", None) == "locales"), None) \
        if isinstance(root, yaml.MappingNode) else None
    if locales is not None and not (isinstance(locales, yaml.ScalarNode) and locales.tag == _NULL):
        for lang, (key, node) in reader.mapping(locales, None, "`locales`").items():
            if not _LOCALE.match(lang):
                reader.error(key, f"locale `{lang}` is not a language code", "use e.g. en, ja")
                continue
            fields = tuple(f for f in FIELDS if f != "locales")
            variants.append((lang, _merge(site, reader.layer(node, fields, f"locale `{lang}`"))))
    logos: dict[str, str] = {}
    for lang, variant in (("", site), *variants):
        name = variant.logo_file
        if name and variant.logo and logos.setdefault(name, variant.logo) != variant.logo:
            reader.errors.append(ArticleError(path, f"logos `{logos[name]}` and `{variant.logo}` ({lang}) have the "
                                                    "same file name", None, "give each logo its own file name"))
    errors = sorted(reader.errors, key=lambda e: e.line or 0)
    return replace(site, locales=tuple(variants)), errors


def load_site(path: Path, *, check_files: bool = True) -> Site:
    """The site of ``path`` (:class:`Site` with neutral defaults when there is no such file); raise
    :class:`~kb.errors.ArticlesInvalid` listing every problem."""
    if not path.is_file():
        return Site()
    site, errors = parse_site(path, check_files=check_files)
    if errors:
        raise ArticlesInvalid(errors)
    return site


def site_files(articles_dir: Path) -> list[Path]:
    """The site file and its logo image, when they exist: what a build carries of the shop's identity."""
    path = articles_dir / SITE_FILE
    if not path.is_file():
        return []
    site, _ = parse_site(path)
    logos = {s.logo for s in (site, *dict(site.locales).values()) if s.logo and s.logo_file}
    return [path, *sorted(articles_dir / logo for logo in logos if (articles_dir / logo).is_file())]
