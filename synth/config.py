"""synth configuration: frozen pydantic models, loaded from YAML, overridden by flags.

The API key is never part of the configuration: only the name of the
environment variable that holds it (``api_key_env``), so a config dump in a
manifest cannot leak it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from schemas.frozen import Frozen
from schemas.overrides import OverrideError, set_dotted


class SynthConfigError(ValueError):
    """A bad configuration value: shown to the user as one line."""


class Price(Frozen):
    """What one model costs, in the ledger's currency (USD by convention) per million tokens."""

    input_per_mtok: float = Field(0.0, ge=0, description="Price of a million prompt tokens.")
    output_per_mtok: float = Field(0.0, ge=0, description="Price of a million completion tokens.")


class EmbeddedConfig(Frozen):
    """The local OpenAI-compatible server that synth starts when no endpoint is configured."""

    server: Literal["curatekit", "transformers"] = Field(
        "curatekit", description="'curatekit': synth's own server (transformers + llguidance grammar-constrained "
                                 "decoding; enforces response_format json_schema); 'transformers': "
                                 "`transformers serve` (ignores the schema).")
    model_dir: str | None = Field(None, description="Local HF model folder to serve (default: the provisioned "
                                                    "embedded SmolLM2-135M-Instruct).")
    threads: int = Field(1, ge=1, le=256, description="Torch CPU threads of the server (OMP_NUM_THREADS). One "
                                                      "thread is ~10x faster than two on a busy 2-core machine.")
    startup_timeout_s: float = Field(240.0, gt=0, description="How long to wait for /health and the first answer.")
    timeout_s: float = Field(300.0, gt=0, description="Per-request timeout against the embedded server (CPU "
                                                      "generation is slow).")
    max_in_flight: int = Field(2, ge=1, description="Requests in flight against the embedded server (it "
                                                    "generates one at a time).")
    sample_via_generation_config: bool = Field(
        True, description="transformers serve ignores temperature unless do_sample is set in a "
                          "`generation_config` body field; send it when temperature > 0.")


class ClientConfig(Frozen):
    """How synth talks to an OpenAI-compatible endpoint."""

    base_url: str | None = Field(None, description="Endpoint, e.g. https://api.openai.com/v1 or "
                                                   "http://localhost:8000/v1. Default: $OPENAI_BASE_URL, else "
                                                   "the embedded local server.")
    model: str | None = Field(None, description="Model name at the endpoint. Default: $SYNTH_MODEL. With the "
                                                "embedded server: a local model folder to serve instead.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (the key "
                                                           "itself is never stored in config or manifests).")
    max_in_flight: int = Field(8, ge=1, le=4096, description="Requests in flight at once (asyncio.Semaphore).")
    requests_per_minute: float | None = Field(None, gt=0, description="Client-side request rate limit.")
    tokens_per_minute: float | None = Field(None, gt=0, description="Client-side token rate limit (prompt "
                                                                    "estimate + max_tokens per request).")
    rate_burst_s: float = Field(1.0, gt=0, description="Seconds of rate limit that may be spent at once.")
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout (each attempt).")
    max_retries: int = Field(5, ge=0, le=50, description="Retries after the first attempt on 429, 5xx, "
                                                         "connection errors, timeouts and malformed bodies.")
    backoff_base_s: float = Field(0.5, ge=0, description="First backoff; doubles every retry (with jitter).")
    backoff_max_s: float = Field(30.0, ge=0, description="Largest backoff between two attempts.")
    max_retry_after_s: float = Field(120.0, ge=0, description="Cap on a server's Retry-After.")
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="Body field for the output limit (OpenAI's reasoning models want "
                                  "max_completion_tokens).")
    response_format: Literal["auto", "json_schema", "json_object", "none"] = Field(
        "auto", description="What requests that expect JSON carry: 'auto' = the reply's JSON schema "
                            "(structured outputs, strict), stepping down to json_object and then to the prompt "
                            "alone when the endpoint refuses or ignores it (remembered per model); or one fixed "
                            "mode. Output is parsed and validated either way.")
    json_mode: bool = Field(False, description="Older switch: the same as response_format=json_object (used "
                                               "only while response_format is 'auto').")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="Extra JSON fields sent with every "
                                                                          "request (part of the cache key).")
    send_seed: bool = Field(True, description="Send a per-request seed (reproducible sampling where supported; "
                                              "it also tells sampled candidates apart in the cache key).")
    prices: dict[str, Price] = Field(default_factory=dict, description="Price table by model name; '*' is the "
                                                                       "fallback; unknown models cost 0.")
    budget: float | None = Field(None, gt=0, description="Stop before a request whose estimated cost would "
                                                         "take the run's spend over this.")
    chars_per_token: float = Field(3.0, gt=0, description="For estimates before a request (budget, token rate): "
                                                         "low on purpose, so estimates err high.")
    http_transport: Literal["auto", "httpx", "lean"] = Field(
        "auto", description="HTTP layer under the openai SDK: 'auto' = synth's lean keep-alive transport for "
                            "plain http:// endpoints without a proxy (several times less CPU per request), "
                            "httpx otherwise.")
    cache_path: str | None = Field(None, description="sqlite request cache (default: synth_cache.sqlite next "
                                                     "to the output).")
    cache: bool = Field(True, description="Use the persistent request cache.")
    embedded: EmbeddedConfig = EmbeddedConfig()

    @property
    def response_format_mode(self) -> str:
        """The configured response_format mode, with the older json_mode switch folded in."""
        return "json_object" if self.json_mode and self.response_format == "auto" else self.response_format


