"""Fails when a message or enum of proto/polypool.proto is not described in
docs/protocol.md, so the protocol page cannot drift from the contract."""
import re
import sys

proto, doc = sys.argv[1], sys.argv[2]
names = re.findall(r"^\s*(?:message|enum)\s+(\w+)", open(proto).read(), re.M)
text = open(doc).read()
missing = [n for n in names if not re.search(r"\b%s\b" % re.escape(n), text)]
if missing:
    sys.exit("docs/protocol.md does not describe: " + ", ".join(missing))
print("%d names described" % len(names))
