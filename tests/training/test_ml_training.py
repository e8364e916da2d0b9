"""Training, artifacts, generation and the Trainer baseline of training/ml, on the `tiny` preset."""

import json
import shutil
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from tests.training.ml_data import (  # noqa: F401  (no-Django fixtures)
    _clean_cache,
    _isolated_storage,
    known_vocabulary,
    make_catalog_frame,
)
from training.ml import (
    PRIMARY_METRIC,
    ArtifactIntegrityError,
    CreativeGenerator,
    TrainingConfig,
    benchmark_training,
    sha256_of_directory,
    train_model,
    train_with_hf_trainer,
    verify_artifact,
)
from training.ml.artifact import build_manifest, file_sha256, save_model_files, write_manifest
from training.ml.evaluate import evaluation_rows, product_item
from training.ml.formatting import creative_text, source_text
from training.ml.metrics import fact_fidelity
from training.ml.preparation import prepare_training, torch_threads
from training.ml.tokenizer import ALL_SPECIAL_TOKENS
from training.ml.train import fit_model

TINY = TrainingConfig.from_preset("tiny")
DATASET_INFO = {"version": 3, "sha256": "ab" * 32}


@pytest.fixture(scope="module")
def frame():
    return make_catalog_frame(100, seed=3)


@pytest.fixture(scope="module")
def trained(frame, tmp_path_factory):
    brands, nouns = known_vocabulary()
    calls = []
    result = train_model(
        frame,
        TINY,
        tmp_path_factory.mktemp("tiny") / "artifact",
        lambda *args: calls.append(args),
        DATASET_INFO,
        known_brands=brands,
        known_nouns=nouns,
    )
    return result, calls


@pytest.fixture(scope="module")
def generator(trained):
    return CreativeGenerator.load(trained[0].artifact_dir)


@pytest.fixture(scope="module")
def items(frame):
    return [product_item(row) for row in evaluation_rows(frame, "test", 4)]


def _weights(artifact_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(artifact_dir / "model.safetensors")


def test_tiny_training_lowers_validation_loss_and_reports(trained):
    result, _ = trained
    assert len(result.history) == TINY.epochs
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert result.steps > 0 and result.tokens_seen > 0 and result.parameter_count > 0
    assert result.tokens_per_second == pytest.approx(result.tokens_seen / result.train_seconds)
    for name in (
        PRIMARY_METRIC,
        "fact_fidelity",
        "distinct_2",
        "latency_ms_per_item",
        "val_loss",
        "val_perplexity",
    ):
        assert isinstance(result.metrics[name], float)
    assert result.metrics["baseline_rouge_l"] > 0
    assert result.metrics["eval_items"] == TINY.eval_max_items


def test_progress_callback_gets_every_step_and_each_epoch(trained):
    result, calls = trained
    step_calls = [call for call in calls if call[3] is None]
    epoch_calls = [call for call in calls if call[3] is not None]
    assert [call[0] for call in step_calls] == list(range(1, result.steps + 1))
    assert {call[1] for call in calls} == {result.steps}
    assert [call[3]["epoch"] for call in epoch_calls] == list(range(1, TINY.epochs + 1))
    assert epoch_calls[-1][3]["val_loss"] == result.history[-1]["val_loss"]


def test_same_seed_gives_identical_weights_and_metrics(frame, trained, tmp_path):
    again = train_model(
        frame,
        TINY,
        tmp_path / "again",
        dataset_info=DATASET_INFO,
        known_brands=known_vocabulary()[0],
        known_nouns=known_vocabulary()[1],
    )
    first, second = _weights(trained[0].artifact_dir), _weights(again.artifact_dir)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    timing = {"epoch_seconds", "train_seconds", "tokens_per_second", "latency_ms_per_item", "wall_seconds"}
    assert [{k: v for k, v in epoch.items() if k not in timing} for epoch in again.history] == [
        {k: v for k, v in epoch.items() if k not in timing} for epoch in trained[0].history
    ]
    assert {k: v for k, v in again.metrics.items() if k not in timing} == {
        k: v for k, v in trained[0].metrics.items() if k not in timing
    }


def test_cancelling_from_the_callback_leaves_no_artifact(frame, tmp_path):
    def cancel(step, total_steps, epoch, metrics):
        if step == 3:
            raise RuntimeError("cancelled by operator")

    with pytest.raises(RuntimeError, match="cancelled by operator"):
        train_model(frame, TINY, tmp_path / "cancelled", cancel)
    assert list(tmp_path.iterdir()) == []


def test_manifest_pins_every_file(trained):
    artifact = trained[0].artifact_dir
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= set(
        manifest["files"]
    )
    assert all(file_sha256(artifact / name) == digest for name, digest in manifest["files"].items())
    assert manifest["dataset"] == DATASET_INFO
    assert manifest["preset"] == "tiny"
    assert manifest["training_config"]["d_model"] == TINY.d_model
    assert set(manifest["libraries"]) == {"python", "torch", "transformers", "tokenizers"}
    assert manifest["parameter_count"] == trained[0].parameter_count
    assert manifest["metrics"][PRIMARY_METRIC] == trained[0].metrics[PRIMARY_METRIC]
    assert sha256_of_directory(artifact) == file_sha256(artifact / "manifest.json")
    assert verify_artifact(artifact)["files"] == manifest["files"]
    assert not [path for path in artifact.parent.iterdir() if ".partial" in path.name]


def test_an_existing_artifact_is_never_overwritten(frame, trained):
    with pytest.raises(FileExistsError, match="never overwritten"):
        train_model(frame, TINY.with_overrides(epochs=1), trained[0].artifact_dir)


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (lambda folder: _flip_a_byte(folder / "model.safetensors"), "model.safetensors"),
        (
            lambda folder: (folder / "tokenizer.json").write_text(
                (folder / "tokenizer.json").read_text().replace("<|eos|>", "<|EOS|>")
            ),
            "tokenizer.json",
        ),
        (lambda folder: (folder / "config.json").unlink(), "config.json"),
        (
            lambda folder: shutil.copy(folder / "model.safetensors", folder / "extra.safetensors"),
            "extra.safetensors",
        ),
        (lambda folder: (folder / "manifest.json").unlink(), "manifest.json"),
    ],
    ids=["flipped-weights", "edited-tokenizer", "missing-config", "extra-weights", "missing-manifest"],
)
def test_a_changed_artifact_is_refused(trained, tmp_path, tamper, named):
    folder = tmp_path / "copy"
    shutil.copytree(trained[0].artifact_dir, folder)
    tamper(folder)
    with pytest.raises(ArtifactIntegrityError, match=named.replace(".", r"\.")):
        CreativeGenerator.load(folder)