class EvolveConfig(Frozen):
    """Evol-Instruct style rewriting of generated questions, as its own step."""

    enabled: bool = Field(False, description="Run the evolution step.")
    rounds: int = Field(1, ge=1, le=5, description="Rewrites per question.")
    operations: list[str] = Field(default_factory=lambda: ["deepen", "add_constraints", "concretise"],
                                  description="Operations to draw from (deterministically per item).")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(160, ge=8)

    @model_validator(mode="after")
    def _known_ops(self) -> "EvolveConfig":
        from synth.prompts import EVOLVE_OPERATIONS

        bad = [op for op in self.operations if op not in EVOLVE_OPERATIONS]
        if bad or not self.operations:
            raise ValueError(f"unknown evolve operation(s) {bad}; choose from {sorted(EVOLVE_OPERATIONS)}")
        return self


class JudgeConfig(Frozen):
    """Rubric judge of generated SFT examples (correctness, helpfulness, format; 1-5 each)."""

    enabled: bool = Field(True, description="Judge generated examples.")
    model: str | None = Field(None, description="Judge model (default: the generation model).")
    min_score: float = Field(3.0, ge=1, le=5, description="Reject (synth.low_score) when the mean rubric "
                                                          "score is below this.")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(160, ge=8)


class CurateStepsConfig(Frozen):
    """Curation steps the generated examples pass before they count."""

    enabled: bool = Field(True, description="Run normalize, exact and near dedup, quality and decontamination.")
    eval_files: list[str] = Field(default_factory=list, description="Eval sets (JSONL, any format) that "
                                                                    "generated data must not overlap.")
    normalize: dict[str, Any] = Field(default_factory=dict, description="curate NormalizeConfig fields.")
    exact_dedup: dict[str, Any] = Field(default_factory=dict, description="curate ExactDedupConfig fields.")
    near_dedup: dict[str, Any] = Field(default_factory=dict, description="curate NearDedupConfig fields.")
    quality: dict[str, Any] = Field(default_factory=dict, description="curate QualityConfig fields.")
    decontam: dict[str, Any] = Field(default_factory=dict, description="curate DecontamConfig fields.")


class GenerateConfig(Frozen):
    """Seed topics -> user prompts -> expert answers -> judge -> curation."""

    per_topic: int = Field(2, ge=1, le=100000, description="Examples per topic.")
    seed: int = Field(0, description="Seed of persona / task / difficulty choice and request seeds.")
    question_temperature: float = Field(0.9, ge=0, le=2)
    answer_temperature: float = Field(0.3, ge=0, le=2)
    question_max_tokens: int = Field(120, ge=8)
    answer_max_tokens: int = Field(400, ge=8)
    repair: bool = Field(True, description="One repair request when output does not parse or validate.")
    evolve: EvolveConfig = EvolveConfig()
    judge: JudgeConfig = JudgeConfig()
    curate: CurateStepsConfig = CurateStepsConfig()


