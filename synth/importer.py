"""Import existing preference data (human chosen/rejected or rankings) from CSV into DPO JSONL.

Two shapes:

- pairwise: one row per pair, columns ``prompt, chosen, rejected`` (optional
  ``system`` and ``id``). Each row is one input.
- ranked (``rank_col`` set): one row per response, columns ``prompt,
  response, rank`` (lower rank is better). Rows with the same prompt (and
  system) form one input, which becomes one pair: best vs worst rank.

Every input ends as a DPO row or a reject: ``synth.missing_field``,
``synth.invalid_rank``, ``synth.identical_texts``, ``synth.tie``,
``synth.one_candidate``, ``synth.duplicate``, ``synth.schema_invalid``.
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path
from typing import Any

from schemas.validate import validate_object
from synth.config import ImportConfig
from synth.errors import SynthUserError
from synth.report import RunWriter, reject_row

STEP = "synth_import"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if not path.is_file():
        raise SynthUserError(f"{path}: CSV file not found")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            out = []
            start = 2
            for row in reader:
                out.append((start, {k: (v or "") for k, v in row.items() if k is not None}))
                start = reader.line_num + 1
    except UnicodeDecodeError as e:
        raise SynthUserError(f"{path}: not UTF-8 (byte at {e.start}); re-encode it, e.g. iconv -f latin1 -t utf-8") \
            from None
    except csv.Error as e:
        raise SynthUserError(f"{path}: not valid CSV ({e})") from None
    return header, out


def _prompt(system: str, prompt: str) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system.strip() else []) + [{"role": "user", "content": prompt}]


def _pair(rid: str, system: str, prompt: str, chosen: str, rejected: str, meta: dict[str, Any]) -> dict[str, Any]:
    return {"id": rid, "prompt": _prompt(system, prompt), "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}], "meta": {"provenance": "real", **meta}}


def import_csv(path: str | Path, cfg: ImportConfig) -> tuple[list[dict], list[dict], int]:
    """Return (DPO rows, rejects, number of inputs)."""
    path = Path(path)
    header, rows = _rows(path)
    need = [cfg.prompt_col] + ([cfg.response_col, cfg.rank_col] if cfg.rank_col else [cfg.chosen_col, cfg.rejected_col])
    missing = [c for c in need if c not in header]
    if missing:
        raise SynthUserError(f"{path}: missing column(s) {missing}; the header has {header} "
                             "(name columns with --prompt-col/--chosen-col/--rejected-col or --rank-col/--response-col)")
    src = str(path)
    out: list[dict] = []
    rejects: list[dict] = []
    seen: set[tuple[str, str, str, str]] = set()

    def emit(rid: str, line: int, system: str, prompt: str, chosen: str, rejected: str, meta: dict) -> None:
        key = (_norm(system), _norm(prompt), _norm(chosen), _norm(rejected))
        if _norm(chosen) == _norm(rejected):
            rejects.append(reject_row(rid, STEP, "identical_texts", "chosen and rejected are the same text", src, line))
            return
        if key in seen:
            rejects.append(reject_row(rid, STEP, "duplicate", "the same prompt, chosen and rejected as an earlier row",
                                      src, line))
            return
        row = _pair(rid, system, prompt, chosen.strip(), rejected.strip(), meta)
        problem = validate_object(row, "dpo")
        if problem is not None:
            rejects.append(reject_row(rid, STEP, "schema_invalid", f"{problem.field}: {problem.message}", src, line))
            return
        seen.add(key)
        out.append(row)

    ids: set[str] = set()

    def rid_of(row: dict[str, str], line: int) -> str:
        rid = row.get(cfg.id_col, "").strip() or f"{path.stem}:{line}"
        if rid in ids:
            rid = f"{rid}@{line}"
        ids.add(rid)
        return rid

    if not cfg.rank_col:
        for line, row in rows:
            rid = rid_of(row, line)
            empty = [c for c in (cfg.prompt_col, cfg.chosen_col, cfg.rejected_col) if not row.get(c, "").strip()]
            if empty:
                rejects.append(reject_row(rid, STEP, "missing_field", f"empty column(s) {empty}", src, line))
                continue
            emit(rid, line, row.get(cfg.system_col, ""), row[cfg.prompt_col].strip(), row[cfg.chosen_col],
                 row[cfg.rejected_col], {"source": "import", "line": line})
        return out, rejects, len(rows)

    groups: dict[tuple[str, str], list[tuple[int, float, dict[str, str]]]] = {}
    n_in = 0
    for line, row in rows:
        empty = [c for c in (cfg.prompt_col, cfg.response_col, cfg.rank_col) if not row.get(c, "").strip()]
        if empty:
            n_in += 1
            rejects.append(reject_row(rid_of(row, line), STEP, "missing_field", f"empty column(s) {empty}", src, line))
            continue
        try:
            rank = float(row[cfg.rank_col])
        except ValueError:
            n_in += 1
            rejects.append(reject_row(rid_of(row, line), STEP, "invalid_rank", f"{cfg.rank_col} is not a number",
                                      src, line))
            continue
        key = (row.get(cfg.system_col, "").strip(), row[cfg.prompt_col].strip())
        groups.setdefault(key, []).append((line, rank, row))
    for (system, prompt), members in groups.items():
        n_in += 1
        first = members[0][0]
        rid = rid_of(members[0][2], first)
        if len(members) < 2:
            rejects.append(reject_row(rid, STEP, "one_candidate", "only one ranked response for this prompt", src, first))
            continue
        ranked = sorted(members, key=lambda m: (m[1], m[0]))
        best, worst = ranked[0], ranked[-1]
        if best[1] == worst[1]:
            rejects.append(reject_row(rid, STEP, "tie", f"all {len(members)} responses have rank {best[1]:g}", src, first))
            continue
        emit(rid, first, system, prompt, best[2][cfg.response_col], worst[2][cfg.response_col],
             {"source": "import", "lines": [m[0] for m in members], "chosen_rank": best[1], "rejected_rank": worst[1]})
    return out, rejects, n_in


def run_import(path: str | Path, out: str | Path, cfg: ImportConfig, argv: list[str] | None = None) -> dict[str, Any]:
    """The ``import-prefs`` command: write DPO JSONL, rejects and a manifest next to ``out``."""
    out = Path(out)
    writer = RunWriter("import-prefs", out, argv)
    rows, rejects, n_in = import_csv(path, cfg)
    return writer.write(rows, rejects, fmt="dpo", n_in=n_in, inputs=[Path(path)],
                        config={"import_prefs": cfg.model_dump(mode="json")}, endpoint=None, ledger=None,
                        steps=[{"step": STEP, "n_in": n_in, "n_kept": len(rows), "n_rejected": len(rejects),
                                "reasons": dict(sorted(Counter(r["reason"] for r in rejects).items())),
                                "stats": {}}])
