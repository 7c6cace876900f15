"""notifyctl keygen/encrypt against an independent reader of the stored format.

Values printed by `notifyctl encrypt` are decrypted here with Python's `cryptography`
(AESGCM), building the associated data from the format documented in common/secret.h,
not from the C code:

    value = "v1:" key-id ":" base64(nonce(12) || ciphertext || tag(16))
    AAD   = b"notify-secret/v1" 0x00 key-id 0x00 org-id 0x00 column

Run by ctest with NOTIFY_BUILD_DIR set (Debian's /usr/bin/python3, which sees
python3-cryptography). NOTIFYCTL may name the binary directly.
"""

import base64
import binascii
import datetime
import os
import re
import subprocess
import sys
import tempfile

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:  # pragma: no cover - reported as a failure, not skipped
    print("python3-cryptography is not available to " + sys.executable)
    print("0 passed, 1 failed")
    sys.exit(1)

COLUMNS = [
    "email_provider_config.smtp_password_encrypted",
    "email_provider_config.webhook_secret_encrypted",
    "sms_provider_config.twilio_auth_token_encrypted",
    "sms_provider_config.aws_access_key_encrypted",
    "sms_provider_config.aws_secret_key_encrypted",
    "sms_provider_config.aws_session_token_encrypted",
    "sms_provider_config.webhook_secret_encrypted",
]
SECRET_MAX = 64 * 1024

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)


def find_notifyctl():
    explicit = os.environ.get("NOTIFYCTL")
    if explicit:
        return explicit
    build = os.environ.get("NOTIFY_BUILD_DIR")
    if not build:
        print("NOTIFY_BUILD_DIR is not set")
        return None
    for rel in ("notifyctl", os.path.join("workers", "notifyctl"), os.path.join("bin", "notifyctl")):
        path = os.path.join(build, rel)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    print("notifyctl not found under " + build)
    return None


