"""Need domains written the way people write them ("physical activity", "Befriending").

Forms and spreadsheets are filled in by volunteers, not coders: a domain may be the concept code
(``need-befriending``) or its plain words, in any case. The words come from the concept codes
themselves, so a new domain in ``concepts.NEED_DOMAINS`` is understood with no further change.
"""

from __future__ import annotations

from ltcbridge.concepts import NEED_DOMAINS

_EXTRA_WORDS = {
    "healthy eating or cooking": "need-healthy-eating",
    "cooking": "need-healthy-eating",
    "arts": "need-arts-for-health",
    "welfare rights": "need-welfare-benefits",
    "benefits": "need-welfare-benefits",
    "exercise": "need-physical-activity",
}


def _words(code: str) -> str:
    return code.removeprefix("need-").replace("-", " ")


DOMAIN_WORDS: dict[str, str] = {
    **{_words(code): code for code in NEED_DOMAINS},
    **{code: code for code in NEED_DOMAINS},
    **_EXTRA_WORDS,
}


def plain_words(code: str) -> str:
    """``need-physical-activity`` -> ``physical activity``: how a domain is shown to people."""
    return _words(code)


def parse_domain(text: str) -> str | None:
    """The need concept ``text`` names, or None."""
    key = " ".join(text.strip().lower().replace("_", " ").split())
    return DOMAIN_WORDS.get(key) or DOMAIN_WORDS.get(key.replace(" ", "-"))


def parse_domains(text: str) -> tuple[tuple[str, ...], list[str]]:
    """Domains from a list separated by ``;`` or ``,``: (found, the words not understood)."""
    found: list[str] = []
    unknown: list[str] = []
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        code = parse_domain(part)
        if code is None:
            unknown.append(part.strip())
        elif code not in found:
            found.append(code)
    return tuple(found), unknown


def known_domains_text() -> str:
    return ", ".join(plain_words(code) for code in NEED_DOMAINS)
