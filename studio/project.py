"""The project store: one SQLite database (WAL) plus a media folder, all under one projects directory.

    <root>/studio.db                    projects, cast members, shots, takes, timeline entries, jobs
    <root>/media/<project id>/...       takes, uploads, stills, previews, exports

Media paths are stored relative to <root>, so a projects folder can be moved
whole. Nothing is written outside <root>: every path the store hands out is
checked to lie inside it (`inside`).
"""
from __future__ import annotations

import itertools
import json
import re
import shutil
import sqlite3
import threading
import time
import unicodedata
import uuid
from pathlib import Path

from engine import defaults
from engine.errors import InputError
from studio.soundtracks import AUDIO_SCHEMA, AudioTrackStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL, updated REAL,
    settings TEXT DEFAULT '{}');
CREATE TABLE IF NOT EXISTS shots (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, position INTEGER,
    prompt TEXT DEFAULT '', negative TEXT DEFAULT '', seconds REAL DEFAULT 2, aspect TEXT DEFAULT '16:9',
    seed INTEGER DEFAULT 0, camera TEXT DEFAULT '', start_image TEXT, end_image TEXT, takes INTEGER DEFAULT 1,
    steps INTEGER DEFAULT 24, guidance REAL DEFAULT 5.0, motion TEXT, fit TEXT DEFAULT 'crop');
CREATE TABLE IF NOT EXISTS takes (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, shot_id TEXT, path TEXT,
    kind TEXT, label TEXT, settings TEXT, provenance TEXT, frames INTEGER, fps REAL, cancelled INTEGER DEFAULT 0,
    created REAL);
CREATE TABLE IF NOT EXISTS timeline (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, position INTEGER,
    take_id TEXT NOT NULL, trim_in INTEGER DEFAULT 0, trim_out INTEGER DEFAULT 0,
    transition TEXT DEFAULT 'cut', transition_seconds REAL DEFAULT 0.5, bridge_take_id TEXT,
    speed REAL DEFAULT 1.0, sound TEXT DEFAULT 'stretch');
CREATE TABLE IF NOT EXISTS cast_members (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, position INTEGER,
    name TEXT NOT NULL, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, kind TEXT, params TEXT,
    status TEXT, progress REAL DEFAULT 0, stage TEXT DEFAULT '', error TEXT DEFAULT '', result TEXT DEFAULT '[]',
    attempts INTEGER DEFAULT 0, created REAL, started REAL, finished REAL, preview TEXT);
