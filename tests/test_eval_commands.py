"""The evaluation commands keep their contracts (DESIGN.md): inputs, errors, JSON keys, last line."""

import csv
import json

import pytest
from django.core.management import CommandError, call_command

INTENT_KEYS = {"accuracy", "oos_recall", "macro_f1", "in_scope_abstain_rate", "n_train", "n_test",
               "train_seconds", "predict_ms_p50", "predict_ms_p95"}
ROWS = {
    "card_arrival": ["when will my card arrive", "my new card has not arrived yet", "card still not delivered",
                     "how long does card delivery take", "where is my card", "is my card on its way"],
    "exchange_rate": ["what exchange rate do you use", "how is the exchange rate calculated",
                      "exchange rate for euros today", "why is your exchange rate so bad",
                      "what rate do I get converting to dollars", "currency conversion rate please"],
    "lost_card": ["I lost my card", "my card was stolen", "can't find my card anywhere", "card lost abroad",
                  "someone took my wallet with the card", "I misplaced my card"],
}


def write_csv(path, rows, header=("text", "category")):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture
def data(tmp_path):
    train = [(t, c) for c, texts in ROWS.items() for t in texts[:4]]
    test = [(t, c) for c, texts in ROWS.items() for t in texts[4:]] + [("how do I invest in stocks", "investing")]
    return write_csv(tmp_path / "train.csv", train), write_csv(tmp_path / "test.csv", test)


def test_eval_intents_writes_every_key_and_scores_out_of_scope_rows(data, tmp_path, capsys):
    out = tmp_path / "out.json"
    call_command("eval_intents", "--train", data[0], "--test", data[1], "--out", str(out), verbosity=0)
    result = json.loads(out.read_text())
    assert INTENT_KEYS <= set(result)
    assert result["n_train"] == 12 and result["n_test"] == 7
    assert result["oos_recall"] is not None  # "investing" never appears in train
    assert 0 <= result["accuracy"] <= 1
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(f"accuracy={result['accuracy']:.4f} oos_recall=")


def test_shots_takes_k_examples_per_category(data, tmp_path):
    out = tmp_path / "out.json"
    call_command("eval_intents", "--train", data[0], "--test", data[1], "--shots", "2", "--seed", "1",
                 "--out", str(out), verbosity=0)
    assert json.loads(out.read_text())["n_train"] == 6


def test_a_bad_header_names_the_file_and_line(data, tmp_path):
    bad = write_csv(tmp_path / "bad.csv", [("a", "b")], header=("sentence", "label"))
    with pytest.raises(CommandError, match=r"bad.csv:1: bad header"):
        call_command("eval_intents", "--train", bad, "--test", data[1], verbosity=0)


def test_eval_entities_scores_per_label_and_micro(tmp_path, capsys):
    path = tmp_path / "ents.jsonl"
    text = "Send 50 euros to Anna Smith on 3 May"

    def span(part, label):
        return {"start": text.index(part), "end": text.index(part) + len(part), "label": label}

    lines = [{"text": text, "entities": [span("50 euros", "MONEY"), span("Anna Smith", "PERSON"), span("3 May", "DATE")]}]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    out = tmp_path / "out.json"
    call_command("eval_entities", "--data", str(path), "--out", str(out))
    result = json.loads(out.read_text())
    assert set(result["per_label"]) >= {"DATE", "MONEY", "PERSON"}
    assert result["micro"]["f1"] > 0.5
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"micro_f1={result['micro']['f1']:.4f}"


def test_a_malformed_jsonl_line_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "entities": []}\n{not json\n')
    with pytest.raises(CommandError, match=r"bad.jsonl:2"):
        call_command("eval_entities", "--data", str(path))
