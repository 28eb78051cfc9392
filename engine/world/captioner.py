"""Captioner: describes a `Scene` in English drawn from a phrasing grammar.

Every slot (colour, shape, size, motion, speed, background, wall, camera,
sentence frame) has several phrasings. Phrasings marked with a leading `~` are
held out: training captions never contain them, evaluation prompts use them
(`split="eval"`), so adherence is measured on wording the model never saw.
"""
from __future__ import annotations

import functools
import random
import re

from engine.world.scene import Scene

COLOUR_WORDS = {
    "red": ["red", "crimson", "scarlet", "cherry red", "~ruby"],
    "orange": ["orange", "tangerine", "amber", "~pumpkin-coloured"],
    "yellow": ["yellow", "golden", "lemon yellow", "~sunflower yellow"],
    "green": ["green", "emerald", "leaf green", "~jade"],
    "blue": ["blue", "cobalt", "royal blue", "~sapphire"],
    "purple": ["purple", "violet", "grape purple", "~amethyst"],
    "pink": ["pink", "rose pink", "bubblegum pink", "~flamingo pink"],
}
SHAPE_WORDS = {  # WORLD.md synonyms; each shape keeps one for evaluation
    "ball": ["ball", "circle", "sphere", "~orb", "disc"],
    "box": ["box", "square", "cube", "~crate", "block"],
    "triangle": ["triangle", "~wedge", "pyramid"],
}
SIZE_WORDS = {
    "small": ["small", "little", "tiny", "~petite"],
    "big": ["big", "large", "huge", "~oversized"],
}
# (third person, gerund)
MOTION_WORDS = {
    "right": [("moves right", "moving right"), ("rolls to the right", "rolling to the right"),
              ("travels rightward", "travelling rightward"), ("slides to the right", "sliding to the right"),
              ("heads right", "heading right"), ("goes from left to right", "going from left to right"),
              ("~drifts toward the right edge", "~drifting toward the right edge"),
              ("~glides rightwards", "~gliding rightwards")],
    "left": [("moves left", "moving left"), ("rolls to the left", "rolling to the left"),
             ("travels leftward", "travelling leftward"), ("slides to the left", "sliding to the left"),
             ("heads left", "heading left"), ("goes from right to left", "going from right to left"),
             ("~drifts toward the left edge", "~drifting toward the left edge"),
             ("~glides leftwards", "~gliding leftwards")],
    "up": [("rises", "rising"), ("floats up", "floating up"), ("moves up", "moving up"),
           ("climbs upward", "climbing upward"), ("ascends", "ascending"),
           ("~drifts toward the top", "~drifting toward the top"), ("~lifts upwards", "~lifting upwards")],
    "down": [("falls", "falling"), ("drops down", "dropping down"), ("moves down", "moving down"),
             ("sinks", "sinking"), ("descends", "descending"),
             ("~drifts toward the bottom", "~drifting toward the bottom"), ("~comes downwards", "~coming downwards")],
    "bounce": [("bounces", "bouncing"), ("hops", "hopping"), ("bounces up and down", "bouncing up and down"),
               ("keeps bouncing", "bouncing along"), ("~jumps repeatedly", "~jumping repeatedly")],
    "orbit": [("circles", "circling"), ("orbits", "orbiting"), ("goes around", "going around"),
              ("circles around the centre", "circling around the centre"),
              ("~loops around in a circle", "~looping around in a circle")],
    "grow": [("grows", "growing"), ("gets bigger", "getting bigger"), ("expands", "expanding"),
             ("grows larger", "growing larger"), ("~swells up", "~swelling up")],
    "shrink": [("shrinks", "shrinking"), ("gets smaller", "getting smaller"), ("contracts", "contracting"),
               ("shrinks down", "shrinking down"), ("~dwindles", "~dwindling")],
    "still": [("stays still", "staying still"), ("rests", "resting"), ("sits", "sitting"),
              ("does not move", "not moving"), ("stays put", "staying put"),
              ("~remains motionless", "~remaining motionless")],
}
SPEED_WORDS = {
    "slowly": ["slowly", "gently", "at a slow pace", "~unhurriedly"],
    "quickly": ["quickly", "fast", "rapidly", "swiftly", "~at high speed"],
}
BACKGROUND_WORDS = {  # no object colour word may appear here
    "studio": ["in a grey studio", "on a plain grey background", "against a neutral backdrop",
               "in an empty studio", "~on a flat grey set"],
    "sky": ["in the sky", "against a clear sky", "up in the open sky", "in a bright daytime sky",
            "~high among the clouds"],
    "night": ["at night", "under a starry night sky", "against the night sky", "in the dark of night",
              "~beneath the stars"],
    "desert": ["on a sandy desert", "in the desert", "over desert sand", "on the sand",
               "~across the dunes"],
    "grass": ["on a grassy field", "in a meadow", "over the lawn", "on the grass", "~across a pasture"],
    "ocean": ["over the ocean", "above the sea", "on the open water", "over ocean waves",
              "~out at sea"],
}
WALL_WORDS = ["with a pillar in the middle", "with a grey column in the centre",
              "with a wall standing in the middle", "past a central pillar",
              "~with a dark post splitting the view"]
