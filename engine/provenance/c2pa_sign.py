"""C2PA: sign an MP4 with its provenance, and read a signed MP4 back.

Signing is the last step of every write (after watermarking and encoding):
any re-encode removes the manifest (shared ECOSYSTEM.md, "Provenance"). The
manifest holds
- `c2pa.actions.v2`: `c2pa.created` with the IPTC digital source type
  (trainedAlgorithmicMedia for model output, compositeWithTrainedAlgorithmicMedia
  for a cut that mixes camera footage and model output), plus one
  `c2pa.edited` per kind of frame that was made afterwards (interpolated,
  inpainted, transition);
- `org.tenku.provenance`: the per-frame-range record (`record.py`), a SHA-256
  of the file's `ftyp` box (which the C2PA BMFF hash leaves out by design) and
  a flag saying the file carries a seal (`mp4.py`): a whole-file digest after
  the manifest, so that `verify` also notices a flipped byte in the parts of
  the manifest store C2PA leaves unsigned (labels, padding).

Signing credentials: a studio configures its own certificate chain and key
(`SignerConfig.from_files`, or a `c2pa/signer.toml` in the config folder);
otherwise a local chain (root CA + leaf, ECDSA P-256) is created on first use
in the config folder the caller passes (the CLI and studio pass the user's
config folder). The local root's private key is thrown away once the leaf is
issued, so nothing else can ever be issued under it.
"""
from __future__ import annotations

import datetime
import io
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from engine.datafiles import read_toml
from engine.errors import InputError
from engine.provenance.mp4 import append_seal, check_mp4, check_seal, ftyp_digest
from engine.provenance.record import ProvenanceRecord

ASSERTION_LABEL = "org.tenku.provenance"
SOFTWARE = "Tenku Studio"
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
ROOT_YEARS, LEAF_YEARS = 20, 10


# --------------------------------------------------------------------------
# Digital source type
# --------------------------------------------------------------------------

def digital_source_type(record: ProvenanceRecord) -> str:
    """The IPTC digital source type a record amounts to.

    no camera frames, some model-made -> trainedAlgorithmicMedia
    camera frames and model-made ones -> compositeWithTrainedAlgorithmicMedia
    camera frames and algorithmic ones (flow interpolation, blends) -> compositeSynthetic
    camera frames only -> digitalCapture
    neither (e.g. only flow-interpolated frames) -> algorithmicMedia
    """
    camera = any(r.kind == "camera" for r in record.ranges)
    model = any(r.model_made for r in record.ranges)
    other = any(r.kind != "camera" and not r.model_made for r in record.ranges)
    if model:
        name = "compositeWithTrainedAlgorithmicMedia" if camera else "trainedAlgorithmicMedia"
    elif camera:
        name = "compositeSynthetic" if other else "digitalCapture"
    else:
        name = "algorithmicMedia"
    return IPTC + name


def _actions(record: ProvenanceRecord) -> list[dict]:
    agent = {"name": SOFTWARE}
    counts = record.counts()
    models = sorted({r.generation.model for r in record.ranges if r.generation is not None})
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    created = {"action": "c2pa.created", "digitalSourceType": digital_source_type(record), "softwareAgent": agent,
               "description": f"{record.frame_count} frames: {summary}"
               + (f"; model {', '.join(models)}" if models else "")}
    actions = [created]
    for kind in ("interpolated", "inpainted", "transition"):
        ranges = [r for r in record.ranges if r.kind == kind]
        if not ranges:
            continue
        where = ", ".join(f"{r.start}-{r.stop - 1}" for r in ranges[:20]) + (" ..." if len(ranges) > 20 else "")
        made_by_model = any(r.model_made for r in ranges)
        actions.append({"action": "c2pa.edited", "softwareAgent": agent,
                        "digitalSourceType": IPTC + ("trainedAlgorithmicMedia" if made_by_model
                                                     else "algorithmicMedia"),
                        "description": f"{kind} frames {where}"})
    return actions


