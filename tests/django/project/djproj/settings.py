"""Settings of the Django + Django REST framework project used by tokenauth's end-to-end tests.

The database comes from the environment variable DJANGO_DATABASE_URL:

- ``sqlite:////abs/path.db`` (also accepted: ``sqlite:///abs/path.db``; ``sqlite://rel.db`` is
  relative to the current directory);
- ``postgres://user[:password]@host[:port]/dbname[?sslmode=...]`` (or ``postgresql://``).
"""
import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def database_from_url(url):
    """Django's DATABASES["default"] for a sqlite:// or postgres:// URL (no dj-database-url)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # Everything after "sqlite://" up to "?" is the path; "sqlite:////abs" and
        # "sqlite:///abs" both name /abs.
        rest = url[len("sqlite:"):].split("?", 1)[0]
        if rest.startswith("//"):
            rest = rest[2:]
        if not rest or rest == ":memory:":
            raise ValueError("DJANGO_DATABASE_URL: an in-memory SQLite database is not shared "
                             "between processes; give a file path")
        if rest.startswith("/"):
            rest = "/" + rest.lstrip("/")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(rest)}
    if scheme in ("postgres", "postgresql"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ValueError("DJANGO_DATABASE_URL: no database name in the postgres URL")
        options = dict(parse_qsl(parts.query))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
        }
    raise ValueError(f"DJANGO_DATABASE_URL: unsupported scheme {scheme!r} "
                     "(expected sqlite:// or postgres://)")


_url = os.environ.get("DJANGO_DATABASE_URL")
if not _url:
    raise RuntimeError("set DJANGO_DATABASE_URL (sqlite:////abs/path.db or "
                       "postgres://user@host:port/dbname)")
DATABASES = {"default": database_from_url(_url)}

# A test project: never deployed, the key signs nothing that outlives a test run.
SECRET_KEY = "tokenauth-e2e-not-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
DEBUG = False
# "testserver": django.test.Client, used by `live_tokens` to call the views in-process.
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework.authtoken",
    "harness",
]

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "djproj.urls"
TEMPLATES = []

# Django's own order: the first one hashes new passwords (Django 5.2's default hasher).
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = []

REST_FRAMEWORK = {
    # Token authentication only: no sessions in this project.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    # 4xx answers are what the tests ask for: no "Unauthorized: /me/" lines.
    "loggers": {"django.request": {"level": "ERROR"}},
}
