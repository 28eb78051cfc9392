"""Reading a prompt into the world's scene slots, and writing it back in training wording.

A world model follows the wording it was trained on about twice as well as wording it never saw
(docs/BENCHMARKS.md: colour 0.45 against 0.24, direction 0.27 against 0.06, same scenes and
seeds). Sora closes the same gap with re-captioning: a language model rewrites the user's prompt
into the kind of caption the video model was trained on. Here a small tagger over MiniLM's token
states (`engine.models.reader.PromptReader`) reads which words name which slot of a scene, and
`Reading.caption` writes the scene back in the plainest training wording. The world model is
given that caption; the user's words stay the take's prompt, and the sidecar records both.

Two sources of knowledge, kept apart so each can be measured:
  - the tagger, trained only on the captioner's training phrasings (never a held-out `~` one);
  - a colour-name table (`assets/lexicon/colour_names.json`, built by `python -m engine.world.reading
    lexicon` from the xkcd colour survey and CSS), for colour words the text encoder does not
    place (MiniLM puts "jade" nearest "golden"): a word the training captions never used, found
    in the table, takes the palette colour nearest its sRGB value.

What the reader is unsure of it leaves out of the caption (an unknown noun stays the user's own
word), and when it cannot find every object's colour, noun and motion the model is given the
prompt as written. A model folder without `reader/` (the real checkpoints, any world model
before session 14) always gets the prompt as written; so does `GenerateRequest(literal=True)`.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import random
import re
from pathlib import Path

import numpy as np
import torch

from engine.defaults import ASSETS, BUNDLED_MODEL
from engine.models.text import TextEncoder
from engine.world import captioner
from engine.world.captioner import (
    BACKGROUND_WORDS,
    CAMERA_WORDS,
    MOTION_WORDS,
    WALL_WORDS,
    caption,
    spans,
    training_words,
)
from engine.world.scene import BACKGROUNDS, CAMERAS, COLOURS, MOTIONS, SHAPES, SIZES, SPEEDS, sample_scene

LEXICON = ASSETS / "lexicon" / "colour_names.json"
SLOTS = ("colour", "shape", "size", "motion", "speed", "background", "wall", "camera")
OBJECT_SLOTS = ("colour", "shape", "size", "motion", "speed")
TAGS = ["O"] + [f"colour:{c}" for c in COLOURS] + [f"shape:{s}" for s in SHAPES] + \
    [f"size:{s}" for s in SIZES] + [f"motion:{m}" for m in MOTIONS] + \
    [f"speed:{s}" for s in SPEEDS if s != "normal"] + [f"background:{b}" for b in BACKGROUNDS] + \
    ["wall:wall"] + [f"camera:{c}" for c in CAMERAS]


# --------------------------------------------------------------------------
# The reading
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Reading:
    """What a prompt describes, slot by slot (None: not said). `words`: each slot's words as the
    prompt has them, in order, for showing the user what was read as what."""
    objects: list[dict]  # {"colour", "shape", "size", "motion", "speed"[, "noun"]} per object, in order
    background: str | None = None
    wall: bool = False
    camera: str | None = None
    words: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (words, "slot:value")
    lexicon: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (words, colour) from the table

    def usable(self) -> bool:
        """Whether the reading can stand for the prompt: every object read has its colour, its shape
        (or the prompt's own noun) and its motion, as every training caption has. Anything less and
        the model is better off with the user's own words."""
        return bool(self.objects) and all(o.get("colour") and (o.get("shape") or o.get("noun")) and o.get("motion")
                                          for o in self.objects)

    def caption(self) -> str:
        """The scene in the plainest training wording (each slot's first training phrasing)."""
        clauses = []
        for o in self.objects:
            words = [w for w in (o.get("size"), o.get("colour"), o.get("shape") or o.get("noun")) if w]
            noun = f"{'an' if words[0][0] in 'aeiou' else 'a'} {' '.join(words)}"
            if o.get("motion"):
                noun += " " + MOTION_WORDS[o["motion"]][0][0]
                if o.get("speed"):
                    noun += " " + o["speed"]
            clauses.append(noun)
        text = " and ".join(clauses)
        if self.background:
            text += " " + BACKGROUND_WORDS[self.background][0]
        if self.wall:
            text += " " + WALL_WORDS[0]
        if self.camera and self.camera != "static":
            text += ", " + CAMERA_WORDS[self.camera][0][1]
        return text[0].upper() + text[1:] + "."

    def to_dict(self) -> dict:
        return {"objects": self.objects, "background": self.background, "wall": self.wall, "camera": self.camera,
                "words": [list(w) for w in self.words], "lexicon": [list(w) for w in self.lexicon]}


# Words the tagger cannot learn from training captions, kept as tables like the colour names are (each is
# English or WORLD.md, not a benchmark's wording; docs/BENCHMARKS.md "Session 17" says what they changed).
# Shape nouns: WORLD.md's synonym table (the words any caption of the world may use) and plain English
# near-synonyms; a noun read this way gives its object the shape instead of staying the user's own word.
SHAPE_NOUNS = {**dict.fromkeys(("ball", "circle", "sphere", "orb", "disc", "disk", "globe", "bubble", "dot",
                                "marble", "bead", "puck"), "ball"),
               **dict.fromkeys(("box", "square", "cube", "block", "crate", "brick", "tile", "carton", "chest",
                                "dice", "die"), "box"),
               **dict.fromkeys(("triangle", "wedge", "pyramid", "tetrahedron", "arrowhead"), "triangle")}
# Compass directions on screen, as on a map: north is up, east is right.
COMPASS = {**dict.fromkeys(("east", "eastward", "eastwards", "eastbound"), "right"),
           **dict.fromkeys(("west", "westward", "westwards", "westbound"), "left"),
           **dict.fromkeys(("north", "northward", "northwards", "northbound"), "up"),
           **dict.fromkeys(("south", "southward", "southwards", "southbound"), "down")}
# Words that alone name no motion or camera move ("it" in "it is big", "out" in "out of frame"). (A pillar
# keeps its "with a": the tagger reads it from the words around it, "with a dark post splitting the view".)
FUNCTION_WORDS = frozenset("a an the it its it's is are was be of in on at to into onto by for from and or but "
                           "with while as this that these those there then one ones any some out off".split())
NEGATIONS = frozenset("no not without never nor none".split())
# Verbs that make a left/right said with them the camera's: "tracking left", "the shot pans right".
CAMERA_MOVES = re.compile(r"\b(pan|pans|panning|panned|track|tracks|tracking|tracked|truck|trucks|trucking)\b")
# A noun that stands for an object already named: "the red one moves left".
ANAPHORA = frozenset(("one", "ones"))
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


MIN_CONFIDENCE = 0.75  # a tagged run less sure than this (its value's share of the probability) is left out
MIN_GUESS = 0.4  # ... except a motion this sure, for an object that would otherwise have none


def assemble(words: list[tuple], lexicon: dict | None = None, known=frozenset()) -> Reading:
    """A Reading from the prompt's word runs [(words, slot, value[, confidence])] in order (slot "O":
    words of no slot). An object starts at its colour, size or shape words (a new one when the
    current object already has that slot or its noun); motion and speed go to the object before
    them (or the next, when none came yet); the first background and camera said count. A run less
    sure than MIN_CONFIDENCE (a colour: MIN_GUESS) is left out, except that an object with no surer
    motion takes the likeliest motion run said with it (at least MIN_GUESS sure); a colour said
    right before a background is the background's ("against a blue sky"). An object
    whose noun the reader does not know keeps the prompt's own word for it (the first O word right
    after its colour). `lexicon`: colour name -> palette colour, for colour words outside `known` (the
    words training captions contain).

    Rules for what a tagger trained on captions cannot know: a run of function words alone ("it", "out")
    names no motion or camera move; a compass word is a motion (east: right); left or right said with a camera move
    ("tracking left") is the camera's pan; a pillar said with a negation ("no pillar") is not there; an
    unknown noun in SHAPE_NOUNS is that shape; "the red one" and a part with no noun fold into the object
    they stand for; an object with no motion of its own shares the next one's ("a ball and a box move
    right")."""
    objects, reading = [], Reading([])
    current, previous = None, None
    pending = {}  # motion or speed said before any object
    no_wall = False  # "with no pillar", "without a wall"
    for i, run in enumerate(words):
        text, slot, value = run[:3]
        sure = run[3] if len(run) > 3 else 1.0
        tokens = _tokens(text)
        if slot in ("motion", "camera") and all(t in FUNCTION_WORDS for t in tokens):
            slot = "O"  # "it" is no motion and "out" (of frame) no zoom, whatever the tagger leaned to
        if compass := [COMPASS[t] for t in tokens if t in COMPASS]:
            slot, value, sure = "motion", compass[0], 1.0  # "heads east"
        if slot in ("motion", "camera", "O") and {"left", "right"} & set(tokens) and (
                CAMERA_MOVES.search(text.lower()) or i and CAMERA_MOVES.search(words[i - 1][0].lower())):
            slot, value, sure = "camera", "pan_left" if "left" in tokens else "pan_right", 1.0  # "tracking left"
        if slot == "colour" and i + 1 < len(words) and words[i + 1][1] == "background":
            slot = "O"  # "against a blue sky": the colour of the background, not of an object
        floor = MIN_GUESS if slot == "colour" else MIN_CONFIDENCE  # a colour word is seldom anything else
        if slot != "O" and sure < floor:
            if slot == "motion" and run[3] >= MIN_GUESS:  # kept as a guess, for an object with no surer motion
                (current if current is not None else pending).setdefault("guess", value)
            slot = "O"
        if slot == "O":
            if current is not None and previous == "colour" and "shape" not in current \
                    and "noun" not in current and "motion" not in current and tokens:
                noun = tokens[0]
                shape = SHAPE_NOUNS.get(noun) or SHAPE_NOUNS.get(noun[:-1] if noun.endswith("s") else noun)
                if shape:
                    current["shape"] = shape
                    reading.words.append((text.split()[0], f"shape:{shape}"))
                else:
                    current["noun"] = text.split()[0]
            previous = slot
            continue
        if slot == "wall" and NEGATIONS & set(tokens + (_tokens(words[i - 1][0])[-2:] if i else [])):
            no_wall = True  # a pillar said not to be there
            previous = slot
            continue
        if slot in ("colour", "size", "shape"):
            if current is None or slot in current or "shape" in current or "noun" in current:
                current = dict(pending)
                pending = {}
                objects.append(current)
            if slot == "colour" and lexicon:
                named = lexicon_colour(text, lexicon, known)
                if named is not None:
                    reading.lexicon.append((text, named))
                    value = named
            current[slot] = value
        elif slot in ("motion", "speed"):
            target = current if current is not None else pending
            if slot not in target:
                target[slot] = value
        elif slot == "background" and reading.background is None:
            reading.background = value
        elif slot == "wall":
            reading.wall = True
        elif slot == "camera" and reading.camera is None:
            reading.camera = value
        previous = slot
        reading.words.append((text, f"{slot}:{value}"))
    for o in objects:
        o.setdefault("motion", o.get("guess"))
    objects = _resolve_references(objects)
    for i, o in enumerate(objects):  # "a red ball and a blue box move right": both of them
        if o.get("motion") is None:
            said = next((m for m in objects[i + 1:] if m.get("motion")), None)
            if said is not None:
                o["motion"], o["speed"] = said["motion"], o.get("speed") or said.get("speed")
    reading.wall = reading.wall and not no_wall
    reading.objects = [{k: o.get(k) for k in (*OBJECT_SLOTS, "noun") if k != "noun" or o.get(k)}
                       for o in objects[:3]]
    return reading


def _resolve_references(objects: list[dict]) -> list[dict]:
    """Objects that stand for one already named fold into it: "the red one" (the earlier red object), and
    a part with no colour, shape or noun of its own ("..., it is big": the object before). What they say
    fills what the object had not said. A "one" of a colour no earlier object has is a new object of the
    shape before it ("a red ball and a blue one")."""
    out = []
    for o in objects:
        bare = not (o.get("colour") or o.get("shape") or o.get("noun"))
        if out and (bare or (o.get("noun") or "").lower() in ANAPHORA):
            same = [m for m in out if o.get("colour") and m.get("colour") == o["colour"]]
            if o.get("colour") and not same:
                o = {**o, "shape": o.get("shape") or out[-1].get("shape"), "noun": None}
                if o["shape"] is None:
                    o["noun"] = out[-1].get("noun")
            else:
                target = same[-1] if same else out[-1]
                for k, v in o.items():
                    if k != "noun" and v is not None and target.get(k) is None:
                        target[k] = v
                continue
        out.append(o)
    return out


# --------------------------------------------------------------------------
# Colour names
# --------------------------------------------------------------------------

_SUFFIX = re.compile(r"[- ]colou?red$")


def _lab(rgb) -> np.ndarray:
    """sRGB (0-255) -> CIELAB (D65)."""
    c = np.asarray(rgb, np.float64) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = c @ np.array([[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]])
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _lch(rgb) -> tuple[float, float, float]:
    """sRGB -> (lightness, chroma, hue angle in degrees)."""
    L, a, b = _lab(rgb)
    return float(L), float(np.hypot(a, b)), float(np.degrees(np.arctan2(b, a)) % 360)


# A colour name takes the palette colour of nearest hue (lightness breaks near-ties: maroon is a dark
# red, not a pink), unless it is nearly grey or its hue lies far from every palette colour (teal,
# cyan). Chosen on a list of common colour names (docs/BENCHMARKS.md, "Reading prompts").
MIN_CHROMA = 20.0
LIGHTNESS_WEIGHT = 0.25  # degrees of hue per unit of CIELAB lightness
MAX_HUE_GAP = 40.0  # degrees


def palette_colour(hex_value: str) -> str | None:
    """The world colour nearest an sRGB value, or None for a colour the palette has no word for."""
    L, C, h = _lch([int(hex_value.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)])
    if C < MIN_CHROMA:
        return None
    best, gap = None, None
    for name, rgb in COLOURS.items():
        Lp, _, hp = _lch(rgb)
        dh = min(abs(h - hp), 360 - abs(h - hp))
        d = dh + LIGHTNESS_WEIGHT * abs(L - Lp)
        if best is None or d < best[0]:
            best, gap = (d, name), dh
    return best[1] if gap <= MAX_HUE_GAP else None


@functools.lru_cache(maxsize=1)
def load_lexicon(path: Path = LEXICON) -> dict:
    """colour name -> world colour, from the table of named sRGB values (see `build_lexicon`)."""
    if not path.exists():
        return {}
    table = json.loads(path.read_text())
    return {name: colour for name, value in table["colours"].items() if (colour := palette_colour(value))}


def lexicon_colour(text: str, lexicon: dict, known=frozenset()) -> str | None:
    """The world colour the table gives a colour phrase ("jade", "pumpkin-coloured", "sunflower
    yellow"), or None when the phrase is made of training words (the tagger has read those; a "-coloured"
    phrase is a colour whatever its words) or the table has no such name. A phrase ending in a palette
    word is that colour; otherwise tries the whole phrase, then its last word, then its first."""
    suffixed = bool(_SUFFIX.search(text.lower().strip()))  # "rose-coloured" is a colour, though "rose" rises
    phrase = _SUFFIX.sub("", text.lower().strip()).replace("-", " ").strip()
    tokens = phrase.split()
    if not tokens or not suffixed and all(w in known for w in tokens):
        return None
    if tokens[-1] in COLOURS:  # "salmon pink", "blood red": the last word names the colour, the rest its shade
        return tokens[-1]
    for candidate in (phrase, tokens[-1], tokens[0]):
        if candidate in lexicon:
            return lexicon[candidate]
    return None


def build_lexicon(path: Path = LEXICON) -> int:
    """Write the colour-name table from matplotlib's copies of the xkcd colour survey (949 names)
    and the CSS colour names (148); returns how many names it holds. Needs matplotlib (a
    development tool only, `pip install matplotlib`: the table is committed, and reading it needs
    nothing)."""
    # deferred: matplotlib is heavy; its colour tables ship as plain dicts in this module
    from matplotlib import _color_data as cd

    colours = {name.lower(): value.lower() for name, value in cd.CSS4_COLORS.items()}
    colours.update({name[len("xkcd:"):].lower(): value.lower() for name, value in cd.XKCD_COLORS.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"source": "xkcd colour survey (CC0) and CSS Color Module 4 named colours, "
                                          "as shipped in matplotlib._color_data",
                                "colours": dict(sorted(colours.items()))}, indent=0) + "\n")
    return len(colours)