# --------------------------------------------------------------------------
# Signing credentials
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class SignerConfig:
    """Where the signing certificate chain (PEM, leaf first) and key come from,
    and which root certificates `verify` trusts."""
    cert_chain: Path
    private_key: Path
    trust_anchors: tuple[Path, ...] = ()
    alg: str = "es256"
    tsa_url: str | None = None  # RFC 3161 timestamp authority; None signs offline

    @classmethod
    def from_files(cls, cert_chain, private_key, trust_anchors=(), alg="es256", tsa_url=None) -> "SignerConfig":
        """A studio's own credentials."""
        anchors = (trust_anchors,) if isinstance(trust_anchors, (str, os.PathLike)) else tuple(trust_anchors)
        cfg = cls(Path(cert_chain), Path(private_key), tuple(Path(a) for a in anchors), alg.lower(), tsa_url)
        for p in (cfg.cert_chain, cfg.private_key, *cfg.trust_anchors):
            if not p.is_file():
                raise InputError(f"signing credential file {str(p)!r} does not exist")
        return cfg

    @classmethod
    def from_config_dir(cls, config_dir) -> "SignerConfig":
        """The credentials of a config folder: `c2pa/signer.toml` when a studio put
        one there (keys cert_chain, private_key, trust_anchors, alg, tsa_url),
        else the local chain, created on first use."""
        folder = Path(config_dir) / "c2pa"
        studio = folder / "signer.toml"
        if studio.is_file():
            cfg = read_toml(studio, "signer file")
            if "cert_chain" not in cfg or "private_key" not in cfg:
                raise InputError(f"{studio} needs cert_chain and private_key paths")
            for key in ("cert_chain", "private_key", "alg", "tsa_url"):
                if key in cfg and not isinstance(cfg[key], str):
                    raise InputError(f"{studio}: {key} must be text, got {cfg[key]!r}")
            anchors = cfg.get("trust_anchors", [])
            if not isinstance(anchors, list) or not all(isinstance(a, str) for a in anchors):
                raise InputError(f"{studio}: trust_anchors must be a list of paths, got {anchors!r}")
            rel = lambda p: (studio.parent / p) if not os.path.isabs(p) else Path(p)  # noqa: E731
            return cls.from_files(rel(cfg["cert_chain"]), rel(cfg["private_key"]),
                                  [rel(a) for a in cfg.get("trust_anchors", [])], cfg.get("alg",
                                                                                          "es256"), cfg.get("tsa_url"))
        return ensure_local_chain(config_dir)

    def anchors_pem(self) -> str:
        return "".join(p.read_text("ascii") for p in self.trust_anchors if p.is_file())

    def signer(self):
        """A c2pa.Signer of these credentials, or an InputError saying which file is not usable."""
        import c2pa  # deferred: c2pa is heavy; this module imports without it

        try:
            chain, key = self.cert_chain.read_bytes(), self.private_key.read_bytes()
        except OSError as e:
            raise InputError(f"signing credential file {e.filename!r} cannot be read "
                             f"({e.strerror or e.__class__.__name__})") from None
        try:
            return c2pa.Signer.from_info(c2pa.C2paSignerInfo(self.alg, chain, key, self.tsa_url))
        except c2pa.C2paError as e:
            raise InputError(f"signing credentials in {self.cert_chain.parent} are not usable ({_reason(e)})") from None

    def check(self) -> None:
        """Sign a few bytes (a 1x1 PNG, in memory) with these credentials: a key that is unreadable, or is
        not the certificate's, is found before a render starts, not at its end (issue 34)."""
        import c2pa  # deferred: c2pa and Pillow are heavy; this module imports without it
        from PIL import Image

        still = io.BytesIO()
        Image.new("RGB", (1, 1)).save(still, "png")
        still.seek(0)
        manifest = {"claim_generator_info": [{"name": SOFTWARE}], "title": "credentials check", "format": "image/png",
                    "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
                        {"action": "c2pa.created", "digitalSourceType": IPTC + "algorithmicMedia"}]}}]}
        try:
            with self.signer() as signer, c2pa.Builder(manifest, context=_context(sign=True)) as builder:
                builder.sign(signer, "image/png", still, io.BytesIO())
        except c2pa.C2paError as e:
            raise InputError(f"the signing credentials in {self.cert_chain.parent} do not sign ({_reason(e)}); "
                             "replace them, or give another --config") from None


def trust_anchors_pem(config_dir) -> str:
    """Root certificates a config folder trusts, without creating anything."""
    folder = Path(config_dir) / "c2pa"
    pem = ""
    if (folder / "trust-anchors.pem").is_file():
        pem += (folder / "trust-anchors.pem").read_text("ascii")
    if (folder / "signer.toml").is_file():
        pem += SignerConfig.from_config_dir(config_dir).anchors_pem()
    return pem


