"""`verify`: does a file's provenance hold up?

A file verifies when its C2PA manifest is present, its signature and every
hash check out (so not one byte of the media changed since signing), and the
signing certificate chains to a trusted root (the local root in the user's
config folder, a studio's roots, or roots passed explicitly). The watermark
is reported beside it: it is the evidence that survives when a re-encode has
stripped the manifest, but it cannot make a file verify.

The JSON sidecar written beside every output (`FILE.json`) is unsigned, so
anyone can edit it, or copy one from another file. When the manifest holds a
record, verify compares the sidecar's record with it: a sidecar that says
something else (or cannot be read) makes the file fail to verify, because a
reader who trusts the sidecar would be misled. A missing sidecar is fine: the
signed record is the authority, the sidecar only a convenience.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.datafiles import read_json
from engine.errors import InputError
from engine.provenance.c2pa_sign import IPTC, ManifestReport, read_manifest
from engine.provenance.mp4 import check_mp4
from engine.provenance.record import ProvenanceRecord
from engine.provenance.watermark import (
    DEFAULT_KEY,
    DEFAULT_THRESHOLD,
    WatermarkResult,
    detect_watermark_file,
    grid_weights,
)


@dataclass
class SidecarCheck:
    """The JSON sidecar beside the file against the signed record.

    state: "absent" (no sidecar; fine), "matches", "mismatch" (it says something
    the signed record does not, or cannot be read), "unchecked" (no signed record
    to compare it with).
    """
    path: str
    state: str
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state != "mismatch"

    def to_dict(self) -> dict:
        return {"path": self.path, "state": self.state, "ok": self.ok, "differences": list(self.differences)}

    def line(self) -> str:
        if self.state == "absent":
            return f"sidecar: absent ({self.path}); the signed record stands alone"
        if self.state == "unchecked":
            return f"sidecar: {self.path} not checked (no intact signed record to compare it with)"
        if self.state == "matches":
            return f"sidecar: {self.path} matches the signed record"
        return f"sidecar: MISMATCH: {self.path} does not match the signed record (edited, or from another file): " \
               + "; ".join(self.differences)


def check_sidecar(sidecar_path, signed: ProvenanceRecord | None) -> SidecarCheck:
    """Compare the sidecar at `sidecar_path` with the record signed into the file."""
    path = Path(sidecar_path)
    if not path.exists():
        return SidecarCheck(str(path), "absent")
    if signed is None:
        return SidecarCheck(str(path), "unchecked")
    try:
        data = read_json(path, "sidecar")
    except InputError as e:
        return SidecarCheck(str(path), "mismatch", [f"the sidecar cannot be read as JSON ({e})"])
    if not isinstance(data, dict) or not isinstance(data.get("provenance"), dict):
        return SidecarCheck(str(path), "mismatch", ["the sidecar has no 'provenance' record"])
    try:
        theirs = ProvenanceRecord.from_dict(data["provenance"])
    except InputError as e:
        return SidecarCheck(str(path), "mismatch", [f"the sidecar's record is malformed ({e})"])
    diffs = _record_differences(theirs, signed)
    # (interpolate's sidecar keeps its per-frame plan under "frames": a count is compared, a list is not)
    if isinstance(data.get("frames"), int) and data["frames"] != signed.frame_count:
        diffs.append(f"the sidecar says the clip has {data['frames']!r} frames, the signed record {signed.frame_count}")
    if data.get("fps") is not None and signed.fps is not None and not _same_number(data["fps"], signed.fps):
        diffs.append(f"the sidecar says {data['fps']!r} fps, the signed record {signed.fps:g}")
    return SidecarCheck(str(path), "mismatch" if diffs else "matches", diffs)


def _record_differences(side: ProvenanceRecord, signed: ProvenanceRecord) -> list[str]:
    """What differs between two records, in words (the first few differences). Records are compared as
    read, so a version-1 sidecar beside a version-2 manifest that says the same thing matches."""
    out = []
    if side.frame_count != signed.frame_count:
        out.append(f"frame count {side.frame_count} in the sidecar, {signed.frame_count} signed")
    if not _same_number(side.fps, signed.fps):
        out.append(f"fps {side.fps} in the sidecar, {signed.fps} signed")
    for i, (x, y) in enumerate(zip(side.ranges, signed.ranges)):
        if x != y:
            a, b = x.to_dict(), y.to_dict()
            keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            out.append(f"frame range {i} (signed: frames {y.start}-{y.stop - 1} {y.kind}) differs in {', '.join(keys)}")
            break
    if len(side.ranges) != len(signed.ranges):
        out.append(f"{len(side.ranges)} frame ranges in the sidecar, {len(signed.ranges)} signed")
    if side.decisions != signed.decisions:
        out.append("the prompt-policy decisions differ")
    if side.watermark != signed.watermark:
        out.append("the watermark note differs")
    return out


def _same_number(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))
    except (TypeError, ValueError):
        return False


@dataclass
class VerifyReport:
    path: str
    manifest: ManifestReport
    watermark: WatermarkResult | None
    watermark_scope: str          # "all frames" or "model-made frames"
    watermark_error: str | None = None
    allow_untrusted: bool = False
    sidecar: SidecarCheck | None = None

    @property
    def verified(self) -> bool:
        return (self.manifest.intact and (self.manifest.trusted or self.allow_untrusted)
                and (self.sidecar is None or self.sidecar.ok))

    @property
    def verdict(self) -> str:
        m = self.manifest
        if not m.present:
            return "no C2PA manifest: provenance cannot be verified (stripped by a re-encode, or never signed)"
        if m.error:
            return f"the C2PA manifest is unreadable: {m.error}"
        changed = [f["code"] for f in m.failures if f.get("code") != "signingCredential.untrusted"]
        if changed:
            return "the file was changed after signing: " + "; ".join(str(c) for c in changed)
        if m.ftyp_ok is False:
            return "the file's 'ftyp' box changed after signing"
        if m.seal_ok is False:
            return "the file's bytes changed after signing (its seal does not match)"
        if not m.trusted and not self.allow_untrusted:
            return ("intact, but signed by a certificate that is not trusted here (pass --trust ROOT.pem or "
                    "--allow-untrusted)")
        if self.sidecar is not None and not self.sidecar.ok:
            return ("the file is intact, but its JSON sidecar does not match the signed record "
                    "(edited, or from another file): trust the signed record, not the sidecar")
        return "verified" if m.trusted else "intact (signer not trusted, accepted by --allow-untrusted)"

    def to_dict(self) -> dict:
        return {"path": self.path, "verified": self.verified, "verdict": self.verdict,
                "c2pa": self.manifest.to_dict(),
                "watermark": None if self.watermark is None else {**self.watermark.to_dict(),
                                                                  "scope": self.watermark_scope},
                "watermark_error": self.watermark_error,
                "sidecar": None if self.sidecar is None else self.sidecar.to_dict()}

    def lines(self) -> list[str]:
        m = self.manifest
        out = [f"file: {self.path}"]
        if m.present:
            dst = (m.digital_source_type or "none").replace(IPTC, "")
            who = m.signer.get("common_name") or "unknown signer"
            out.append(f"c2pa: {m.state or 'unknown'} (signed by {who!r}, issuer {m.signer.get('issuer')!r}); "
                       f"digital source type: {dst}")
            for f in m.failures:
                out.append(f"  failure {f.get('code')}: {f.get('explanation')}")
        else:
            out.append("c2pa: no manifest")
        if m.record is not None:
            r = m.record
            fps = f" at {r.fps:g} fps" if r.fps else ""
            out.append(f"record: {r.frame_count} frames{fps}: " + ", ".join(f"{n} {k}" for k, n in r.counts().items()))
            for fr in r.ranges[:40]:
                line = f"  frames {fr.start}-{fr.stop - 1}: {fr.kind}"
                if fr.generation is not None:
                    g = fr.generation
                    line += f" by {g.model} (seed {g.seed}, prompt {g.prompt!r})"
                if fr.source:
                    line += f" from {fr.source}" + (f" frame {fr.source_start}" if fr.source_start is not None else "")
                if fr.details:
                    shown = dict(fr.details)
                    if "watermark_region" in shown:  # 684 characters of base64: say what it is instead
                        shown["watermark_region"] = f"{int(grid_weights(shown['watermark_region']).sum())} grid cells"
                    line += f" {json.dumps(shown, sort_keys=True)}"
                out.append(line)
            if len(r.ranges) > 40:
                out.append(f"  ... {len(r.ranges) - 40} more ranges (use --json)")
            for kind, what in ((r.watermark or {}).get("scope") or {}).items():
                out.append(f"  watermarked {kind} frames: {what}")
            for d in r.decisions:
                out.append(f"  policy: {'allowed' if d.get('allowed') else 'REFUSED'} {d.get('prompt')!r} "
                           f"({d.get('policy')})")
        if self.watermark is not None:
            w = self.watermark
            state = "detected" if w.detected else "not detected"
            out.append(f"watermark: {state} over {w.frames} {self.watermark_scope} (score {w.score:.1f}, "
                       f"threshold {w.threshold:g}, false-alarm probability "
                       f"{'< 1e-300' if w.false_alarm == 0 else format(w.false_alarm, '.1e')})")
        elif self.watermark_error:
            out.append(f"watermark: not checked ({self.watermark_error})")
        if self.sidecar is not None:
            out.append(self.sidecar.line())
        out.append(("VERIFIED: " if self.verified else "NOT VERIFIED: ") + self.verdict)
        return out


def _region_weights(record: ProvenanceRecord) -> list:
    """Per frame: the detector-grid weights of the range's painted region, or None (whole frame)."""
    out = []
    for r in record.ranges:
        cells = r.details.get("watermark_region")
        out += [None if cells is None else grid_weights(cells)] * len(r)
    return out