# --------------------------------------------------------------------------
# Tagging
# --------------------------------------------------------------------------

def _words(offsets: list[tuple[int, int]], text: str) -> list[list[int]]:
    """Token indices grouped into words: a token continues a word when no space separates it
    from the token before (WordPiece pieces, hyphens and apostrophes stay with their word)."""
    groups, last_end = [], None
    for i, (a, b) in enumerate(offsets):
        if a == b:  # [CLS], [SEP], padding
            last_end = None
            continue
        before, here = text[a - 1:a], text[a:a + 1]
        joined = (before.isalnum() and here.isalnum()) or here in "-'" or before in "-'"
        if a == last_end and joined:
            groups[-1].append(i)
        else:
            groups.append([i])
        last_end = b
    return groups


def token_labels(offsets: list[tuple[int, int]], text_spans: list[tuple[int, int, str]]) -> list[int]:
    """Each token's tag index: the span its first character falls in (O outside every span;
    -100, ignored by the loss, for [CLS], [SEP] and padding)."""
    index = {t: i for i, t in enumerate(TAGS)}
    out = []
    for a, b in offsets:
        if a == b:
            out.append(-100)
            continue
        tag = next((t for s, e, t in text_spans if s <= a < e), "O")
        out.append(index[tag])
    return out


class Reader:
    """A PromptReader with the text encoder it reads: `read(prompt) -> Reading`."""

    def __init__(self, model, text, lexicon: dict | None = None, rich: bool = True):
        self.model, self.text = model.eval(), text
        self.lexicon = load_lexicon() if lexicon is None else lexicon
        self.known = training_words(rich)

    @classmethod
    def from_pretrained(cls, path, text=None, rich: bool = True) -> "Reader":
        from engine.models.reader import PromptReader  # deferred: loads diffusers; this module imports without it

        return cls(PromptReader.from_pretrained(path), text or TextEncoder(), rich=rich)

    @torch.no_grad()
    def tags(self, prompts: list[str]) -> list[list[tuple[str, str, str, float]]]:
        """Each prompt's word runs [(words, slot, value, confidence)] (slot "O", value None: no slot)."""
        tok = self.text.tokenizer(list(prompts), padding="max_length", truncation=True,
                                  max_length=self.text.max_tokens, return_offsets_mapping=True)
        hidden, mask, _ = self.text.encode(list(prompts))
        probs = self.model(hidden, mask).float().softmax(-1).cpu().numpy()  # B, L, T
        out = []
        for b, text in enumerate(prompts):
            offsets = [tuple(o) for o in tok["offset_mapping"][b]]
            runs = []
            for word in _words(offsets, text):
                p = probs[b, word].mean(0)
                a, e = offsets[word[0]][0], offsets[word[-1]][1]
                named = lexicon_colour(text[a:e], self.lexicon, self.known)
                other = max((q for t, q in zip(TAGS, p) if t != "O" and not t.startswith("colour:")), default=0.0)
                if named is not None and (other < MIN_CONFIDENCE or _SUFFIX.search(text[a:e].lower())):
                    # a colour name the training captions never used, which the tagger reads as no other slot
                    # (so "sea" in "out at sea" stays a background): the table knows its colour
                    p = np.eye(len(TAGS))[TAGS.index(f"colour:{named}")]
                slot_p = {}
                for i, tag in enumerate(TAGS):
                    slot_p[tag.split(":")[0]] = slot_p.get(tag.split(":")[0], 0.0) + p[i]
                slot = max(slot_p, key=slot_p.get)
                if runs and runs[-1][0] == slot:  # a word of the same slot continues the run
                    runs[-1] = (slot, runs[-1][1] + p, runs[-1][2], e)
                else:
                    runs.append((slot, p, a, e))
            words = []
            for slot, p, a, e in runs:
                if slot == "O":
                    words.append((text[a:e], "O", None, float(p[0] / p.sum())))
                    continue
                values = [(i, t) for i, t in enumerate(TAGS) if t.startswith(slot + ":")]
                i, tag = max(values, key=lambda v: p[v[0]])
                words.append((text[a:e], slot, tag.split(":", 1)[1], float(p[i] / p.sum())))
            out.append(words)
        return out

    def read(self, prompt: str) -> Reading:
        runs = self.tags([prompt])[0]
        return assemble(runs, self.lexicon, self.known)


