"""``articles/_site.yml``: the shop's identity, parsed strictly (kb.articles.site)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.articles.lint import lint_articles
from kb.articles.site import Contact, Site, contrast, ink_against, load_site, parse_site, site_files, text_on
from kb.errors import ArticlesInvalid
from tests.conftest import ROOT, write

GOOD = """\
name: 솔방울상점
logo: brand/logo.svg
brand_color: "#2F6F4E"
contact:
  phone: 02-555-0199
  hours: 평일 10:00-17:00
  email: help@solbangul.example
  chat_url: https://solbangul.example/chat
  form_url: https://solbangul.example/inquiry
locales:
  en: {name: Solbangul Shop, contact: {hours: "Weekdays 10:00-17:00", chat_url: null}}
"""


def site_file(folder: Path, text: str) -> Path:
    write(folder / "brand" / "logo.svg", '<svg xmlns="http://www.w3.org/2000/svg"/>')
    return write(folder / "_site.yml", text)


def errors_of(tmp_path: Path, text: str) -> list[str]:
    site, errors = parse_site(site_file(tmp_path, text))
    return [str(e) for e in errors]


def test_good_file_and_locales_merge(tmp_path: Path) -> None:
    site = load_site(site_file(tmp_path, GOOD))
    assert site.name == "솔방울상점" and site.brand_color == "#2F6F4E" and site.logo == "brand/logo.svg"
    assert site.contact == Contact("02-555-0199", "평일 10:00-17:00", "help@solbangul.example",
                                   "https://solbangul.example/chat", "https://solbangul.example/inquiry")
    assert site.contact.tel == "tel:025550199" and site.contact.mailto == "mailto:help@solbangul.example"
    assert site.logo_file == "logo.svg" and site.contact.channels == 4
    en = site.for_locale("en")
    # the locale's fields replace the top level's; the rest (phone, email, logo, colour) carry over; null removes
    assert en.name == "Solbangul Shop" and en.contact.hours == "Weekdays 10:00-17:00"
    assert en.contact.phone == "02-555-0199" and en.contact.chat_url is None and en.brand_color == "#2F6F4E"
    assert site.for_locale("ko") is site  # no overrides: the top level


def test_no_file_and_empty_file_are_neutral(tmp_path: Path) -> None:
    assert load_site(tmp_path / "_site.yml") == Site()
    assert load_site(write(tmp_path / "_site.yml", "# nothing yet\n")) == Site()
    assert Site().contact.channels == 0 and Site().contact.tel is None


def test_every_problem_with_its_line(tmp_path: Path) -> None:
    text = """\
name: [a, list]
colour: "#123456"
brand_color: "#12345"
contact:
  phone: call us
  email: not-an-address
  chat_url: javascript:alert(1)
  form_url: https://
  fax: 02-000-0000
logo: http://shop.example/logo.png
locales:
  english: {name: x}
  en: {name: Shop, contact: {email: "a@b"}, locales: {}}
