"""Prompt policy: a readable TOML file of blocked terms by category, plus the
rule that real, named people may be prompted only with their consent on file.

`check_prompt(prompt, policy)` returns a Decision naming the rule that applied;
`enforce` also logs it into a provenance record and raises `PromptBlocked`
(an InputError, so the CLI prints it and exits 2) when the prompt is refused.
The bundled policy is assets/policy/default_policy.toml; a studio points at
its own file instead.

Matching is on whole words, case-insensitive, after punctuation is dropped
("self-harm" matches "self harm"); a term ending in "*" matches any word that
starts with it ("decapitat*"). This is a screen against plain requests, not a
classifier: misspellings and paraphrases pass, and a term in a negation ("no
gore") still blocks. Say so to users; tighten the file for your studio.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from engine.datafiles import decode, parse_toml, read_bytes
from engine.errors import InputError

DEFAULT_POLICY_PATH = Path(__file__).resolve().parents[2] / "assets" / "policy" / "default_policy.toml"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Rule:
    """Block a prompt that contains any of `terms` (and, when `with_terms` is
    non-empty, also one of `with_terms`: a co-occurrence rule)."""
    id: str
    category: str
    terms: tuple[str, ...]
    with_terms: tuple[str, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class Policy:
    name: str
    version: int
    rules: tuple[Rule, ...]
    named_people: tuple[str, ...] = ()   # real people who may be prompted only with consent
    consent: tuple[str, ...] = ()        # people whose consent is on file
    titles: tuple[str, ...] = ()         # "President", "Senator", ...: a title plus a Capitalised word names a person
    source: str = "<memory>"
    digest: str = ""

    @property
    def label(self) -> str:
        """How decisions cite the policy: name, version and a digest of the file."""
        return f"{self.name} v{self.version}" + (f" ({self.digest[:12]})" if self.digest else "")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    prompt: str
    message: str
    rule: str | None = None
    category: str | None = None
    matched: tuple[str, ...] = ()
    policy: str = ""

    def to_dict(self) -> dict:
        return {"allowed": self.allowed, "prompt": self.prompt, "rule": self.rule, "category": self.category,
                "matched": list(self.matched), "message": self.message, "policy": self.policy}


class PromptBlocked(InputError):
    """A prompt the policy refuses; `.decision` says which rule applied."""

    def __init__(self, decision: Decision):
        super().__init__(decision.message)
        self.decision = decision


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

# The policy file's schema: key -> what it holds (the error names the key and this).
POLICY_KEYS = {"name": "non-empty text", "version": "a whole number", "rule": "a list of [[rule]] tables",
               "people": "a [people] table"}
RULE_KEYS = {"id": "non-empty text", "category": "non-empty text", "terms": "a list of non-empty strings",
             "with_terms": "a list of non-empty strings", "message": "text"}
PEOPLE_KEYS = {"named": "a list of non-empty strings", "consent": "a list of non-empty strings",
               "titles": "a list of non-empty strings"}


def load_policy(path=None) -> Policy:
    """Read a policy file (default: the bundled assets/policy/default_policy.toml)."""
    path = Path(path) if path is not None else DEFAULT_POLICY_PATH
    raw = read_bytes(path, "policy file")
    data = parse_toml(decode(raw, "policy file", path), f"policy file {str(path)!r}")
    return policy_from_dict(data, source=str(path), digest=hashlib.sha256(raw).hexdigest())


def policy_from_dict(data: dict, source: str = "<memory>", digest: str = "") -> Policy:
    """A Policy from its TOML table, checked against POLICY_KEYS, RULE_KEYS and PEOPLE_KEYS: a wrong key or
    value is one line naming the key and what it may hold."""
    def fail(key: str, table: dict, value=None, unknown: bool = False):
        if unknown:
            raise InputError(f"policy {source}: unknown key {key!r}; allowed: {', '.join(table)}")
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise InputError(f"policy {source}: {key!r} must be {table[key.rsplit('.', 1)[-1]]}, got {shown}")

    def text(value, key, table):
        if not isinstance(value, str) or not value.strip():
            fail(key, table, value)
        return value.strip()

    def strings(value, key, table):
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            fail(key, table, value)
        return tuple(v.strip() for v in value)

    if not isinstance(data, dict):
        raise InputError(f"policy {source}: a policy is a TOML table with {', '.join(POLICY_KEYS)}")
    for key in data:
        if key not in POLICY_KEYS:
            fail(key, POLICY_KEYS, unknown=True)
    version = data.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        fail("version", POLICY_KEYS, version)
    name = text(data.get("name", "unnamed"), "name", POLICY_KEYS)
    rule_list = data.get("rule", [])
    if not isinstance(rule_list, list) or not all(isinstance(r, dict) for r in rule_list):
        fail("rule", POLICY_KEYS, rule_list)
    rules, seen = [], set()
    for i, r in enumerate(rule_list):
        where = f"rule #{i + 1}"
        for key in r:
            if key not in RULE_KEYS:
                fail(f"{where}.{key}", RULE_KEYS, unknown=True)
        if "id" not in r or "category" not in r:
            raise InputError(f"policy {source}: {where} needs an 'id' and a 'category'")
        rid = text(r["id"], f"{where}.id", RULE_KEYS)
        if rid in seen:
            raise InputError(f"policy {source}: rule id {rid!r} is used twice")
        seen.add(rid)
        if not isinstance(r.get("message", ""), str):
            fail(f"{where}.message", RULE_KEYS, r["message"])
        rules.append(Rule(id=rid, category=text(r["category"], f"{where}.category", RULE_KEYS),
                          terms=strings(r.get("terms", []), f"{where}.terms", RULE_KEYS),
                          with_terms=strings(r.get("with_terms", []), f"{where}.with_terms", RULE_KEYS),
                          message=r.get("message", "")))
    people = data.get("people", {})
    if not isinstance(people, dict):
        fail("people", POLICY_KEYS, people)
    for key in people:
        if key not in PEOPLE_KEYS:
            fail(f"people.{key}", PEOPLE_KEYS, unknown=True)
    return Policy(name=name, version=version, rules=tuple(rules),
                  named_people=strings(people.get("named", []), "people.named", PEOPLE_KEYS),
                  consent=strings(people.get("consent", []), "people.consent", PEOPLE_KEYS),
                  titles=strings(people.get("titles", []), "people.titles", PEOPLE_KEYS),
                  source=source, digest=digest)


# --------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _find(words: list[str], term: str) -> bool:
    """Whole-word (sequence) match; a trailing '*' on the term's last word is a prefix match."""
    parts = _words(term)
    prefix = term.rstrip().endswith("*")
    if not parts:
        return False
    n = len(parts)
    for i in range(len(words) - n + 1):
        head_ok = words[i:i + n - 1] == parts[:-1]
        last = words[i + n - 1]
        if head_ok and (last.startswith(parts[-1]) if prefix else last == parts[-1]):
            return True
    return False