# --------------------------------------------------------------------------
# Training (from the captioner's own slot spans; the held-out phrasings never appear)
# --------------------------------------------------------------------------

FILLER_KEEP = 0.5  # the share of candidate words kept as fillers: the half farthest from every slot word


def slot_words() -> list[str]:
    """The content words of the training phrasings of every slot (no sentence frames or joiners)."""
    c = captioner
    tables = [c.COLOUR_WORDS, c.SHAPE_WORDS, c.SIZE_WORDS, c.MOTION_WORDS, c.SPEED_WORDS, c.BACKGROUND_WORDS,
              c.WALL_WORDS, c.CAMERA_WORDS, *(v for k, v in c.RICH_WORDS.items() if k in ("motion", "speed", "size",
                                                                                          "background"))]
    glue = {"the", "a", "an", "to", "of", "in", "on", "at", "and", "its", "from", "for", "with", "into", "by", "as"}
    words = {w for t in tables for ph in c._phrases(t) if not ph.startswith("~")
             for w in c._WORD.findall(ph.lower())}
    return sorted(words - glue)


def _word_vectors(text_encoder, words: list[str], batch: int = 512) -> torch.Tensor:
    """MiniLM's normalised mean-pooled embedding of each word on its own."""
    out = []
    for i in range(0, len(words), batch):
        b = text_encoder.tokenizer(words[i:i + batch], padding=True, return_tensors="pt")
        with torch.no_grad():
            h = text_encoder.model(**b).last_hidden_state
        m = b["attention_mask"][..., None]
        out.append(torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1))
    return torch.cat(out)


