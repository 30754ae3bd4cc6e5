"""Optional bundle signatures: HMAC-SHA256 over the exact bytes of manifest.json, with a key from the environment.

The manifest holds the sha256 of every other file, so one tag over its bytes covers the whole bundle: whoever can
edit the files but does not hold the key can no longer re-hash them unnoticed. The tag lives beside the manifest
in `manifest.sig` (JSON: {"algorithm": "hmac-sha256", "signature": hex}), not inside it, so the signed bytes are
the file as written and no canonical re-serialisation is needed.

Keys: NEUREC_BUNDLE_KEY (at least 32 characters; the same on the exporting and the serving side). Requiring a
signature: `require_signature=True`, the CLIs' --require-signature, or NEUREC_REQUIRE_SIGNATURE=1.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from pathlib import Path

SIGNATURE_FILE = "manifest.sig"
ALGORITHM = "hmac-sha256"
KEY_ENV = "NEUREC_BUNDLE_KEY"
REQUIRE_ENV = "NEUREC_REQUIRE_SIGNATURE"
MIN_KEY_CHARS = 32
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class SignatureError(ValueError):
    """A signature that is absent where required, malformed, wrong, or a key that cannot be used."""


def key_from_env() -> bytes | None:
    """The signing key, or None when NEUREC_BUNDLE_KEY is unset or empty."""
    raw = os.environ.get(KEY_ENV, "")
    if not raw:
        return None
    if len(raw) < MIN_KEY_CHARS:
        raise SignatureError(f"{KEY_ENV} is {len(raw)} characters long; use at least {MIN_KEY_CHARS} "
                             "(e.g. the output of `python -c 'import secrets; print(secrets.token_hex(32))'`)")
    return raw.encode("utf-8")


def required_by_env() -> bool:
    raw = os.environ.get(REQUIRE_ENV, "").strip().lower()
    if raw not in _TRUE + _FALSE:
        raise SignatureError(f"{REQUIRE_ENV}={raw!r}: expected 1 or 0 (also true/false, yes/no, on/off)")
    return raw in _TRUE


def sign(manifest_bytes: bytes, key: bytes) -> str:
    return hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest()


def write_signature(root: Path, manifest_bytes: bytes, key: bytes) -> None:
    body = {"algorithm": ALGORITHM, "signature": sign(manifest_bytes, key)}
    (Path(root) / SIGNATURE_FILE).write_text(json.dumps(body, indent=2), encoding="utf-8")


def verify(root: Path, manifest_bytes: bytes, require: bool | None = None, key: bytes | None = None) -> bool:
    """Check `manifest.sig` against the manifest bytes that will be used. True: verified; False: not checked
    (unsigned, or no key) and not required. Raises SignatureError saying why a bundle is refused."""
    require = required_by_env() if require is None else require
    key = key if key is not None else key_from_env()
    path = Path(root) / SIGNATURE_FILE
    if not path.exists():
        if require:
            raise SignatureError(f"{SIGNATURE_FILE} is missing and a signature is required; export the bundle "
                                 f"with {KEY_ENV} set")
        return False
    if key is None:
        if require:
            raise SignatureError(f"a signature is required but {KEY_ENV} is not set, so it cannot be checked")
        return False
    expected = _read_tag(path)
    if not hmac.compare_digest(sign(manifest_bytes, key), expected):
        raise SignatureError(f"{SIGNATURE_FILE} does not match manifest.json: the bundle was changed after it "
                             f"was signed, or signed with another key than {KEY_ENV}")
    return True


def _read_tag(path: Path) -> str:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # a folder, unreadable, not UTF-8, not JSON
        raise SignatureError(f"{SIGNATURE_FILE} cannot be read ({e})") from None
    if not isinstance(body, dict) or body.get("algorithm") != ALGORITHM:
        got = body.get("algorithm") if isinstance(body, dict) else type(body).__name__
        raise SignatureError(f"{SIGNATURE_FILE}: algorithm {got!r} is not supported (expected {ALGORITHM!r})")
    tag = body.get("signature")
    if not isinstance(tag, str) or not _HEX64.match(tag):
        raise SignatureError(f"{SIGNATURE_FILE}: 'signature' must be 64 lowercase hex characters")
    return tag