CAMERA_WORDS = {  # (clause, gerund clause)
    "static": [("the camera is still", "on a static camera"), ("the shot is locked off", "in a locked-off shot"),
               ("~the camera holds steady", "~with a steady camera")],
    "pan_left": [("the camera pans left", "with the camera panning left"),
                 ("the camera pans to the left", "as the camera pans to the left"),
                 ("~the view sweeps left", "~with the view sweeping left")],
    "pan_right": [("the camera pans right", "with the camera panning right"),
                  ("the camera pans to the right", "as the camera pans to the right"),
                  ("~the view sweeps right", "~with the view sweeping right")],
    "zoom_in": [("the camera zooms in", "with the camera zooming in"), ("the camera pushes in",
                                                                        "as the camera pushes in"),
                ("~the view tightens", "~with the view tightening")],
    "zoom_out": [("the camera zooms out", "with the camera zooming out"), ("the camera pulls back",
                                                                           "as the camera pulls back"),
                 ("~the view widens", "~with the view widening")],
}
JOINERS = [" and ", " while ", ", and ", " as ", "~, meanwhile "]
DETERMINERS = ["a", "one", "a single", "~some"]
# Sentence frames. {objs}: joined clauses with verbs; {objs_g}: noun phrases with gerunds; {bg}; {cam}.
FRAMES = [
    "{Objs}{bg}{cam}.",
    "{Bg}, {objs}{cam}.",
    "{Cam_clause}, {objs}{bg}.",
    "A video of {objs_g}{bg}{cam}.",
    "A shot of {objs_g}{bg}{cam}.",
    "Footage of {objs_g}{bg}{cam}.",
    "{Bg}: {objs_g}{cam}.",
    "~We watch as {objs}{bg}{cam}.",
    "~A short clip in which {objs}{bg}{cam}.",
]

# Sideways phrasings: the left ones are the right ones with the two sides swapped (`_mirrored`).
_RIGHT = [("goes right", "going right"), ("moves to the right", "moving to the right"),
          ("travels to the right", "travelling to the right"), ("heads to the right", "heading to the right"),
          ("makes its way to the right", "making its way to the right"),
          ("crosses from left to right", "crossing from left to right"),
          ("shifts to the right", "shifting to the right"), ("runs to the right", "running to the right"),
          ("rolls rightward", "rolling rightward"), ("moves over to the right", "moving over to the right"),
          ("heads for the right side", "heading for the right side"),
          ("moves across the frame to the right", "moving across the frame to the right"),
          ("passes from the left side to the right side", "passing from the left side to the right side"),
          ("races to the right", "racing to the right"), ("travels right", "travelling right")]