def _titled_names(prompt: str, titles: tuple[str, ...]) -> list[tuple[str, str]]:
    """"President Lincoln", "Dr. Jane Roe": a title followed by Capitalised words,
    as (what the prompt says, the name)."""
    found = []
    for title in titles:
        pattern = r"\b" + re.escape(title.rstrip(".")) + r"\.?\s+((?:[A-Z][\w'\-]+)(?:\s+[A-Z][\w'\-]+)*)"
        for m in re.finditer(pattern, prompt):
            found.append((m.group(0), m.group(1)))
    return found


def _has_consent(name: str, consent: tuple[str, ...]) -> bool:
    words = _words(name)
    return any(_find(_words(c), name) or (words and all(w in _words(c) for w in words)) for c in consent)


def check_prompt(prompt: str, policy: Policy) -> Decision:
    """Decide whether `prompt` may be rendered; the first rule that matches wins,
    in file order, then the named-people rule."""
    if not isinstance(prompt, str):
        raise InputError(f"a prompt must be text, got {type(prompt).__name__}")
    words = _words(prompt)
    for rule in policy.rules:
        hits = tuple(t for t in rule.terms if _find(words, t))
        if not hits:
            continue
        if rule.with_terms:
            also = tuple(t for t in rule.with_terms if _find(words, t))
            if not also:
                continue
            hits += also
        why = rule.message or f"{rule.category} is not allowed"
        return Decision(False, prompt, rule=rule.id, category=rule.category, matched=hits, policy=policy.label,
                        message=f"prompt refused by policy rule {rule.id!r} ({rule.category}): {why}; "
                                f"it contains {', '.join(repr(h) for h in hits)}. Rephrase the prompt, "
                                f"or change the rule in {policy.source}")
    people = [(n, n) for n in policy.named_people if _find(words, n)] + _titled_names(prompt, policy.titles)
    missing = tuple(dict.fromkeys(shown for shown, name in people if not _has_consent(name, policy.consent)))
    if missing:
        return Decision(False, prompt, rule="people.consent", category="real people", matched=missing,
                        policy=policy.label,
                        message=f"prompt names a real person ({', '.join(missing)}) without consent on file; "
                                f"record their consent by adding the name to [people] consent in {policy.source}")
    note = f" (consent on file for {', '.join(dict.fromkeys(shown for shown, _ in people))})" if people else ""
    return Decision(True, prompt, message=f"prompt allowed by {policy.label}{note}", policy=policy.label)


def enforce(prompt: str, policy: Policy, record=None) -> Decision:
    """check_prompt, log the decision into `record` (when given), and raise
    PromptBlocked if the prompt is refused."""
    decision = check_prompt(prompt, policy)
    if record is not None:
        record.log_decision(decision)
    if not decision.allowed:
        raise PromptBlocked(decision)
    return decision
