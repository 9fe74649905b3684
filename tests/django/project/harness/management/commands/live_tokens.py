"""`manage.py live_tokens`: a live Django process that issues and deletes DRF tokens on request.

It reads one command per line on stdin and answers each with exactly one JSON line on stdout
(flushed). On start, before reading anything, it prints `{"ready": true, "django_version": ...,
"drf_version": ...}`. Every write runs in its own transaction, committed before the answer is
written, so once a caller has read the answer any other process sees the change.

Commands (USERNAME: one word; PASSWORD: the rest of the line, surrounding spaces dropped):

    create USERNAME [KEY]      create the user if missing (random password hashed by Django's
                               default hasher, active) and a token through DRF's model
                               (`Token.objects.create`, the key generated as DRF's login view
                               does; or the given KEY, which DRF accepts up to 40 characters)
                               -> {"key": "...", "user_id": N}
    delete USERNAME            delete that user's token -> {"deleted": n}
    deactivate USERNAME        is_active = False -> {"ok": true}
    activate USERNAME          is_active = True  -> {"ok": true}
    delete-user USERNAME       delete the user (its token goes by cascade) -> {"ok": true}
    set-password USERNAME PASSWORD
                               user.set_password (Django's default hasher) -> {"ok": true}
    obtain USERNAME PASSWORD   POST {"username", "password"} as JSON to DRF's obtain_auth_token
                               view (`/api-token-auth/`) through django.test.Client
                               -> {"status": 200, "body": {"token": "..."}}
    auth [HEADER VALUE]        GET `/me/` (a DRF view behind TokenAuthentication, answering
                               {"id", "username", "is_staff", "token_created"}) with the rest
                               of the line as the Authorization header (none if empty)
                               -> {"status": N, "body": {...}, "www_authenticate": "..."|null}
    ping                       -> {"ok": true}
    quit                       -> {"bye": true}, then exits (so does end of input)

A failure answers {"error": "..."} and the process goes on.
"""
import json
import secrets
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test import Client
from rest_framework.authtoken.models import Token

from harness.common import versions

User = get_user_model()


class CommandFailed(Exception):
    pass


def user_named(username):
    try:
        return User.objects.get(username=username)
    except User.DoesNotExist:
        raise CommandFailed(f"no user {username!r}") from None


def set_active(username, active):
    with transaction.atomic():
        if User.objects.filter(username=username).update(is_active=active) != 1:
            raise CommandFailed(f"no user {username!r}")
    return {"ok": True}


def create(username, key=None):
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create(username=username,
                                       password=make_password(secrets.token_urlsafe()))
        token = Token.objects.create(user=user, key=key) if key else Token.objects.create(user=user)
    return {"key": token.key, "user_id": user.pk}


def delete(username):
    with transaction.atomic():
        deleted, _ = Token.objects.filter(user__username=username).delete()
    return {"deleted": deleted}


def delete_user(username):
    with transaction.atomic():
        user_named(username).delete()
    return {"ok": True}


def set_password(username, password):
    with transaction.atomic():
        user = user_named(username)
        user.set_password(password)
        user.save(update_fields=["password"])
    return {"ok": True}


def body_of(response):
    try:
        return json.loads(response.content)
    except ValueError:
        return response.content.decode("utf-8", "replace")


def obtain(username, password):
    # Autocommit, as in a real request (ATOMIC_REQUESTS is off).
    response = Client().post("/api-token-auth/", {"username": username, "password": password},
                             content_type="application/json")
    return {"status": response.status_code, "body": body_of(response)}


def auth(header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = Client().get("/me/", **extra)
    return {"status": response.status_code, "body": body_of(response),
            "www_authenticate": response.get("WWW-Authenticate")}


def run(line):
    """Answers one command line; raises CommandFailed for a bad command."""
    name, _, rest = line.partition(" ")
    rest = rest.strip()
    words = rest.split()

    def need(count, usage):
        if len(words) < count:
            raise CommandFailed(f"usage: {usage}")

    if name == "create":
        need(1, "create USERNAME [KEY]")
        if len(words) > 2:
            raise CommandFailed("usage: create USERNAME [KEY]")
        return create(words[0], words[1] if len(words) == 2 else None)
    if name == "delete":
        need(1, "delete USERNAME")
        return delete(words[0])
    if name == "deactivate":
        need(1, "deactivate USERNAME")
        return set_active(words[0], False)
    if name == "activate":
        need(1, "activate USERNAME")
        return set_active(words[0], True)
    if name == "delete-user":
        need(1, "delete-user USERNAME")
        return delete_user(words[0])
    if name in ("set-password", "obtain"):
        username, _, password = rest.partition(" ")
        if not username or not password:
            raise CommandFailed(f"usage: {name} USERNAME PASSWORD")
        return set_password(username, password) if name == "set-password" \
            else obtain(username, password)
    if name == "auth":
        return auth(rest)
    if name == "ping":
        return {"ok": True}
    raise CommandFailed(f"unknown command {name!r}")


class Command(BaseCommand):
    help = "Issue/delete DRF tokens on commands read from stdin, one JSON answer per line."

    def handle(self, *args, **options):
        out = sys.stdout

        def answer(obj):
            out.write(json.dumps(obj) + "\n")
            out.flush()

        answer({"ready": True, **versions()})
        while True:
            line = sys.stdin.readline()
            if not line:
                return
            line = line.rstrip("\r\n")
            if not line.strip():
                answer({"error": "empty command"})
                continue
            if line.strip() == "quit":
                answer({"bye": True})
                return
            try:
                answer(run(line.strip()))
            except CommandFailed as err:
                answer({"error": str(err)})
            except Exception as err:  # noqa: BLE001 - report, keep serving
                answer({"error": f"{type(err).__name__}: {err}"})