def base_env():
    """A clean environment: the caller's SECRET_* or other settings must not leak in."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TMPDIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run(ctl, args, stdin=b"", **settings):
    env = base_env()
    env.update(settings)
    argv = [ctl.encode()] + [a.encode("utf-8") for a in args]
    p = subprocess.run(argv, input=stdin, env=env, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def aad(key_id, org, column):
    return b"\0".join([b"notify-secret/v1", key_id.encode(), org.encode(), column.encode()])


def parse_value(value):
    """Returns (key_id, nonce, ciphertext_and_tag) or None if the shape is wrong."""
    m = re.fullmatch(r"v1:([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/]+={0,2})", value)
    if not m:
        return None
    try:
        blob = base64.b64decode(m.group(2), validate=True)
    except binascii.Error:
        return None
    if len(blob) < 12 + 16:
        return None
    return m.group(1), blob[:12], blob[12:]


def decrypt(ring, value, org, column, label=None):
    """Decrypts like a worker would; `label` overrides the key id put in the AAD."""
    parsed = parse_value(value)
    if parsed is None:
        return None
    key_id, nonce, ct = parsed
    try:
        return AESGCM(ring[key_id]).decrypt(nonce, ct, aad(label or key_id, org, column))
    except InvalidTag:
        return None


def keygen(ctl, *args):
    rc, out, err = run(ctl, ["keygen"] + list(args))
    return rc, out, err


def test_keygen(ctl):
    rc, out, err = keygen(ctl)
    check(rc == 0, "keygen exits 0 (rc=%d, stderr=%r)" % (rc, err))
    m = re.fullmatch(r"(k(\d{8})[0-9a-f]{4}):([A-Za-z0-9+/]{43}=)\n", out)
    check(m is not None, "keygen prints k<YYYYMMDD><4 hex>:<base64 32 bytes>, got %r" % out)
    if m:
        check(len(base64.b64decode(m.group(3), validate=True)) == 32, "keygen key is 32 bytes")
        today = datetime.datetime.now(datetime.timezone.utc).date()
        days = {(today + datetime.timedelta(days=d)).strftime("%Y%m%d") for d in (-1, 0, 1)}
        check(m.group(2) in days, "keygen default id carries today's UTC date: %s" % m.group(2))
    rc2, out2, _ = keygen(ctl)
    check(rc2 == 0 and out2 != out, "two keygens give different entries")

    rc, out, err = keygen(ctl, "--id", "rot-2026_a")
    check(rc == 0 and re.fullmatch(r"rot-2026_a:[A-Za-z0-9+/]{43}=\n", out) is not None,
          "keygen --id ID uses the id (rc=%d, out=%r)" % (rc, out))
    for bad in ("bad id", "a" * 33, "k:1", "k,1", ""):
        rc, out, err = keygen(ctl, "--id", bad)
        check(rc == 2 and out == "", "keygen --id %r is a usage error (rc=%d)" % (bad, rc))
    rc, out, err = keygen(ctl, "--bogus")
    check(rc == 2 and out == "", "keygen rejects an unknown option (rc=%d)" % rc)


def new_entry(ctl, key_id):
    rc, out, err = keygen(ctl, "--id", key_id)
    if rc != 0:
        return None, None
    entry = out.strip()
    return entry, base64.b64decode(entry.split(":", 1)[1])


def encrypt(ctl, ring_text, active, org, column, secret, **extra):
    settings = {"SECRET_KEYS": ring_text}
    if active is not None:
        settings["SECRET_ACTIVE_KEY"] = active
    settings.update(extra)
    return run(ctl, ["encrypt", "--org", org, "--column", column], stdin=secret, **settings)


def test_encrypt_decrypts_in_python(ctl):
    old_entry, old_key = new_entry(ctl, "old")
    new_entry_text, new_key = new_entry(ctl, "new")
    check(old_entry is not None and new_entry_text is not None, "keygen for the ring")
    if old_entry is None or new_entry_text is None:
        return
    ring = {"old": old_key, "new": new_key}
    ring_text = old_entry + "," + new_entry_text
    org = "org-\u00e9t\u00e9 42"

    for column in COLUMNS:
        secret = ("s3cr3t for " + column).encode()
        rc, out, err = encrypt(ctl, ring_text, "new", org, column, secret + b"\n")
        check(rc == 0, "encrypt %s exits 0 (rc=%d, stderr=%r)" % (column, rc, err))
        check(err == "", "encrypt %s writes nothing to stderr" % column)
        value = out.rstrip("\n")
        check(out.endswith("\n") and "\n" not in value, "encrypt prints one line")
        check(value.startswith("v1:new:"), "encrypt uses the active key: %r" % value[:12])
        check(secret.decode() not in out, "the secret is not in the output")
        check(decrypt(ring, value, org, column) == secret,
              "python decrypts the value for %s" % column)
        # The associated data binds the value to its org, its column and its key id.
        check(decrypt(ring, value, org + "x", column) is None, "another org does not decrypt")
        other = COLUMNS[(COLUMNS.index(column) + 1) % len(COLUMNS)]
        check(decrypt(ring, value, org, other) is None, "another column does not decrypt")
        check(decrypt(ring, value, org, column, label="old") is None,
              "another key id in the AAD does not decrypt")

    # The old key still encrypts when it is the active one (rotation back and forth).
    rc, out, err = encrypt(ctl, ring_text, "old", "acme", COLUMNS[0], b"pw")
    value = out.strip()
    check(rc == 0 and value.startswith("v1:old:"), "encrypt with the old key active")
    check(decrypt(ring, value, "acme", COLUMNS[0]) == b"pw", "python decrypts the old key's value")


def test_stdin_handling(ctl):
    entry, key = new_entry(ctl, "k1")
    if entry is None:
        check(False, "keygen for stdin tests")
        return
    ring = {"k1": key}
    col = COLUMNS[2]
    cases = [
        (b"tok\n", b"tok", "one trailing newline is removed"),
        (b"tok", b"tok", "no trailing newline"),
        (b"tok\n\n", b"tok\n", "only one trailing newline is removed"),
        (b" tok \r\n", b" tok \r", "other whitespace is kept"),
        ("p\u00e4ss\u2603".encode(), "p\u00e4ss\u2603".encode(), "UTF-8 is kept as is"),
        (b"x" * SECRET_MAX, b"x" * SECRET_MAX, "64 KiB is accepted"),
        (b"x" * SECRET_MAX + b"\n", b"x" * SECRET_MAX, "64 KiB plus a newline is accepted"),
    ]
    for given, want, what in cases:
        rc, out, err = encrypt(ctl, entry, "k1", "acme", col, given)
        check(rc == 0 and decrypt(ring, out.strip(), "acme", col) == want,
              "%s (rc=%d, stderr=%r)" % (what, rc, err[:200]))
    for given, what in [(b"", "empty input"), (b"\n", "a lone newline"),
                        (b"x" * (SECRET_MAX + 1), "input over 64 KiB"),
                        (b"x" * (SECRET_MAX + 1) + b"\n", "input over 64 KiB plus newline"),
                        (b"a\0b", "a NUL byte")]:
        rc, out, err = encrypt(ctl, entry, "k1", "acme", col, given)
        check(rc == 1 and out == "" and err != "", "%s is refused with exit 1 (rc=%d)" % (what, rc))


def test_errors(ctl):
    entry, _ = new_entry(ctl, "k1")
    if entry is None:
        check(False, "keygen for error tests")
        return
    key_text = entry.split(":", 1)[1]
    col = COLUMNS[0]

    rc, out, err = encrypt(ctl, entry, "k1", "acme", "email_provider_config.smtp_password", b"x")
    check(rc == 2 and out == "", "a column that is not *_encrypted is a usage error (rc=%d)" % rc)
    rc, out, err = run(ctl, ["encrypt", "--column", col], stdin=b"x", SECRET_KEYS=entry,
                       SECRET_ACTIVE_KEY="k1")
    check(rc == 2 and out == "", "--org is required (rc=%d)" % rc)
    rc, out, err = run(ctl, ["encrypt", "--org", "acme"], stdin=b"x", SECRET_KEYS=entry,
                       SECRET_ACTIVE_KEY="k1")
    check(rc == 2 and out == "", "--column is required (rc=%d)" % rc)
    rc, out, err = run(ctl, ["encrypt", "--org", "acme", "--column"], stdin=b"x",
                       SECRET_KEYS=entry, SECRET_ACTIVE_KEY="k1")
    check(rc == 2 and out == "", "--column without a value (rc=%d)" % rc)

    rc, out, err = encrypt(ctl, entry, "k1", "\u00e9" * 64, col, b"x")
    check(rc == 0, "an org id of 64 non-ASCII characters is accepted (rc=%d)" % rc)
    rc, out, err = encrypt(ctl, entry, "k1", "o" * 65, col, b"x")
    check(rc == 2 and out == "", "an org id over 64 characters is a usage error (rc=%d)" % rc)
    rc, out, err = encrypt(ctl, entry, None, "acme", col, b"secret-value")
    check(rc == 1 and out == "" and "SECRET_ACTIVE_KEY" in err,
          "no active key: exit 1 naming SECRET_ACTIVE_KEY (rc=%d, %r)" % (rc, err))
    rc, out, err = encrypt(ctl, entry, "k9", "acme", col, b"secret-value")
    check(rc == 1 and out == "" and "k9" in err, "active key not in ring (rc=%d)" % rc)
    rc, out, err = encrypt(ctl, "k1:" + key_text[:-2] + "=", "k1", "acme", col, b"secret-value")
    check(rc == 1 and out == "", "a mangled key is refused (rc=%d)" % rc)
    check(key_text[:12] not in err and "secret-value" not in err, "errors never show keys")
    rc, out, err = run(ctl, ["encrypt", "--org", "acme", "--column", col], stdin=b"x")
    check(rc == 1 and "SECRET_KEYS" in err, "no ring configured (rc=%d)" % rc)


def test_keys_file(ctl):
    entry, key = new_entry(ctl, "filekey")
    if entry is None:
        check(False, "keygen for the file test")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ring")
        with open(path, "w") as f:
            f.write("\n  " + entry + "\n\n")
        rc, out, err = run(ctl, ["encrypt", "--org", "acme", "--column", COLUMNS[1]],
                           stdin=b"whsec", SECRET_KEYS_FILE=path, SECRET_ACTIVE_KEY="filekey")
        check(rc == 0 and decrypt({"filekey": key}, out.strip(), "acme", COLUMNS[1]) == b"whsec",
              "SECRET_KEYS_FILE with surrounding whitespace (rc=%d, %r)" % (rc, err))
        rc, out, err = run(ctl, ["encrypt", "--org", "acme", "--column", COLUMNS[1]],
                           stdin=b"whsec", SECRET_KEYS_FILE=os.path.join(tmp, "missing"),
                           SECRET_ACTIVE_KEY="filekey")
        check(rc == 1 and "SECRET_KEYS_FILE" in err, "a missing key file (rc=%d)" % rc)


def main():
    ctl = find_notifyctl()
    if ctl is None:
        print("0 passed, 1 failed")
        return 1
    for test in (test_keygen, test_encrypt_decrypts_in_python, test_stdin_handling, test_errors,
                 test_keys_file):
        before = failed
        test(ctl)
        print("%s %s" % ("ok  " if failed == before else "FAIL", test.__name__))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
