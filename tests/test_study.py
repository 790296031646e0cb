"""The study's config (subnets.study): typed, torch-free, every cross-field check naming its key; and the names
of sub-networks, one parse / format pair for every kind of source."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from subnets.study import ConfigError, Study
from subnets.study import names as N

validate = pytest.importorskip("snakemake.utils").validate

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def config_of(name: str, edit=None) -> dict:
    config = yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())
    if edit is not None:
        edit(config)
    validate(config, SCHEMA)
    return config


def study_of(name: str, edit=None) -> Study:
    return Study.from_config(config_of(name, edit))


def test_every_shipped_config_builds_a_study():
    for path in sorted((REPO / "config").glob("*.yaml")):
        study = study_of(path.stem)
        assert study.sparsities[0] == 0 and study.sparsities[-1] == study.max_sparsity
        assert study.top_ticket == study.max_sparsity + study.prune_percent


def test_micro_study_levels_languages_and_seeds():
    study = study_of("micro")
    assert study.sparsities == [0, 20, 40]
    assert study.random_sparsities == [40]  # the transfer level, as transfer is on
    assert study.language_order == ["t0", "t1"] == study.common_languages == study.cross_task_languages
    assert study.transfer_seeds == (0,) and study.seeds == (0, 1)
    assert study.mixture_name("ner") == "t0-t1" and study.is_mixture("ner", "t0-t1")
    assert study.repruned_sources == ["repruned20", "random"]
    assert [study.is_ticket_level(s) for s in (0, 20, 40, 60, 80, 30)] == [False, True, True, True, False, False]


def test_language_order_puts_configured_first_then_first_appearance():
    def edit(config):
        config["tasks"]["ner"]["languages"] = ["t1", "t0"]
        config["language_order"] = ["t1", "t0"]

    assert study_of("micro", edit).language_order == ["t1", "t0"]


@pytest.mark.parametrize(
    ("key", "edit"),
    [
        ("study", lambda c: c.update(study="..")),
        ("model.name", lambda c: c["model"].update(name="..")),
        ("model.name", lambda c: c["model"].update(name=".hidden")),
    ],
)
def test_names_that_would_climb_out_of_the_study_are_refused_by_the_schema(key, edit):
    config = yaml.safe_load((REPO / "config" / "micro.yaml").read_text())
    edit(config)
    with pytest.raises(Exception, match="does not match"):
        validate(config, SCHEMA)


@pytest.mark.parametrize("name", ["..", ".", ".x", "a/b", "", "a b"])
def test_unsafe_names_are_refused_by_the_study_too(name):
    """The schema is one guard; the study checks again, for configs built without it."""
    config = config_of("micro")
    config["study"] = name
    with pytest.raises(ConfigError, match="^Error in config: study: "):
        Study.from_config(config)


@pytest.mark.parametrize(
    ("key", "edit", "message"),
    [
        ("imp.max_sparsity", lambda c: c["imp"].update(max_sparsity=50), "not a multiple"),
        ("analysis.transfer_seeds", lambda c: c["analysis"].update(transfer_seeds=[7]), "not in `seeds`"),
        ("tasks.ner.languages", lambda c: c["tasks"]["ner"].update(languages=["t0", "t9"]), "no language"),
        ("analysis.repruned_from", lambda c: c["analysis"].update(repruned_from=[40]), "not below"),
        ("multilingual.ner.sparsity", lambda c: c["multilingual"]["ner"].update(sparsity=30), "not an IMP level"),
        ("probes.sparsity", lambda c: c["probes"].update(sparsity=100), "not an IMP level"),
        ("tasks.ner.options", lambda c: c["tasks"]["ner"].update(options={"bogus": 1}), "unknown option"),
        ("tasks", lambda c: [spec.update(enabled=False) for spec in c["tasks"].values()], "every task is disabled"),
        ("model.source", lambda c: c["model"].update(source="./no/such/model"), "no such model directory"),
        ("language_order", lambda c: c.update(language_order=["t0"]), "lacks"),
    ],
)
def test_cross_field_checks_name_the_key(key, edit, message):
    config = config_of("micro", edit)
    with pytest.raises(ConfigError, match=message) as raised:
        Study.from_config(config)
    assert raised.value.key == key
    assert str(raised.value).startswith(f"Error in config: {key}: ")


@pytest.mark.parametrize("language", ["random", "dense", "repruned20", "task-ner", "lt_sft", "fish", "wanda", "oneshot.t0"])
def test_a_language_may_not_be_spelled_like_another_sub_network(language):
    config = config_of("micro")
    config["tasks"]["ner"]["languages"] = ["t0", language]
    with pytest.raises(ConfigError, match="name sub-networks") as raised:
        Study.from_config(config)
    assert raised.value.key == "tasks.ner.languages"


def test_a_hub_id_passes_and_a_local_model_directory_must_exist(tmp_path):
    assert study_of("config").model_source == "bert-base-multilingual-cased"  # a hub id: nothing to check here
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    assert study_of("config", lambda c: c["model"].update(source=str(model))).model_source == str(model)


def test_study_sources_resolve_against_the_study():
    study = study_of("micro")
    assert study.source("nli", "t1") == N.Source("ticket", language="t1")
    assert study.source("ner", "t0-t1") == N.Source("ticket", language="t0-t1")  # the mixture
    assert study.source("nli", "task-ner") == N.Source("cross_task", task="ner")
    assert study.source("ner", "lt_sft") == N.Source("method", method="lt_sft")
    for task, name in (("nli", "t0-t1"), ("ner", "task-ner"), ("ner", "task-pos"), ("ner", "t7")):
        with pytest.raises(ValueError):
            study.source(task, name)


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("random", N.Source("random")),
        ("repruned20", N.Source("repruned", start=20)),
        ("task-ner", N.Source("cross_task", task="ner")),
        ("fish", N.Source("method", method="fish")),
        ("en", N.Source("ticket", language="en")),
        ("en-fa-fr-zh", N.Source("ticket", language="en-fa-fr-zh")),
    ],
)
def test_source_names_parse_and_format_both_ways(name, source):
    assert N.parse_source(name) == source
    assert N.format_source(source) == name == str(source)


def test_ticket_names_parse_and_format_both_ways():
    name = N.ticket_name("ner", "t1", 1, 5)
    assert name == "ner/t1/seed1-sparsity05"
    assert N.parse_ticket_name(name) == ("ner", "t1", 1, 5)
    with pytest.raises(ValueError, match="names no ticket"):
        N.parse_ticket_name("ner/t1/seed1")


def test_building_a_study_imports_no_torch():
    code = (
        "import sys, yaml\n"
        "from snakemake.utils import validate\n"
        "from subnets.study import Study\n"
        f"config = yaml.safe_load(open({str(REPO / 'config' / 'demo.yaml')!r}))\n"
        f"validate(config, {SCHEMA!r})\n"
        "Study.from_config(config)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_from_config_leaves_the_config_untouched():
    config = config_of("demo")
    before = copy.deepcopy(config)
    Study.from_config(config)
    assert config == before


def test_a_method_mask_of_another_language_has_one_name_and_the_comparison_lists_its_inputs():
    assert N.parse_source("wanda.t1") == N.Source("method", language="t1", method="wanda")
    assert N.method_source("early_bird", "t0") == "early_bird.t0" and N.method_source("fish") == "fish"
    assert N.parse_source("nomethod.t1").kind == "ticket"
    study = study_of("micro")
    assert study.source("ner", "oneshot.t1") == N.Source("method", language="t1", method="oneshot")
    with pytest.raises(ValueError, match="not a language of task ner"):
        study.source("ner", "oneshot.t9")
    assert study.method_tasks == ["ner"] and study.method_options("fish") == {"examples": 16}
    found = study.ticket_methods_inputs("ner")
    assert ("train", "ner", "t0", 0, "wanda.t1", 40) in found["transfer"]
    assert ("train", "ner", "t0", 0, "t1", 40) in found["transfer"]  # IMP's ticket of t1 on t0, the reference
    assert len(found["masks"]) == 5 * 2 and len(found["transfer"]) == 6 * 2
    no_transfer = study_of("micro", lambda c: c["mask_methods"].update(transfer=False))
    assert no_transfer.ticket_methods_inputs("ner")["transfer"] == []
    with pytest.raises(ConfigError, match="not an enabled task") as raised:
        study_of("micro", lambda c: c["mask_methods"].update(tasks=["pos"]))
    assert raised.value.key == "mask_methods.tasks"
