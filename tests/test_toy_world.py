"""The toy world: labels correct by construction, languages as declared, hub schemas, determinism, no shortcuts."""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from subnets.toy import WorldConfig, build_world, write_world
from subnets.toy.cli import main as cli_main
from subnets.toy.corpora import spans
from subnets.toy.grammar import Clause, Sentence, SentenceSampler
from subnets.toy.languages import LANGUAGE_CODES, NER_LABELS, PIVOT, PROFILES, build_languages, length_key
from subnets.toy.nli import block_key
from subnets.toy.seeding import stream
from subnets.toy.semantics import CONTRADICTION, ENTAILMENT, NEUTRAL, nli_label

SMALL = {
    "mlm_train_docs": 200,
    "mlm_validation_docs": 30,
    "ner_train": 150,
    "ner_validation": 30,
    "ner_test": 60,
    "nli_train": 900,
    "nli_validation": 60,
    "nli_test": 450,
    "parallel_size": 60,
    "parallel_nli_size": 60,
}
TINY = {
    "mlm_train_docs": 20,
    "mlm_validation_docs": 3,
    "ner_train": 10,
    "ner_validation": 5,
    "ner_test": 5,
    "nli_train": 9,
    "nli_validation": 6,
    "nli_test": 6,
    "parallel_size": 10,
    "parallel_nli_size": 6,
}


@pytest.fixture(scope="module")
def config() -> WorldConfig:
    return WorldConfig(seed=7, **SMALL)


@pytest.fixture(scope="module")
def world(config):
    return build_world(config)


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory, config) -> Path:
    out = tmp_path_factory.mktemp("toy") / "world"
    write_world(out, config)
    return out


@pytest.fixture(scope="module")
def affirmed_config() -> WorldConfig:
    return WorldConfig(seed=7, **SMALL, nli_negated_hypotheses=False)


@pytest.fixture(scope="module")
def affirmed_world_dir(tmp_path_factory, affirmed_config) -> Path:
    out = tmp_path_factory.mktemp("toy_affirmed") / "world"
    write_world(out, affirmed_config)
    return out


