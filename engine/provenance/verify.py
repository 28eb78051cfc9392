"""`verify`: does a file's provenance hold up?

A file verifies when its C2PA manifest is present, its signature and every
hash check out (so not one byte of the media changed since signing), and the
signing certificate chains to a trusted root (the local root in the user's
config folder, a studio's roots, or roots passed explicitly). The watermark
is reported beside it: it is the evidence that survives when a re-encode has
stripped the manifest, but it cannot make a file verify.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError
from engine.provenance.c2pa_sign import IPTC, ManifestReport, read_manifest
from engine.provenance.mp4 import check_mp4
from engine.provenance.watermark import DEFAULT_KEY, DEFAULT_THRESHOLD, WatermarkResult, detect_watermark_file


@dataclass
class VerifyReport:
    path: str
    manifest: ManifestReport
    watermark: WatermarkResult | None
    watermark_scope: str          # "all frames" or "model-made frames"
    watermark_error: str | None = None
    allow_untrusted: bool = False

    @property
    def verified(self) -> bool:
        return self.manifest.intact and (self.manifest.trusted or self.allow_untrusted)

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
            return "intact, but signed by a certificate that is not trusted here (pass --trust ROOT.pem or --allow-untrusted)"
        return "verified" if m.trusted else "intact (signer not trusted, accepted by --allow-untrusted)"

    def to_dict(self) -> dict:
        return {"path": self.path, "verified": self.verified, "verdict": self.verdict,
                "c2pa": self.manifest.to_dict(),
                "watermark": None if self.watermark is None else {**self.watermark.to_dict(), "scope": self.watermark_scope},
                "watermark_error": self.watermark_error}

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
                    line += f" {json.dumps(fr.details, sort_keys=True)}"
                out.append(line)
            if len(r.ranges) > 40:
                out.append(f"  ... {len(r.ranges) - 40} more ranges (use --json)")
            for d in r.decisions:
                out.append(f"  policy: {'allowed' if d.get('allowed') else 'REFUSED'} {d.get('prompt')!r} ({d.get('policy')})")
        if self.watermark is not None:
            w = self.watermark
            state = "detected" if w.detected else "not detected"
            out.append(f"watermark: {state} over {w.frames} {self.watermark_scope} (score {w.score:.1f}, "
                       f"threshold {w.threshold:g}, false-alarm probability "
                       f"{'< 1e-300' if w.false_alarm == 0 else format(w.false_alarm, '.1e')})")
        elif self.watermark_error:
            out.append(f"watermark: not checked ({self.watermark_error})")
        out.append(("VERIFIED: " if self.verified else "NOT VERIFIED: ") + self.verdict)
        return out


def verify_file(path, anchors_pem: str = "", key: str = DEFAULT_KEY, threshold: float = DEFAULT_THRESHOLD,
                allow_untrusted: bool = False) -> VerifyReport:
    """Check an MP4's C2PA manifest and watermark. Raises InputError only when
    the file is not an MP4 at all, or is truncated; a tampered file yields a
    report that does not verify."""
    path = Path(path)
    check_mp4(path)
    manifest = read_manifest(path, anchors_pem)
    mask, scope = None, "frames"
    rec = manifest.record
    if rec is not None and any(r.model_made for r in rec.ranges) and not all(r.model_made for r in rec.ranges):
        mask, scope = rec.model_made_mask(), "model-made frames"
    watermark, error = None, None
    try:
        watermark = detect_watermark_file(path, key, threshold, frame_mask=mask)
    except InputError as e:
        error = str(e)
    if watermark is not None and watermark.frames == 0:
        watermark, error = None, "no decodable frames"
    return VerifyReport(str(path), manifest, watermark, scope, error, allow_untrusted)