def check_anchors(pem: str, name: str) -> str:
    """`pem` when every certificate in it parses, else an InputError blaming `name` (the trust file): an
    unreadable root made c2pa report the manifest unreadable instead (issue 34)."""
    from cryptography import x509  # deferred: cryptography is heavy; this module imports without it

    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
    if pem.count("-----BEGIN CERTIFICATE-----") != len(blocks):
        raise InputError(f"{name} has a certificate without its END line; copy the PEM file again")
    for i, block in enumerate(blocks, 1):
        try:
            x509.load_pem_x509_certificate(block.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as e:
            reason = (str(e).splitlines() or [e.__class__.__name__])[0].split(". See ")[0][:200]
            raise InputError(f"{name}: certificate {i} of {len(blocks)} cannot be read ({reason}); copy the PEM "
                             "file again") from None
    return pem


def ensure_local_chain(config_dir) -> SignerConfig:
    """The local signing chain in `config_dir/c2pa/`, created on first use and
    re-issued (new root kept alongside the old ones) when the leaf nears expiry."""
    folder = Path(config_dir) / "c2pa"
    chain, key, anchors = folder / "signer-chain.pem", folder / "signer-key.pem", folder / "trust-anchors.pem"
    if chain.is_file() and key.is_file() and anchors.is_file() and not _expiring(chain):
        return SignerConfig(chain, key, (anchors,))
    folder.parent.mkdir(parents=True, exist_ok=True)
    root_pem, leaf_chain_pem, key_pem = _issue_chain()
    old_anchors = anchors.read_text("ascii") if anchors.is_file() else ""
    tmp = folder.parent / f".c2pa.{secrets.token_hex(4)}.part"
    tmp.mkdir(mode=0o700)
    try:
        (tmp / "signer-chain.pem").write_text(leaf_chain_pem, "ascii")
        fd = os.open(tmp / "signer-key.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key_pem)
        (tmp / "trust-anchors.pem").write_text(old_anchors + root_pem, "ascii")
        if folder.exists():
            for name in ("signer-chain.pem", "signer-key.pem", "trust-anchors.pem"):
                os.replace(tmp / name, folder / name)
            tmp.rmdir()
        else:
            try:
                os.rename(tmp, folder)
            except OSError:  # another process created it first: use theirs
                shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SignerConfig(chain, key, (anchors,))


def _expiring(chain_pem: Path) -> bool:
    from cryptography import x509  # deferred: cryptography is heavy; this module imports without it

    leaf = x509.load_pem_x509_certificate(chain_pem.read_bytes())
    return leaf.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc) < datetime.timedelta(days=30)


def _issue_chain(common_name: str = "Tenku Studio local signer") -> tuple[str, str, str]:
    """A root CA and a leaf for C2PA claim signing: (root PEM, leaf+root PEM, leaf key PEM).

    Extensions as c2pa-rs checks them: root with keyCertSign; leaf with
    digitalSignature and the emailProtection EKU; SKI/AKI on both."""
    from cryptography import x509  # deferred: cryptography is heavy; this module imports without it
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenku Studio (self-issued)")])

    def usage(sign=False, cert_sign=False):
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
                             crl_sign=cert_sign, encipher_only=False, decipher_only=False)

    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = name(f"{common_name} root CA")
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365 * ROOT_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(name(common_name)).issuer_name(root_name)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365 * LEAF_YEARS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(sign=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode("ascii")  # noqa: E731
    key_pem = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode("ascii")
    return pem(root), pem(leaf) + pem(root), key_pem


# --------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------

def _context(anchors_pem: str = "", sign: bool = False):
    import c2pa  # deferred: c2pa is heavy; this module imports without it

    settings = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if sign:
        settings["builder"] = {"thumbnail": {"enabled": False}, "claim_generator_info": {"name": SOFTWARE}}
    if anchors_pem:
        settings["trust"] = {"user_anchors": anchors_pem}
    return c2pa.Context.from_dict(settings)


def sign_mp4(path, record: ProvenanceRecord, signer_config, title: str | None = None) -> dict:
    """Sign the MP4 at `path` in place with `record`; returns the manifest's summary.

    signer_config: a SignerConfig, or a config folder (str/Path) whose
    credentials `SignerConfig.from_config_dir` picks. The engine reads no
    environment: the CLI and the studio pass the user's config folder.
    The signed file replaces `path` only once it is complete. `title`: the
    file's name in the manifest (default: `path`'s; a writer signing its
    temporary file before moving it into place passes the final name).
    """
    import c2pa  # deferred: c2pa is heavy; this module imports without it

    path = Path(path)
    check_mp4(path)
    if not isinstance(record, ProvenanceRecord):
        raise InputError(f"sign_mp4 needs a ProvenanceRecord, got {type(record).__name__}")
    if signer_config is None:
        raise InputError("no signer configured; pass SignerConfig.from_config_dir(<user config folder>) or a studio "
                         "SignerConfig")
    cfg = signer_config if isinstance(signer_config, SignerConfig) else SignerConfig.from_config_dir(signer_config)
    manifest = {
        "claim_generator_info": [{"name": SOFTWARE}],
        "title": title or path.name,
        "format": "video/mp4",
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": _actions(record)}},
            {"label": ASSERTION_LABEL, "data": {"record": record.to_dict(), "ftyp_sha256": ftyp_digest(path),
                                                "sealed": True}},
        ],
    }
    signer = cfg.signer()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.signing.mp4")
    try:
        with signer, c2pa.Builder(manifest, context=_context(cfg.anchors_pem(), sign=True)) as builder:
            with open(path, "rb") as src, open(tmp, "w+b") as dst:
                try:
                    builder.sign(signer, "video/mp4", src, dst)
                except c2pa.C2paError as e:
                    raise InputError(f"C2PA did not sign {title or path.name} ({_reason(e)})") from None
        append_seal(tmp)
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"digital_source_type": digital_source_type(record), "frames": record.frame_count,
            "signer": str(cfg.cert_chain)}


