"""Helpers shared by the harness's management commands."""
import json
import os
import tempfile
from datetime import timezone

import django
import rest_framework
from django.contrib.auth.hashers import identify_hasher, is_password_usable

# The hashers the project lists in PASSWORD_HASHERS, by Django's algorithm name.
HASHERS = ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "scrypt"]


def versions():
    return {"django_version": django.get_version(), "drf_version": rest_framework.VERSION}


def hasher_name(encoded):
    """The algorithm name as Django reports it, or "unusable"."""
    if not is_password_usable(encoded):
        return "unusable"
    return identify_hasher(encoded).algorithm


def iso(dt):
    """ISO 8601 in UTC with a "Z" (microseconds kept when not zero), or None."""
    if dt is None:
        return None
    text = dt.astimezone(timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


def write_json(path, data):
    """Writes `data` as indented JSON to `path` atomically (a partial file is never seen)."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a fixture is an ordinary file
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
