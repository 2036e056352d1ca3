"""POST /setcookie's body, in process: its media type, bodies malformed, over the limits, short,
broken or slow, how much of the stream is read, and the names refused or escaped."""

import io
from functools import partial
from http import HTTPStatus

import pytest
from gunicorn.http.errors import InvalidChunkSize

import wsgiapp
from tests.helpers.forms import form_body
from tests.helpers.forms import form_of_size
from tests.helpers.forms import multipart
from tests.helpers.inprocess import BodyStream
from tests.helpers.inprocess import call
from tests.helpers.inprocess import submit_name
from tests.helpers.oracle import MAX_BODY_SIZE
from tests.helpers.oracle import MAX_FORM_PARTS
from tests.helpers.oracle import MULTIPART
from tests.helpers.oracle import SERVER_ERROR
from tests.helpers.oracle import URLENCODED
from tests.helpers.oracle import form_again
from tests.helpers.oracle import login_answer
from tests.helpers.oracle import private
from tests.helpers.oracle import refusal
from tests.helpers.oracle import welcome

MULTIPART_B = f"{MULTIPART}; boundary=b"
MULTIPART_OK = multipart([("nm", "alice")])
NOT_A_FORM = refusal(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"Send the form as {URLENCODED} or {MULTIPART}.")
UNREADABLE = refusal(HTTPStatus.BAD_REQUEST, "The form could not be read.")
TOO_LARGE = refusal(
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    f"The form may hold at most {MAX_BODY_SIZE} bytes in {MAX_FORM_PARTS} parts.",
)
CUT_SHORT = refusal(HTTPStatus.BAD_REQUEST, "The form ended before its announced length.")
ALICE = login_answer("alice")


# POST /setcookie, urlencoded unless told otherwise.
post = partial(call, "POST", "/setcookie", content_type=URLENCODED)


# The media type


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", b"nm=alice"),
        ("application/json", b'{"nm": "alice"}'),
        ("application/x-url-encoded", b"nm=alice"),
        (None, b"nm=alice"),
        (None, b""),
        ("", b"nm=alice"),
        ("; charset=utf-8", b"nm=alice"),
    ],
)
def test_a_body_that_is_not_a_form_is_415(content_type, data):
    assert post(data, content_type=content_type).exact == NOT_A_FORM


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (URLENCODED.upper(), b"nm=alice"),
        (f"{URLENCODED.title()}; Charset=UTF-8", b"nm=alice"),
        (f"{MULTIPART.title()}; Boundary=b", MULTIPART_OK),
        (f"{MULTIPART.upper()}; BOUNDARY=b", MULTIPART_OK),
    ],
)
def test_media_types_are_case_insensitive(content_type, body):
    assert post(body, content_type=content_type).exact == ALICE


def test_a_hand_written_multipart_body_works():
    assert post(MULTIPART_OK, content_type=MULTIPART_B).exact == ALICE


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        # A field without "=" has an empty value.
        (URLENCODED, b"nm", form_again("The user ID must not be blank.")),
        # A bad escape is kept as it is, as browsers do: "%zz" is a fine name.
        (URLENCODED, b"nm=%zz", login_answer("%zz")),
        (URLENCODED, b"nm=a%2", login_answer("a%2")),
        # A file is not a field: no name was sent.
        (
            MULTIPART_B,
            MULTIPART_OK.replace(b'"nm"', b'"nm"; filename="a"'),
            form_again("Please enter a user ID."),
        ),
        # Werkzeug decodes a part whose charset it does not know as UTF-8, and takes bare LFs for CRLFs.
        (
            MULTIPART_B,
            MULTIPART_OK.replace(b'"nm"', b'"nm"\r\nContent-Type: text/plain; charset=x-unknown'),
            ALICE,
        ),
        (MULTIPART_B, MULTIPART_OK.replace(b"\r\n", b"\n"), ALICE),
    ],
    ids=["no-equals", "bad-escape", "cut-escape", "a-file", "unknown-charset", "lf-line-ends"],
)
def test_a_body_is_read_as_werkzeug_parses_it(content_type, body, expected):
    assert post(body, content_type=content_type).exact == expected