def filler_words(text_encoder, keep: float = FILLER_KEEP) -> list[str]:
    """Whole words of the text encoder's vocabulary that belong to no slot: not used by any training
    caption, not colour names, and among the `keep` share of such words that MiniLM places farthest
    from every slot word (so "crate" or "beneath", which it places near "box" and "under", are not
    taught as belonging to no slot). Training captions get a few of them at random places, labelled
    O, so the tagger learns that a word it does not know is no slot unless MiniLM places it near one;
    without them it tags unknown carrier words ("We watch as ...") as whatever they sit next to."""
    known, colours = training_words(True), set(load_lexicon())
    words = []
    for w in text_encoder.tokenizer.get_vocab():
        if not (w.isalpha() and w.isascii() and 3 <= len(w) <= 12) or w in colours:
            continue
        if {w, w + "s", w[:-1], w[:-2], w[:-3]} & known:
            continue
        words.append(w)
    words.sort()
    nearest = (_word_vectors(text_encoder, words) @ _word_vectors(text_encoder, slot_words()).T).max(1).values
    cut = torch.quantile(nearest, keep)
    return [w for w, s in zip(words, nearest.tolist()) if s < cut]


def _insert_fillers(rng: random.Random, text: str, sp: list, fillers: list[str], n: int):
    """`text` with n filler words put in at word boundaries outside every span (spans shifted)."""
    for _ in range(n):
        cuts = [i for i, ch in enumerate(text) if ch == " " and not any(a <= i < b for a, b, _ in sp)] + [0]
        at = rng.choice(cuts)
        word = rng.choice(fillers)
        piece = word + " " if at == 0 else " " + word
        text = text[:at] + piece + text[at:]
        sp = [(a + len(piece) if a >= at else a, b + len(piece) if b > at else b, t) for a, b, t in sp]
    return text, sp


