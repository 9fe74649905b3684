"""Schemathesis hooks for the quickstart's contract run (SCHEMATHESIS_HOOKS=tests/e2e/st_hooks.py).

One deliberate exemption, and only one: Django REST framework answers a schema-valid login
with wrong credentials `400 {"non_field_errors": ["Unable to log in with provided
credentials."]}`. That is a correct rejection of well-formed input (no schema can promise
which credentials exist), so `positive_data_acceptance` must not count it. Schemathesis 4 has
no setting for "this status with this body", so the run replaces the built-in check
(`--exclude-checks positive_data_acceptance`) with `positive_data_acceptance_drf` below: the
built-in check itself, called for every response except that exact one.

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


@schemathesis.check
def positive_data_acceptance_drf(ctx, response, case):
    """`positive_data_acceptance`, except DRF's wrong-credentials 400 on the login view."""
    if _is_bad_credentials(response, case):
        return None
    return _openapi_checks.positive_data_acceptance(ctx, response, case)
