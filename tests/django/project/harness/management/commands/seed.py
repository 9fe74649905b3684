"""`manage.py seed --manifest PATH`: users of every kind tokenauth's import must handle.

Runs on a migrated, empty database. Every password is random and hashed by Django itself
(`make_password(pw, hasher=...)`); tokens come from DRF's own `drf_create_token` command
(except one short, non-hex key, which DRF also accepts). The manifest written to PATH lists
everything a test needs to check an import: ids, usernames, passwords, Django's encoded hashes,
activity, join dates, keys and token creation dates.
"""
import io
import re
import secrets
from datetime import datetime, timezone

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from harness.common import hasher_name, iso, versions, write_json

User = get_user_model()

# Kept by the import: one user's join date and its token's creation date are fixed, in the
# past, so that a check can tell them from "now".
FIXED_DATE_JOINED = datetime(2019, 5, 4, 3, 2, 1, tzinfo=timezone.utc)
FIXED_TOKEN_CREATED = datetime(2020, 6, 7, 8, 9, 10, 123456, tzinfo=timezone.utc)

SHORT_KEY = "short-Key_1"  # DRF's Token.key is any string of at most 40 characters.
BULK_USERS = 5

GENERATED = re.compile(r"^Generated token (\S+) for user (\S+)$", re.M)


class Command(BaseCommand):
    help = "Create users hashed by each Django hasher, with DRF tokens; write a JSON manifest."

    def add_arguments(self, parser):
        parser.add_argument("--manifest", required=True, help="where to write the manifest JSON")

    def handle(self, *args, manifest, **options):
        if User.objects.exists():
            raise CommandError("seed needs an empty (freshly migrated) database")
        with transaction.atomic():
            users = self.seed()
        write_json(manifest, {**versions(), "users": users})
        self.stderr.write(f"seed: {len(users)} users, "
                          f"{sum(1 for u in users if u['key'])} tokens -> {manifest}")

    # -- helpers -----------------------------------------------------------------------------

    def gap(self, count=1):
        """Creates and deletes users so that the next ids are not contiguous."""
        for _ in range(count):
            User.objects.create(username=f"gap_{secrets.token_hex(4)}").delete()

    def user(self, username, hasher="pbkdf2_sha256", *, password=None, usable=True,
             is_active=True, token="drf"):
        """Creates a user (password hashed by `hasher` through Django) and maybe its token.

        token: "drf" (DRF's drf_create_token command), None (no token) or an explicit key.
        """
        user = User(username=username, is_active=is_active)
        if usable:
            password = password or secrets.token_urlsafe()
            user.password = make_password(password, hasher=hasher)
        else:
            password = None
            user.set_unusable_password()
        user.save()
        if token == "drf":
            out = io.StringIO()
            call_command("drf_create_token", username, stdout=out)
            match = GENERATED.search(out.getvalue())
            if not match or match.group(2) != username:
                raise CommandError(f"unexpected drf_create_token output for {username}")
            key = match.group(1)
            if Token.objects.get(user=user).key != key:
                raise CommandError("drf_create_token printed another key than it stored")
        elif token is not None:
            key = Token.objects.create(user=user, key=token).key
        self.rows.append((user, password))
        return user

    # -- the data ----------------------------------------------------------------------------

    def seed(self):
        self.rows = []
        self.gap()
        fixed = self.user("u_pbkdf2_sha256")  # Django's default hasher
        self.user("u_pbkdf2_sha1", "pbkdf2_sha1")
        self.gap()
        self.user("u_argon2", "argon2")
        self.user("u_bcrypt_sha256", "bcrypt_sha256")
        self.user("u_scrypt", "scrypt")
        self.gap(2)
        self.user("u_unusable", usable=False)
        self.user("u_inactive", is_active=False)
        self.user("u_shortkey", token=SHORT_KEY)
        self.user("u_notoken", token=None)
        # UTF-8: Django hashes the password's UTF-8 bytes.
        self.user("u_unicode_pw", password=secrets.token_urlsafe(12) + "-Žluťoučký kůň-€-日本")
        self.gap()
        for n in range(1, BULK_USERS + 1):
            self.user(f"bulk_{n}")

        User.objects.filter(pk=fixed.pk).update(date_joined=FIXED_DATE_JOINED)
        Token.objects.filter(user=fixed).update(created=FIXED_TOKEN_CREATED)

        users = []
        for user, password in self.rows:
            user.refresh_from_db()
            token = Token.objects.filter(user=user).first()
            encoded = user.password
            if password is not None and not check_password(password, encoded):
                raise CommandError(f"Django does not verify {user.username}'s own password")
            users.append({
                "id": user.pk,
                "username": user.username,
                "password": password,
                "hasher": hasher_name(encoded),
                "encoded": encoded,
                "is_active": user.is_active,
                "date_joined": iso(user.date_joined),
                "key": token.key if token else None,
                "token_created": iso(token.created) if token else None,
            })
        return users
