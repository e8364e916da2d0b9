"""Loading a verified artifact and generating creatives with it.

Training evaluates through this class too, so the artifact is written and read by one piece of code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from training.ml.artifact import verify_artifact
from training.ml.budget import FieldBudget, piece_widths
from training.ml.channels import DEFAULT_CHANNEL, channel_get
from training.ml.fact_guard import FactGuard, FactVocabularyIndex, token_pieces
from training.ml.formatting import (
    OUTPUT_FIELDS,
    Erasures,
    Slots,
    SpecialIds,
    creative_from_tokens,
    encode_prompt,
    source_text,
)
from training.ml.metrics import FactChecker
from training.ml.modeling import parameter_count, resolve_device
from training.ml.number_guard import NumberGuard
from training.ml.tokenizer import TONES, load_tokenizer

MAX_NEW_TOKENS_LIMIT = 512
# From this many rows (items x variants) a call is compute-bound and may use `batch_threads`.
BATCH_THREADS_MIN_ROWS = 8
# Finished rows leave the batch once at least 1 in this many has finished: every time one finishes in
# a batch of up to 32 rows (the cache copy is cheaper than a row's further steps); in larger batches
# a few at a time. (This is the value the README's batch figures were measured with.)
PRUNE_EVERY_FINISHED_OF = 32


@dataclass(frozen=True)
class GenerationRequest:
    """One caller's items and options, as `CreativeGenerator.generate` takes them.

    Several requests can decode together in one batch (`generate_many`): rows, not requests, are
    batched, each row stops at its own request's `max_new_tokens`, and a request's sampled variants
    draw from its own random generator seeded with its `seed`, so its creatives are exactly those it
    gets when generated alone.
    """

    items: Sequence[Mapping]
    tone: str | Sequence[str]
    num_variants: int = 1
    max_new_tokens: int = 64
    seed: int | None = None
    limits: Mapping[str, int | None] | None = None  # a field's maximum display width (budget.py)
    # The channel written for (training/ml/channels.py): its token ends the prompt (for a model trained
    # with channels), and its limits hold for every output unless `limits` is given.
    channel: str = DEFAULT_CHANNEL

    @property
    def rows(self) -> int:
        return len(self.items) * self.num_variants

    @property
    def field_limits(self) -> Mapping[str, int | None]:
        """The most display columns each output may take: `limits`, else the channel's."""
        return self.limits if self.limits is not None else channel_get(self.channel).output_limits()

    def validated_tones(self) -> list[str]:
        """The tone of each item; raises ValueError naming what the model cannot read."""
        tones = _validated_tones(self.items, self.tone)
        _validate_items(self.items)
        channel_get(self.channel)  # a ValueError naming the channels there are
        if not isinstance(self.num_variants, int) or not 1 <= self.num_variants <= 16:
            raise ValueError(f"num_variants must be an integer from 1 to 16, got {self.num_variants!r}")
        if not isinstance(self.max_new_tokens, int) or not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS_LIMIT:
            raise ValueError(f"max_new_tokens must be an integer from 1 to {MAX_NEW_TOKENS_LIMIT}")
        for name, limit in (self.limits or {}).items():
            if name not in OUTPUT_FIELDS:
                raise ValueError(f"limits name unknown field {name!r}; fields: {', '.join(OUTPUT_FIELDS)}")
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
                raise ValueError(f"the limit of {name} must be a positive integer, got {limit!r}")
        return tones