# Bodies that are not a form


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        (MULTIPART, MULTIPART_OK),
        (MULTIPART_B, MULTIPART_OK[:30]),
        (MULTIPART_B, b"no boundary here at all"),
        (MULTIPART_B, b"--b\r\nContent-Disposition: form-data\r\n\r\nx"),
        (URLENCODED, b"nm=\xff\xfe"),
        # Werkzeug would keep these escapes as their text ("al%FFice"): they are not UTF-8 either.
        (URLENCODED, b"nm=al%FFice"),
        (URLENCODED, b"nm=Jos%C3"),
        (URLENCODED, b"nm=alice&x=%ED%A0%80"),
        # Werkzeug's multipart parser would read these as "al\ufffdice" and "Jos\xe9": not UTF-8 either.
        (MULTIPART_B, multipart([("nm", b"al\xffice")])),
        (
            MULTIPART_B,
            b"--b\r\nContent-Disposition: form-data; name=nm\r\nContent-Type: text/plain; charset=iso-8859-1"
            b"\r\n\r\nJos\xe9\r\n--b--\r\n",
        ),
        (MULTIPART_B, multipart([("\xff", b"alice")])),
    ],
    ids=[
        "no-boundary",
        "truncated",
        "garbage",
        "part-without-a-name",
        "not-utf8",
        "escaped-not-utf8",
        "cut-escape",
        "escaped-surrogate",
        "multipart-not-utf8",
        "multipart-latin-1",
        "multipart-name-not-utf8",
    ],
)
def test_a_broken_form_is_400(content_type, data):
    assert post(data, content_type=content_type).exact == UNREADABLE


@pytest.mark.parametrize("escape", [f"%{high}{low}" for high in "89ABCDEFabcdef" for low in "0aF"])
def test_an_escaped_byte_from_0x80_up_alone_is_400(escape):
    """A lone byte from 0x80 up is never UTF-8, however its escape is spelt."""
    assert post(f"nm=a{escape}b".encode()).exact == UNREADABLE


# The limits


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        (URLENCODED, b"nm=alice&pad=" + b"x" * 16_384),
        (URLENCODED, b"nm=" + b"a" * 20_000),
        (MULTIPART_B, multipart([("nm", "alice"), *[("x", "1")] * 8])),
        (MULTIPART_B, multipart([("nm", "a" * 17_000)])),
        # Nine fields, counted by their separators as parse_qsl's max_num_fields does.
        (URLENCODED, b"nm=alice" + b"&x=1" * 8),
        (URLENCODED, b"nm=alice" + b"&" * 8),
    ],
    ids=["urlencoded", "long-name", "too-many-parts", "big-part", "too-many-fields", "empty-fields"],
)
def test_a_form_over_the_limits_is_413(content_type, data):
    assert post(data, content_type=content_type).exact == TOO_LARGE


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        (URLENCODED, b"nm=alice" + b"&x=1" * 7),
        (MULTIPART_B, multipart([("nm", "alice"), *[("x", "1")] * 7])),
    ],
    ids=["urlencoded", "multipart"],
)
def test_a_form_of_eight_fields_is_read(content_type, data):
    assert post(data, content_type=content_type).exact == ALICE


@pytest.mark.parametrize(
    "body",
    [b"nm=" + b"a" * 40_000, b"nm=alice&pad=" + b"x" * 40_000, b"nm=alice&pad=" + b"x" * 16_372],
    ids=["long-name", "padded", "one-byte-over"],
)
def test_a_chunked_body_over_the_cap_is_413(body):
    assert post(body, chunked=True).exact == TOO_LARGE


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"nm=alice", ALICE),
        (b"nm=alice&pad=" + b"x" * 16_371, ALICE),
        (b"nm=" + b"a" * 1000, form_again("The user ID must be at most 64 characters long.", "a" * 1000)),
    ],
    ids=["short", "exactly-at-the-cap", "name-too-long"],
)
def test_a_chunked_body_within_the_cap_is_read_whole(body, expected):
    assert post(body, chunked=True).exact == expected


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_the_cap_is_the_same_however_the_body_is_framed(encoding, chunked):
    body, content_type = form_of_size(MAX_BODY_SIZE, encoding)
    assert len(body) == MAX_BODY_SIZE
    assert post(body, content_type=content_type, chunked=chunked).exact == ALICE
    body, content_type = form_of_size(MAX_BODY_SIZE + 1, encoding)
    assert post(body, content_type=content_type, chunked=chunked).exact == TOO_LARGE


# Bodies short, broken or slow, and how much of the stream is read


