"""Token verification: one algorithm, every claim checked, the kinds never interchangeable."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest

from vitrine.auth.tokens import InvalidToken, TokenType, decode, issue
from vitrine.config import Settings
from vitrine.kit.clock import utcnow


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(settings: Settings, **overrides: Any) -> dict[str, Any]:
    now = utcnow()
    claims: dict[str, Any] = {
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "sub": "1",
        "typ": "access",
        "jti": "abc",
        "fam": "f" * 32,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(settings: Settings, claims: dict[str, Any], algorithm: str = "HS256") -> str:
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=algorithm)


def test_round_trip_and_lifetimes(settings: Settings) -> None:
    access = issue(settings, user_id=7, typ=TokenType.access, family_id="fam")
    refresh = issue(settings, user_id=7, typ=TokenType.refresh, family_id="fam")
    claims = decode(settings, access.token, expected=TokenType.access)
    assert (claims.user_id, claims.family_id, claims.typ) == (7, "fam", TokenType.access)
    assert claims.expires_at - claims.issued_at == timedelta(minutes=15)
    refresh_claims = decode(settings, refresh.token, expected=TokenType.refresh)
    assert refresh_claims.expires_at - refresh_claims.issued_at == timedelta(days=7)
    assert access.claims.jti != refresh.claims.jti


def test_access_token_is_not_a_refresh_token_and_the_reverse(settings: Settings) -> None:
    access = issue(settings, user_id=1, typ=TokenType.access, family_id="fam").token
    refresh = issue(settings, user_id=1, typ=TokenType.refresh, family_id="fam").token
    with pytest.raises(InvalidToken):
        decode(settings, access, expected=TokenType.refresh)
    with pytest.raises(InvalidToken):
        decode(settings, refresh, expected=TokenType.access)


def test_expired_token_is_rejected(settings: Settings) -> None:
    old = issue(settings, user_id=1, typ=TokenType.access, family_id="fam", now=utcnow() - timedelta(minutes=16))
    with pytest.raises(InvalidToken):
        decode(settings, old.token, expected=TokenType.access)


def test_tampered_signature_and_payload_are_rejected(settings: Settings) -> None:
    token = issue(settings, user_id=1, typ=TokenType.access, family_id="fam").token
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(InvalidToken):
        decode(settings, f"{header}.{payload}.{flipped}", expected=TokenType.access)
    forged_payload = _b64({**jwt.decode(token, options={"verify_signature": False}), "sub": "2"})
    with pytest.raises(InvalidToken):
        decode(settings, f"{header}.{forged_payload}.{signature}", expected=TokenType.access)


def test_token_signed_with_another_key_is_rejected(settings: Settings) -> None:
    claims = _claims(settings)
    token = jwt.encode(claims, "another-secret-key-that-is-long-enough-0123456789", algorithm="HS256")
    with pytest.raises(InvalidToken):
        decode(settings, token, expected=TokenType.access)


def test_alg_none_is_rejected(settings: Settings) -> None:
    claims = _claims(settings, iat=int(utcnow().timestamp()), exp=int(utcnow().timestamp()) + 300)
    for alg in ("none", "None", "NONE"):
        unsigned = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}."
        with pytest.raises(InvalidToken):
            decode(settings, unsigned, expected=TokenType.access)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_rejected(settings: Settings, algorithm: str) -> None:
    token = _sign(settings, _claims(settings), algorithm=algorithm)
    with pytest.raises(InvalidToken):
        decode(settings, token, expected=TokenType.access)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
def test_asymmetric_algorithm_headers_are_rejected(settings: Settings, alg: str) -> None:
    """Algorithm confusion: a token claiming a public-key algorithm, signed with the shared secret."""
    import hashlib
    import hmac

    claims = _claims(settings, iat=int(utcnow().timestamp()), exp=int(utcnow().timestamp()) + 300)
    signing_input = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}"
    digest = hmac.new(settings.secret_key.get_secret_value().encode(), signing_input.encode(), hashlib.sha256)
    signature = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        decode(settings, f"{signing_input}.{signature}", expected=TokenType.access)


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"iss": None},
        {"aud": None},
        {"exp": None},
        {"iat": None},
        {"jti": None},
        {"typ": None},
        {"sub": None},
        {"fam": None},
        {"sub": "admin"},
        {"sub": "-1"},
        {"sub": 1},
        {"typ": "ACCESS"},
        {"jti": ""},
    ],
)
def test_wrong_or_missing_claims_are_rejected(settings: Settings, overrides: dict[str, Any]) -> None:
    token = _sign(settings, _claims(settings, **overrides))  # a None override drops the claim
    with pytest.raises(InvalidToken):
        decode(settings, token, expected=TokenType.access)


def test_issued_in_the_future_is_rejected(settings: Settings) -> None:
    future = utcnow() + timedelta(hours=1)
    token = _sign(settings, _claims(settings, iat=future, exp=future + timedelta(minutes=5)))
    with pytest.raises(InvalidToken):
        decode(settings, token, expected=TokenType.access)


@pytest.mark.parametrize(
    "garbage",
    ["", "x", "a.b", "a.b.c", "...", "e30.e30.", "Bearer x", "\u00e9\u00e9.\u00e9.\u00e9", "a" * 5000, "eyJ.eyJ.eyJ"],
)
def test_malformed_tokens_raise_only_invalid_token(settings: Settings, garbage: str) -> None:
    with pytest.raises(InvalidToken):
        decode(settings, garbage, expected=TokenType.access)
