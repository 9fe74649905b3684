"""`manage.py hash_fixtures --out PATH`: password hashes made by Django, for Rust's verifier.

Writes a JSON list of {"hasher", "password", "encoded", "django_version"}:

- for each hasher in PASSWORD_HASHERS, `make_password(pw, hasher=name)` with Django's default
  parameters, once with an ASCII password and once with a non-ASCII one;
- "argon2id_weak_phc": a plain PHC string from argon2-cffi with parameters below
  m=19456,t=2,p=1 (m=8192,t=1,p=1), and "argon2id_strong_phc" with m=65536,t=3,p=4;
- "pbkdf2_sha256_600000": Django's own PBKDF2 hasher with Django 5.0's 600,000 iterations, as a
  user who last logged in under Django 5.0 has it (`must_update`, and `harden_runtime` on a
  wrong password);
- "unusable": `make_password(None)` (password null).

Every entry is checked with Django's `check_password` (or argon2-cffi for the PHC strings)
before it is written.
"""
import secrets

import argon2
from django.contrib.auth.hashers import (
    check_password,
    get_hasher,
    identify_hasher,
    make_password,
)
from django.core.management.base import BaseCommand, CommandError

from harness.common import HASHERS, versions, write_json


class Command(BaseCommand):
    help = "Write Django-made password hashes (each hasher, argon2 PHC variants) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="where to write the JSON list")

    def handle(self, *args, out, **options):
        version = versions()["django_version"]
        entries = []

        def add(hasher, password, encoded):
            entries.append({"hasher": hasher, "password": password, "encoded": encoded,
                            "django_version": version})

        for name in HASHERS:
            for password in (secrets.token_urlsafe(),
                             secrets.token_urlsafe(8) + " pässwörd-€-日本語"):
                encoded = make_password(password, hasher=name)
                if identify_hasher(encoded).algorithm != name:
                    raise CommandError(f"{name}: Django identifies another hasher")
                if not check_password(password, encoded):
                    raise CommandError(f"{name}: Django does not verify its own hash")
                if check_password(password + "x", encoded):
                    raise CommandError(f"{name}: Django verifies a wrong password")
                add(name, password, encoded)

        phc = [
            ("argon2id_weak_phc", argon2.PasswordHasher(time_cost=1, memory_cost=8192,
                                                        parallelism=1)),
            ("argon2id_strong_phc", argon2.PasswordHasher(time_cost=3, memory_cost=65536,
                                                          parallelism=4)),
        ]
        for name, hasher in phc:
            password = secrets.token_urlsafe()
            encoded = hasher.hash(password)
            try:
                hasher.verify(encoded, password)
            except argon2.exceptions.VerificationError as err:
                raise CommandError(f"{name}: argon2-cffi does not verify its own hash") from err
            add(name, password, encoded)

        pbkdf2 = get_hasher("pbkdf2_sha256")
        password = secrets.token_urlsafe()
        encoded = pbkdf2.encode(password, pbkdf2.salt(), iterations=600_000)
        if not check_password(password, encoded) or not pbkdf2.must_update(encoded):
            raise CommandError("pbkdf2_sha256_600000: Django does not verify or update it")
        add("pbkdf2_sha256_600000", password, encoded)

        add("unusable", None, make_password(None))

        write_json(out, entries)
        self.stderr.write(f"hash_fixtures: {len(entries)} entries -> {out}")