@pytest.mark.parametrize(
    ("content_type", "sent", "length"),
    [(URLENCODED, b"nm=al", 100), (MULTIPART_B, MULTIPART_OK[:-2], len(MULTIPART_OK))],
    ids=["urlencoded", "multipart"],
)
def test_a_body_shorter_than_its_content_length_is_400(content_type, sent, length):
    # The client announced length bytes and closed after sent, which reads as a form of its own:
    # "al" is not the name it meant.
    answer = post(sent, content_type=content_type, CONTENT_LENGTH=str(length))
    assert answer.exact == CUT_SHORT


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    "error",
    [ConnectionResetError("reset"), OSError("Invalid chunk header"), InvalidChunkSize(b"zz")],
    ids=["reset", "devserver-chunk", "gunicorn-chunk"],
)
def test_a_body_the_client_broke_is_400(error, chunked):
    answer = post(b"nm=alice", chunked=chunked, stream=BodyStream(b"nm=al", error))
    assert answer.exact == UNREADABLE
    assert answer.errors == ""


def assert_server_error(answer, error: str) -> None:
    assert answer.exact == private(SERVER_ERROR)
    assert "Traceback" in answer.errors
    assert error in answer.errors


def test_an_unexpected_error_from_the_body_stream_is_a_500():
    answer = post(b"nm=alice", chunked=True, stream=BodyStream(b"nm=alice", TypeError("a bug")))
    assert_server_error(answer, "TypeError: a bug")


def test_an_unexpected_error_from_the_form_parser_is_a_500(monkeypatch):
    def parse(*args, **kwargs):
        raise TypeError("a bug in the parser")

    monkeypatch.setattr(wsgiapp.FORM_PARSER, "parse", parse)
    assert_server_error(post(b"nm=alice"), "TypeError: a bug in the parser")


def test_a_body_read_in_small_pieces_is_read_whole():
    assert post(b"nm=alice", stream=BodyStream(b"nm=alice", piece=3)).exact == ALICE


def test_only_content_length_bytes_are_read():
    # What follows the body on the stream is not the form's (PEP 3333: read no more than CONTENT_LENGTH).
    stream = io.BytesIO(b"nm=alice&nm=mallory")
    assert post(b"nm=alice", stream=stream).exact == ALICE
    assert stream.read() == b"&nm=mallory"


@pytest.mark.parametrize(
    ("content_type", "refused"),
    [(URLENCODED, form_again("Please enter a user ID.")), (MULTIPART_B, UNREADABLE)],
    ids=["urlencoded", "multipart"],
)
def test_without_a_length_or_an_ended_stream_the_body_is_not_read(content_type, refused):
    # PEP 3333: no Content-Length and no wsgi.input_terminated: the app reads nothing.
    stream = io.BytesIO(b"nm=alice")
    assert post(b"", content_type=content_type, stream=stream, CONTENT_LENGTH="").exact == refused
    assert stream.read() == b"nm=alice"


# Bad names: 400, the form again with a message, nothing set

HIDDEN = "The user ID must not contain characters that are invisible or reorder the text: "
CONTROL = "The user ID must not contain control characters."
# Said when the field shows the name without some of its characters.
CUT = " The field shows it without the characters that cannot be shown."


