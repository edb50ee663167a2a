"""Specification of agents.entities.extract_entities and agents.entity_eval (no Django needed)."""

import json
from datetime import datetime

import pytest

from agents.entities import Catalog, Entity, extract_entities
from agents.entity_eval import load_jsonl, score

NOW = datetime(2024, 6, 15, 12, 0)  # a Saturday


def one(text, label, catalog=None):
    """The single entity of ``label`` found in ``text``."""
    found = [e for e in extract_entities(text, catalog, now=NOW) if e.label == label]
    assert len(found) == 1, f"expected one {label} in {text!r}, got {found}"
    return found[0]


def test_spans_are_sorted_non_overlapping_and_match_text():
    text = "Pay $40 to John Smith on 3 March at 5 pm, or email ops@acme.io"
    ents = extract_entities(text, now=NOW)
    assert ents == sorted(ents, key=lambda e: e.start)
    for a, b in zip(ents, ents[1:], strict=False):
        assert a.end <= b.start
    for e in ents:
        assert isinstance(e, Entity) and text[e.start:e.end] == e.text


def test_calendar_date_span_excludes_preposition_and_is_iso():
    e = one("I started paying back my mortgage on the 7th of Jan 2018", "DATE")
    assert (e.text, e.value) == ("7th of Jan 2018", "2018-01-07")


def test_relative_date_is_resolved_against_now():
    assert one("I paid it yesterday", "DATE").value == "2024-06-14"
    assert one("it was refused 3 days ago", "DATE").value == "2024-06-12"


def test_clock_time_includes_am_pm_and_day_part():
    e = one("can we make it 25 to 7 p.m.?", "TIME")
    assert (e.text, e.value) == ("25 to 7 p.m.", "18:35")
    e = one("I lost it around 9 05 in the morning", "TIME")
    assert (e.text, e.value) == ("9 05 in the morning", "09:05")
    assert one("ok, half past 5 works", "TIME").value == "05:30"


def test_bare_hour_after_scheduling_word_is_a_time():
    e = one("anytime after 10", "TIME")
    assert (e.text, e.value) == ("10", "10:00")


@pytest.mark.parametrize("text,span,value", [
    ("I want to increase my limit to 400 dollars", "400 dollars", "400.00 USD"),
    ("do I have less than £900 in my account?", "£900", "900.00 GBP"),
    ("schedule transferring 190€ at 0:10", "190€", "190.00 EUR"),
    ("the invoice says USD 1,200.50", "USD 1,200.50", "1200.50 USD"),
])
def test_money_span_and_normalised_amount(text, span, value):
    e = one(text, "MONEY")
    assert (e.text, e.value) == (span, value)


def test_number_is_int():
    e = one("Create 6 new standing orders.", "NUMBER")
    assert (e.text, e.value) == ("6", 6)


BIG_DECIMAL, BIG_INT = "9" * 400 + ".5", "1" * 5000  # the latter past int()'s 4300-digit limit


@pytest.mark.parametrize(("text", "span"), [
    ("I got error 1e999 when exporting", "1e999"),
    (f"the export failed with {BIG_DECIMAL} rows", BIG_DECIMAL),
    (f"the export failed with {BIG_INT} rows", BIG_INT),
], ids=["exponent", "400-digit-decimal", "5000-digit-integer"])
def test_a_number_too_big_for_a_float_has_no_value(text, span):
    """float() says inf, which is not JSON: PostgreSQL would refuse the message's entities."""
    e = one(text, "NUMBER")
    assert (e.text, e.value) == (span, None)


def test_person_capitalised_and_lower_case():
    assert one("I should have received money from John Smith", "PERSON").text == "John Smith"
    assert one("I need to make a transfer to rickelle kawamoto", "PERSON").text == "rickelle kawamoto"


def test_org():
    assert one("Why was I charged by Microsoft twice?", "ORG").text == "Microsoft"


def test_generic_acronyms_are_not_orgs():
    assert not [e for e in extract_entities("Can I withdraw from an ATM abroad?", now=NOW) if e.label == "ORG"]