""" + AUDIO_SCHEMA
SHOT_FIELDS = ("prompt", "negative", "seconds", "aspect", "seed", "camera", "start_image", "end_image", "takes",
               "steps", "guidance", "motion", "fit")
# motion: directed paths (engine.layout.direct), JSON, NULL: the plan; fit: how the start image takes the
# shot's canvas, "crop" (to fill) or "letterbox" (whole, with bars; studio.framing)
ENTRY_FIELDS = ("trim_in", "trim_out", "transition", "transition_seconds", "bridge_take_id", "speed", "sound")
TRANSITIONS = ("cut", "crossfade", "bridge")
LONG_TAKES = "longtakes"  # per project: unfinished long takes, `<shot id>-<key>.mp4` (Store.long_take_file)
SCHEMA_VERSION = 2  # 1: before the cast; 2: a cast per project
MEMBER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ -]*")  # as engine.scenes.scene accepts in a scene's cast


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class Store(AudioTrackStore):
    """Thread-safe access to the projects directory (one connection, one lock; the studio is local)."""

    def __init__(self, root):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "media").mkdir(exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.root / "studio.db", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        """Bring a projects folder made by an older studio up to this schema, keeping every row.
        New tables come from SCHEMA (CREATE ... IF NOT EXISTS); new columns of existing tables are added
        here with their defaults (ALTER TABLE ... ADD COLUMN never drops data)."""
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            self._db.executescript(SCHEMA)
            wanted = {m.group(1): m.group(2) for m in re.finditer(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\);",
                                                                   SCHEMA, re.S)}
            for table, body in wanted.items():
                have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
                for col in (c.strip() for c in body.split(",")):
                    name = col.split()[0]
                    if name not in have and "PRIMARY KEY" not in col and "NOT NULL" not in col:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {col}")
            if version < SCHEMA_VERSION:
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # ---- plumbing -----------------------------------------------------------
    def _q(self, sql: str, args=()) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, args).fetchall()]

    def _one(self, sql: str, args, missing: str) -> dict:
        """The row `sql` selects, or an InputError saying `missing` (what the person should pick first)."""
        rows = self._q(sql, args)
        if not rows:
            raise InputError(missing)
        return rows[0]

    def _x(self, sql: str, args=()) -> None:
        with self._lock:
            self._db.execute(sql, args)

    def close(self):
        with self._lock:
            self._db.close()

    def inside(self, path) -> Path:
        """`path` resolved, refusing anything outside the projects directory."""
        p = (self.root / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
        if p != self.root and self.root not in p.parents:
            raise InputError(f"{path} is outside the projects folder")
        return p

    def rel(self, path) -> str:
        return str(self.inside(path).relative_to(self.root))

    def media(self, project_id: str, *parts: str) -> Path:
        folder = self.inside(self.root / "media" / project_id / Path(*parts)) if parts else \
            self.inside(self.root / "media" / project_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # ---- projects -----------------------------------------------------------
    def projects(self) -> list[dict]:
        return self._q("SELECT * FROM projects ORDER BY updated DESC")

    def has_project(self, project_id: str) -> bool:
        return bool(self._q("SELECT 1 FROM projects WHERE id=?", (project_id,)))

    def project(self, project_id: str) -> dict:
        return self._one("SELECT * FROM projects WHERE id=?", (project_id,),
                         "no project is open; create or pick one in Projects")

    def create_project(self, name: str) -> str:
        name = _name(name)
        pid = new_id("p")
        now = time.time()
        with self._lock:
            self._refuse_taken(name)
            self._x("INSERT INTO projects VALUES (?,?,?,?,?)", (pid, name, now, now, "{}"))
        self.media(pid)
        return pid

    def rename_project(self, project_id: str, name: str) -> None:
        self.project(project_id)
        name = _name(name)
        with self._lock:
            self._refuse_taken(name, project_id)
            self._x("UPDATE projects SET name=?, updated=? WHERE id=?", (name, time.time(), project_id))

    def free_name(self, name: str, tag: str = "") -> str:
        """`name` with `tag` (“Dunes (copy)”), or with the first free number (“Dunes (copy 2)”, or “Dunes (2)”
        without a tag), shortened to fit MAX_NAME: for names the studio makes up, which need not be refused."""
        for n in itertools.count(1):
            label = " ".join(x for x in (tag, str(n) if n > 1 else "") if x)
            suffix = f" ({label})" if label else ""
            candidate = _name(name)[:MAX_NAME - len(suffix)].rstrip() + suffix
            if self._named(candidate) is None:
                return candidate

    def _named(self, name: str, other_than: str | None = None) -> dict | None:
        """The project already called `name` (in any case, spacing or Unicode form), other than `other_than`."""
        key = _name_key(name)
        return next((p for p in self.projects() if _name_key(p["name"]) == key and p["id"] != other_than), None)

    def _refuse_taken(self, name: str, other_than: str | None = None) -> None:
        # Issue 31: a second project of the same name was an empty look-alike of the first in the picker.
        taken = self._named(name, other_than)
        if taken is not None:
            raise InputError(f"a project named “{taken['name']}” already exists; pick it in the Project list or give "
                             "this one another name")

    def touch(self, project_id: str) -> None:
        self._x("UPDATE projects SET updated=? WHERE id=?", (time.time(), project_id))

    def duplicate_project(self, project_id: str, name: str | None = None) -> str:
        src = self.project(project_id)
        with self._lock:
            new = self.create_project(name or self.free_name(src["name"], "copy"))
        # Unfinished long takes stay behind: their checkpoints are named by the source's shot ids, and
        # only the source's shots can resume them.
        shutil.copytree(self.media(project_id), self.media(new), dirs_exist_ok=True,
                        ignore=lambda d, names: [LONG_TAKES] if Path(d) == self.media(project_id) else [])
        old_prefix, new_prefix = f"media/{project_id}/", f"media/{new}/"
        ids: dict[str, str] = {}

        def fix(v, key=""):
            """Paths and ids inside strings (media paths, JSON settings naming a source take);
            media file names keep their old ids (the files were copied as they are)."""
            if not isinstance(v, str):
                return v
            v = v.replace(old_prefix, new_prefix)
            if key == "path":
                return v
            for a, b in ids.items():
                v = v.replace(a, b) if a in v else v
            return v

        with self._lock:
            for table, prefix in (("shots", "s"), ("takes", "t"), ("timeline", "e"), ("cast_members", "c"),
                                  ("audio_tracks", "a")):
                for row in self._q(f"SELECT * FROM {table} WHERE project_id=?", (project_id,)):
                    ids[row["id"]] = new_id(prefix)
            for table in ("shots", "takes", "timeline", "cast_members", "audio_tracks"):
                for row in self._q(f"SELECT * FROM {table} WHERE project_id=?", (project_id,)):
                    row = {k: fix(v, k) for k, v in row.items()}
                    row["project_id"] = new
                    cols = ",".join(row)
                    self._x(f"INSERT INTO {table} ({cols}) VALUES ({','.join('?' * len(row))})", tuple(row.values()))
        return new

    def delete_project(self, project_id: str) -> None:
        self.project(project_id)
        with self._lock:
            for table in ("shots", "takes", "timeline", "jobs", "cast_members", "audio_tracks"):
                self._x(f"DELETE FROM {table} WHERE project_id=?", (project_id,))
            self._x("DELETE FROM projects WHERE id=?", (project_id,))
        shutil.rmtree(self.root / "media" / project_id, ignore_errors=True)

    # ---- cast ---------------------------------------------------------------
    def cast(self, project_id: str) -> dict[str, str]:
        """The project's cast, in the order it was written: member name -> description."""
        rows = self._q("SELECT name, description FROM cast_members WHERE project_id=? ORDER BY position",
                       (project_id,))
        return {r["name"]: r["description"] for r in rows}

    def set_member(self, project_id: str, name: str, description: str) -> bool:
        """Add a cast member or change its description; returns True when it is new."""
        self.project(project_id)
        name, description = (name or "").strip(), " ".join((description or "").split())
        if not name:
            raise InputError("give the cast member a name, e.g. ball (shot prompts then say {ball})")
        if not MEMBER_NAME.fullmatch(name) or len(name) > 40:
            raise InputError(f"cast member name {name!r}: use letters, digits, spaces, - and _ "
                             "(starting with a letter), at most 40 characters")
        if not description:
            raise InputError(f"describe {name} once, e.g. 'the big red ball'; every shot then uses that look")
        if len(description) > 200:
            raise InputError("a cast description is at most 200 characters")
        with self._lock:
            rows = self._q("SELECT id FROM cast_members WHERE project_id=? AND name=?", (project_id, name))
            if rows:
                self._x("UPDATE cast_members SET description=? WHERE id=?", (description, rows[0]["id"]))
            else:
                pos = len(self.cast(project_id))
                self._x("INSERT INTO cast_members VALUES (?,?,?,?,?)",
                        (new_id("c"), project_id, pos, name, description))
        self.touch(project_id)
        return not rows

    def remove_member(self, project_id: str, name: str) -> None:
        self.project(project_id)
        name = (name or "").strip()
        if name not in self.cast(project_id):
            raise InputError(f"there is no cast member {name!r} in this project")
        self._x("DELETE FROM cast_members WHERE project_id=? AND name=?", (project_id, name))
        self._renumber("cast_members", project_id)

    # ---- shots --------------------------------------------------------------
    def shots(self, project_id: str) -> list[dict]:
        return self._q("SELECT * FROM shots WHERE project_id=? ORDER BY position", (project_id,))

    def shot(self, shot_id: str) -> dict:
        return self._one("SELECT * FROM shots WHERE id=?", (shot_id,), "pick a shot first (or add one with 'Add shot')")

    def add_shot(self, project_id: str, **fields) -> str:
        self.project(project_id)
        sid = new_id("s")
        pos = len(self.shots(project_id))
        self._x("INSERT INTO shots (id, project_id, position, steps, guidance) VALUES (?,?,?,?,?)",
                (sid, project_id, pos, defaults.STEPS, defaults.GUIDANCE))
        if fields:
            self.update_shot(sid, **fields)
        self.touch(project_id)
        return sid

    def update_shot(self, shot_id: str, **fields) -> None:
        shot = self.shot(shot_id)
        fields = {k: v for k, v in fields.items() if k in SHOT_FIELDS}
        if fields:
            sets = ",".join(f"{k}=?" for k in fields)
            self._x(f"UPDATE shots SET {sets} WHERE id=?", (*fields.values(), shot_id))
            self.touch(shot["project_id"])

    def long_take_file(self, project_id: str, shot_id: str, key: str) -> Path:
        """Where a shot's long take renders (its checkpoint and partial file sit beside it, named
        after it): `<shot id>-<key>.mp4` in the project's longtakes folder, so the shot's own
        can be found when it is deleted."""
        return self.media(project_id, LONG_TAKES) / f"{shot_id}-{key}.mp4"

    def delete_shot(self, shot_id: str) -> None:
        """The shot goes; its takes stay (they may be on the timeline). Unfinished long takes of the
        shot (long_take_file: checkpoint and partial file) go, nothing can resume them."""
        shot = self.shot(shot_id)
        self._x("DELETE FROM shots WHERE id=?", (shot_id,))
        self._renumber("shots", shot["project_id"])
        folder = self.root / "media" / shot["project_id"] / LONG_TAKES
        for p in folder.glob(f"{shot_id}-*") if folder.is_dir() else ():
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)

    def move_shot(self, shot_id: str, delta: int) -> None:
        shot = self.shot(shot_id)
        self._move("shots", shot["project_id"], shot_id, delta)

    # ---- takes --------------------------------------------------------------
    def add_take(self, project_id: str, shot_id: str | None, path, kind: str, settings: dict, provenance: dict,
                 frames: int, fps: float, cancelled: bool = False, label: str = "", take_id: str | None = None) -> str:
        tid = take_id or new_id("t")
        self._x("INSERT INTO takes VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (tid, project_id, shot_id, self.rel(path), kind, label, json.dumps(settings, default=str),
                 json.dumps(provenance), int(frames), float(fps), int(cancelled), time.time()))
        self.touch(project_id)
        return tid

    def takes(self, project_id: str, shot_id: str | None = None) -> list[dict]:
        if shot_id is None:
            rows = self._q("SELECT * FROM takes WHERE project_id=? ORDER BY created", (project_id,))
        else:
            rows = self._q("SELECT * FROM takes WHERE shot_id=? ORDER BY created", (shot_id,))
        return [_take(r) for r in rows]

    def footage(self, project_id: str) -> list[dict]:
        """The project's own footage, oldest first: uploaded camera clips and the takes made from them (fixes,
        extends, re-cuts, remixes), which belong to no shot. Bridges made from footage are transitions, not
        footage, and the assembled scene is no footage either."""
        return [t for t in self.takes(project_id)
                if not t["shot_id"] and t["kind"] != "bridge" and t["settings"].get("source_file")]

    def take(self, take_id: str) -> dict:
        return _take(self._one("SELECT * FROM takes WHERE id=?", (take_id,), "pick a take first"))

    def path(self, rel: str) -> Path:
        return self.inside(self.root / rel)

    # ---- timeline -----------------------------------------------------------
    def timeline(self, project_id: str) -> list[dict]:
        return self._q("SELECT * FROM timeline WHERE project_id=? ORDER BY position", (project_id,))

    def entry(self, entry_id: str) -> dict:
        return self._one("SELECT * FROM timeline WHERE id=?", (entry_id,), "pick a clip on the timeline first")

    def promote(self, take_id: str) -> str:
        take = self.take(take_id)
        eid = new_id("e")
        pos = len(self.timeline(take["project_id"]))
        self._x("INSERT INTO timeline (id, project_id, position, take_id) VALUES (?,?,?,?)",
                (eid, take["project_id"], pos, take_id))
        self.touch(take["project_id"])
        return eid

    def choose_take(self, take_id: str) -> tuple[str, str | None]:
        """Make `take_id` the take its shot uses on the timeline; returns (entry id, the take it replaced).

        The shot's clip keeps its place, its transition and its trim (when the trim still leaves a frame of
        the new take); a bridge into or out of it connected the old take, so it becomes a cut to re-render.
        A shot with no clip yet gets one at the end (as `promote`).
        """
        take = self.take(take_id)
        with self._lock:
            entries = self.timeline(take["project_id"])
            shot_of = {t["id"]: t["shot_id"] for t in self.takes(take["project_id"])}
            mine = [i for i,
                    e in enumerate(entries) if take["shot_id"] and shot_of.get(e["take_id"]) == take["shot_id"]]
            if not mine:
                return self.promote(take_id), None
            i = mine[0]
            e = entries[i]
            if e["take_id"] == take_id:
                return e["id"], None
            trim = (e["trim_in"], e["trim_out"]) if e["trim_in"] + e["trim_out"] < take["frames"] else (0, 0)
            self._x("UPDATE timeline SET take_id=?, trim_in=?, trim_out=? WHERE id=?", (take_id, *trim, e["id"]))
            for other in entries[i:i + 2]:
                if other["transition"] == "bridge":
                    self._x("UPDATE timeline SET transition='cut', bridge_take_id=NULL WHERE id=?", (other["id"],))
        self.touch(take["project_id"])
        return e["id"], e["take_id"]

    def update_entry(self, entry_id: str, **fields) -> None:
        e = self.entry(entry_id)
        fields = {k: v for k, v in fields.items() if k in ENTRY_FIELDS}
        if "transition" in fields and fields["transition"] not in TRANSITIONS:
            raise InputError(f"transition must be one of {', '.join(TRANSITIONS)}")
        if fields:
            sets = ",".join(f"{k}=?" for k in fields)
            self._x(f"UPDATE timeline SET {sets} WHERE id=?", (*fields.values(), entry_id))
            self.touch(e["project_id"])

    def remove_entry(self, entry_id: str) -> None:
        e = self.entry(entry_id)
        self._x("DELETE FROM timeline WHERE id=?", (entry_id,))
        self._renumber("timeline", e["project_id"])

    def move_entry(self, entry_id: str, delta: int) -> None:
        e = self.entry(entry_id)
        self._move("timeline", e["project_id"], entry_id, delta)

    # ---- jobs ---------------------------------------------------------------
    def add_job(self, project_id: str, kind: str, params: dict) -> str:
        jid = new_id("j")
        self._x("INSERT INTO jobs (id, project_id, kind, params, status, created) VALUES (?,?,?,?,?,?)",
                (jid, project_id, kind, json.dumps(params), "waiting", time.time()))
        return jid

    def job(self, job_id: str) -> dict:
        return _job(self._one("SELECT * FROM jobs WHERE id=?", (job_id,), f"no job {job_id}"))

    def jobs(self, project_id: str | None = None, status: str | None = None) -> list[dict]:
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if project_id is not None:
            sql, args = sql + " AND project_id=?", args + [project_id]
        if status is not None:
            sql, args = sql + " AND status=?", args + [status]
        return [_job(r) for r in self._q(sql + " ORDER BY created", args)]

    def update_job(self, job_id: str, **fields) -> None:
        if "result" in fields:
            fields["result"] = json.dumps(fields["result"])
        sets = ",".join(f"{k}=?" for k in fields)
        self._x(f"UPDATE jobs SET {sets} WHERE id=?", (*fields.values(), job_id))

    # ---- helpers ------------------------------------------------------------
    def _renumber(self, table: str, project_id: str) -> None:
        rows = self._q(f"SELECT id FROM {table} WHERE project_id=? ORDER BY position", (project_id,))
        with self._lock:
            for i, r in enumerate(rows):
                self._x(f"UPDATE {table} SET position=? WHERE id=?", (i, r["id"]))
        self.touch(project_id)

    def _move(self, table: str, project_id: str, row_id: str, delta: int) -> None:
        ids = [r["id"] for r in self._q(f"SELECT id FROM {table} WHERE project_id=? ORDER BY position",
                                        (project_id,))]
        i = ids.index(row_id)
        j = max(0, min(len(ids) - 1, i + delta))
        ids.insert(j, ids.pop(i))
        with self._lock:
            for k, rid in enumerate(ids):
                self._x(f"UPDATE {table} SET position=? WHERE id=?", (k, rid))
        self.touch(project_id)


MAX_NAME = 120
JOINERS = "\u200c\u200d"  # format characters that emoji and some scripts need inside a name


def _name(name: str) -> str:
    """A project name as given, checked: it titles the edit lists (EDL, FCP XML, OTIO) an editor opens, so
    one line of printable text (no control or direction-override characters)."""
    name = (name or "").strip()
    if not name:
        raise InputError("give the project a name")
    if len(name) > MAX_NAME:
        raise InputError(f"project names are at most {MAX_NAME} characters")
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in JOINERS), None)
    if bad is not None:
        raise InputError("project names are one line of printable text, without control characters; this one holds "
                         + unicodedata.name(bad, f"U+{ord(bad):04X}"))
    return name


def _name_key(name: str) -> str:
    """What makes two project names the same to a reader of the picker: case, spacing and Unicode form aside."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _take(row: dict) -> dict:
    row["settings"] = json.loads(row["settings"] or "{}")
    row["provenance"] = json.loads(row["provenance"] or "{}")
    row["cancelled"] = bool(row["cancelled"])
    return row


def _job(row: dict) -> dict:
    row["params"] = json.loads(row["params"] or "{}")
    row["result"] = json.loads(row["result"] or "[]")
    return row