@pytest.mark.parametrize(
    ("fields", "error", "shown"),
    [
        ([], "Please enter a user ID.", ""),
        ([("other", "x")], "Please enter a user ID.", ""),
        ([("nm", "")], "The user ID must not be blank.", ""),
        ([("nm", "   \t ")], "The user ID must not be blank." + CUT, "    "),
        ([("nm", "alice"), ("nm", "bob")], "Send one user ID, not several.", "alice"),
        ([("nm", "alice"), ("nm", "alice")], "Send one user ID, not several.", "alice"),
        ([("nm", "a" * 65)], "The user ID must be at most 64 characters long.", "a" * 65),
        ([("nm", "😀" * 65)], "The user ID must be at most 64 characters long.", "😀" * 65),
        ([("nm", "a\r\nSet-Cookie: x=1")], CONTROL + CUT, "aSet-Cookie: x=1"),
        ([("nm", "a\x00b")], CONTROL + CUT, "ab"),
        ([("nm", "a\x7f")], CONTROL + CUT, "a"),
        ([("nm", "a\x85b")], CONTROL + CUT, "ab"),
        # Names that pretend to be others (CVE-2021-42574): the text reordered, or invisible characters.
        ([("nm", "adm\u202enimda")], HIDDEN + "U+202E RIGHT-TO-LEFT OVERRIDE." + CUT, "admnimda"),
        ([("nm", "\u2066admin")], HIDDEN + "U+2066 LEFT-TO-RIGHT ISOLATE." + CUT, "admin"),
        ([("nm", "admin\u200b")], HIDDEN + "U+200B ZERO WIDTH SPACE." + CUT, "admin"),
        ([("nm", "ad\u00admin")], HIDDEN + "U+00AD SOFT HYPHEN." + CUT, "admin"),
        ([("nm", "\ufeffadmin")], HIDDEN + "U+FEFF ZERO WIDTH NO-BREAK SPACE." + CUT, "admin"),
        ([("nm", "ad\u2060min")], HIDDEN + "U+2060 WORD JOINER." + CUT, "admin"),
        ([("nm", "\u3164admin")], HIDDEN + "U+3164 HANGUL FILLER." + CUT, "admin"),
        # A joiner or a variation selector outside an emoji sequence.
        ([("nm", "ad\u200dmin")], HIDDEN + "U+200D ZERO WIDTH JOINER." + CUT, "admin"),
        ([("nm", "\u200d\U0001f4bb")], HIDDEN + "U+200D ZERO WIDTH JOINER." + CUT, "\U0001f4bb"),
        ([("nm", "admin\ufe0f")], HIDDEN + "U+FE0F VARIATION SELECTOR-16." + CUT, "admin"),
        ([("nm", "\ufe0f\u2764")], HIDDEN + "U+FE0F VARIATION SELECTOR-16." + CUT, "\u2764"),
        ([("nm", "\U0001f469\u200d")], HIDDEN + "U+200D ZERO WIDTH JOINER." + CUT, "\U0001f469"),
        ([("nm", "a\u200d\U0001f4bb")], HIDDEN + "U+200D ZERO WIDTH JOINER." + CUT, "a\U0001f4bb"),
        ([("nm", "\U0001f469\u200da")], HIDDEN + "U+200D ZERO WIDTH JOINER." + CUT, "\U0001f469a"),
        (
            [("nm", "\U0001f469 \u200d\U0001f4bb")],
            HIDDEN + "U+200D ZERO WIDTH JOINER." + CUT,
            "\U0001f469 \U0001f4bb",
        ),
        # An emoji carries one variation selector: after a second one, a joiner joins nothing (found
        # by hypothesis, tests/test_properties.py::test_name_rule).
        (
            [("nm", "\u2764\ufe0f\ufe0f\u200d\U0001f525")],
            HIDDEN + "U+FE0F VARIATION SELECTOR-16." + CUT,
            "\u2764\ufe0f\U0001f525",
        ),
        # Unassigned, and default-ignorable: drawn as nothing once it is assigned.
        ([("nm", "ad\u2065min")], HIDDEN + "U+2065 an unassigned character." + CUT, "admin"),
        # Too long, with what a page cannot show: the field shows the rest, and says so.
        (
            [("nm", "a" * 64 + "\u200b\x00")],
            "The user ID must be at most 64 characters long." + CUT,
            "a" * 64,
        ),
        # An emoji sequence kept whole, beside a control character that goes.
        ([("nm", "\U0001f469\u200d\U0001f4bb\x07")], CONTROL + CUT, "\U0001f469\u200d\U0001f4bb"),
    ],
)
def test_bad_names_get_the_form_again_with_what_was_typed_and_a_message(fields, error, shown):
    assert post(form_body(fields, "urlencoded")[0]).exact == form_again(error, shown)


@pytest.mark.parametrize(
    "name",
    [
        "\U0001f469\u200d\U0001f4bb dev",  # woman technologist: woman, joiner, laptop
        "\u2764\ufe0f",  # red heart, as an emoji
        "\u2764\ufe0f\u200d\U0001f525",  # heart on fire
        "I \u2764\ufe0f\u200d\U0001f525 tea",  # among words
        "\U0001f469\U0001f3fd\u200d\U0001f4bb",  # with a skin tone
        "\u0645\u0631\u062d\u0628\u0627 Zo\u00eb",  # right-to-left letters need no control
    ],
)
def test_emoji_sequences_and_other_scripts_are_names(client, name):
    submit_name(client, name)
    assert welcome(name) in client.get("/getcookie").get_data(as_text=True)


def test_a_bad_name_leaves_an_existing_cookie_alone(client):
    submit_name(client, "alice")
    response = client.post("/setcookie", data={"nm": ""})
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers
    assert welcome("alice") in client.get("/getcookie").get_data(as_text=True)


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ('" onmouseover="alert(1)', "&quot; onmouseover=&quot;alert(1)"),
        ("' autofocus x='", "&#x27; autofocus x=&#x27;"),
        ("Tom & Jerry", "Tom &amp; Jerry"),
    ],
)
def test_names_are_escaped_in_the_page(client, name, escaped):
    submit_name(client, name)
    body = client.get("/getcookie").get_data(as_text=True)
    assert f"<h1>welcome {escaped}</h1>" in body
    assert name not in body