def test_email_is_lower_cased():
    e = one("reach me at Jane.Doe@Example.COM please", "EMAIL")
    assert (e.text, e.value) == ("Jane.Doe@Example.COM", "jane.doe@example.com")


def test_url():
    e = one("the page https://status.example.com/incidents/42. is down", "URL")
    assert e.text == "https://status.example.com/incidents/42"


def test_phone_is_e164():
    e = one("call me on (415) 555-2671 tomorrow", "PHONE")
    assert (e.text, e.value) == ("(415) 555-2671", "+14155552671")
    assert one("UK office: +44 20 7946 0958", "PHONE").value == "+442079460958"


@pytest.mark.parametrize("text,label,span,value", [
    ("please resend invoice INV-2024-0012", "INVOICE_ID", "INV-2024-0012", "INV-2024-0012"),
    ("where is order #12345?", "ORDER_ID", "12345", "12345"),
    ("our account ACME-42 was suspended", "ACCOUNT_ID", "ACME-42", "ACME-42"),
])
def test_product_identifiers(text, label, span, value):
    e = one(text, label)
    assert (e.text, e.value) == (span, value)


def test_catalog_plans_and_features_use_canonical_names():
    cat = Catalog(plans=["Pro", "Enterprise Plus"], features=["Single Sign-On", "Audit Log"], orgs=["Globex"])
    ents = extract_entities("Does enterprise plus include single sign-on and the audit log? Globex asks.",
                            cat, now=NOW)
    got = {(e.label, e.text, e.value) for e in ents}
    assert ("PLAN", "enterprise plus", "Enterprise Plus") in got
    assert ("FEATURE", "single sign-on", "Single Sign-On") in got
    assert ("FEATURE", "audit log", "Audit Log") in got
    assert ("ORG", "Globex", "Globex") in got
    # the longer plan name wins over a shorter one inside it
    assert not any(e.label == "PLAN" and e.value == "Pro" for e in ents)


def test_empty_text():
    assert extract_entities("", now=NOW) == []
    assert extract_entities("   ", now=NOW) == []


# ------------------------------------------------------------------ evaluator

def test_score_on_a_hand_countable_example():
    gold = [
        [{"start": 0, "end": 5, "label": "DATE"}, {"start": 10, "end": 14, "label": "MONEY"}],
        [{"start": 3, "end": 8, "label": "PERSON"}],
    ]
    pred = [
        [{"start": 0, "end": 5, "label": "DATE"},       # TP
         {"start": 10, "end": 13, "label": "MONEY"},    # wrong boundary: FP + FN
         {"start": 20, "end": 25, "label": "EMAIL"}],   # label not scored: ignored
        [{"start": 3, "end": 8, "label": "ORG"}],       # wrong label: FP(ORG) + FN(PERSON)
    ]
    res = score(gold, pred)
    assert res["per_label"]["DATE"]["f1"] == 1.0
    assert (res["per_label"]["MONEY"]["tp"], res["per_label"]["MONEY"]["fp"], res["per_label"]["MONEY"]["fn"]) == (0, 1, 1)
    assert res["per_label"]["ORG"]["precision"] == 0.0
    assert res["per_label"]["PERSON"]["recall"] == 0.0
    micro = res["micro"]
    assert (micro["tp"], micro["fp"], micro["fn"]) == (1, 2, 2)
    assert micro["precision"] == pytest.approx(1 / 3)
    assert micro["recall"] == pytest.approx(1 / 3)
    assert micro["f1"] == pytest.approx(1 / 3)


def test_score_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        score([[]], [[], []])


def test_load_jsonl_reads_objects_and_skips_blank_lines(tmp_path):
    p = tmp_path / "ok.jsonl"
    p.write_text(json.dumps({"text": "a", "entities": []}) + "\n\n" + json.dumps({"text": "b"}) + "\n")
    assert [r["text"] for r in load_jsonl(p)] == ["a", "b"]


def test_load_jsonl_names_file_and_line_of_a_malformed_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": "fine", "entities": []}\n{"text": "broken", \n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        load_jsonl(p)
