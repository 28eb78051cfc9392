"""Provenance and safety (issue 8): what made each frame, watermark, C2PA, prompt policy.

The write path of every verb that renders (generate, animate, extend, fill,
bridge, remix, inpaint, interpolate) and of the studio's export:

    policy = load_policy(path_or_None)                   # once per session
    record = ProvenanceRecord.generated(n, Generation(model, prompt, seed, settings), fps)
    enforce(prompt, policy, record)                      # logs the decision; raises PromptBlocked (exit 2)
    frames = ...render...
    frames = watermark_record_frames(frames, record, region=painted)   # marks what the model made
    media.write_output(out, frames, fps, sidecar={..., "provenance": record.to_dict()})
    if out ends with .mp4:
        sign_mp4(out, record, SignerConfig.from_config_dir(config_dir))   # last: any re-encode strips it

Editing verbs change the record of their input instead of making a new one:
`record.mark(10, 18, "generated", generation=...)` (fill),
`record.retime_factor(k)` (interpolate), `concatenate([...])` (a cut),
`record.slice(a, b)` (trim). Mark frames once, when the model makes them:
an editing verb marks only the frames it just had the model paint
(`embed_watermark(new_frames)`), never the frames it passes through, which
already carry the mark (marking twice doubles its strength and visibility).
Frames blended from marked frames (interpolation, crossfades) keep the mark:
the pattern is the same in every frame. `region` (inpaint: the mask the model
painted) keeps the mark off the camera pixels of inpainted frames; the record's
`watermark["scope"]` says, per kind, what was marked.
"""
import importlib

# Each name is imported from its module on first use (PEP 562), so a command pays only for what it touches:
# `interpolate` signs and reads records but never loads the watermark detector and its filters.
_WHERE = {
    "c2pa_sign": ["ASSERTION_LABEL", "ManifestReport", "SignerConfig", "digital_source_type", "ensure_local_chain",
                  "read_manifest", "sign_mp4", "trust_anchors_pem"],
    "policy": ["Decision", "Policy", "PromptBlocked", "Rule", "check_prompt", "enforce", "load_policy",
               "policy_from_dict"],
    "record": ["KINDS", "FrameRange", "Generation", "ProvenanceRecord", "concatenate"],
    "verify": ["VerifyReport", "verify_file"],
    "watermark": ["DEFAULT_KEY", "DEFAULT_STRENGTH", "DEFAULT_THRESHOLD", "WatermarkDetector", "WatermarkResult",
                  "detect_watermark", "detect_watermark_file", "embed_watermark", "watermark_record_frames"],
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__():
    return sorted(list(globals()) + list(_MODULE_OF))


__all__ = [
    "ASSERTION_LABEL", "DEFAULT_KEY", "DEFAULT_STRENGTH", "DEFAULT_THRESHOLD", "KINDS",
    "Decision", "FrameRange", "Generation", "ManifestReport", "Policy", "PromptBlocked", "ProvenanceRecord", "Rule",
    "SignerConfig", "VerifyReport", "WatermarkDetector", "WatermarkResult",
    "check_prompt", "concatenate", "detect_watermark", "detect_watermark_file", "digital_source_type",
    "embed_watermark", "enforce", "ensure_local_chain", "load_policy", "policy_from_dict", "read_manifest",
    "sign_mp4", "trust_anchors_pem", "verify_file", "watermark_record_frames",
]
