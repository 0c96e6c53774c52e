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


def untranslated(title: dict[str, str], questions: list[dict[str, str]]) -> list[tuple[str, list[str]]]:
    """Which field lacks which of the consultation's languages (those any of its fields is
    written in), in LANGUAGES order: [("question 3", ["ar", "ru"]), …]. What staff check
    before the letter goes out in those languages."""
    fields = [("title", title), *((f"question {n}", q) for n, q in enumerate(questions, start=1))]
    present = {code for _, texts in fields for code, text in texts.items() if text and text.strip()}
    wanted = [code for code in LANGUAGES if code in present]
    out = []
    for name, texts in fields:
        missing = [code for code in wanted if not (texts.get(code) or "").strip()]
        if missing:
            out.append((name, missing))
    return out