class PairJudgeConfig(Frozen):
    """Pairwise judge of preference candidates; every pair is judged in both orders."""

    model: str | None = Field(None, description="Judge model (default: the generation model).")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(160, ge=8)


class KTOConfig(Frozen):
    """Unpaired good/bad rows from the same judge scores (1-10 scale)."""

    good_min: float = Field(7.0, ge=1, le=10, description="Score at or above which a candidate is 'good'.")
    bad_max: float = Field(4.0, ge=1, le=10, description="Score at or below which a candidate is 'bad'.")


class PrefsConfig(Frozen):
    """Prompts -> K candidates -> pairwise judge in both orders -> DPO pairs."""

    candidates: int = Field(4, ge=1, le=16, description="Candidates per prompt (K).")
    temperatures: list[float] = Field(default_factory=lambda: [0.2, 0.7, 1.0, 1.2], min_length=1,
                                      description="Candidate j samples at temperatures[j % len].")
    weak_model: str | None = Field(None, description="A second, weaker model for some candidates.")
    weak_candidates: int = Field(0, ge=0, description="How many of the K candidates come from weak_model.")
    max_tokens: int = Field(400, ge=8)
    drop_truncated: bool = Field(True, description="Drop candidates cut off by max_tokens.")
    min_margin: float = Field(1.0, gt=0, description="Least score gap (1-10 scale) between chosen and "
                                                      "rejected; smaller gaps are synth.low_margin rejects.")
    pairs_per_prompt: int = Field(1, ge=1, le=16, description="Best vs worst, then best vs next-worst, ...")
    seed: int = 0
    judge: PairJudgeConfig = PairJudgeConfig()
    kto: KTOConfig = KTOConfig()

    @model_validator(mode="after")
    def _weak(self) -> "PrefsConfig":
        if self.weak_candidates and not self.weak_model:
            raise ValueError("weak_candidates needs weak_model")
        if self.weak_candidates > self.candidates:
            raise ValueError("weak_candidates is more than candidates")
        return self


class ImportConfig(Frozen):
    """CSV chosen/rejected (or ranked) preference data."""

    prompt_col: str = "prompt"
    chosen_col: str = "chosen"
    rejected_col: str = "rejected"
    system_col: str = "system"
    id_col: str = "id"
    response_col: str = Field("response", description="Ranked form: the response column.")
    rank_col: str | None = Field(None, description="Ranked form: rows with the same prompt, lowest rank best.")


class SynthConfig(Frozen):
    client: ClientConfig = ClientConfig()
    generate: GenerateConfig = GenerateConfig()
    prefs: PrefsConfig = PrefsConfig()
    import_prefs: ImportConfig = ImportConfig()


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    if dotted.startswith("client.prices.") and len(parts) > 3:  # model names may contain dots (gpt-4.1)
        parts = parts[:2] + [".".join(parts[2:])]
    try:
        set_dotted(data, parts, value)
    except OverrideError as e:
        raise SynthConfigError(f"--set {dotted}: {e}") from None


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> SynthConfig:
    """Load YAML (optional), apply dotted overrides (``client.max_in_flight: 16``), validate.

    Raises :class:`SynthConfigError` with a one-line message on any problem.
    """
    import yaml

    data: dict[str, Any] = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise SynthConfigError(f"{p}: config file not found")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{p}:{mark.line + 1}" if mark else str(p)
            raise SynthConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
        if not isinstance(data, dict):
            raise SynthConfigError(f"{p}: expected a mapping at the top level")
    for k, v in (overrides or {}).items():
        _set_dotted(data, k, v)
    try:
        return SynthConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        loc = ".".join(str(x) for x in err["loc"])
        where = f"{path}: " if path else ""
        raise SynthConfigError(f"{where}config {loc}: {err['msg']}") from None
