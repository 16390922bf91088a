"""Every string the patient app shows exists in English and in Spanish."""

from __future__ import annotations

import re
from pathlib import Path

PWA = Path(__file__).resolve().parents[2] / "pwa"
I18N = (PWA / "js" / "i18n.js").read_text()


def _block(language: str) -> dict[str, str]:
    match = re.search(rf"^  {language}: {{\n(.*?)^  }},", I18N, re.S | re.M)
    assert match, language
    return dict(re.findall(r'^    (\w+): "((?:[^"\\]|\\.)*)",$', match.group(1), re.M))


def test_english_and_spanish_have_the_same_keys() -> None:
    en, es = _block("en"), _block("es")
    assert len(en) > 80
    assert set(en) == set(es)
    # Each English string is translated; only a few words are the same in both.
    same = {key for key in en if en[key] == es[key]}
    assert same <= {"no"}, same  # "No" is Spanish too


def test_every_key_the_app_uses_exists() -> None:
    known = set(_block("en"))
    used: set[str] = set()
    for source in [*PWA.glob("*.js"), *PWA.glob("js/**/*.js")]:
        used |= set(re.findall(r'\bt\("(\w+)"', source.read_text()))
    # Keys built at run time: trend categories and series.
    used |= {
        f"trend_{name}"
        for name in (
            "substantial_improvement", "moderate_improvement", "no_meaningful_change",
            "worsening", "pain", "fatigue",
        )
    }  # fmt: skip
    assert used - known == set()
    assert len(used) > 60