def _mirrored(phrases: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`phrases` with left and right (and leftward and rightward) swapped."""
    def swap(text: str) -> str:
        return re.sub(r"\b(left|right)(ward)?\b",
                      lambda m: ("right" if m[1] == "left" else "left") + (m[2] or ""), text)

    return [(swap(a), swap(b)) for a, b in phrases]


# More training phrasings, drawn only for `rich=True` captions (the data of session 9's lineage):
# a model that has read each slot in many wordings has to read what the words mean rather than
# which few strings occur, which is what prompts it never saw need. None of these is, or shares
# the distinctive word of, a held-out (`~`) phrasing above, so the benchmark stays held out; the
# tables above are unchanged, so plain captions (and the benchmark's prompts) are as before.
RICH_WORDS = {
    "motion": {
        "right": _RIGHT,
        "left": _mirrored(_RIGHT),
        "up": [("goes up", "going up"), ("moves upward", "moving upward"), ("rises up", "rising up"),
               ("travels upward", "travelling upward"), ("heads up", "heading up"), ("climbs", "climbing"),
               ("floats upward", "floating upward"), ("heads for the top of the frame",
                                                      "heading for the top of the frame"),
               ("goes from bottom to top", "going from bottom to top"), ("soars upward", "soaring upward"),
               ("moves up the frame", "moving up the frame"), ("travels up", "travelling up")],
        "down": [("goes down", "going down"), ("moves downward", "moving downward"), ("drops", "dropping"),
                 ("falls down", "falling down"), ("travels downward", "travelling downward"),
                 ("heads down", "heading down"), ("sinks down", "sinking down"),
                 ("heads for the bottom of the frame", "heading for the bottom of the frame"),
                 ("goes from top to bottom", "going from top to bottom"), ("plunges downward", "plunging downward"),
                 ("moves down the frame", "moving down the frame"), ("travels down", "travelling down")],
        "bounce": [("hops up and down", "hopping up and down"), ("bounces on the ground", "bouncing on the ground"),
                   ("springs up and down", "springing up and down"), ("keeps hopping", "hopping along"),
                   ("bounds along", "bounding along")],
        "orbit": [("moves in a circle", "moving in a circle"), ("revolves around the centre",
                                                                "revolving around the centre"),
                  ("goes round and round", "going round and round"), ("circles the middle", "circling the middle"),
                  ("travels in a circle", "travelling in a circle")],
        "grow": [("gets larger", "getting larger"), ("becomes bigger", "becoming bigger"),
                 ("increases in size", "increasing in size"), ("grows bigger", "growing bigger"),
                 ("enlarges", "enlarging")],
        "shrink": [("gets tinier", "getting tinier"), ("becomes smaller", "becoming smaller"),
                   ("decreases in size", "decreasing in size"), ("shrinks away", "shrinking away"),
                   ("gets littler", "getting littler")],
        "still": [("stands still", "standing still"), ("stays in place", "staying in place"),
                  ("holds still", "holding still"), ("sits still", "sitting still"),
                  ("doesn't move", "not moving at all"), ("keeps still", "keeping still")],
    },
    "speed": {"slowly": ["lazily", "at a gentle pace", "very slowly"],
              "quickly": ["speedily", "at a fast pace", "very quickly"]},
    "size": {"small": ["mini", "smallish"], "big": ["giant", "very big"]},
    "determiner": ["the", "a lone"],
    "joiner": [", while ", " and at the same time ", "; "],
    "background": {
        "studio": ["on a grey backdrop", "in a plain grey room"],
        "sky": ["against the daytime sky", "in the open air"],
        "night": ["in the night", "on a dark starry night"],
        "desert": ["in a sandy desert", "across the desert sand"],
        "grass": ["on a lawn", "in a grassy field"],
        "ocean": ["over the sea", "above the ocean water"],
    },
    "frame": ["{objs_g}{bg}{cam}.", "A scene of {objs_g}{bg}{cam}.", "An animation of {objs_g}{bg}{cam}.",
              "Video of {objs_g}{bg}{cam}.", "A recording of {objs_g}{bg}{cam}.", "There is {objs_g}{bg}{cam}.",
              "In this shot, {objs}{bg}{cam}."],
}


def _pick(rng: random.Random, options: list, split: str, extra: list | None = None):
    """Choose a phrasing: train never sees `~` entries; eval prefers them. `extra`: more training
    phrasings (RICH_WORDS) for a rich training caption."""
    held = [o for o in options if _held(o)]
    seen = [o for o in options if not _held(o)] + (list(extra) if extra and split == "train" else [])
    if split == "eval" and held and rng.random() < 0.7:
        choice = rng.choice(held)
    else:
        choice = rng.choice(seen)
    return _clean(choice)


def _held(o) -> bool:
    return (o[0] if isinstance(o, tuple) else o).startswith("~")


def _clean(o):
    return tuple(s.lstrip("~") for s in o) if isinstance(o, tuple) else o.lstrip("~")


def _article(word: str, det: str) -> str:
    if det == "a" and word[0] in "aeiou":
        return "an"
    return det


MARK_OPEN, MARK_SEP, MARK_CLOSE = "\x01", "\x02", "\x03"  # around "slot:value" and its phrase


def _mark(tag: str | None, phrase: str) -> str:
    """`phrase` wrapped in the slot markers `spans` reads (tag None: unmarked)."""
    return phrase if tag is None else f"{MARK_OPEN}{tag}{MARK_SEP}{phrase}{MARK_CLOSE}"


def describe_object(obj, rng: random.Random, split: str, gerund: bool, rich: bool = False,
                    mark: bool = False) -> str:
    more = RICH_WORDS if rich else {}
    tag = (lambda slot, value: f"{slot}:{value}") if mark else (lambda slot, value: None)
    colour = _pick(rng, COLOUR_WORDS[obj.colour], split)
    shape = _pick(rng, SHAPE_WORDS[obj.shape], split)
    words = [(colour, tag("colour", obj.colour)), (shape, tag("shape", obj.shape))]
    if rng.random() < 0.85:
        words.insert(0, (_pick(rng, SIZE_WORDS[obj.size], split, more.get("size", {}).get(obj.size)),
                         tag("size", obj.size)))
    det = _pick(rng, DETERMINERS, split, more.get("determiner"))
    noun = f"{_article(words[0][0], det)} {' '.join(_mark(t, w) for w, t in words)}"
    verb = _pick(rng, MOTION_WORDS[obj.motion], split, more.get("motion", {}).get(obj.motion))[1 if gerund else 0]
    verb = _mark(tag("motion", obj.motion), verb)
    if obj.speed != "normal":
        adverb = _pick(rng, SPEED_WORDS[obj.speed], split, more.get("speed", {}).get(obj.speed))
        marked = _mark(tag("speed", obj.speed), adverb)
        if " " not in adverb and rng.random() < 0.5 and not gerund:
            verb = f"{marked} {verb}"
        else:
            verb = f"{verb} {marked}"
    return f"{noun} {verb}"


def caption(scene: Scene, rng: random.Random | int = 0, split: str = "train", rich: bool = False,
            mark: bool = False) -> str:
    """One English caption of `scene`. Deterministic for a given rng seed. `rich`: training
    captions also draw from RICH_WORDS (ignored for the eval split). `mark`: every slot's phrase
    is wrapped in markers that `spans` turns into (start, stop, "slot:value") character spans
    (the same draws, so the caption is the same one)."""
    rng = random.Random(rng) if isinstance(rng, int) else rng
    more = RICH_WORDS if rich else {}
    frame = _pick(rng, FRAMES, split, more.get("frame"))
    gerund = "{objs_g}" in frame
    parts = [describe_object(o, rng, split, gerund, rich, mark) for o in scene.objects]
    if gerund:
        objs = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    else:
        objs = parts[0]
        for p in parts[1:]:
            objs += _pick(rng, JOINERS, split, more.get("joiner")) + p
    bg = _pick(rng, BACKGROUND_WORDS[scene.background], split, more.get("background", {}).get(scene.background))
    if mark:
        bg = _mark(f"background:{scene.background}", bg)
    if scene.wall:
        bg += " " + _mark("wall:wall" if mark else None, _pick(rng, WALL_WORDS, split))
    cam_clause, cam_gerund = _pick(rng, CAMERA_WORDS[scene.camera], split)
    if mark:
        cam_clause, cam_gerund = (_mark(f"camera:{scene.camera}", c) for c in (cam_clause, cam_gerund))
    show_cam = scene.camera != "static" or rng.random() < 0.15
    if "{Cam_clause}" in frame and not show_cam:
        frame = "{Objs}{bg}{cam}."
    cam = f", {cam_gerund}" if show_cam else ""
    if "{Cam_clause}" in frame:
        cam_clause = "as " + cam_clause if rng.random() < 0.5 else cam_clause
    text = frame.format(Objs=objs, objs=objs, objs_g=objs, bg=" " + bg, Bg=bg, cam=cam,
                        Cam_clause=cam_clause)
    if mark:
        return text
    return text[0].upper() + text[1:]


def spans(marked: str) -> tuple[str, list[tuple[int, int, str]]]:
    """A caption made with `mark=True` -> (the caption as `caption` writes it, its slot spans
    [(start, stop, "slot:value")] in character offsets, in order)."""
    text, out, i = [], [], 0
    while i < len(marked):
        ch = marked[i]
        if ch == MARK_OPEN:
            sep = marked.index(MARK_SEP, i)
            close = marked.index(MARK_CLOSE, sep)
            start = sum(map(len, text))
            text.append(marked[sep + 1:close])
            out.append((start, start + close - sep - 1, marked[i + 1:sep]))
            i = close + 1
        else:
            text.append(ch)
            i += 1
    plain = "".join(text)
    return plain[0].upper() + plain[1:], out


def _phrases(table) -> list:
    """Every phrasing a table holds, flattened (tables are dicts or lists of strings or tuples)."""
    items = [x for v in table.values() for x in v] if isinstance(table, dict) else list(table)
    return [s for x in items for s in (x if isinstance(x, tuple) else (x,))]


_WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")


def phrase_text(text: str) -> str:
    """`text` lower-cased, everything but letters, hyphens and spaces made a space, padded with a
    space each side: a phrase P occurs as a whole when f" {P} " is in it."""
    return " " + re.sub(r"[^a-z\- ]", " ", (text or "").lower()) + " "


@functools.lru_cache(maxsize=2)
def training_words(rich: bool = False) -> frozenset:
    """Every word a training caption can contain (the `train` split's phrasings and frames; `rich`:
    also RICH_WORDS, for a model trained on rich captions)."""
    tables = (COLOUR_WORDS, SHAPE_WORDS, SIZE_WORDS, MOTION_WORDS, SPEED_WORDS, BACKGROUND_WORDS, WALL_WORDS,
              CAMERA_WORDS, JOINERS, DETERMINERS, FRAMES, *(RICH_WORDS.values() if rich else ()))
    words = {"an"}
    for table in tables:
        for phrase in _phrases(table):
            if not phrase.startswith("~"):
                words.update(_WORD.findall(re.sub(r"\{\w+\}", " ", phrase).lower()))
    return frozenset(words)


def unseen_words(prompt: str, rich: bool = False) -> list[str]:
    """The words of `prompt` that no training caption contains, in order (a known word with or
    without a final -s/-es counts as known; `rich`: the model trained on rich captions). A model
    trained on these captions has no reason to follow them; the text encoder may still place them
    (see engine.bench.world.encoder_confusions)."""
    known, out = training_words(rich), []
    for w in _WORD.findall((prompt or "").lower()):
        if {w, w + "s", w + "es", w[:-1] if w.endswith("s") else w, w[:-2] if w.endswith("es") else w} & known:
            continue
        if w not in out:
            out.append(w)
    return out


def unseen_note(words: list[str]) -> str:
    """One line for a prompt with words the world model never saw ('' when there are none)."""
    if not words:
        return ""
    return (f"note: the world model never saw {', '.join(repr(w) for w in words[:8])}"
            f"{' and more' if len(words) > 8 else ''} in training and may ignore them "
            f"(it knows colours such as {', '.join(COLOUR_WORDS)}; shapes such as {', '.join(SHAPE_WORDS)})")
