"""`python -m curate rejects RUN_DIR`: look at what a run rejected, from the user's own input files.

Nothing new is stored by a run for this: rejects.jsonl names each reject's
source file and line, so the conversation is re-read from the input (re-ingested
with the run's own ingest config). The detail is made concrete: a duplicate
shows the record it matched, a decontamination reject the span it shares and the
val/test record that holds it. A reject from a step after PII scrubbing is shown
scrubbed (the scrubber runs again on it) unless ``--raw``.
"""
from __future__ import annotations

import argparse
import json
import re
import textwrap
from pathlib import Path

from curate.console import UserError

MATCHED = re.compile(r"(?:near-)?duplicate of (?P<id>\S+)")
WORD = re.compile(r"\w+")


def add_rejects(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rejects", help="show rejected conversations of a run (re-read from its input files)",
                       description="Show what a run rejected and why: each conversation is re-read from the "
                                   "input file and line named in RUN_DIR/rejects.jsonl (nothing else is stored).",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a curate run directory")
    p.add_argument("--reason", help="only this reason, or reasons starting with it (e.g. 'dedup' or "
                                    "'quality.too_short')")
    p.add_argument("-n", type=int, default=5, help="how many rejects to show (0: all)")
    p.add_argument("--width", type=int, default=400, help="characters shown per turn (0: all)")
    p.add_argument("--raw", action="store_true", help="show text as in the input even when the reject came "
                                                      "after PII scrubbing")
    p.set_defaults(func=rejects_cli)


def rejects_cli(args: argparse.Namespace) -> int:
    run = Path(args.run_dir)
    manifest, rows = _load(run)
    if args.reason:
        rows = [r for r in rows if r["reason"] == args.reason or r["reason"].startswith(args.reason.rstrip(".") + ".")]
        if not rows:
            raise UserError(f"{run}/rejects.jsonl: no reject with reason {args.reason!r}; "
                            f"reasons there: {', '.join(sorted(_reasons(run)))}", 1)
    total = len(rows)
    rows = rows[: args.n] if args.n else rows
    view = RejectView(run, manifest, scrub=not args.raw)
    for r in rows:
        print(view.render(r, args.width))
    print(f"{len(rows)} of {total} reject(s) shown" + (f" (-n 0 shows all)" if len(rows) < total else ""))
    return 0


def _load(run: Path) -> tuple[dict, list[dict]]:
    mpath, rpath = run / "manifest.json", run / "rejects.jsonl"
    if not mpath.is_file() or not rpath.is_file():
        raise UserError(f"{run}: not a finished curate run (no manifest.json or rejects.jsonl)", 2)
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    return manifest, [json.loads(x) for x in rpath.read_text(encoding="utf-8").splitlines() if x.strip()]


def _reasons(run: Path) -> set[str]:
    return {r["reason"] for r in _load(run)[1]}


class RejectView:
    """Re-reads input files on demand (once each) and renders one reject at a time."""

    def __init__(self, run: Path, manifest: dict, scrub: bool = True):
        from curate.config import IngestConfig

        self.run, self.manifest = run, manifest
        self.cfg = IngestConfig(**manifest["config"].get("ingest", {}))
        self.hashes = {i["path"]: i["sha256"] for i in manifest["inputs"]}
        steps = [s["step"] for s in manifest["steps"]]
        self.after_pii = set(steps[steps.index("pii") + 1:]) if "pii" in steps and scrub else set()
        self.pii_cfg = manifest["config"].get("pii", {})
        self._records: dict[str, dict] = {}  # source -> {"by_line": {...}, "by_id": {...}}
        self._scrubber = None
        self._outputs: list[dict] | None = None

    def render(self, r: dict, width: int) -> str:
        where = f"{r['source']}:{r['line']}" if r.get("line") else r["source"]
        out = [f"── {r['id']}  {r['reason']}  ({r['step']})  {where}", f"   {r['detail']}"]
        rec, note = self._record(r)
        if note:
            out.append(f"   ({note})")
        if rec is not None:
            if r["step"] in self.after_pii:
                rec = self._scrubbed(rec)
                out.append("   (shown PII-scrubbed, as the step saw it; --raw for the input text)")
            out += _turns(rec["messages"], width)
            m = MATCHED.match(r["detail"])
            if m:
                other = self._by_id(m.group("id"))
                if other is not None:
                    if r["step"] in self.after_pii:
                        other = self._scrubbed(other)
                    # the id as rejects.jsonl names it (hashed when it held PII), not the input's
                    out.append(f"   matched {m.group('id')} ({other['source']}:{other['line']}):")
                    out += _turns(other["messages"], width, indent="     ")
            if r["reason"].startswith("decontam."):
                out += self._overlap(rec)
        elif r.get("line"):
            out += _raw_lines(Path(r["source"]), r["line"], width)
        return "\n".join(out) + "\n"

    def _load_source(self, source: str) -> dict | None:
        if source not in self._records:
            from curate.ingest import Ingested, ingest_csv, ingest_jsonl, ingest_text

            path = Path(source)
            if not path.is_file():
                self._records[source] = None
                return None
            ing = Ingested()
            name = path.name
            fn = ingest_text if name.endswith(".txt") else ingest_csv if ".csv" in name else ingest_jsonl
            fn(path, self.cfg, ing)
            recs = [{"id": x.id, "source": x.source, "line": x.line,
                     "messages": [{"role": m.role, "content": m.content} for m in x.messages]} for x in ing.records]
            from curate.pii_step import stable_hash_id

            by_id: dict[str, dict] = {}
            for x in recs:  # a repeated id is the later copy (the run renamed it): keep the first
                by_id.setdefault(x["id"], x)
            for x in recs:  # ids that held PII are named by their hash in rejects.jsonl
                by_id.setdefault(stable_hash_id(x["id"]), x)
            self._records[source] = {"by_line": {x["line"]: x for x in recs}, "by_id": by_id,
                                     "changed": self._changed(source, path)}
        return self._records[source]

    def _changed(self, source: str, path: Path) -> bool:
        from schemas.hashing import file_sha256

        want = self.hashes.get(source)
        return want is not None and file_sha256(path) != want

    def _record(self, r: dict) -> tuple[dict | None, str | None]:
        src = self._load_source(r["source"]) if r.get("source") else None
        if src is None:
            return None, (f"cannot read {r['source']}: run this from the folder the run was started in"
                          if r.get("source") else "no source file")
        note = "the input file changed since the run" if src["changed"] else None
        return src["by_line"].get(r["line"]), note

    def _by_id(self, rid: str) -> dict | None:
        for src in list(self._records.values()):
            if src and rid in src["by_id"]:
                return src["by_id"][rid]
        for i in self.manifest["inputs"]:
            src = self._load_source(i["path"])
            if src and rid in src["by_id"]:
                return src["by_id"][rid]
        return None

    def _scrubbed(self, rec: dict) -> dict:
        from curate.frame import records_to_frame
        from curate.pii_step import PiiStepConfig, scrub_pii
        from schemas.record import Record

        frame = records_to_frame([Record(id=rec["id"], source=rec["source"], line=rec["line"], group=rec["id"],
                                         messages=rec["messages"])])
        res = scrub_pii(frame, PiiStepConfig(**self.pii_cfg))
        kept = res.kept.to_dicts()
        if not kept:
            return {**rec, "messages": [{"role": "system", "content": "[rejected by the PII step when re-scrubbed]"}]}
        return {**rec, "messages": [{"role": m["role"], "content": m["content"]} for m in kept[0]["messages"]]}

    def _overlap(self, rec: dict) -> list[str]:
        """The rarest word n-gram the record shares with a val/test record (what decontamination saw)."""
        n = int(self.manifest["leak_checks"].get("ngram") or self.manifest["config"]["decontam"]["ngram"])
        grams = _ngrams(" ".join(m["content"] for m in rec["messages"]), n)
        if self._outputs is None:
            fmt = next((o["format"] for o in self.manifest["outputs"] if o.get("format")), "chatml")
            self._outputs = []
            for split in ("val", "test", "train"):
                p = self.run / f"{split}.{fmt}.jsonl"
                for line in (p.read_text(encoding="utf-8").splitlines() if p.is_file() else []):
                    row = json.loads(line)
                    self._outputs.append({"id": row["id"], "split": split, "grams": _ngrams(_row_text(row), n)})
            for f in self.manifest["config"].get("decontam", {}).get("eval_files", []):
                self._outputs += self._eval_grams(Path(f), n)
        freq: dict[tuple, int] = {}
        for o in self._outputs:
            for g in grams & o["grams"]:
                freq[g] = freq.get(g, 0) + 1
        hits = [(freq[g], g, o) for o in self._outputs if o["split"] != "train" for g in grams & o["grams"]]
        if not hits:
            return ["   (no shared span with the exported val/test files or the eval files: it overlapped a record "
                    "removed later)"]
        _, g, o = min(hits, key=lambda h: (h[0], h[1]))
        return [f"   shares \"{' '.join(g)}\" with {o['id']} ({o['split']})"]


    @staticmethod
    def _eval_grams(path: Path, n: int) -> list[dict]:
        """The n-grams of each record of a user-named eval file (``--eval-file``), labelled by file and line."""
        from curate.run import eval_file_texts

        if not path.is_file():
            return []
        return [{"id": f"{path.name}:{line}", "split": "eval file", "grams": _ngrams(text, n)}
                for line, text in eval_file_texts(path)]


def _ngrams(text: str, n: int) -> set[tuple]:
    words = WORD.findall(text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _row_text(row: dict) -> str:
    if "messages" in row:
        return " ".join(m["content"] for m in row["messages"])
    if "conversations" in row:
        return " ".join(t["value"] for t in row["conversations"])
    return " ".join(str(v) for k, v in row.items() if k not in ("id", "meta"))


def _clip(text: str, width: int) -> str:
    return text if not width or len(text) <= width else text[:width] + f"… [+{len(text) - width} chars]"


def _turns(messages: list[dict], width: int, indent: str = "   ") -> list[str]:
    out = []
    for m in messages:
        body = textwrap.indent(_clip(m["content"], width), indent + "    ").lstrip()
        out.append(f"{indent}{m['role']:>9}: {body}")
    return out


def _raw_lines(path: Path, line: int, width: int, context: int = 3) -> list[str]:
    """The input lines themselves, for rejects that never became a record (bad JSON, no speakers)."""
    if not path.is_file():
        return []
    from schemas.jsonl import open_binary

    with open_binary(path) as f:
        lines = f.read().decode("utf-8", errors="replace").splitlines()
    one_line = path.name.endswith((".jsonl", ".jsonl.gz", ".ndjson"))
    end = line if one_line else min(len(lines), line - 1 + context + 3)
    return [f"   {i:>5}| {_clip(lines[i - 1], width)}" for i in range(line, end + 1) if i - 1 < len(lines)]

