"""Data intake: a curate/synth run directory, checked against its manifest before any training.

Training refuses, with one line, when the manifest is missing or does not
validate, when the run is marked failed (a leak check failed), when a split file's bytes or sha256 differ from the manifest, or when
a file does not validate against its format (schemas.validate does the
validation; nothing is re-checked by hand here). The train and val splits are
loaded for training and evaluation; the test split's records are read only by
`RunData.load("test")`, which the trainer calls once, in the final evaluation.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from schemas.convert import convert
from schemas.hashing import file_sha256
from schemas.manifest import FileEntry, Manifest
from schemas.validate import validate_file

SPLITS = ("train", "val", "test")
# Formats an SFT run can read, best first (chatml is the canonical one; the others convert losslessly).
SFT_FORMATS = ("chatml", "sharegpt", "alpaca")
DPO_FORMATS = ("dpo",)


class IntakeError(ValueError):
    """The data cannot be trained on; the message is one line that says what, where and how to fix."""


@dataclass
class RunData:
    """A verified run directory: the manifest, its sha256, and the split file chosen per split."""

    dir: Path
    task: str
    manifest: Manifest
    manifest_sha256: str
    files: dict[str, FileEntry]
    formats: dict[str, str]
    loaded: list[str] = field(default_factory=list)  # splits whose records were read, in order

    def path(self, split: str) -> Path:
        return self.dir / self.files[split].path

    def has(self, split: str) -> bool:
        return split in self.files and (self.files[split].records or 0) > 0

    def load(self, split: str) -> list[dict]:
        """Validated records of a split, as chatml ``{"messages": ...}`` (SFT) or
        conversational ``{"prompt", "chosen", "rejected"}`` (DPO), each with ``_line``."""
        if split not in self.files:
            return []
        entry = self.files[split]
        path = self.dir / entry.path
        _verify_entry(self.dir, entry)  # again: the file may have changed since the run started
        records: list[dict] = []

        def keep(line: int, obj: dict, fmt: str) -> None:
            records.append(_normalise(obj, fmt, self.task, line))

        report = validate_file(path, self.formats[split], on_valid=keep)
        if report.invalid:
            p = report.problems[0]
            more = f" ({report.invalid} of {report.records} records invalid)" if report.invalid > 1 else ""
            raise IntakeError(f"{p.format(str(path))}{more}; fix the data and re-run curate "
                              f"(check with: python -m curate validate {path})")
        if entry.records is not None and report.records != entry.records:
            raise IntakeError(f"{path}: has {report.records} records but manifest.json says {entry.records}; "
                              "the file and its manifest disagree, re-run curate")
        self.loaded.append(split)
        return records


def _normalise(obj: dict, fmt: str, task: str, line: int) -> dict:
    """One validated record in the shape the trainer consumes (conversion through schemas.convert)."""
    if task == "sft":
        chat = obj if fmt == "chatml" else convert(obj, fmt, "chatml")
        return {"messages": [_message(m) for m in chat["messages"]], "_line": line}
    conv = obj if isinstance(obj.get("prompt"), list) else convert(obj, "dpo", "dpo", dpo_form="conversational")
    return {"prompt": [_message(m) for m in conv["prompt"]], "chosen": [_message(m) for m in conv["chosen"]],
            "rejected": [_message(m) for m in conv["rejected"]], "_line": line}


def _message(m: dict) -> dict:
    return {k: v for k, v in m.items() if v is not None}


def _verify_entry(run_dir: Path, entry: FileEntry) -> None:
    path = (run_dir / entry.path)
    if Path(entry.path).is_absolute() or ".." in Path(entry.path).parts:
        raise IntakeError(f"{run_dir / 'manifest.json'}: output path {entry.path!r} is not inside the run directory")
    if not path.is_file():
        raise IntakeError(f"{path}: listed in manifest.json but missing; re-run curate or restore the file")
    size = path.stat().st_size
    if size != entry.bytes or file_sha256(path) != entry.sha256:
        raise IntakeError(f"{path}: sha256 does not match manifest.json (the file changed after the run wrote it); "
                          "re-run curate or restore the file")


def open_run(data_dir: str | Path, task: str = "sft", expect_manifest_sha256: str | None = None) -> RunData:
    """Check a run directory and pick the split files for `task` ('sft' or 'dpo').

    Verifies the manifest and the bytes and sha256 of every split file it will
    use (train, val and test), but reads no records.
    """
    run_dir = Path(data_dir)
    if not run_dir.is_dir():
        raise IntakeError(f"{run_dir}: not a directory; pass the --out directory of `python -m curate run`")
    mpath = run_dir / "manifest.json"
    if not mpath.is_file():
        raise IntakeError(f"{mpath} is missing: train only reads a finished curate/synth run directory "
                          "(python -m curate run INPUT --out DIR writes it last)")
    raw = mpath.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise IntakeError(f"{mpath}: not valid JSON ({e}); the run did not finish, re-run curate") from None
    try:
        manifest = Manifest.model_validate(obj)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err.get("loc", ()))
        raise IntakeError(f"{mpath}: does not validate as a run manifest ({loc}: {err['msg']}); "
                          "re-run curate") from None
    if manifest.status == "failed" or manifest.leak_checks.get("passed") is False:
        why = manifest.failures[0] if manifest.failures else "leak checks failed (manifest.json leak_checks)"
        raise IntakeError(f"{mpath}: the run is marked failed, not for training: {why}; re-run curate after the fix")
    if expect_manifest_sha256 and digest != expect_manifest_sha256:
        raise IntakeError(f"{mpath}: sha256 {digest[:12]}... differs from the run config's data_manifest_sha256 "
                          f"{expect_manifest_sha256[:12]}...: this is not the data the run was made from")

    formats = SFT_FORMATS if task == "sft" else DPO_FORMATS
    by_name = {Path(e.path).name: e for e in manifest.outputs}
    files: dict[str, FileEntry] = {}
    chosen_fmt = ""
    for fmt in formats:
        found = {s: by_name.get(f"{s}.{fmt}.jsonl") or by_name.get(f"{s}.{fmt}.jsonl.gz") for s in SPLITS}
        if found["train"] is not None:
            files = {s: e for s, e in found.items() if e is not None}
            chosen_fmt = fmt
            break
    if not files:
        names = ", ".join(sorted(by_name)) or "none"
        want = " or ".join(f"train.{f}.jsonl" for f in formats)
        raise IntakeError(f"{mpath}: lists no {want} for a {task} run (outputs: {names}); "
                          + ("export chatml with curate" if task == "sft" else "produce DPO pairs with synth"))
    for entry in files.values():
        if entry.format not in (None, chosen_fmt):
            raise IntakeError(f"{mpath}: {entry.path} is listed with format {entry.format!r}, "
                              f"but its name says {chosen_fmt}")
        _verify_entry(run_dir, entry)
    if not files["train"].records:
        raise IntakeError(f"{run_dir / files['train'].path}: the train split is empty; nothing to train on")
    return RunData(run_dir.resolve(), task, manifest, digest, files, {s: chosen_fmt for s in files})
