#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn one guest run's samples into the benchmark table, JSON and chart.

usage: report.py --raw DIR --out DIR [--elapsed S] [--vm-rc N] [--boots N]
                 [--flavour F] [--require-complete]

Reads DIR/samples.jsonl and DIR/meta.json (written by guest.sh), prints the
table, writes OUT/results.json, OUT/table.md and OUT/ratios.svg.

The ratio is oriented so that > 1.0x means rbtrfs is faster: rbtrfs / C for
throughputs (MiB/s, IOPS), C / rbtrfs for times (seconds). It is taken
between medians.

--require-complete (the smoke test's verdict): exit 1 unless the guest exited
0, every row has a value for rbtrfs (or its expected n/a), for C btrfs and,
where it applies, for the raw disk, and every btrfs check and dmesg check
passed. Timings never matter to it.
"""
import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys

# id, workload, unit, higher is better, raw-disk figure applies
ROWS = [
    ("seq_write", "seq", "sequential write, 1 MiB blocks, {seq_mb} MiB + fsync", "MiB/s", True, True),
    ("seq_read", "seq", "sequential read of it, cold cache", "MiB/s", True, True),
    ("rand_read", "rand", "4 KiB random read, cold cache ({rand_io_mb} MiB of a {rand_file_mb} MiB file)",
     "IOPS", True, True),
    ("rand_write", "rand", "4 KiB random write, fsync every 32 ({rand_io_mb} MiB)", "IOPS", True, True),
    ("meta_create", "meta", "create {meta_files} empty files in {meta_dirs} dirs + sync", "s", False, False),
    ("meta_stat", "meta", "stat them all, cold cache", "s", False, False),
    ("meta_rename", "meta", "rename them all + sync", "s", False, False),
    ("meta_unlink", "meta", "unlink them all + sync", "s", False, False),
    ("tree_untar", "tree", "untar a source-like tree ({tar_files} files) + sync", "s", False, False),
    ("tree_find", "tree", "find over it, cold cache", "s", False, False),
    ("tree_du", "tree", "du -s over it, cold cache", "s", False, False),
    ("tree_rm", "tree", "rm -rf it + sync", "s", False, False),
    ("snap_create", "snap", "snapshot a {snap_files}-file subvolume + sync", "s", False, False),
    ("snap_delete", "snap", "delete the snapshot, wait for the cleaner", "s", False, False),
]
# Rows rbtrfs may report as n/a without failing --require-complete.
NA_OK = {"snap_create", "snap_delete"}
IMPLS = ("rbtrfs", "cbtrfs", "raw")


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def summarize(entries, reps):
    """Samples of one row on one implementation -> a result dict."""
    vals = [e["value"] for e in entries if "value" in e]
    errs = [e["error"] for e in entries if "error" in e]
    nas = [e["na"] for e in entries if "na" in e]
    if nas and not vals:
        return {"status": "n/a", "note": nas[0]}
    if errs:
        return {"status": "failed", "note": errs[0], "samples": vals}
    if not vals:
        return {"status": "failed", "note": "no result (the guest stopped before this row)"}
    med = statistics.median(vals)
    r = {"status": "ok", "samples": vals, "median": med, "min": min(vals), "max": max(vals),
         "spread_pct": round(100 * (max(vals) - min(vals)) / med, 1) if med else 0.0}
    if len(vals) < reps:
        r["note"] = f"only {len(vals)} of {reps} repetitions"
    return r


def io_median(entries):
    """Block I/O counters of a row's repetitions: the median of each."""
    if not entries:
        return None
    return {k: statistics.median(e[k] for e in entries) for k in entries[0]}


def io_cell(io):
    if not io:
        return "–"
    parts = []
    for n, kib, what in (("reads", "read_kib", "reads"), ("writes", "write_kib", "writes")):
        if io[n]:
            parts.append(f"{io[n]:.0f} {what} × {io[kib] / io[n]:.0f} KiB")
    if io.get("flushes"):
        parts.append(f"{io['flushes']:.0f} flushes")
    return ", ".join(parts) or "none"


def cell(r, unit):
    if r is None:
        return ""
    if r["status"] == "n/a":
        return f"n/a ({r['note']})"
    if r["status"] == "failed":
        return f"failed: {r['note']}"
    if len(r["samples"]) == 1:
        return fmt(r["median"])
    return f"{fmt(r['median'])} ({fmt(r['min'])}–{fmt(r['max'])})"


def svg_chart(rows, title):
    """Horizontal bars of log2(ratio), centred on 1.0x."""
    rw, lw, bw = 26, 110, 480
    ratios = [r["ratio"] for r in rows if r.get("ratio")]
    lo = min([-2] + [math.floor(math.log2(x)) for x in ratios])
    hi = max([1] + [math.ceil(math.log2(x)) for x in ratios])
    x0 = lw + 10
    scale = bw / (hi - lo)
    xr = lambda v: x0 + (math.log2(v) - lo) * scale
    h = 60 + rw * len(rows) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{x0 + bw + 90}" height="{h}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="14" font-weight="bold">{title}</text>',
           '<text x="10" y="38" fill="#555">ratio of medians, log scale; right of 1.0× = rbtrfs faster</text>']
    top = 50
    for k in range(lo, hi + 1):
        x = xr(2.0 ** k)
        lab = f"{2.0 ** k:g}×" if k >= 0 else f"1/{2 ** -k}×"
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + rw * len(rows)}" '
                   f'stroke="{"#000" if k == 0 else "#ddd"}"/>')
        out.append(f'<text x="{x:.1f}" y="{top + rw * len(rows) + 16}" text-anchor="middle">{lab}</text>')
    for i, r in enumerate(rows):
        y = top + i * rw
        out.append(f'<text x="{lw}" y="{y + 17}" text-anchor="end">{r["short"]}</text>')
        if r.get("ratio"):
            a, b = sorted([xr(1.0), xr(r["ratio"])])
            col = "#3a7d44" if r["ratio"] >= 1 else "#c0504d"
            out.append(f'<rect x="{a:.1f}" y="{y + 5}" width="{max(b - a, 1):.1f}" height="{rw - 10}" fill="{col}"/>')
            out.append(f'<text x="{b + 4:.1f}" y="{y + 17}">{r["ratio"]:.2f}×</text>')
        else:
            note = r["rbtrfs"]["status"] if r["rbtrfs"]["status"] != "ok" else r["cbtrfs"]["status"]
            out.append(f'<text x="{xr(1.0) + 4:.1f}" y="{y + 17}" fill="#777">{note}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def host_machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "virt": "QEMU TCG (no KVM)", "host": platform.node()}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", metavar="DIR", required=True, help="the guest's output (guest.sh OUTDIR)")
    ap.add_argument("--out", metavar="DIR", required=True, help="where the report goes")
    ap.add_argument("--elapsed", metavar="S", type=int, default=0, help="wall time of the run")
    ap.add_argument("--vm-rc", metavar="N", type=int, default=0, help="the guest's exit status")
    ap.add_argument("--boots", metavar="N", type=int, default=1, help="guests booted")
    ap.add_argument("--flavour", metavar="F", default="plain", help="kernel flavour")
    ap.add_argument("--require-complete", action="store_true", help="the smoke test's verdict (above)")
    return ap.parse_args()


def main():
    args = parse_args()
    raw, out = args.raw, args.out
    elapsed = args.elapsed
    vm_rc = args.vm_rc
    meta = {}
    try:
        meta = json.load(open(os.path.join(raw, "meta.json")))
    except (OSError, ValueError):
        pass
    samples, checks, ios = [], [], []
    try:
        for line in open(os.path.join(raw, "samples.jsonl")):
            line = line.strip()
            if line:
                e = json.loads(line)
                (checks if "check" in e else ios if "io" in e else samples).append(e)
    except OSError:
        pass
    reps = meta.get("reps", 0)
    sizes = dict(meta.get("sizes", {}))
    tar = sizes.get("tar", "")
    sizes["tar_files"] = tar.rsplit("-", 1)[-1].split(".")[0] if tar else "?"
    workloads = meta.get("workloads", sorted({w for _, w, *_ in ROWS}))

    rows = []
    for rid, wl, label, unit, higher, raw_applies in ROWS:
        if wl not in workloads:
            continue
        r = {"id": rid, "workload": label.format(**sizes) if sizes else label, "short": rid.replace("_", " "),
             "unit": unit, "higher_is_better": higher}
        for impl in IMPLS:
            if impl == "raw" and not raw_applies:
                continue
            r[impl] = summarize([e for e in samples if e["row"] == rid and e["impl"] == impl], reps)
            io = io_median([e["io"] for e in ios if e["row"] == rid and e["impl"] == impl])
            if io:
                r[impl]["io"] = io
        rb, cb = r["rbtrfs"], r["cbtrfs"]
        if rb["status"] == "ok" and cb["status"] == "ok" and rb["median"] > 0 and cb["median"] > 0:
            r["ratio"] = round(rb["median"] / cb["median"] if higher else cb["median"] / rb["median"], 3)
        rows.append(r)

    machine = host_machine()
    machine.update({"guest_cpus": meta.get("guest", {}).get("cpus"),
                    "guest_mem_mib": meta.get("guest", {}).get("mem_mib"),
                    "guest_kernel": meta.get("guest", {}).get("kernel"),
                    "flavour": args.flavour})
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    bad_checks = [c for c in checks if not c["ok"]]
    result = {"date": date, "machine": machine, "mode": meta.get("mode"), "reps": reps,
              "sizes": meta.get("sizes"), "tools": meta.get("tools"), "guest": meta.get("guest"),
              "elapsed_s": elapsed, "guest_exit": vm_rc, "guest_boots": args.boots,
              "ratio_definition": "> 1.0 means rbtrfs is faster: rbtrfs/C for MiB/s and IOPS, C/rbtrfs for seconds",
              "rows": rows, "checks": checks}
    os.makedirs(out, exist_ok=True)
    json.dump(result, open(os.path.join(out, "results.json"), "w"), indent=1)

    head = (f"{date}; host: {machine['nproc']} CPUs ({machine['cpu']}); guest: QEMU TCG, "
            f"{machine['guest_cpus']} vCPUs, {machine['guest_mem_mib']} MiB, {machine['guest_kernel']}; "
            f"{meta.get('mode', '?')} run, {reps} repetitions, median (min–max); "
            f"make bench took {elapsed // 60} min {elapsed % 60} s")
    md = [head, "",
          "| workload | unit | rbtrfs | C btrfs | ratio (>1.0× = rbtrfs faster) | raw disk (O_DIRECT) |",
          "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}×" if r.get("ratio") else "–"
        md.append(f"| {r['workload']} | {r['unit']} | {cell(r['rbtrfs'], r['unit'])} | "
                  f"{cell(r['cbtrfs'], r['unit'])} | {ratio} | {cell(r.get('raw'), r['unit'])} |")
    if ios:
        md += ["", "Block requests to the disk per phase (median; from /sys/block/vda/stat):", "",
               "| row | rbtrfs | C btrfs |", "|---|---|---|"]
        for r in rows:
            md.append(f"| {r['short']} | {io_cell(r['rbtrfs'].get('io'))} | {io_cell(r['cbtrfs'].get('io'))} |")
    nck = [c for c in checks if c["check"] == "btrfs check"]
    ndm = [c for c in checks if c["check"] == "dmesg"]
    md.append("")
    md.append(f"Checks: btrfs check clean on {sum(c['ok'] for c in nck)}/{len(nck)} images, "
              f"dmesg clean after {sum(c['ok'] for c in ndm)}/{len(ndm)} runs"
              + ("." if not bad_checks else "; problems:"))
    for c in bad_checks:
        md.append(f"- {c['impl']} {c['workload']}: {c['check']}: {c['detail']}")
    boots = args.boots
    if vm_rc:
        md.append(f"- the guest exited {vm_rc} (124: killed at the timeout)"
                  + (f"; {boots} guests booted in all, each going on with the workloads left" if boots > 1 else ""))
    table = "\n".join(md) + "\n"
    open(os.path.join(out, "table.md"), "w").write(table)
    open(os.path.join(out, "ratios.svg"), "w").write(
        svg_chart(rows, f"rbtrfs vs C btrfs, {date}, QEMU TCG ({meta.get('mode', '?')} run)"))
    print(table, end="")
    print(f"wrote {out}/results.json, table.md, ratios.svg")

    if args.require_complete:
        problems = []
        if vm_rc:
            problems.append(f"guest exited {vm_rc}")
        if not rows:
            problems.append("no rows")
        for r in rows:
            for impl in IMPLS:
                if impl not in r:
                    continue
                st = r[impl]["status"]
                if st == "ok" or (st == "n/a" and impl == "rbtrfs" and r["id"] in NA_OK):
                    continue
                problems.append(f"{r['id']} on {impl}: {st} {r[impl].get('note', '')}")
        for c in bad_checks:
            problems.append(f"{c['impl']} {c['workload']}: {c['check']}")
        for impl in ("rbtrfs", "cbtrfs"):
            for wl in workloads:
                if not any(c["impl"] == impl and c["workload"] == wl and c["check"] == "btrfs check" for c in checks):
                    problems.append(f"no btrfs check after {wl} on {impl}")
        if problems:
            print("bench smoke: INCOMPLETE: " + "; ".join(problems))
            sys.exit(1)
        print("bench smoke: complete (every row measured on both implementations, checks clean)")


if __name__ == "__main__":
    main()
