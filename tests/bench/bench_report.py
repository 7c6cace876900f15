#!/usr/bin/env python3
"""The benchmark table: reads the result lines the benchmarks appended to a file (see
benchlib.record) and prints one table, each figure beside the reference measured in the
same run, their ratio, and the measured binary's peak memory and CPU per unit of work.

    bench_report.py RESULTS [--markdown]

--markdown prints the table as Markdown (what the README shows), headed by the machine it
was measured on.
"""
import datetime
import json
import os
import platform
import sys

COLUMNS = ("benchmark", "figure", "reference (same run)", "ratio", "target", "binary",
           "peak RSS", "CPU per unit")


def fmt_rate(value, unit):
    if value is None:
        return "-"
    return "%s %s" % ("{:,.0f}".format(value), unit)


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return "%d cores (%s), %.0f GiB, Linux %s, %s" % (
        os.cpu_count(), model, mem_gib, platform.release(),
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"))


def rows(results):
    for r in results:
        ref = "-"
        ratio = "-"
        if r.get("reference_value"):
            ref = "%s (%s)" % (fmt_rate(r["reference_value"], r["unit"]), r["reference"])
            ratio = "%.0f%%" % (100.0 * r["value"] / r["reference_value"])
        rss = "%.1f MiB" % (r["peak_rss_kib"] / 1024.0) if r.get("peak_rss_kib") else "-"
        cpu = "%.1f µs" % r["cpu_us"] if r.get("cpu_us") is not None else "-"
        figure = fmt_rate(r["value"], r["unit"])
        if r.get("note"):
            figure += " (%s)" % r["note"]
        target = "-"
        if r.get("target"):
            target = "%s: %s" % (r["target"], "met" if r.get("met") else "missed")
        yield (r["bench"], figure, ref, ratio, target, r.get("binary") or "-", rss, cpu)


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    with open(sys.argv[1]) as f:
        results = [json.loads(line) for line in f if line.strip()]
    table = list(rows(results))
    if "--markdown" in sys.argv[2:]:
        print("Measured on %s; Kafka, PostgreSQL, the providers, the load tools and the "
              "binaries all share it.\n" % machine())
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "|".join("---" for _ in COLUMNS) + "|")
        for row in table:
            print("| " + " | ".join(row) + " |")
        return 0
    widths = [max(len(COLUMNS[i]), *(len(row[i]) for row in table)) if table else len(COLUMNS[i])
              for i in range(len(COLUMNS))]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print("(%s)" % machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())