def test_save_then_load_gives_identical_greedy_outputs(frame, items, tmp_path):
    config = TINY  # enough epochs that greedy decoding writes text, not only the end token
    with torch_threads(config.num_threads):
        prepared = prepare_training(frame, config)
        fit_model(prepared, config)
    prompt_format = {
        "max_source_tokens": config.max_source_tokens,
        "max_target_tokens": config.max_target_tokens,
    }
    in_memory = CreativeGenerator(prepared.model, prepared.tokenizer, {"prompt_format": prompt_format})
    before = in_memory.generate(items, "bold", max_new_tokens=config.max_target_tokens)
    save_model_files(
        tmp_path,
        prepared.model,
        prepared.tokenizer,
        eos_id=prepared.ids.eos,
        pad_id=prepared.ids.pad,
        max_new_tokens=config.max_target_tokens,
    )
    write_manifest(tmp_path, build_manifest(tmp_path, prompt_format=prompt_format))
    after = CreativeGenerator.load(tmp_path).generate(items, "bold", max_new_tokens=config.max_target_tokens)
    assert after == before
    assert any(creative_text(variants[0]) for variants in before)  # it writes, not only stops


def test_generate_shape_and_variants(generator, items):
    results = generator.generate(items, "playful", num_variants=3, max_new_tokens=40, seed=11)
    assert len(results) == len(items)
    assert all(len(variants) == 3 for variants in results)
    assert all(
        set(creative) == {"tone", "headline", "body", "cta"} for variants in results for creative in variants
    )
    assert all(creative["tone"] == "playful" for variants in results for creative in variants)
    greedy = generator.generate(items, "playful", max_new_tokens=40)
    assert [variants[0] for variants in results] == [variants[0] for variants in greedy]
    assert any(variants[1] != variants[0] or variants[2] != variants[0] for variants in results)
    assert generator.generate(items, "playful", num_variants=3, max_new_tokens=40, seed=11) == results


def test_left_padded_batch_matches_items_alone(generator, items):
    tones = ["bold", "luxury", "value", "playful"][: len(items)]
    batched = generator.generate(items, tones, max_new_tokens=40)
    alone = [
        generator.generate([item], tone, max_new_tokens=40)[0]
        for item, tone in zip(items, tones, strict=True)
    ]
    assert batched == alone