def _reason(e: Exception) -> str:
    """The first line of a c2pa error, short."""
    text = str(e).strip().splitlines()
    return (text[0] if text else e.__class__.__name__)[:300]


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------

@dataclass
class ManifestReport:
    """What the C2PA manifest of a file says and whether it holds up."""
    present: bool
    state: str | None = None                 # "Trusted", "Valid" or "Invalid" (c2pa's validation state)
    failures: list[dict] = field(default_factory=list)   # [{"code", "explanation"}]
    digital_source_type: str | None = None
    record: ProvenanceRecord | None = None
    signer: dict = field(default_factory=dict)           # issuer, common_name
    ftyp_ok: bool | None = None
    seal_ok: bool | None = None
    error: str | None = None                 # the manifest could not be read at all

    @property
    def intact(self) -> bool:
        """Signature and every hash check out (trust aside)."""
        if not self.present or self.error or self.ftyp_ok is False or self.seal_ok is False:
            return False
        return all(f.get("code") == "signingCredential.untrusted" for f in self.failures)

    @property
    def trusted(self) -> bool:
        return self.intact and self.state == "Trusted"

    def to_dict(self) -> dict:
        return {"present": self.present, "state": self.state, "intact": self.intact, "trusted": self.trusted,
                "failures": self.failures, "digital_source_type": self.digital_source_type,
                "signer": self.signer, "ftyp_ok": self.ftyp_ok, "seal_ok": self.seal_ok, "error": self.error,
                "record": self.record.to_dict() if self.record else None}


def read_manifest(path, anchors_pem: str = "") -> ManifestReport:
    """Read and validate the C2PA manifest of an MP4 (no network: no remote
    manifests, no OCSP). `anchors_pem`: root certificates to trust."""
    import c2pa  # deferred: c2pa is heavy; this module imports without it

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            reader = c2pa.Reader.try_create("video/mp4", fh, None, _context(anchors_pem))
            if reader is None:
                return ManifestReport(present=False)
            with reader:
                state = reader.get_validation_state()
                results = reader.get_validation_results() or {}
                active = reader.get_active_manifest() or {}
    except (c2pa.C2paError, KeyError, ValueError, RecursionError) as e:
        # A damaged manifest store: c2pa raises, or reads a store without an active manifest.
        text = str(e).strip("'\"").splitlines()
        return ManifestReport(present=True, state="Invalid", error=(text[0] if text else e.__class__.__name__)[:300])
    report = ManifestReport(present=True, state=state)
    try:
        _fill_report(report, results, active, path)
    except (AttributeError, TypeError, KeyError, ValueError) as e:
        # Validation may pass a damaged store whose JSON no longer has the expected shape.
        report.error = f"the manifest's content is malformed ({e.__class__.__name__})"
    return report


def _fill_report(report: ManifestReport, results: dict, active: dict, path: Path) -> None:
    report.failures = [{"code": f.get("code"), "explanation": f.get("explanation")}
                       for f in (results.get("activeManifest") or {}).get("failure", [])]
    report.signer = {k: v for k, v in (active.get("signature_info") or {}).items()
                     if k in ("issuer", "common_name", "alg", "time")}
    for a in active.get("assertions", []):
        if a.get("label", "").startswith("c2pa.actions"):
            for act in a.get("data", {}).get("actions", []):
                if act.get("action") == "c2pa.created":
                    report.digital_source_type = act.get("digitalSourceType")
        elif a.get("label") == ASSERTION_LABEL:
            data = a.get("data") or {}
            try:
                report.record = ProvenanceRecord.from_dict(data.get("record"))
            except InputError as e:
                report.error = f"the provenance assertion is malformed ({e})"
            report.ftyp_ok = data.get("ftyp_sha256") == ftyp_digest(path)
            if data.get("sealed"):
                report.seal_ok = check_seal(path)
