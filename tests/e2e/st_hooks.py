"""Schemathesis hooks for the quickstart's contract run (SCHEMATHESIS_HOOKS=tests/e2e/st_hooks.py).

Two deliberate exemptions, and only these, each of one exact response:

- Django REST framework answers a schema-valid login with wrong credentials `400
  {"non_field_errors": ["Unable to log in with provided credentials."]}`. That is a correct
  rejection of well-formed input (no schema can promise which credentials exist), so
  `positive_data_acceptance` must not count it.
- RFC 6750 §3.1 answers a malformed `Authorization` header (the keyword alone, a key with
  spaces) `400` with `WWW-Authenticate: Bearer realm="…", error="invalid_request", …` on the
  operations in that mode. A security scheme cannot state a credential's syntax, so the header
  is "schema-valid"; the answer is an authentication refusal, which the built-in checks accept
  as 401/403 only. It is exempt when the request's header really is malformed and the answer
  is that exact challenge with one of DRF's `Invalid token header.` bodies — from
  `positive_data_acceptance`, and from `unsupported_method`, since the refusal comes before
  method dispatch as a 401 would (as DRF authenticates first).

Schemathesis 4 has no setting for "this status with this body", so the run replaces the
built-in checks (`--exclude-checks positive_data_acceptance,unsupported_method`) with the ones
below: each the built-in check itself, called for every response except those.

The built-in check also has a blanket exemption of its own: any 400/422 from an operation that
the spec names as an OAuth2 `tokenUrl`. It is switched off here, so that declaring such a flow
cannot hide other 400s of the login view (e.g. a blank username the schema allows).
"""

import schemathesis
from schemathesis.specs.openapi import checks as _openapi_checks

LOGIN_PATH = "/auth/token"
BAD_CREDENTIALS = {"non_field_errors": ["Unable to log in with provided credentials."]}

# No blanket 400/422 exemption for credential-minting operations: only the exact body below.
_openapi_checks.CREDENTIAL_REJECTION_STATUSES = frozenset()


def _is_bad_credentials(response, case) -> bool:
    if case.method.upper() != "POST" or case.operation.path != LOGIN_PATH:
        return False
    if response.status_code != 400:
        return False
    try:
        return response.json() == BAD_CREDENTIALS
    except Exception:
        return False


def _is_rfc6750_invalid_request(response) -> bool:
    if response.status_code != 400:
        return False
    challenges = response.headers.get("www-authenticate", [])
    if len(challenges) != 1:
        return False
    challenge = challenges[0]
    if not challenge.startswith("Bearer realm=") or 'error="invalid_request"' not in challenge:
        return False
    sent = response.request.headers.get("Authorization", "")
    if isinstance(sent, bytes):
        sent = sent.decode("latin-1")
    # DRF's malformed headers: the keyword alone, or more than two parts.
    if len(sent.split()) == 2:
        return False
    try:
        detail = response.json().get("detail", "")
    except Exception:
        return False
    return detail.startswith("Invalid token header.")


@schemathesis.check
def positive_data_acceptance_rfc6750(ctx, response, case):
    """`positive_data_acceptance`, except DRF's wrong-credentials 400 on the login view and RFC
    6750's 400 for a malformed header."""
    if _is_bad_credentials(response, case) or _is_rfc6750_invalid_request(response):
        return None
    return _openapi_checks.positive_data_acceptance(ctx, response, case)


@schemathesis.check
def unsupported_method_rfc6750(ctx, response, case):
    """`unsupported_method`, except RFC 6750's 400 for a malformed header, which comes before
    method dispatch as the 401s the built-in check accepts do."""
    if _is_rfc6750_invalid_request(response):
        return None
    return _openapi_checks.unsupported_method(ctx, response, case)
