"""engine.provenance.policy: the prompt policy file, decisions, consent for real people."""
import random

import pytest

from engine.errors import InputError
from engine.provenance import (
    Generation,
    PromptBlocked,
    ProvenanceRecord,
    check_prompt,
    enforce,
    load_policy,
    policy_from_dict,
)


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def test_ordinary_world_prompts_pass(policy):
    from engine.world import caption, sample_scene

    prompts = ["a red ball rolls to the right on a sandy desert",
               "On a sandy desert, a small red ball rolls to the right.",
               "a big blue box falls while the camera zooms in, night sky with stars"]
    for i in range(300):
        rng = random.Random(i)
        prompts.append(caption(sample_scene(rng), rng, split="train" if i % 2 else "eval"))
    refused = [(p, d.message) for p in prompts if not (d := check_prompt(p, policy)).allowed]
    assert refused == []


@pytest.mark.parametrize("prompt, rule", [
    ("explicit porn scene", "sexual-explicit"),
    ("a NAKED man on the beach", "sexual-explicit"),
    ("a naked child", "child-sexual"),
    ("a decapitated knight", "graphic-violence"),
    ("a tutorial on self-harm", "self-harm"),
    ("deepfakes of my neighbour", "non-consensual"),
    ("a school shooting", "violent-extremism"),
])
def test_blocked_prompts_name_their_rule(policy, prompt, rule):
    d = check_prompt(prompt, policy)
    assert not d.allowed and d.rule == rule
    assert repr(rule) in d.message and "\n" not in d.message
    assert d.matched


def test_real_people_need_consent_on_file():
    strict = policy_from_dict({"name": "studio", "people": {"named": ["Ada Lovelace"], "titles": ["President"]}})
    d = check_prompt("Ada Lovelace waves at a red ball", strict)
    assert not d.allowed and d.rule == "people.consent" and "Ada Lovelace" in d.message
    d = check_prompt("President Lincoln rides a blue box", strict)
    assert not d.allowed and "President Lincoln" in d.matched
    assert check_prompt("the president of the club waves", strict).allowed  # no name, no person

    consented = policy_from_dict({"name": "studio", "people": {"named": ["Ada Lovelace"], "titles": ["President"],
                                                               "consent": ["Ada Lovelace", "Abraham Lincoln"]}})
    for prompt in ("Ada Lovelace waves at a red ball", "President Lincoln rides a blue box"):
        d = check_prompt(prompt, consented)
        assert d.allowed and "consent on file" in d.message


def test_default_policy_screens_named_people(policy):
    d = check_prompt("taylor swift dancing on the moon", policy)
    assert not d.allowed and d.category == "real people"


def test_enforce_logs_every_decision_into_the_record(policy):
    rec = ProvenanceRecord.generated(8, Generation("m", "a red ball"), fps=8)
    enforce("a red ball rolls left", policy, rec)
    with pytest.raises(PromptBlocked) as err:
        enforce("a gory red ball", policy, rec)
    assert isinstance(err.value, InputError) and err.value.decision.rule == "graphic-violence"
    assert [d["allowed"] for d in rec.decisions] == [True, False]
    assert rec.decisions[1]["rule"] == "graphic-violence" and rec.decisions[1]["at"]
    assert policy.name in rec.decisions[0]["policy"]
    assert ProvenanceRecord.from_json(rec.to_json()).decisions == rec.decisions


def test_policy_file_errors_are_input_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]\nid=")
    with pytest.raises(InputError, match="not valid TOML"):
        load_policy(bad)
    dup = tmp_path / "dup.toml"
    dup.write_text('[[rule]]\nid="a"\ncategory="x"\nterms=["t"]\n[[rule]]\nid="a"\ncategory="y"\nterms=["u"]\n')
    with pytest.raises(InputError, match="used twice"):
        load_policy(dup)
    with pytest.raises(InputError, match="cannot be read"):
        load_policy(tmp_path / "missing.toml")


def test_custom_policy_file_with_wildcards(tmp_path):
    f = tmp_path / "studio.toml"
    f.write_text('name = "studio"\nversion = 3\n'
                 '[[rule]]\nid = "no-dragons"\ncategory = "brand"\nterms = ["dragon*"]\n')
    p = load_policy(f)
    assert p.label.startswith("studio v3")
    assert not check_prompt("Dragons circle the tower", p).allowed
    assert check_prompt("a red ball", p).allowed


@pytest.mark.parametrize("text, says", [
    ('version = "one"\n', "'version' must be a whole number, got 'one'"),
    ('version = 1.5\n', "'version' must be a whole number, got 1.5"),
    ('rule = "no gore"\n', "'rule' must be a list of [[rule]] tables, got 'no gore'"),
    ('[rule]\nid = "a"\ncategory = "x"\n', "'rule' must be a list of [[rule]] tables"),
    ('[[rule]]\nid = "a"\ncategory = "x"\nterms = "gore"\n', "'rule #1.terms' must be a list of non-empty strings"),
    ('[[rule]]\nid = 3\ncategory = "x"\n', "'rule #1.id' must be non-empty text, got 3"),
    ('[[rule]]\nid = "a"\ncategory = "x"\nmessage = 5\n', "'rule #1.message' must be text, got 5"),
    ('[[rule]]\nid = "a"\ncategory = "x"\nterm = ["gore"]\n',
     "unknown key 'rule #1.term'; allowed: id, category, terms"),
    ('rules = []\n', "unknown key 'rules'; allowed: name, version, rule, people"),
    ('people = ["Ada"]\n', "'people' must be a [people] table"),
    ('[people]\nnamed = "Ada Lovelace"\n', "'people.named' must be a list of non-empty strings"),
    ('[people]\nconsents = []\n', "unknown key 'people.consents'; allowed: named, consent, titles"),
    ('name = ""\n', "'name' must be non-empty text, got ''"),
    ("a = " + "[" * 100_000 + "]" * 100_000 + "\n", "line 1: nested more than 64 levels deep"),
])
def test_policy_files_are_checked_against_their_schema(tmp_path, text, says):
    f = tmp_path / "studio.toml"
    f.write_text(text)
    with pytest.raises(InputError) as err:
        load_policy(f)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_policy_file_past_its_size_limit_says_the_limit(tmp_path):
    f = tmp_path / "huge.toml"
    f.write_bytes(b"# " + b"x" * (4 << 20) + b"\n")
    with pytest.raises(InputError, match=r"over 4 MiB, the most a policy file may be"):
        load_policy(f)
