"""`python -m engine verify FILE`: C2PA manifest, per-frame record, watermark.

Exit status: 0 the file verifies (manifest intact and signed by a trusted
certificate, and the JSON sidecar, when there is one, says what the signed
record says), 1 it does not (no manifest, changed after signing, untrusted
signer, a sidecar edited or taken from another file), 2 bad input (not an MP4,
truncated, unreadable trust file). A missing sidecar is reported as absent and
does not fail the check.
"""
from __future__ import annotations

import json
from pathlib import Path

from engine.errors import InputError
from engine.provenance import DEFAULT_KEY, trust_anchors_pem, verify_file
from engine.provenance.c2pa_sign import check_anchors


def default_config_dir() -> str:
    """The user's Tenku config folder (holds the local signing chain)."""
    import platformdirs  # deferred: platformdirs is heavy; kept off the CLI's top (--help)

    return platformdirs.user_config_dir("tenku")


def register(subparsers) -> None:
    p = subparsers.add_parser("verify", help="check a video's provenance: C2PA manifest, per-frame record, watermark",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("file", metavar="FILE", help="an MP4 written by the engine or the studio")
    p.add_argument("--config", metavar="DIR", default=None,
                   help="config folder whose signing roots are trusted (default: the user's Tenku config folder)")
    p.add_argument("--trust", metavar="PEM", action="append", default=[],
                   help="also trust the root certificate(s) in this PEM file (repeatable)")
    p.add_argument("--allow-untrusted", action="store_true",
                   help="accept an intact manifest signed by a certificate that is not trusted here")
    p.add_argument("--sidecar", metavar="JSON", default=None,
                   help="the JSON sidecar to check against the signed record (default: FILE.json beside the file)")
    p.add_argument("--watermark-key", default=None, help="watermark key (default: the public Tenku key)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.config is not None and not Path(args.config).is_dir():
        raise InputError(f"--config {args.config!r} is not a folder; give the config folder whose signing roots "
                         "are trusted")
    config = args.config or default_config_dir()
    try:
        anchors = check_anchors(trust_anchors_pem(config), f"the trusted roots of config folder {config!r}")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"the trusted roots of config folder {config!r} cannot be read "
                         f"({e.__class__.__name__})") from None
    for pem in args.trust:
        try:
            text = Path(pem).read_text("ascii")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"--trust {pem!r} cannot be read as a PEM file ({e.__class__.__name__})") from None
        if "-----BEGIN CERTIFICATE-----" not in text:  # else a typo'd file trusts nothing, and says nothing
            raise InputError(f"--trust {pem!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        anchors += check_anchors(text, f"--trust {pem!r}")
    if args.sidecar is not None and not Path(args.sidecar).is_file():
        raise InputError(f"--sidecar {args.sidecar!r} is not a file")
    report = verify_file(args.file, anchors, key=args.watermark_key or DEFAULT_KEY,
                         allow_untrusted=args.allow_untrusted, sidecar=args.sidecar)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print("\n".join(report.lines()))
    return 0 if report.verified else 1
