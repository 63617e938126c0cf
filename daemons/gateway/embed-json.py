#!/usr/bin/env python3
"""Embeds a JSON file in C as `const char NAME[]` (NUL-terminated) and `const size_t NAME_len`,
after checking that it parses: a broken document fails the build."""
import json
import sys

src, out, name = sys.argv[1:4]
data = open(src, "rb").read()
json.loads(data)
with open(out, "w") as f:
    f.write("/* Generated from %s: do not edit. */\n#include <stddef.h>\n" % src.split("/")[-1])
    f.write("const char %s[] = {\n" % name)
    for i in range(0, len(data), 16):
        f.write("    " + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",\n")
    f.write("    0x00};\nconst size_t %s_len = %d;\n" % (name, len(data)))