"""
    found = errors_of(tmp_path, text)
    assert len(found) == 12, found
    wanted = [
        (1, "`name` must be a single value, found a list"),
        (2, "unknown field `colour`"),
        (3, "brand_color `#12345` is not a colour"),
        (5, "phone `call us` is not a phone number"),
        (6, "email `not-an-address` is not an e-mail address"),
        (7, "chat_url `javascript:alert(1)` is not a web address"),
        (8, "form_url `https://` is not a web address"),
        (9, "unknown field `fax` in `contact`"),
        (10, "logo `http://shop.example/logo.png` is not an https:// address"),
        (12, "locale `english` is not a language code"),
        (13, "unknown field `locales` in locale `en`"),
        (13, "email `a@b` is not an e-mail address"),
    ]
    for (line, message), got in zip(wanted, found, strict=True):
        assert got.startswith(f"{tmp_path / '_site.yml'}:{line}: {message}"), (line, got)


def test_unquoted_colour_is_a_comment(tmp_path: Path) -> None:
    (found,) = errors_of(tmp_path, "name: 가게\nbrand_color: #2f6f4e\n")
    assert found.startswith(f"{tmp_path / '_site.yml'}:2: `brand_color` is empty") and 'brand_color: "#2f6f4e"' in found


@pytest.mark.parametrize(("text", "line", "message"), [
    ("name: a\nname: b\n", 2, "`name` is given twice"),
    ("name: 가게\ncontact: [1588-0000]\n", 2, "`contact` must be a mapping"),
    ("- name\n", 1, "_site.yml must be a mapping"),
    ("name: 가게\n  phone: 1\n", 2, "bad YAML"),
    ("logo: ../outside.png\n", 1, "logo `../outside.png` must be a path inside the articles folder"),
    ("logo: brand/logo.bmp\n", 1, "logo `brand/logo.bmp` is not an image kb serves"),
    ("logo: brand/missing.png\n", 1, "logo `brand/missing.png` does not exist"),
    ("name: " + "가" * 61 + "\n", 1, "`name` is 61 characters long"),
    ("contact:\n  phone: '12'\n", 2, "phone `12` is not a phone number"),
])
def test_single_problems(tmp_path: Path, text: str, line: int, message: str) -> None:
    found = errors_of(tmp_path, text)
    assert len(found) == 1 and found[0].startswith(f"{tmp_path / '_site.yml'}:{line}: {message}"), found


def test_load_raises_all_problems(tmp_path: Path) -> None:
    with pytest.raises(ArticlesInvalid) as e:
        load_site(site_file(tmp_path, "colour: red\ncontact: {phone: x}\n"))
    assert len(e.value.errors) == 2


def test_lint_reports_the_site_file(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "---\ntitle: 질문\n---\n답변\n")
    site_file(tmp_path, "name: 가게\ncontact:\n  email: nope\n")
    report = lint_articles(tmp_path)
    assert [e for e in report.errors if "_site.yml:3: email `nope`" in e], report.errors


def test_the_build_carries_the_file_and_its_logo(tmp_path: Path) -> None:
    site_file(tmp_path, GOOD)
    assert site_files(tmp_path) == [tmp_path / "_site.yml", tmp_path / "brand" / "logo.svg"]
    assert site_files(tmp_path / "nowhere") == []


def test_the_sample_shop_file_is_valid() -> None:
    site = load_site(ROOT / "articles" / "_site.yml")
    assert site.name and site.contact.phone and site.for_locale("en").name != site.name


def test_text_on_the_brand_colour_keeps_aa_contrast() -> None:
    for colour in ("#0f766e", "#ffd400", "#000000", "#ffffff", "#777777", "#e11d48", "#2563eb"):
        assert contrast(colour, text_on(colour)) >= 4.5, colour
        ink = ink_against(colour, "#e6f4f1")
        assert contrast(ink, "#e6f4f1") >= 4.5 and contrast(ink, "#ffffff") >= 4.5, colour
    assert text_on("#ffd400") == "#000000" and text_on("#0f766e") == "#ffffff"


def test_the_sample_shop_lives_only_in_its_site_file() -> None:
    """kb/ names no shop: the sample's identity is in articles/_site.yml (and its articles) alone."""
    site = load_site(ROOT / "articles" / "_site.yml")
    en = site.for_locale("en")
    assert site.name and en.name and site.contact.phone and site.contact.email and site.contact.tel
    marks = {site.name, en.name, en.name.split()[0], site.contact.phone, site.contact.tel.removeprefix("tel:"),
             site.contact.email, site.contact.email.split("@")[1], "09:00-18:00"}
    found = []
    for path in sorted((ROOT / "kb").rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore").lower()
        found += [f"{path.relative_to(ROOT)}: {m}" for m in marks if m.lower() in text]
    assert found == []
