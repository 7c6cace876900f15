"""The JSON Schemas under schemas/json against the examples the C codecs are tested with.

tests/data/requests/cases.json and tests/data/events/cases.json list example values and
what the workers decide about them; test_request.c and test_event.c check the C side on the
same files. Here each example is validated against its schema, which must agree, except
where a case says "schema_valid" (a rule JSON Schema cannot state, such as the encoded size
of a subject). Also: each schema is a valid draft 2020-12 schema, every example file is
listed in its cases.json, and the error codes the event schema allows are the C table's.

Needs python3-jsonschema (Debian) for /usr/bin/python3.
"""

import json
import os
import re
import sys
import unittest

try:
    from jsonschema import Draft202012Validator
except ImportError:  # pragma: no cover - reported, not hidden
    sys.stderr.write("test_schemas.py needs the python3-jsonschema package\n")
    sys.exit(1)

SOURCE_DIR = os.environ.get("NOTIFY_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
SCHEMAS = os.path.join(SOURCE_DIR, "schemas", "json")
DATA = os.path.join(SOURCE_DIR, "tests", "data")


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def validator(name):
    schema = load_json(os.path.join(SCHEMAS, name))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


class SchemaFiles(unittest.TestCase):
    def test_schemas_are_valid_2020_12(self):
        names = sorted(n for n in os.listdir(SCHEMAS) if n.endswith(".schema.json"))
        self.assertEqual(
            names,
            [
                "send-request.email.schema.json",
                "send-request.sns.schema.json",
                "send-request.twilio.schema.json",
                "status-event.schema.json",
            ],
        )
        for name in names:
            schema = load_json(os.path.join(SCHEMAS, name))
            self.assertEqual(schema["$schema"], "https://json-schema.org/draft/2020-12/schema")
            Draft202012Validator.check_schema(schema)


class Cases(unittest.TestCase):
    def run_cases(self, kind, pick_schema):
        directory = os.path.join(DATA, kind)
        cases = load_json(os.path.join(directory, "cases.json"))
        listed = {c["file"] for c in cases}
        on_disk = {n for n in os.listdir(directory) if n.endswith(".json") and n != "cases.json"}
        self.assertEqual(on_disk, listed, "every example file is listed in cases.json")
        self.assertGreaterEqual(len(cases), 10)
        for case in cases:
            with self.subTest(file=case["file"]):
                value = load_json(os.path.join(directory, case["file"]))
                errors = list(pick_schema(case).iter_errors(value))
                expected = case.get("schema_valid", case["valid"])
                if expected:
                    self.assertEqual(errors, [], [e.message for e in errors])
                else:
                    self.assertNotEqual(errors, [], "the schema accepts an invalid example")
                if "schema_valid" in case:
                    # Only rules the schema cannot state may differ, and they must be said.
                    self.assertFalse(case["valid"])
                    self.assertTrue(case.get("note"))

    def test_requests(self):
        by_channel = {
            ch: validator(f"send-request.{ch}.schema.json") for ch in ("email", "twilio", "sns")
        }
        self.run_cases("requests", lambda case: by_channel[case["channel"]])

    def test_events(self):
        event = validator("status-event.schema.json")
        self.run_cases("events", lambda case: event)


class Details(unittest.TestCase):
    """Rules whose regular expressions are easy to get subtly wrong."""

    def setUp(self):
        self.twilio = validator("send-request.twilio.schema.json")
        self.email = validator("send-request.email.schema.json")

    def sms(self, to):
        return {"message_id": "m", "org_id": "o", "to": to, "payload": {"body": "b"}}

    def mail(self, to):
        return {"message_id": "m", "org_id": "o", "to": to, "subject": "s",
                "payload": {"body": "b"}}

    def test_phone_numbers(self):
        for good in ("+14155550100", "+1 (415) 555-0100", "0044 20 7946 0958",
                     "(+44) 20 7946 0958", "+12345678", "+123456789012345"):
            self.assertTrue(self.twilio.is_valid(self.sms(good)), good)
        for bad in ("4155550100", "+1234567", "+1234567890123456", "+0441234567",
                    "+1 800 FLOWERS", "++14155550100", "+14155550100\n", ""):
            self.assertFalse(self.twilio.is_valid(self.sms(bad)), repr(bad))

    def test_addresses(self):
        local64 = "a" * 64
        for good in ("user@example.com", "\"john doe\"@example.org", "user@[192.0.2.1]",
                     "user@[IPv6:2001:db8::1]", local64 + "@example.com", "user@localhost"):
            self.assertTrue(self.email.is_valid(self.mail(good)), good)
        for bad in ("user@@example.com", "user.@example.com", ".user@example.com",
                    "a..b@example.com", "user@-x.example", "user@x-.example",
                    "user@example.com\n", "user@example.com\r\nBcc: x@evil.example",
                    "a" * 65 + "@example.com", "user@[300.0.0.1]", "Name <user@example.com>",
                    "us\u00e9r@example.com"):
            self.assertFalse(self.email.is_valid(self.mail(bad)), repr(bad))

    def test_event_error_codes_match_the_c_table(self):
        with open(os.path.join(SOURCE_DIR, "common", "errcode.h"), encoding="utf-8") as f:
            c_names = re.findall(r"^\s*XX\(([A-Z][A-Z0-9_]*), (?:true|false),", f.read(), re.M)
        schema = load_json(os.path.join(SCHEMAS, "status-event.schema.json"))
        alternatives = schema["properties"]["error_code"]["oneOf"]
        enums = [a["enum"] for a in alternatives if "enum" in a]
        self.assertEqual(len(enums), 1)
        self.assertEqual(sorted(enums[0]), sorted(c_names))
        self.assertIn("SMTP_421", c_names)
        self.assertIn("MESSAGE_TOO_LONG", c_names)


if __name__ == "__main__":
    unittest.main(verbosity=2)