def test_rows_that_finish_early_leave_the_batch_and_the_others_are_unchanged(generator, items, monkeypatch):
    alone = [generator.generate([item], "bold", max_new_tokens=40)[0] for item in items[2:]]
    choose, batch_sizes = generator._choose, []

    def first_two_rows_stop_at_the_second_step(logits, sample_rows, random):
        tokens = choose(logits, sample_rows, random)
        batch_sizes.append(len(tokens))
        if len(batch_sizes) == 2:
            tokens[:2] = generator.special_ids.eos
        return tokens

    monkeypatch.setattr(generator, "_choose", first_two_rows_stop_at_the_second_step)
    batched = generator.generate(items, "bold", max_new_tokens=40)

    assert batched[2:] == alone
    assert batch_sizes[:2] == [4, 4] and batch_sizes[2] <= 2  # the finished rows left the batch


def test_a_batch_call_may_use_more_torch_threads_and_gives_them_back(generator, items, monkeypatch):
    from training.ml.generator import BATCH_THREADS_MIN_ROWS

    decode, seen = generator._decode, []

    def counting_threads(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return decode(*args, **kwargs)

    monkeypatch.setattr(generator, "_decode", counting_threads)
    monkeypatch.setattr(generator, "batch_threads", 2)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = generator.generate(items[:1], "bold", max_new_tokens=8)
        batch = generator.generate(items[:1], "bold", num_variants=BATCH_THREADS_MIN_ROWS, max_new_tokens=8)
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)

    assert seen == [1, 2] and after == 1
    assert batch[0][0] == single[0][0]  # the greedy variant does not depend on the thread count


def test_generate_from_several_threads(generator, items):
    expected = generator.generate(items, "value", max_new_tokens=24)
    results, errors = [], []

    def work():
        try:
            results.append(generator.generate(items, "value", max_new_tokens=24))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [expected] * 4


def test_generate_validates_its_inputs(generator, items):
    with pytest.raises(
        ValueError, match="unknown tone 'sarcastic'; allowed tones: bold, luxury, value, playful"
    ):
        generator.generate(items, "sarcastic")
    with pytest.raises(ValueError, match="one tone or one per item"):
        generator.generate(items, ["bold"] * (len(items) + 1))
    with pytest.raises(ValueError, match="item 0: title must be a non-empty string"):
        generator.generate([{"description": "x"}], "bold")
    with pytest.raises(ValueError, match="price must be a non-negative number"):
        generator.generate([{"title": "T", "description": "", "price": "cheap"}], "bold")
    with pytest.raises(ValueError, match="non-empty list"):
        generator.generate([], "bold")
    assert generator.preset == "tiny"
    assert generator.parameter_count > 0
    assert generator.manifest["dataset"] == DATASET_INFO


def _save_foreign_gpt2(folder: Path, frame) -> int:
    """A tiny GPT-2 with its own byte-level BPE (none of our special tokens), as save_pretrained writes it."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    texts = list(frame["description"]) + list(frame["title"])
    bpe.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>"
    )
    tokenizer.save_pretrained(folder)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=32, n_layer=1, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(folder, safe_serialization=True)
    return len(tokenizer)


def test_warm_start_fine_tunes_a_local_pretrained_model(frame, items, tmp_path):
    original_vocab = _save_foreign_gpt2(tmp_path / "pretrained", frame)
    config = TINY.with_overrides(pretrained_path=str(tmp_path / "pretrained"), epochs=2, learning_rate=5e-3)
    result = train_model(frame, config, tmp_path / "warm")
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    warm = CreativeGenerator.load(result.artifact_dir)
    assert warm.model.config.model_type == "gpt2"
    assert warm.model.get_input_embeddings().num_embeddings == original_vocab + len(ALL_SPECIAL_TOKENS)
    assert len(warm.generate(items[:2], "luxury", max_new_tokens=16)) == 2


def test_hf_trainer_baseline_and_benchmark_run(frame, tmp_path):
    config = TINY.with_overrides(epochs=1)
    outcome = train_with_hf_trainer(frame, config, tmp_path / "trainer")
    assert outcome["tokens"] > 0 and outcome["seconds"] > 0
    assert outcome["tokens_per_second"] == pytest.approx(outcome["tokens"] / outcome["seconds"])
    benchmark = benchmark_training(frame, config)
    assert benchmark["ours_tokens"] == benchmark["trainer_tokens"]
    assert benchmark["ratio"] == pytest.approx(
        benchmark["ours_tokens_per_second"] / benchmark["trainer_tokens_per_second"]
    )


def test_number_guard_keeps_every_number_from_the_input(generator, frame):
    rows = evaluation_rows(frame, "test", 16)
    items = [product_item(row) for row in rows]
    results = generator.generate(items, [row["tone"] for row in rows], num_variants=3, seed=5)
    outputs = [creative_text(creative) for variants in results for creative in variants]
    sources = [source_text(item) for item in items for _ in range(3)]
    assert generator.number_guard
    assert fact_fidelity(outputs, sources) == 1.0  # without a vocabulary: numbers only
