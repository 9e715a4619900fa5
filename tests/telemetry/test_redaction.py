"""The runbook's redaction policy, over real-looking log text."""

import pytest

from telemetry.redaction import MAX_ERROR_TEXT, REDACTED, bounded, redact

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl"

REDACTED_CASES = [
    # key=value and key: value, every sensitive key of the policy
    ("token=abc123", f"token={REDACTED}"),
    ("password=hunter2 user=bob", f"password={REDACTED} user=bob"),
    ("secret: s3cr3t-value", f"secret: {REDACTED}"),
    ("api_key=AKIA1234567890", f"api_key={REDACTED}"),
    ("authorization=xyz", f"authorization={REDACTED}"),
    # prefixed and differently spelled keys
    ("DB_PASSWORD=pa55w0rd", f"DB_PASSWORD={REDACTED}"),
    ("client_secret=deadbeef", f"client_secret={REDACTED}"),
    ("X-Api-Key: 0123456789abcdef", f"X-Api-Key: {REDACTED}"),
    ("apikey=zzz", f"apikey={REDACTED}"),
    ("refresh_token = r-123", f"refresh_token = {REDACTED}"),
    ("PASSWORD=Upper", f"PASSWORD={REDACTED}"),
    ("pwd=hunter2", f"pwd={REDACTED}"),
    ("aws_credentials=AKIA1234", f"aws_credentials={REDACTED}"),
    ("credential: c-1", f"credential: {REDACTED}"),
    # quoted values, JSON and Python reprs
    ('{"password": "hunter two"}', f'{{"password": "{REDACTED}"}}'),
    ("{'token': 'abc def'}", f"{{'token': '{REDACTED}'}}"),
    ('config {"api_key":"k-1","region":"eu"}', f'config {{"api_key":"{REDACTED}","region":"eu"}}'),
    # authorization headers keep their scheme
    ("Authorization: Bearer " + JWT, f"Authorization: Bearer {REDACTED}"),
    ("authorization: Basic dXNlcjpwYXNz", f"authorization: Basic {REDACTED}"),
    # bearer tokens on their own
    ("calling API with Bearer " + JWT + " failed", f"calling API with Bearer {REDACTED} failed"),
    ("header bearer abc.def-ghi_123", f"header bearer {REDACTED}"),
    # the shortest token the pattern takes: eight characters
    ("sent Bearer abcd.123 once", f"sent Bearer {REDACTED} once"),
    # URL query credentials
    (
        "GET /callback?access_token=ya29.a0Af&state=ok",
        f"GET /callback?access_token={REDACTED}&state=ok",
    ),
    ("https://api.example.com/v1?token=t0k3n", f"https://api.example.com/v1?token={REDACTED}"),
    ("/x?a=1&api_key=k3y&b=2", f"/x?a=1&api_key={REDACTED}&b=2"),
    ("/login?user=bob&password=letmein", f"/login?user=bob&password={REDACTED}"),
    # credentials in a URL's userinfo
    (
        "connecting to postgresql://app:pw-123@db.internal:5432/journal",
        f"connecting to postgresql://app:{REDACTED}@db.internal:5432/journal",
    ),
    # PostgreSQL journal URLs in every form JOURNAL_URL takes
    (
        "journal postgresql+psycopg://shipshape:s3cr-et@db.internal:5432/journal?sslmode=verify-full",
        f"journal postgresql+psycopg://shipshape:{REDACTED}@db.internal:5432/journal?sslmode=verify-full",
    ),
    (
        "postgresql+psycopg://shipshape@db.internal/journal?password=s3cr-et&sslmode=require",
        f"postgresql+psycopg://shipshape@db.internal/journal?password={REDACTED}&sslmode=require",
    ),
    (
        "host=db.internal port=5432 dbname=journal user=shipshape password=s3cr-et",
        f"host=db.internal port=5432 dbname=journal user=shipshape password={REDACTED}",
    ),
    # several in one line
    (
        "token=a password=b secret=c",
        f"token={REDACTED} password={REDACTED} secret={REDACTED}",
    ),
    # in an exception's text
    (
        "ApiException: (401) HTTP headers: {'Authorization': 'Bearer abc123456'}",
        f"ApiException: (401) HTTP headers: {{'Authorization': '{REDACTED}'}}",
    ),
]

UNTOUCHED = [
    "Hello, world!",
    "password reset email sent to user 42",
    "max_tokens=512 temperature=0.2",
    "token_count=5",
    "secret_name=helloworld-tls",
    "tokens: 17",
    "secrets: 3 mounted",
    "the bearer of bad news",
    "Bearer",
    "GET /healthz 200 0.4ms",
    "/search?q=token&page=2",
    "configmap/helloworld-config-test changed keys: MESSAGE",
    "data_hash=sha256:3f2a9c",
    "https://prod.helloworld.shipshape.example.com/",
    "postgresql://db.internal:5432/journal",
    "",
    f"already {REDACTED} here",
    "token=" + REDACTED,
    # an empty value hides nothing, and says that the value is empty
    'password=""',
    "{'token': ''}",
]


@pytest.mark.parametrize(("text", "expected"), REDACTED_CASES)
def test_credentials_are_redacted(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", UNTOUCHED)
def test_text_without_credentials_is_untouched(text):
    assert redact(text) == text


@pytest.mark.parametrize(("text", "expected"), REDACTED_CASES)
def test_redaction_is_idempotent(text, expected):
    assert redact(redact(text)) == expected


def test_bounded_error_text_is_redacted_first_then_cut_to_one_line():
    text = "a" * 480 + "\n client_secret='" + "v" * 64 + "' and more\ttext " + "b" * 100
    out = bounded(text)
    assert len(out) == MAX_ERROR_TEXT == 512 and out.endswith("...")
    assert "\n" not in out and "\t" not in out and "vvvv" not in out
    assert f"client_secret='{REDACTED}'" in out
    assert bounded("short: fine") == "short: fine"
    assert bounded("x" * 20, limit=10) == "x" * 7 + "..."
    assert bounded("x" * 10, limit=10) == "x" * 10, "a text of exactly the limit is kept whole"


def test_the_quick_check_lets_every_case_of_bearer_through():
    # Text without ":" or "=" reaches the patterns only when it holds "bearer"
    # in some case; the check must not stop any of them.
    for scheme in ("bearer", "Bearer", "BEARER", "bEaReR"):
        assert redact(f"sent {scheme} abc.def-123 today") == f"sent {scheme} {REDACTED} today"