class CreativeGenerator:
    """A loaded model that writes {headline, body, cta} for products in a given tone.

    Variant 1 of every item is greedy (the model's best guess, reproducible); further variants are
    sampled with nucleus sampling from a seeded generator, so they differ from it and from each other
    yet the same request (same seed) gives the same creatives. With `number_guard` (the default) a
    creative can only state numbers that occur in its product's input (see number_guard.py); with
    `fact_guard` (the default) it can only name a brand or product noun of the model's vocabulary
    (the manifest's `fact_vocabulary`) that its input names (see fact_guard.py). Whatever the
    logits, every row also keeps these rules: a slot is written only for an item that has its value,
    and is filled with the item's own brand or noun; the fields come in order (headline, body, call to action)
    so the text the guards followed is the text returned; and a row stopped by `max_new_tokens`
    loses its last, possibly cut, word. One
    instance may serve several threads: `generate` holds a lock, as the KV cache and random generator
    of a call are not shareable.

    `batch_threads`: intra-op threads for a call of at least BATCH_THREADS_MIN_ROWS rows. One row per
    step is overhead-bound (more threads only spin), but a batch is compute-bound and a second core
    makes it faster; so a server can keep one thread per worker for single predictions (no
    oversubscription) and still use an idle core for a batch.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        manifest: Mapping,
        device: str | torch.device = "cpu",
        *,
        top_p: float = 0.9,
        temperature: float = 0.8,
        max_batch_rows: int = 512,
        number_guard: bool = True,
        fact_guard: bool = True,
        feature_substitution: bool = True,
        batch_threads: int | None = None,
    ):
        self.device = resolve_device(str(device))
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.special_ids = SpecialIds.of(tokenizer)
        self._manifest = dict(manifest)
        prompt_format = self._manifest.get("prompt_format", {})
        self.max_source_tokens = int(prompt_format.get("max_source_tokens", 96))
        self.default_max_new_tokens = int(prompt_format.get("max_target_tokens", 64))
        self.top_p, self.temperature, self.max_batch_rows = top_p, temperature, max_batch_rows
        self.number_guard = number_guard
        self.feature_substitution = feature_substitution
        vocabulary = self._manifest.get("fact_vocabulary") or {}
        self.fact_checker = FactChecker(
            vocabulary.get("brands"), vocabulary.get("nouns"), vocabulary.get("features")
        )
        self._fact_index = (
            FactVocabularyIndex(self.fact_checker, vocabulary.get("materials") or ()) if fact_guard else None
        )
        pieces = token_pieces(tokenizer)
        self._pieces = pieces if self._fact_index else None
        self._piece_widths = piece_widths(pieces)  # for character budgets (budget.py)
        self._starts_word = [piece[:1].isspace() for piece in pieces]
        self._special = set(tokenizer.all_special_ids) | {
            token_id for token_id, token in tokenizer.added_tokens_decoder.items() if token.special
        }
        self.batch_threads = batch_threads
        self._banned = torch.tensor(self.special_ids.prompt_only(), device=self.device)
        self._keeps_last_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
        # Llama-style models with SDPA take a prepared boolean 4D mask as is (see `_prefill_mask`);
        # other architectures (a warm-started GPT-2, eager attention) get the plain 2D mask.
        self._prepares_masks = (
            model.config.model_type == "llama" and model.config._attn_implementation == "sdpa"
        )
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", **options) -> CreativeGenerator:
        """Verify every file against the manifest, then load model and tokenizer (never from a hub)."""
        manifest = verify_artifact(path)
        tokenizer = load_tokenizer(path)
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=torch.float32)
        return cls(model, tokenizer, manifest, device, **options)

    @property
    def manifest(self) -> dict:
        return dict(self._manifest)

    @property
    def parameter_count(self) -> int:
        return int(self._manifest.get("parameter_count") or parameter_count(self.model))

    @property
    def preset(self) -> str | None:
        return self._manifest.get("preset")

    @property
    def tones(self) -> tuple[str, ...]:
        return TONES

    def generate(
        self,
        items: Sequence[Mapping],
        tone: str | Sequence[str],
        num_variants: int = 1,
        max_new_tokens: int = 64,
        seed: int | None = None,
        limits: Mapping[str, int | None] | None = None,
        channel: str = DEFAULT_CHANNEL,
    ) -> list[list[dict]]:
        """For each item, `num_variants` creatives `{tone, headline, body, cta}` for `channel`, each
        output within the channel's limits (or within `limits` when given, see GenerationRequest).

        `tone` is one tone for all items or one per item. All items x variants decode together in one
        left-padded batch (split only beyond `max_batch_rows` rows, to bound memory).
        """
        request = GenerationRequest(items, tone, num_variants, max_new_tokens, seed, limits, channel)
        return self.generate_many([request])[0]

    def generate_many(self, requests: Sequence[GenerationRequest]) -> list[list[list[dict]]]:
        """`generate` for several requests in one batch: the rows of all of them decode together, and
        each request gets exactly what `generate` gives it alone (see GenerationRequest)."""
        checked = [(request, request.validated_tones()) for request in requests]
        prompts, sources, brands, slots, sampled, limits, streams = [], [], [], [], [], [], []
        field_limits: list[Mapping[str, int | None] | None] = []
        for stream, (request, tones) in enumerate(checked):
            for item, item_tone in zip(request.items, tones, strict=True):
                prompt = encode_prompt(
                    self.tokenizer, self.special_ids, item, item_tone, self.max_source_tokens, request.channel
                )
                prompts += [prompt] * request.num_variants
                sources += [source_text(item)] * request.num_variants
                brands += [" ".join((item.get("brand") or "").split())] * request.num_variants
                slots += [self.special_ids.slots_of(item)] * request.num_variants
                sampled += [variant > 0 for variant in range(request.num_variants)]
            limits += [request.max_new_tokens] * request.rows
            field_limits += [request.field_limits] * request.rows
            streams += [stream] * request.rows
        threads = self.batch_threads if len(prompts) >= BATCH_THREADS_MIN_ROWS else None
        with self._lock, torch.inference_mode(), _at_least_threads(threads):
            generators = [
                torch.Generator(device=self.device).manual_seed(
                    0 if request.seed is None else int(request.seed)
                )
                for request, _tones in checked
            ]
            generated: list[list[int]] = []
            erased: list[Erasures] = []
            for start in range(0, len(prompts), self.max_batch_rows):
                rows = slice(start, start + self.max_batch_rows)
                random = _RequestStreams(streams[rows], generators, self.device)
                tokens, dropped = self._decode(
                    prompts[rows], sources[rows], brands[rows], slots[rows], sampled[rows], limits[rows],
                    random, field_limits[rows],
                )  # fmt: skip
                generated += tokens
                erased += dropped
        answers, row = [], 0
        for request, tones in checked:
            creatives = [
                {
                    "tone": tones[index // request.num_variants],
                    **creative_from_tokens(
                        self.tokenizer,
                        self.special_ids,
                        tokens,
                        brands[row + index],
                        erased[row + index],
                        noun=slots[row + index].noun,
                        limits=request.field_limits,
                    ),
                }
                for index, tokens in enumerate(generated[row : row + request.rows])
            ]
            row += request.rows
            answers.append(
                [
                    creatives[index : index + request.num_variants]
                    for index in range(0, len(creatives), request.num_variants)
                ]
            )
        return answers

    def _decode(
        self,
        prompts: list[list[int]],
        sources: list[str],
        brands: list[str],
        slots: list[Slots],
        sampled: list[bool],
        max_new_tokens: list[int],
        random: _RequestStreams,
        field_limits: Sequence[Mapping[str, int | None] | None] = (),
    ) -> tuple[list[list[int]], list[Erasures]]:
        """(tokens, what the fact guard took out) per row. One forward pass per
        step for the whole batch, reusing the KV cache; rows that have written their end token leave
        the batch (see PRUNE_EVERY_FINISHED_OF), so the longest row does not make every row pay for
        its steps."""
        rows, width = len(prompts), max(map(len, prompts))
        input_ids = torch.full((rows, width), self.special_ids.pad, dtype=torch.long)
        attention_mask = torch.zeros((rows, width), dtype=torch.long)
        for row, prompt in enumerate(prompts):  # left padding: every prompt ends at the last column
            input_ids[row, width - len(prompt) :] = torch.tensor(prompt)
            attention_mask[row, width - len(prompt) :] = 1
        input_ids, attention_mask = input_ids.to(self.device), attention_mask.to(self.device)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        sample_rows = torch.tensor(sampled, device=self.device)
        row_limits = torch.tensor(max_new_tokens, device=self.device)  # each row stops at its own limit
        finished = torch.zeros(rows, dtype=torch.bool, device=self.device)
        extra = {"logits_to_keep": 1} if self._keeps_last_logits else {}
        padded = self._prepares_masks and not bool(attention_mask.all())
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=_prefill_mask(attention_mask) if padded else attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **extra,
        )
        guard = NumberGuard(self.tokenizer, sources, self.device) if self.number_guard else None
        facts = (
            FactGuard(
                self._fact_index,
                self._pieces,
                sources,
                brands,
                [self.special_ids.fills(row_slots) for row_slots in slots],
                self._special,
                substitute=self.feature_substitution,
            )
            if self._fact_index
            else None
        )
        fields = _FieldOrder(self.special_ids, slots, self.device)
        budget = FieldBudget(
            self.special_ids,
            self._piece_widths,
            self._starts_word,
            list(field_limits) or [None] * rows,
            [self.special_ids.fills(row_slots) for row_slots in slots],
            self.device,
        )
        collected: list[list[int]] = [[] for _ in range(rows)]
        active = list(range(rows))  # the prompt row of each row still in the batch
        for step in range(max(max_new_tokens)):
            logits = outputs.logits[:, -1, :].float()
            logits[:, self._banned] = -math.inf
            fields.mask(logits)
            if guard is not None:
                guard.mask(logits)
            budget.mask(logits)  # last: what the model wants among the tokens the other rules allow
            # Finished rows draw nothing: a request's random stream then never depends on its neighbours.
            drawing = sample_rows & ~finished
            next_tokens = self._choose(logits, drawing, random)
            next_tokens = torch.where(finished, self.special_ids.pad, next_tokens)
            chosen = next_tokens.tolist()
            fields.advance(next_tokens)
            if guard is not None:
                guard.advance(chosen)
            budget.advance(chosen)
            if facts is not None:
                facts.advance(chosen)
            for row, token in zip(active, chosen, strict=True):
                collected[row].append(token)
            finished |= (next_tokens == self.special_ids.eos) | (row_limits <= step + 1)
            done = int(finished.sum())
            if done == len(active):
                break
            if done * PRUNE_EVERY_FINISHED_OF >= len(active) and hasattr(
                outputs.past_key_values, "batch_select_indices"
            ):
                # Drop the rows that wrote their end token (and their cache) so the remaining steps
                # compute only rows that are still writing.
                keep = (~finished).nonzero().squeeze(1)
                kept = keep.tolist()
                active = [active[index] for index in kept]
                outputs.past_key_values.batch_select_indices(keep)
                attention_mask, position_ids = attention_mask[keep], position_ids[keep]
                sample_rows, finished, next_tokens = sample_rows[keep], finished[keep], next_tokens[keep]
                row_limits = row_limits[keep]
                random.select(keep)
                fields.select(keep)
                if guard is not None:
                    guard.select(kept)
                if facts is not None:
                    facts.select(kept)
                budget.select(kept)
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(active), 1))], dim=1)
            position_ids = position_ids[:, -1:] + 1
            outputs = self.model(
                input_ids=next_tokens[:, None],
                # The new token sees every real (non-padding) position: the 2D mask as (rows, 1, 1, keys).
                attention_mask=attention_mask[:, None, None, :].bool() if padded else attention_mask,
                position_ids=position_ids,
                past_key_values=outputs.past_key_values,
                use_cache=True,
            )
        tokens = [
            _until_eos(row_tokens[:limit], self.special_ids.eos)
            for row_tokens, limit in zip(collected, max_new_tokens, strict=True)
        ]
        erasures = [facts.erasures(row) if facts is not None else Erasures() for row in range(rows)]
        return tokens, [
            dataclasses.replace(
                erased,
                steps=erased.steps | budget.dropped(row),
                cut=frozenset(budget.cut_fields(row)),
            )
            for row, erased in enumerate(erasures)
        ]

    def _choose(
        self, logits: torch.Tensor, sample_rows: torch.Tensor, random: _RequestStreams
    ) -> torch.Tensor:
        greedy = logits.argmax(dim=-1)
        if not bool(sample_rows.any()):
            return greedy
        probabilities = torch.softmax(logits / self.temperature, dim=-1)
        sorted_probabilities, order = probabilities.sort(dim=-1, descending=True)
        outside_nucleus = sorted_probabilities.cumsum(dim=-1) - sorted_probabilities > self.top_p
        sorted_probabilities = sorted_probabilities.masked_fill(outside_nucleus, 0.0)
        picked = random.multinomial(sorted_probabilities, sample_rows)
        sampled = order.gather(-1, picked[:, None]).squeeze(-1)
        return torch.where(sample_rows, sampled, greedy)


class _RequestStreams:
    """The random generator of each row's request, following the rows as finished ones leave the batch.

    Each request draws only for its own sampling rows, in row order, from its own generator: what a
    request samples is the same in any batch, with any neighbours, as when it is generated alone.
    """

    def __init__(self, streams: list[int], generators: list[torch.Generator], device: torch.device):
        self.streams = torch.tensor(streams, device=device)
        self.generators = generators

    def select(self, keep: torch.Tensor) -> None:
        self.streams = self.streams[keep]

    def multinomial(self, probabilities: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """One index per row drawn from `probabilities` for the `rows` marked, 0 for the others."""
        picked = torch.zeros(len(probabilities), dtype=torch.long, device=probabilities.device)
        for stream in self.streams[rows].unique().tolist():
            members = (rows & (self.streams == stream)).nonzero().squeeze(1)
            draws = torch.multinomial(probabilities[members], 1, generator=self.generators[stream])
            picked[members] = draws.squeeze(1)
        return picked


class _FieldOrder:
    """Per row: the field markers only in order (headline first, then body, then call to action),
    and a slot only for an item that has its value (a brand, a noun). Parsing keeps the first value
    of a field, so a marker out of order would drop text and join what the guards saw apart."""

    def __init__(self, ids: SpecialIds, slots: list[Slots], device: torch.device):
        self._markers = [ids.outputs[name] for name in ("headline", "body", "cta")]
        self._field = torch.zeros(len(slots), dtype=torch.long, device=device)  # next marker allowed
        self._empty = [  # (slot token, rows without a value for it)
            (token, torch.tensor([not getattr(row, name) for row in slots], dtype=torch.bool, device=device))
            for token, name in ((ids.brand_slot, "brand"), (ids.noun_slot, "noun"))
            if token is not None
        ]

    def mask(self, logits: torch.Tensor) -> None:
        for order, marker in enumerate(self._markers):
            logits[:, marker].masked_fill_(self._field > order, -math.inf)
        for token, empty in self._empty:
            logits[:, token].masked_fill_(empty, -math.inf)

    def advance(self, tokens: torch.Tensor) -> None:
        # Any token closes the headline marker; a marker closes itself and the ones before it.
        reached = torch.ones_like(self._field)
        for order, marker in enumerate(self._markers):
            reached = torch.where(tokens == marker, torch.full_like(reached, order + 1), reached)
        self._field = torch.maximum(self._field, reached)

    def select(self, keep: torch.Tensor) -> None:
        self._field = self._field[keep]
        self._empty = [(token, empty[keep]) for token, empty in self._empty]


_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = 0


@contextlib.contextmanager
def _at_least_threads(count: int | None) -> Iterator[None]:
    """Raise torch's (process-wide) intra-op thread count to `count` for the block; the last of
    several overlapping blocks restores the count from before the first."""
    global _threads_users, _threads_before
    if not count:
        yield
        return
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = torch.get_num_threads()
            if count > _threads_before:
                torch.set_num_threads(count)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0 and torch.get_num_threads() != _threads_before:
                torch.set_num_threads(_threads_before)


def _prefill_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """The 4D boolean mask (rows, 1, queries, keys) of a left-padded prompt batch: causal, real keys only.

    transformers uses a 4D mask as given. Building it here skips its generic mask builder, which on
    the CPU cost as much as the model's forward pass at every decoding step of a padded batch (it
    vmaps a mask function over every position). A padding position attends to itself only, so its
    row is never empty (an empty row is NaN in SDPA); no real position ever attends to it.
    """
    width = attention_mask.shape[1]
    causal = torch.ones((width, width), dtype=torch.bool, device=attention_mask.device).tril()
    mask = causal[None] & attention_mask.bool()[:, None, :]
    mask |= torch.eye(width, dtype=torch.bool, device=attention_mask.device)[None]
    return mask[:, None]


def _until_eos(tokens: list[int], eos: int) -> list[int]:
    return tokens[: tokens.index(eos) + 1] if eos in tokens else tokens


def _validated_tones(items: Sequence[Mapping], tone: str | Sequence[str]) -> list[str]:
    if not isinstance(items, Sequence) or isinstance(items, str) or not items:
        raise ValueError("items must be a non-empty list of product dicts")
    tones = [tone] * len(items) if isinstance(tone, str) else list(tone)
    if len(tones) != len(items):
        raise ValueError(f"got {len(tones)} tones for {len(items)} items; pass one tone or one per item")
    for value in tones:
        if value not in TONES:
            raise ValueError(f"unknown tone {value!r}; allowed tones: {', '.join(TONES)}")
    return tones


def _validate_items(items: Sequence[Mapping]) -> None:
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"item {index} must be a dict with title and description")
        title, description = item.get("title"), item.get("description")
        if not isinstance(title, str) or not title.strip():
            raise ValueError(f"item {index}: title must be a non-empty string")
        if not isinstance(description, str):
            raise ValueError(f"item {index}: description must be a string")
        for name in ("category", "brand"):
            if item.get(name) is not None and not isinstance(item[name], str):
                raise ValueError(f"item {index}: {name} must be a string")
        price = item.get("price")
        if price is not None and (
            isinstance(price, bool)
            or not isinstance(price, int | float)
            or not math.isfinite(price)
            or price < 0
        ):
            raise ValueError(f"item {index}: price must be a non-negative number")