@pytest.fixture(scope="module", params=["negated", "affirmed"])
def nli_case(request, config, world, world_dir, affirmed_config, affirmed_world_dir):
    """Both NLI styles: (world, its directory), hypotheses possibly denied or always affirmed."""
    if request.param == "negated":
        return world, world_dir
    return build_world(affirmed_config), affirmed_world_dir


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def digests(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


# --- configuration -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("languages", [1, 10, 0, ("t0",), ("t1", "t2"), ("t0", "zz"), ("t0", "t0")])
def test_invalid_language_selections_are_rejected(languages):
    with pytest.raises(ValueError, match="languages"):
        WorldConfig(languages=languages)


def test_languages_of_the_wrong_type_are_rejected():
    with pytest.raises(TypeError, match="languages"):
        WorldConfig(languages="t0,t1")


def test_invalid_sizes_are_rejected():
    with pytest.raises(ValueError, match="low_resource_share"):
        WorldConfig(low_resource_share=0.5)
    with pytest.raises(ValueError, match="nli_train"):
        WorldConfig(nli_train=0)


@pytest.mark.parametrize("count", [2, 8])
def test_two_and_eight_languages(tmp_path, count):
    manifest = write_world(tmp_path / "w", WorldConfig(seed=1, languages=count, **TINY))
    codes = LANGUAGE_CODES[:count]
    assert list(manifest["languages"]) == list(codes)
    for code in codes:
        for task, splits in (("mlm", ("train", "validation")), ("ner", ("train", "validation", "test"))):
            for split in splits:
                assert manifest["files"][f"{task}/{code}/{split}.jsonl"]["rows"] > 0
        assert (tmp_path / "w" / "parallel_nli" / code / "test.jsonl").exists()
    assert sorted(p.name for p in (tmp_path / "w" / "parallel").iterdir()) == [f"t0-{c}" for c in codes[1:]]
    assert json.loads((tmp_path / "w" / "world.json").read_text()) == manifest


def test_a_language_does_not_depend_on_the_others(tmp_path):
    write_world(tmp_path / "a", WorldConfig(seed=2, languages=("t0", "t2"), **TINY))
    write_world(tmp_path / "b", WorldConfig(seed=2, languages=5, **TINY))
    for task in ("mlm/t2/train.jsonl", "ner/t2/test.jsonl", "nli/t2/train.jsonl", "parallel/t0-t2/test.jsonl"):
        assert (tmp_path / "a" / task).read_bytes() == (tmp_path / "b" / task).read_bytes()


# --- determinism ---------------------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    write_world(tmp_path / "a", WorldConfig(seed=11, **TINY))
    # Another process, with another hash seed: nothing may depend on the iteration order of sets.
    script = (
        "import sys, json; from subnets.toy import *; write_world(sys.argv[1], WorldConfig(**json.loads(sys.argv[2])))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "b"), json.dumps({"seed": 11, **TINY})], check=True, env=env
    )
    write_world(tmp_path / "c", WorldConfig(seed=12, **TINY))
    a, b, c = digests(tmp_path / "a"), digests(tmp_path / "b"), digests(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[name] != c[name] for name in a)


def test_nli_style_is_deterministic_and_only_changes_nli(tmp_path):
    write_world(tmp_path / "a", WorldConfig(seed=11, **TINY, nli_negated_hypotheses=False))
    write_world(tmp_path / "b", WorldConfig(seed=11, **TINY, nli_negated_hypotheses=False))
    write_world(tmp_path / "c", WorldConfig(seed=11, **TINY))
    a, b, c = digests(tmp_path / "a"), digests(tmp_path / "b"), digests(tmp_path / "c")
    assert a == b
    nli_files = [name for name in a if name.startswith(("nli/", "parallel_nli/"))]
    assert nli_files and all(a[name] != c[name] for name in nli_files)
    assert all(a[name] == c[name] for name in a if name not in nli_files and name != "world.json")
    with pytest.raises(TypeError, match="nli_negated_hypotheses"):
        WorldConfig(nli_negated_hypotheses="no")


_TRAIN = "import sys; from subnets.toy.tokenizer import *; train_tokenizer(world_texts(sys.argv[1]), sys.argv[2], 600)"


def test_tokenizer_is_deterministic_across_processes_and_loads(tmp_path, world_dir):
    from subnets.toy.tokenizer import train_tokenizer, world_texts

    # Another process has other hash seeds (Python's and Rust's): the files must not depend on them.
    subprocess.run([sys.executable, "-c", _TRAIN, str(world_dir), str(tmp_path / "tok_a")], check=True)
    train_tokenizer(world_texts(world_dir), tmp_path / "tok_b", 600)
    assert digests(tmp_path / "tok_a") == digests(tmp_path / "tok_b")

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "tok_a")
    assert len(tokenizer) == 600
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    row = read_jsonl(world_dir / "nli" / "t1" / "test.jsonl")[0]
    encoded = tokenizer(row["premise"], row["hypothesis"])
    ids, segments = encoded["input_ids"], encoded["token_type_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert segments[ids.index(tokenizer.sep_token_id) + 1] == 1 and segments[0] == 0
    assert tokenizer.unk_token_id not in ids  # accents and case survive normalisation
    assert tokenizer.decode(encoded["input_ids"], skip_special_tokens=True).replace(" .", ".") == (
        row["premise"] + " " + row["hypothesis"]
    )


# --- hub schemas ---------------------------------------------------------------------------------------------


def test_files_load_into_the_hub_schemas(world_dir, tmp_path):
    from datasets import Sequence, Value, load_dataset

    def load(task: str, name: str, split: str = "test"):
        return load_dataset(
            "json",
            data_files={split: str(world_dir / task / name / f"{split}.jsonl")},
            split=split,
            cache_dir=str(tmp_path / "cache"),
        )

    ner = load("ner", "t2")
    assert ner.features["tokens"] == Sequence(Value("string")) or ner.features["tokens"].feature == Value("string")
    assert ner.features["ner_tags"].feature.dtype == "int64"
    assert sorted(ner.column_names) == ["langs", "ner_tags", "spans", "tokens"]
    nli = load("nli", "t3")
    assert sorted(nli.column_names) == ["hypothesis", "label", "premise"]
    assert nli.features["premise"] == Value("string") and nli.features["label"] == Value("int64")
    parallel = load("parallel", "t0-t4")
    assert sorted(parallel.features["translation"]) == ["t0", "t4"]
    mlm = load("mlm", "t1", "validation")
    assert sorted(mlm.column_names) == ["id", "text", "title"]
    probe = load("parallel_nli", "t2")
    assert sorted(probe.column_names) == ["hypothesis", "id", "label", "premise"]


# --- languages -----------------------------------------------------------------------------------------------


def test_each_language_writes_only_its_own_words(world, world_dir):
    for code, language in world.languages.items():
        vocabulary = language.vocabulary()
        capital = PROFILES[code].capitalisation
        for row in read_jsonl(world_dir / "ner" / code / "train.jsonl"):
            first, *rest = row["tokens"]
            assert first in vocabulary or (capital and first[0].lower() + first[1:] in vocabulary)
            assert set(rest) <= vocabulary, (code, row["tokens"])
            assert row["langs"] == [code] * len(row["tokens"])


def test_vocabularies_are_disjoint_except_for_related_pairs():
    lexicon = build_world(WorldConfig(seed=5)).lexicon
    languages = build_languages(stream(5, "vocabulary"), lexicon)
    content = set(lexicon.content_lemmas())
    owners = collections.defaultdict(set)
    for code, language in languages.items():
        for form in language.forms.values():
            owners[form].add(code)
    shared = collections.defaultdict(set)  # lemmas whose form a language has from or gives to a relative
    for code, language in languages.items():
        relative = language.profile.related_to
        if relative is not None:
            lemmas = {lemma for lemma, form in language.forms.items() if languages[relative].forms.get(lemma) == form}
            assert lemmas <= content
            assert len(lemmas) == round(language.profile.shared_share * len(content))
            shared[code] |= lemmas
            shared[relative] |= lemmas
    clone = languages["t8"]
    assert clone.profile.clone_of == "t0" and clone.forms == languages["t0"].forms  # the positive control
    del languages["t8"]
    for form in clone.forms.values():
        owners[form].discard("t8")
    for code, language in languages.items():
        profile = language.profile
        for lemma, form in language.forms.items():
            if lemma in shared[code]:
                assert len(owners[form]) == 2
                continue
            assert owners[form] == {code}, (code, lemma, form)
            assert set(form) <= profile.inventory.letters, (code, form)
            assert not profile.inventory.marked or set(form) & set(profile.inventory.marked)


def test_word_order_and_capitalisation_follow_the_profiles(world, world_dir):
    lexicon = world.lexicon
    verb_lemma = f"v:{lexicon.transitive_verbs[0]}"
    clause = Clause("per:0", lexicon.transitive_verbs[0], True, "n:1", "a:2", "loc:3", "t:4")
    for code, language in build_languages(stream(7, "vocabulary"), lexicon).items():
        profile, forms = language.profile, language.forms
        verb_form, negation = forms[verb_lemma], forms["NEG"]
        tokens = [token for token, _ in language.realise(Sentence(clause))]
        words = [token.lower() for token in tokens]
        position = {
            name: words.index(forms[lemma].lower())
            for name, lemma in (("object", "n:1"), ("adjective", "a:2"), ("time", "t:4"), ("adposition", "IN"))
        }
        verb = next(i for i, word in enumerate(words) if verb_form in word)
        subject = words.index(language.realise_entity("per:0")[0][0].lower())
        location = words.index(language.realise_entity("loc:3")[0][0].lower())
        order = "".join(sorted("SVO", key={"S": subject, "V": verb, "O": position["object"]}.get))
        assert order == profile.word_order, code
        assert (position["adjective"] < position["object"]) == (profile.adjective == "before"), code
        assert (position["adposition"] < location) == (profile.adposition == "preposition"), code
        negated = {"word": [negation, verb_form], "prefix": [negation + verb_form], "suffix": [verb_form + negation]}
        assert words[verb - (profile.negation == "word") : verb + 1] == negated[profile.negation], code
        assert (tokens[subject][0].isupper()) == profile.capitalisation, code
    distant = [c for c in world.languages if not PROFILES[c].capitalisation]
    assert distant == ["t2"]
    for path in (world_dir / "mlm" / "t2").iterdir():
        text = path.read_text(encoding="utf-8")
        assert text == text.lower()


def test_default_world_has_the_required_kinds_of_languages():
    profiles = [PROFILES[code] for code in WorldConfig().language_codes]
    pivot = PROFILES[PIVOT]
    assert any(p.related_to == PIVOT and p.word_order == pivot.word_order and p.shared_share >= 0.5 for p in profiles)
    assert any(p.word_order != pivot.word_order and not p.capitalisation for p in profiles)
    assert sum(p.low_resource for p in profiles) == 1
    assert len({p.inventory for p in profiles}) == len(profiles)


def test_low_resource_language_has_at_most_a_tenth_of_the_text(world_dir):
    size = {code: (world_dir / "mlm" / code / "train.jsonl").stat().st_size for code in ("t0", "t1", "t2", "t3")}
    assert (world_dir / "mlm" / "t4" / "train.jsonl").stat().st_size <= 0.1 * min(size.values())


def test_mlm_splits_are_disjoint_documents(config, world_dir):
    for code in ("t0", "t4"):
        train = read_jsonl(world_dir / "mlm" / code / "train.jsonl")
        validation = read_jsonl(world_dir / "mlm" / code / "validation.jsonl")
        assert not {row["text"] for row in train} & {row["text"] for row in validation}
        assert all(row["text"].count(".") >= config.sentences_per_doc[0] for row in train)
        assert len({row["id"] for row in train + validation}) == len(train) + len(validation)


def test_length_key_predicts_the_token_count_in_every_language(world):
    rng = stream(0, "length test")
    sampler = SentenceSampler(world.lexicon)
    sentences = [sampler.sentence(rng) for _ in range(300)]
    for language in build_languages(stream(7, "vocabulary"), world.lexicon).values():
        article, negation = language.profile.article, language.profile.negation == "word"
        for sentence in sentences:
            base, noun_phrases, negations = length_key(sentence, world.lexicon)
            assert len(language.realise(sentence)) == base + article * noun_phrases + negation * negations


# --- NER -----------------------------------------------------------------------------------------------------


def test_ner_tags_mark_exactly_the_entity_names(world, world_dir):
    for code, language in world.languages.items():
        for split, sentences in world.ner_sentences(code).items():
            rows = read_jsonl(world_dir / "ner" / code / f"{split}.jsonl")
            assert len(rows) == len(sentences)
            for row, sentence in zip(rows, sentences):
                tokens, tags = row["tokens"], row["ner_tags"]
                assert len(tokens) == len(tags) and all(0 <= tag < len(NER_LABELS) for tag in tags)
                for previous, tag in zip([0] + tags, tags):  # IOB2: I-X only continues B-X or I-X
                    if NER_LABELS[tag].startswith("I-"):
                        assert NER_LABELS[previous][2:] == NER_LABELS[tag][2:]
                expected = []
                for key in sentence.entities():
                    name = language.realise_entity(key)
                    expected.append(f"{lexicon_kind(world, key)}: {' '.join(token for token, _ in name)}")
                assert sorted(row["spans"]) == sorted(expected) == sorted(spans(tokens, tags))
                assert expected, "every NER sentence mentions an entity"


def lexicon_kind(world, key: str) -> str:
    return world.lexicon.entities[key].kind


def test_multi_word_entities_occur(world_dir):
    tags = [tag for row in read_jsonl(world_dir / "ner" / "t0" / "train.jsonl") for tag in row["ner_tags"]]
    counts = collections.Counter(NER_LABELS[tag] for tag in tags)
    assert all(counts[label] > 0 for label in NER_LABELS)


# --- parallel data -------------------------------------------------------------------------------------------


def test_parallel_pairs_share_one_abstract_sentence(world, world_dir):
    pivot = world.languages[PIVOT]
    sides = {}
    for code, language in world.languages.items():
        if code == PIVOT:
            continue
        rows = read_jsonl(world_dir / "parallel" / f"{PIVOT}-{code}" / "test.jsonl")
        assert [row["id"] for row in rows] == [f"parallel-{i:05d}" for i in range(len(world.parallel_sentences))]
        for row, sentence in zip(rows, world.parallel_sentences):
            assert row["translation"] == {PIVOT: pivot.text(sentence), code: language.text(sentence)}
        sides[code] = [row["translation"][PIVOT] for row in rows]
    assert len({tuple(side) for side in sides.values()}) == 1


def test_parallel_nli_items_are_the_same_in_every_language(nli_case):
    world, world_dir = nli_case
    rows = {code: read_jsonl(world_dir / "parallel_nli" / code / "test.jsonl") for code in world.languages}
    ids = {code: [row["id"] for row in language_rows] for code, language_rows in rows.items()}
    labels = {code: [row["label"] for row in language_rows] for code, language_rows in rows.items()}
    assert len({tuple(v) for v in ids.values()}) == 1 and len({tuple(v) for v in labels.values()}) == 1
    for code, language in world.languages.items():
        for row, item in zip(rows[code], world.parallel_nli_items):
            assert row == {
                "id": item.id,
                "premise": language.text(item.premise),
                "hypothesis": language.text(item.hypothesis),
                "label": item.label,
            }
    premises = [item.premise for items in world.nli_items.values() for item in items]
    premises += [item.premise for item in world.parallel_nli_items]
    assert len(set(premises)) == len(premises)  # no premise is shared between items, splits or the probe


# --- NLI -----------------------------------------------------------------------------------------------------

SLOTS = ("subject", "object", "adjective", "location", "time")


def _holds(clause: Clause, event: dict | None) -> bool:
    """Truth of a clause in a world whose event of the clause's verb is ``event`` (None: no such event)."""
    matches = event is not None and all(event[name] == value for name, value in clause.slots().items())
    return matches if clause.affirms else not matches


def model_checked_label(premise: Sentence, hypothesis: Sentence) -> int:
    """The NLI label by brute force over all worlds (one event or none per verb, unique-event reading),
    independent of :func:`subnets.toy.semantics.nli_label`."""
    verdicts = []
    for h in hypothesis.clauses:
        p = next((c for c in premise.clauses if c.verb == h.verb), None)
        mentioned = [c for c in (p, h) if c is not None]
        domains = [sorted({c.slots()[s] for c in mentioned if s in c.slots()}) + ["<other>"] for s in SLOTS]
        worlds = [None] + [dict(zip(SLOTS, values)) for values in itertools.product(*domains)]
        possible = [w for w in worlds if p is None or _holds(p, w)]
        if not any(_holds(h, w) for w in possible):
            verdicts.append(CONTRADICTION)
        else:
            verdicts.append(ENTAILMENT if all(_holds(h, w) for w in possible) else NEUTRAL)
    if hypothesis.reason is not None:
        link = (hypothesis.reason.verb, hypothesis.main.verb)
        stated = premise.reason is not None and link == (premise.reason.verb, premise.main.verb)
        verdicts.append(ENTAILMENT if stated else NEUTRAL)
    if CONTRADICTION in verdicts:
        return CONTRADICTION
    return ENTAILMENT if set(verdicts) == {ENTAILMENT} else NEUTRAL


def test_semantics_on_hand_made_examples(world):
    see = world.lexicon.transitive_verbs[0]
    saw_red_car_in_lima = Clause("per:0", see, False, "n:1", "a:1", "loc:0")
    saw_car = Clause("per:0", see, False, "n:1")
    not_saw_car = Clause("per:0", see, True, "n:1")
    not_saw_car_in_oslo = Clause("per:0", see, True, "n:1", location="loc:1")
    other_saw_car = Clause("per:1", see, False, "n:1")
    bought_car = Clause("per:0", world.lexicon.transitive_verbs[1], False, "n:1")
    cases = [
        (saw_red_car_in_lima, saw_car, ENTAILMENT),  # dropping modifiers
        (saw_car, saw_red_car_in_lima, NEUTRAL),  # adding modifiers
        (saw_red_car_in_lima, not_saw_car, CONTRADICTION),  # negation
        (saw_red_car_in_lima, not_saw_car_in_oslo, ENTAILMENT),  # the one event of seeing was in Lima
        (saw_car, not_saw_car_in_oslo, NEUTRAL),
        (saw_car, bought_car, NEUTRAL),  # another event
        (saw_car, other_saw_car, CONTRADICTION),  # swapped subject of the one event
        (not_saw_car, Clause("per:0", see, True, "n:1", "a:1"), ENTAILMENT),  # negated together
        (not_saw_car, saw_red_car_in_lima, CONTRADICTION),
        (Clause("per:0", see, True, "n:1", "a:1"), not_saw_car, NEUTRAL),
    ]
    left = Clause("per:2", world.lexicon.intransitive_verbs[0], False)
    left_because = Sentence(saw_red_car_in_lima, left)  # "Anna saw the red car in Lima because Bea left"
    cases = [(Sentence(p), Sentence(h), label) for p, h, label in cases] + [
        (left_because, Sentence(left), ENTAILMENT),  # dropping the reason clause
        (left_because, Sentence(saw_car, left), ENTAILMENT),
        (left_because, Sentence(left, saw_car), NEUTRAL),  # the causal link reversed
        (left_because, Sentence(not_saw_car, left), CONTRADICTION),
    ]
    for premise, hypothesis, label in cases:
        assert nli_label(premise, hypothesis) == label
        assert model_checked_label(premise, hypothesis) == label


def test_nli_labels_agree_with_a_model_checker(nli_case):
    world, _ = nli_case
    items = [item for split in world.nli_items.values() for item in split] + world.parallel_nli_items
    for item in items:
        for sentence in (item.premise, item.hypothesis):
            assert len({clause.verb for clause in sentence.clauses}) == len(sentence.clauses)
        assert model_checked_label(item.premise, item.hypothesis) == item.label, item


def test_nli_rows_realise_the_items_and_are_balanced(nli_case):
    world, world_dir = nli_case
    for split, items in world.nli_items.items():
        assert collections.Counter(item.label for item in items) == {label: len(items) // 3 for label in range(3)}
        blocks = collections.defaultdict(collections.Counter)
        for item in items:
            blocks[block_key(item.premise, item.hypothesis, world.lexicon)][item.label] += 1
        assert all(len({counts[label] for label in range(3)}) == 1 for counts in blocks.values())
        for code, language in world.languages.items():
            rows = read_jsonl(world_dir / "nli" / code / f"{split}.jsonl")
            assert rows == [
                {
                    "premise": language.text(item.premise),
                    "hypothesis": language.text(item.hypothesis),
                    "label": item.label,
                }
                for item in items
            ]
    pivot_negation = world.languages[PIVOT].forms["NEG"]
    negated = collections.Counter(
        row["label"]
        for row in read_jsonl(world_dir / "nli" / PIVOT / "train.jsonl")
        if pivot_negation in row["hypothesis"].split()
    )
    if world.config.nli_negated_hypotheses:
        assert min(negated.values()) == max(negated.values()) > 0  # "not" occurs equally often under every label
    else:
        assert not negated  # the affirmed style never denies a hypothesis
        assert not any(
            clause.negated for items in world.nli_items.values() for item in items for clause in item.hypothesis.clauses
        )


@pytest.mark.parametrize("code", ["t0", "t2"])
def test_nli_is_not_solvable_from_the_hypothesis_or_the_lengths(nli_case, code):
    _, world_dir = nli_case
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeClassifier

    train = read_jsonl(world_dir / "nli" / code / "train.jsonl")
    test = read_jsonl(world_dir / "nli" / code / "test.jsonl")
    y_train, y_test = [row["label"] for row in train], [row["label"] for row in test]

    def lengths(rows):
        return [[len(row["premise"].split()), len(row["hypothesis"].split())] for row in rows]

    for field in ("hypothesis", "premise"):  # bag of words and bigrams
        one_sided = make_pipeline(
            CountVectorizer(token_pattern=r"[^\s.]+", ngram_range=(1, 2)), LogisticRegression(max_iter=2000)
        )
        one_sided.fit([row[field] for row in train], y_train)
        assert one_sided.score([row[field] for row in test], y_test) < 0.45, field
    for classifier in (LogisticRegression(max_iter=2000), DecisionTreeClassifier(max_depth=6, random_state=0)):
        classifier.fit(lengths(train), y_train)
        assert classifier.score(lengths(test), y_test) < 0.45, classifier


# --- command line --------------------------------------------------------------------------------------------


def test_cli_writes_a_world_and_a_tokenizer(tmp_path, capsys):
    sizes = [f"--{name.replace('_', '-')}={value}" for name, value in TINY.items()]
    assert cli_main(["world", "--out", str(tmp_path / "w"), "--seed", "3", "--languages", "t0,t2,t4", *sizes]) == 0
    manifest = json.loads((tmp_path / "w" / "world.json").read_text())
    assert list(manifest["languages"]) == ["t0", "t2", "t4"] and manifest["seed"] == 3
    assert manifest["languages"]["t4"]["low_resource"] and manifest["languages"]["t2"]["word_order"] == "SOV"
    assert (
        cli_main(["tokenizer", "--world", str(tmp_path / "w"), "--out", str(tmp_path / "tok"), "--vocab-size", "300"])
        == 0
    )
    assert (tmp_path / "tok" / "tokenizer.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers
    assert "subnets-toy" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["world", "--out", str(tmp_path / "bad"), "--languages", "10"])
    assert "2 to 9 languages" in capsys.readouterr().err


def test_the_clone_writes_like_the_pivot_but_its_own_texts(tmp_path):
    """The positive control: the pivot's words and grammar, other documents, sentences and NLI items; parallel
    probe files identical to the pivot's side."""
    config = WorldConfig(seed=2, languages=("t0", "t1", "t8"), **TINY)
    manifest = write_world(tmp_path, config)
    assert manifest["languages"]["t8"]["name"] == "clone" and manifest["languages"]["t8"]["clone_of"] == "t0"
    read = lambda path: [json.loads(line) for line in (tmp_path / path).read_text().splitlines()]  # noqa: E731
    for path in ("mlm/{}/train.jsonl", "ner/{}/train.jsonl", "nli/{}/train.jsonl"):
        pivot, clone = read(path.format("t0")), read(path.format("t8"))
        assert pivot != clone
    vocabulary = {word.lower() for word in build_world(config).languages["t0"].vocabulary()}
    clone_words = {token.lower() for row in read("ner/t8/train.jsonl") for token in row["tokens"]}
    assert clone_words <= vocabulary  # every word the clone writes is a pivot word
    assert read("nli/t1/train.jsonl") != read("nli/t0/train.jsonl")  # sister: same items, other words
    pairs = read("parallel/t0-t8/test.jsonl")
    assert all(row["translation"]["t0"] == row["translation"]["t8"] for row in pairs)
    assert read("parallel_nli/t8/test.jsonl") == read("parallel_nli/t0/test.jsonl")
