#!/usr/bin/env python3
"""What scripts/bench does with its figures (a JSON file it wrote):

  bench-report.py compare BASELINE.json FIGURES.json
      every figure beside the baseline's, the change in percent, and a flag on each that is
      worse by more than 15% (fewer req/s or flows/s; more ms, bytes or MiB; ms only when they
      also moved by more than 0.5 ms, the runs' own spread). A page's or a file's req/s is
      judged by its ratio to /healthz of the same run (a busier machine moves both; another
      machine of the kind may not: README); /healthz itself, the yardstick, by its own value.
      The count of stored sessions is how many the run made, not a speed: shown, never judged.
      Prints only.
  bench-report.py readme README.md FIGURES.json
      rewrites the table between README.md's `<!-- bench -->` and `<!-- /bench -->` from the
      figures, with the commit and date they were measured at.
"""
import json
import sys

WORSE_BY = 15.0
# Milliseconds move this much between runs of one binary (the total CPU per sign-in is counted in
# 10 ms clock ticks over 200 sign-ins; a p99 in wrk's buckets): a change within it is shown, never
# flagged.
MS_NOISE = 0.5
# Which way is better, by unit; figures in other units are shown, never flagged.
HIGHER_IS_BETTER = {"req/s": True, "flows/s": True, "ms": False, "bytes": False, "MiB": False}


def load(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    figures = {row["name"]: row for row in data["figures"] if row.get("value") is not None}
    return data, figures


def percent(ratio):
    """`53.6%` (of /healthz) as 53.6; anything else (empty, `84.6% of 150 KB`) as None."""
    if not ratio or not ratio.endswith("%"):
        return None
    try:
        return float(ratio[:-1])
    except ValueError:
        return None


def number(value):
    return f"{value:,.2f}" if isinstance(value, float) and not value.is_integer() else f"{value:,.0f}"


def compare(baseline_path, figures_path):
    base, base_rows = load(baseline_path)
    now, rows = load(figures_path)
    print(f"against {baseline_path} (commit {base.get('commit')}, {base.get('date')}):")
    print(f"{'figure':<36} {'baseline':>12} {'now':>12} {'change':>8}")
    worse = []
    for name, row in rows.items():
        old = base_rows.get(name)
        if old is None or not old["value"]:
            print(f"{name:<36} {'-':>12} {number(row['value']):>12} {'new':>8}")
            continue
        change = 100.0 * (row["value"] - old["value"]) / old["value"]
        higher = HIGHER_IS_BETTER.get(row["unit"])
        judged, note = change, ""
        ratio_now, ratio_then = percent(row.get("ratio")), percent(old.get("ratio"))
        if name.endswith("/healthz"):
            note = "  (the yardstick)"
        elif row["unit"] == "req/s" and ratio_now and ratio_then:
            judged = 100.0 * (ratio_now - ratio_then) / ratio_then
            note = f"  ({ratio_then:.1f}% -> {ratio_now:.1f}% of /healthz: {judged:+.1f}%)"
        if row["unit"] == "ms" and abs(row["value"] - old["value"]) <= MS_NOISE:
            higher = None
        if higher is not None and (judged < -WORSE_BY if higher else judged > WORSE_BY):
            note += f"  WORSE by more than {WORSE_BY:.0f}%"
            worse.append(name)
        print(
            f"{name:<36} {number(old['value']):>12} {number(row['value']):>12} "
            f"{change:>+7.1f}%{note}"
        )
    for name in base_rows:
        if name not in rows:
            print(f"{name:<36} {number(base_rows[name]['value']):>12} {'-':>12} {'gone':>8}")
    print(
        f"{len(worse)} figure(s) worse than the baseline by more than {WORSE_BY:.0f}%"
        + (": " + ", ".join(worse) if worse else "")
    )


def readme(readme_path, figures_path):
    data, rows = load(figures_path)
    lines = [
        "<!-- bench -->",
        f"Measured at commit `{data['commit']}` on {data['date']} by `scripts/bench --readme` "
        "(2 cores; regenerated, not typed):",
        "",
        "| figure | value | ratio |",
        "|---|---:|---|",
    ]
    for name, row in rows.items():
        lines.append(f"| {name.strip()} | {number(row['value'])} {row['unit']} | {row['ratio']} |")
    lines.append("<!-- /bench -->")
    with open(readme_path, encoding="utf-8") as f:
        text = f.read()
    start, end = text.find("<!-- bench -->"), text.find("<!-- /bench -->")
    if start < 0 or end < start:
        sys.exit(f"{readme_path} has no <!-- bench --> … <!-- /bench --> block")
    end += len("<!-- /bench -->")
    with open(readme_path, "w", encoding="utf-8") as f:
        f.write(text[:start] + "\n".join(lines) + text[end:])
    print(f"{readme_path}: Performance table written ({len(rows)} figures)")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("compare", "readme"):
        sys.exit(__doc__)
    {"compare": compare, "readme": readme}[sys.argv[1]](sys.argv[2], sys.argv[3])
