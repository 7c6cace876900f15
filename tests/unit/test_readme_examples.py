"""The README's example requests and status event are valid: each request against the JSON
Schema of its channel, the event against the status-event schema (the schemas and the C
codec are held to agree by test_schemas.py)."""
import json
import os
import re
import sys

import jsonschema

SRC = os.environ.get("NOTIFY_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    readme = open(os.path.join(SRC, "README.md"), encoding="utf-8").read()
    section = readme.split("## Topics and messages", 1)[1].split("\n## ", 1)[0]
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", section, re.S)]
    schemas = {name: json.load(open(os.path.join(SRC, "schemas", "json", name + ".schema.json")))
               for name in ("send-request.email", "send-request.twilio", "send-request.sns",
                            "status-event")}
    expected = ["send-request.email", "send-request.twilio", "send-request.sns", "status-event"]
    passed = failed = 0
    if len(blocks) != len(expected):
        print("FAIL: expected %d JSON examples in the section, found %d" % (len(expected), len(blocks)))
        print("0 passed, 1 failed")
        return 1
    for doc, name in zip(blocks, expected):
        try:
            jsonschema.Draft202012Validator(schemas[name]).validate(doc)
            passed += 1
        except jsonschema.ValidationError as e:
            print("FAIL: %s example: %s" % (name, e.message))
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