def tagged_captions(n: int, seed: int = 0, rich_share: float = 0.75, split: str = "train",
                    fillers: list[str] | None = None, filler_share: float = 0.5):
    """n captions of sampled scenes with their slot spans [(text, spans)]: rich and plain training
    captions (`split="eval"`: held-out wording, for scoring only), a third without the final stop,
    `filler_share` of them with one to three `fillers` put in."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        scene = sample_scene(rng, split=split)
        text, sp = spans(caption(scene, rng, split=split, rich=split == "train" and rng.random() < rich_share,
                                 mark=True))
        if fillers and rng.random() < filler_share:
            text, sp = _insert_fillers(rng, text, sp, fillers, rng.randint(1, 3))
        if rng.random() < 0.33:
            text = text.rstrip(".")
        out.append((text, sp))
    return out


def encode_tagged(text_encoder, items, batch: int = 256):
    """(tokens, mask, labels) tensors for tagged captions."""
    hs, ms, ls = [], [], []
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        texts = [t for t, _ in chunk]
        tok = text_encoder.tokenizer(texts, padding="max_length", truncation=True,
                                     max_length=text_encoder.max_tokens, return_offsets_mapping=True)
        h, m, _ = text_encoder.encode(texts)
        hs.append(h.to(torch.bfloat16))
        ms.append(m)
        ls.append(torch.tensor([token_labels([tuple(o) for o in offs], sp)
                                for offs, (_, sp) in zip(tok["offset_mapping"], chunk)]))
    return torch.cat(hs), torch.cat(ms), torch.cat(ls)


def train_reader(captions: int = 12000, steps: int = 1500, batch: int = 64, lr: float = 1e-3, seed: int = 0,
                 text_encoder=None, log=None, config: dict | None = None):
    """A PromptReader trained on `captions` tagged training captions (MiniLM frozen; its token states
    are computed once). Returns the model (eval mode)."""
    from engine.models.reader import PromptReader  # deferred: loads diffusers; this module imports without it

    torch.manual_seed(seed)
    text = text_encoder or TextEncoder()
    tokens, mask, labels = encode_tagged(text, tagged_captions(captions, seed, fillers=filler_words(text)))
    model = PromptReader(tags=list(TAGS), **(config or {}))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        for g in opt.param_groups:  # warm-up, then cosine to a tenth
            g["lr"] = lr * min(1.0, (step + 1) / 100) * (0.55 + 0.45 * np.cos(np.pi * step / steps))
        idx = torch.randint(0, len(tokens), (batch,), generator=gen)
        logits = model(tokens[idx].float(), mask[idx])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels[idx].flatten(), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log and (step % 500 == 0 or step == steps - 1):
            log(step=step, loss=round(loss.item(), 4))
    return model.eval()


def score_reader(reader: Reader, items) -> dict:
    """Slot accuracy of a reader on tagged captions [(text, spans)]: for each slot, the share of
    captions whose reading gives every object (or the scene) the value its spans say."""
    hits = {s: [0, 0] for s in SLOTS}
    whole = 0
    for text, sp in items:
        truth = assemble([(text[a:b], *t.split(":", 1)) for a, b, t in sp])
        got = reader.read(text)
        ok_all = True
        for slot in SLOTS:
            if slot in OBJECT_SLOTS:
                want = [o.get(slot) for o in truth.objects]
                have = [o.get(slot) for o in got.objects][:len(want)]
                have += [None] * (len(want) - len(have))
                if not any(w is not None for w in want):
                    continue
                ok = want == have and len(got.objects) == len(truth.objects)
            else:
                want, have = getattr(truth, slot), getattr(got, slot)
                if slot == "camera":
                    want, have = want or "static", have or "static"
                ok = want == have
            hits[slot][0] += ok
            hits[slot][1] += 1
            ok_all &= ok
        whole += ok_all
    return {**{s: round(h / n, 3) for s, (h, n) in hits.items() if n}, "whole": round(whole / len(items), 3),
            "captions": len(items)}


# Hand-written prompts with the scenes they describe: the first set guided the reading rules (a
# development set); the second was written after them and scored once (docs/BENCHMARKS.md).
PROMPTS = ASSETS / "examples" / "reader_prompts.jsonl"
FRESH_PROMPTS = PROMPTS.with_name("reader_prompts_fresh.jsonl")


def score_prompts(reader: Reader, rows: list[dict]) -> dict:
    """How a reader reads hand-written prompts with their expected scenes (one JSON object a line:
    "prompt", "objects" [{"colour", "shape", "motion", "speed"}, null: not scored] or null for a
    prompt the reader should leave as written (nothing of the world, or no motion to read), "background" (null: not
    scored), "wall", "camera"
    (null: none said)). Per field, the share of prompts read right; "whole": every field right."""
    fields = {k: [0, 0] for k in ("usable", "objects", "colour", "shape", "motion", "speed", "background", "wall",
                                  "camera", "whole")}

    def tally(key, ok):
        fields[key][0] += bool(ok)
        fields[key][1] += 1
        return bool(ok)

    misread = []
    for row in rows:
        got = reader.read(row["prompt"])
        if row["objects"] is None:
            ok = tally("usable", not got.usable())
        else:
            ok = tally("usable", got.usable()) & tally("objects", len(got.objects) == len(row["objects"]))
            for want, have in zip(row["objects"], got.objects + [{}] * len(row["objects"])):
                for key in ("colour", "shape", "motion", "speed"):
                    if want.get(key) is not None:
                        ok &= tally(key, have.get(key) == want[key])
            if row.get("background") is not None:
                ok &= tally("background", got.background == row["background"])
            ok &= tally("wall", got.wall == bool(row.get("wall")))
            ok &= tally("camera", (got.camera or "static") == (row.get("camera") or "static"))
        tally("whole", ok)
        if not ok:
            misread.append({"prompt": row["prompt"], "read_as": got.caption() if got.usable() else None})
    return {**{k: round(h / n, 3) for k, (h, n) in fields.items() if n}, "prompts": len(rows), "misread": misread}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.world.reading", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("lexicon", help="write assets/lexicon/colour_names.json from matplotlib's colour tables")
    a = sub.add_parser("read", help="print how the bundled model's reader reads prompts")
    a.add_argument("prompts", nargs="+")
    b = sub.add_parser("score", help="score the reader on held-out captions and hand-written prompts (JSON)")
    b.add_argument("--captions", type=int, default=600, help="captions in the benchmark's held-out wording (600)")
    b.add_argument("--prompts", nargs="+", default=[str(PROMPTS), str(FRESH_PROMPTS)],
                   help="hand-written prompts, JSONL files (see score_prompts; default: the two sets in "
                        "assets/examples)")
    for q in (a, b):
        q.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    args = p.parse_args(argv)
    if args.cmd == "lexicon":
        print(f"{build_lexicon()} colour names -> {LEXICON}")
        return 0
    reader = Reader.from_pretrained(Path(args.model or BUNDLED_MODEL) / "reader")
    if args.cmd == "score":
        report = {"held_out_captions": score_reader(reader, tagged_captions(args.captions, 99, split="eval"))}
        for path in map(Path, args.prompts):
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            report[path.stem] = score_prompts(reader, rows)
        print(json.dumps(report, indent=1))
        return 0
    for prompt in args.prompts:
        r = reader.read(prompt)
        print(json.dumps({"prompt": prompt, "caption": r.caption() if r.usable() else None, **r.to_dict()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
