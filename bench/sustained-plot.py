# SPDX-License-Identifier: Apache-2.0
# Draws bench/sustained.ts's timeseries.csv as one PNG: stage CPU, stage RSS, rates, latency.
#   python sustained-plot.py timeseries.csv out.png "title"
# Needs matplotlib (a venv under .tmp/: python3 -m venv .tmp/plot-venv && .tmp/plot-venv/bin/pip install matplotlib).
import csv
import sys

import matplotlib

matplotlib.use("Agg")  # no display here: render straight to a file
import matplotlib.pyplot as plt  # noqa: E402

STAGES = ["capture", "enrich", "broker"]


def col(rows, name):
    out = []
    for r in rows:
        v = r.get(name, "")
        out.append(float(v) if v not in ("", "nan", "NaN") else float("nan"))
    return out


def main():
    src, png, title = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
    with open(src, newline="") as fh:
        rows = list(csv.DictReader(fh))
    t = col(rows, "t_s")
    fig, ax = plt.subplots(4, 1, figsize=(11, 12), sharex=True)
    for s in STAGES:
        ax[0].plot(t, col(rows, f"{s}_cpu_pct"), label=s, linewidth=1)
        ax[1].plot(t, col(rows, f"{s}_rss_mib"), label=s, linewidth=1)
    ax[0].plot(t, col(rows, "host_busy_pct"), label="whole machine, all processes", color="grey", linewidth=0.8, linestyle=":")
    ax[0].set_ylabel("CPU, % of one core")
    ax[1].set_ylabel("RSS, MiB")
    ax[2].plot(t, col(rows, "gen_connects_per_s"), label="generators' connects/s", linewidth=1)
    ax[2].plot(t, col(rows, "raw_events_per_s"), label="raw events/s (all processes)", linewidth=1)
    ax[2].plot(t, col(rows, "audit_records_per_s"), label="audit records/s read", linewidth=1)
    ax[2].set_ylabel("per second")
    ax[3].plot(t, col(rows, "latency_p50_ms"), label="p50", linewidth=1)
    ax[3].plot(t, col(rows, "latency_p99_ms"), label="p99", linewidth=1)
    ax[3].set_ylabel("connect -> audit readable, ms")
    ax[3].set_yscale("log")
    ax[3].set_xlabel("seconds since the generators started")
    for a in ax:
        a.grid(True, alpha=0.3)
        a.legend(loc="upper right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=90)


if __name__ == "__main__":
    main()