def verify_file(path, anchors_pem: str = "", key: str = DEFAULT_KEY, threshold: float = DEFAULT_THRESHOLD,
                allow_untrusted: bool = False, sidecar=None) -> VerifyReport:
    """Check an MP4's C2PA manifest, watermark and JSON sidecar. Raises InputError
    only when the file is not an MP4 at all, or is truncated; a tampered file (or
    a sidecar that contradicts the signed record) yields a report that does not
    verify. sidecar: the sidecar's path (default: FILE.json beside the file)."""
    path = Path(path)
    check_mp4(path)
    manifest = read_manifest(path, anchors_pem)
    mask, weights, scope = None, None, "frames"
    rec = manifest.record
    watermark, error = None, None
    try:
        if rec is not None and any(r.model_made for r in rec.ranges) and not all(r.model_made for r in rec.ranges):
            mask, scope = rec.model_made_mask(), "model-made frames"
        if rec is not None and any("watermark_region" in r.details for r in rec.ranges):
            weights = _region_weights(rec)
            scope = ("model-made frames" if mask is not None else "frames") + " (painted regions of inpainted frames)"
        watermark = detect_watermark_file(path, key, threshold, frame_mask=mask, frame_weights=weights)
    except InputError as e:
        error = str(e)
    if watermark is not None and watermark.frames == 0:
        watermark, error = None, "no decodable frames"
    side = check_sidecar(Path(str(path) + ".json") if sidecar is None else sidecar, rec if manifest.intact else None)
    return VerifyReport(str(path), manifest, watermark, scope, error, allow_untrusted, side)
