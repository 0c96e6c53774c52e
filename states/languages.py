"""The six ITU languages, in the order ITU documents list them."""

from __future__ import annotations

LANGUAGES: tuple[str, ...] = ("ar", "zh", "en", "fr", "ru", "es")
RTL_LANGUAGES: frozenset[str] = frozenset({"ar"})
FALLBACK_ORDER: tuple[str, ...] = ("en", "fr", "es", "ar", "ru", "zh")


def pick(texts: dict[str, str], lang: str) -> str:
    """The text in `lang`, or the first available in the fallback order."""
    if texts.get(lang):
        return texts[lang]
    for code in FALLBACK_ORDER:
        if texts.get(code):
            return texts[code]
    return ""


def babel_locale(lang: str) -> str:
    """The CLDR locale dates and numbers are written in: British English wherever English
    appears ("19 August 2017"), as the organisation writes; the others as they are."""
    return "en_GB" if lang == "en" else lang
