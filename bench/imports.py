"""`python -m bench.imports [--rows 100000] [--backend sqlite|postgresql]`: importing a Salesforce-style Leads report.

The file is generated deterministically: `--rows` rows, 2% repeating an earlier row's email (in another case), 1%
unreadable (a malformed email or a two-digit phone), a few thousand companies. Then, through the real command line
(`harmonia import contacts`, a fresh process each, on a freshly migrated database): the dry run, then the import
(whose own dry run is part of it, as `imports_start` always checks first). Reported: wall time, rows per second,
and the peak RSS of the importing process. Append the figures to docs/benchmarks.md by hand; they are machine-bound.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HARMONIA = str(Path(sys.executable).with_name("harmonia"))
HEADER = ["First Name", "Last Name", "Title", "Company", "Email", "Phone", "Mobile", "Lead Source", "Lead Status",
          "Industry", "State/Province", "Email Opt Out", "Do Not Call", "Created Date", "Website"]  # fmt: skip
FIRST = ["Maria", "James", "Wei", "Aisha", "Carlos", "Olga", "Dan", "Priya", "Tom", "Fatima", "Luis", "Anna"]
LAST = ["Lopez", "Smith", "Chen", "Khan", "Reyes", "Novak", "Brown", "Patel", "Nguyen", "Garcia", "Kim", "Ross"]
KINDS = ["Tacos", "Trucking", "Dental", "Auto Repair", "Salon", "Plumbing", "Bakery", "Fitness", "Landscaping"]


def generate(path: Path, rows: int, seed: int = 42) -> dict[str, int]:
    rng = random.Random(seed)
    emails: list[str] = []
    dups = bad = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company_n = rng.randrange(max(rows // 20, 1))
            company = f"{last} {rng.choice(KINDS)} {company_n}"
            email = f"{first}.{last}.{i}@example{company_n % 50}.com".lower()
            phone = f"({rng.choice(['305', '212', '214', '213'])}) {200 + i // 10_000 % 800}-{i % 10_000:04d}"
            roll = rng.random()
            if roll < 0.02 and emails:
                email, dups = rng.choice(emails).upper(), dups + 1
            elif roll < 0.03:
                bad += 1
                if rng.random() < 0.5:
                    email = email.replace("@", " at ")
                else:
                    phone = "12"
            else:
                emails.append(email)
            out.writerow([first, last, rng.choice(["Owner", "CEO", "CFO", ""]), company, email, phone, "",
                          rng.choice(["Web", "Referral", "Cold Call"]), "Open", rng.choice(KINDS),
                          rng.choice(["FL", "NY", "TX", "CA"]), rng.choice(["false"] * 9 + ["true"]),
                          rng.choice(["false"] * 19 + ["true"]), f"2024-0{1 + i % 9}-1{i % 9}",
                          f"www.{last.lower()}{company_n}.example"])  # fmt: skip
    return {"rows": rows, "duplicates": dups, "bad": bad}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float, dict[str, object]]:
    """Wall time, CPU time (the box is shared: CPU seconds say what the import costs, wall says what a person
    waited) and the command's JSON summary."""
    started, cpu = time.perf_counter(), _cpu()
    done = subprocess.run([HARMONIA, *args], capture_output=True, text=True, env=env, timeout=3600)
    elapsed = time.perf_counter() - started
    cpu = _cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"harmonia {' '.join(args)} failed: {done.stderr[-2000:]}")
    return elapsed, cpu, json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", help="for postgresql: an empty database (migrations run first)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="harmonia-bench-imports-") as folder:
        work = Path(folder)
        csv_path = work / "salesforce-leads.csv"
        shape = generate(csv_path, opts.rows)
        url = opts.database_url or f"sqlite:///{work / 'bench.db'}"
        env = dict(os.environ, HARMONIA_DATABASE_URL=url, HARMONIA_UPLOAD_DIR=str(work / "uploads"))
        subprocess.run([HARMONIA, "db", "upgrade"], env=env, check=True, capture_output=True)
        made = subprocess.run([HARMONIA, "tenants", "create", "Bench Imports", "--owner-email", "o@bench.example"],
                              env=env, check=True, capture_output=True, text=True)  # fmt: skip
        slug = made.stdout.strip().splitlines()[-1]
        base = ["import", "contacts", str(csv_path), "--tenant", slug, "--preset", "salesforce", "--json"]
        dry_s, dry_cpu, dry = _run([*base, "--dry-run"], env)
        dry_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        run_s, run_cpu, run = _run(base, env)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        figures = {
            "backend": opts.backend, **shape, "file_mb": round(csv_path.stat().st_size / 1e6, 1),
            "dry_run_s": round(dry_s, 1), "dry_run_cpu_s": round(dry_cpu, 1), "import_s": round(run_s, 1),
            "import_cpu_s": round(run_cpu, 1), "rows_per_s": round(opts.rows / run_s),
            "rows_per_cpu_s": round(opts.rows / run_cpu),
            "peak_rss_mb": round(max(rss, dry_rss)),
            "result": {k: run[k] for k in ("created", "updated", "skipped", "failed")},
            "dry_run": {k: dry[k] for k in ("created", "updated", "skipped", "failed")},
        }  # fmt: skip
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
