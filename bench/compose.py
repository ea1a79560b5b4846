#!/usr/bin/env python3
"""Fills bench/BENCHMARKS.template.md's {{MACHINE}} and {{TABLES}} from the
files bench/run.sh wrote, and prints the result."""
import sys

template, machine, tables = (open(p).read() for p in sys.argv[1:4])
print(template.replace("{{MACHINE}}", machine.strip()).replace("{{TABLES}}", tables.strip()), end="")
