"""Saying when an input is unlike the serving model's training data: the signals, the API, the pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inference.models import PredictionLog
from inference.services import creatives_attach_novelty, items_novelty, training_profiles
from inference.services.novelty import TrainingProfile
from products import dataset_stats
from products.generator import generate_catalog
from products.models import DatasetVersion
from products.ood import UNSEEN_CATEGORY, load_ood_products
from products.services import dataset_version_create, product_bulk_upsert_generated
from registry.models import ModelVersion
from tests.factories.inference import CreativeFactory, ProductFactory
from tests.factories.registry import ModelVersionFactory

pytestmark = pytest.mark.django_db

PREDICT = "/api/v1/predict"
BATCH = "/api/v1/batch_predict"
NOT_NOVEL = {"unlike_training_data": False, "unseen": [], "unseen_word_share": 0.0, "not_checked": []}


@pytest.fixture
def training_dataset() -> DatasetVersion:
    """A real snapshot of the 120 generated products the session's tiny model is trained on."""
    product_bulk_upsert_generated(count=120, seed=3)
    return dataset_version_create(trigger=DatasetVersion.Trigger.MANUAL)


@pytest.fixture
def profile(training_dataset) -> TrainingProfile:
    return TrainingProfile.from_statistics(training_dataset.statistics)


def _item(product) -> dict:
    return {
        "title": product.title,
        "description": product.description,
        "category": product.category,
        "brand": product.brand,
    }


def _trained_on(model_version: ModelVersion, dataset: DatasetVersion) -> ModelVersion:
    run = model_version.training_run
    run.dataset_version = dataset
    run.save(update_fields=["dataset_version"])
    return model_version


# --- the signals -------------------------------------------------------------------------------------


def test_products_of_the_training_catalog_are_not_novel(profile):
    products = generate_catalog(40, seed=3)

    assert items_novelty(items=[_item(product) for product in products], profile=profile) == [NOT_NOVEL] * 40


def test_every_out_of_distribution_product_is_flagged_and_the_flags_follow_the_statistics(profile, settings):
    """A property of every output: each signal fires exactly when its rule says, on all 253 products."""
    threshold = settings.CREATIVEOPS["NOVELTY_MAX_UNSEEN_WORD_SHARE"]
    products = load_ood_products()

    novelty = items_novelty(items=[_item(product) for product in products], profile=profile)

    for product, answer in zip(products, novelty, strict=True):
        words = dataset_stats.words_per_text([f"{product.title}\n{product.description}"])[0]
        share = round(len(words - profile.vocabulary) / len(words), 4)
        expected = [
            *(["category"] if product.category.casefold() not in profile.categories else []),
            *(["brand"] if product.brand.casefold() not in profile.brands else []),
            *(["vocabulary"] if share > threshold else []),
        ]
        assert answer == {
            "unlike_training_data": bool(expected),
            "unseen": expected,
            "unseen_word_share": share,
            "not_checked": [],
        }, product.sku
        assert answer["unlike_training_data"], product.sku
        assert "brand" in answer["unseen"] and "vocabulary" in answer["unseen"], product.sku
        if product.novelty == UNSEEN_CATEGORY:
            assert "category" in answer["unseen"], product.sku


def test_category_and_brand_compare_case_insensitively_and_missing_ones_are_not_checked(profile):
    product = generate_catalog(1, seed=3)[0]
    item = {**_item(product), "category": f"  {product.category.upper()} ", "brand": product.brand.lower()}

    assert items_novelty(items=[item], profile=profile) == [NOT_NOVEL]
    assert items_novelty(items=[{**item, "category": "", "brand": None}], profile=profile) == [
        {**NOT_NOVEL, "not_checked": ["category", "brand"]}
    ]


def test_a_text_without_words_leaves_the_vocabulary_unchecked(profile):
    answer = items_novelty(items=[{"title": "123", "description": "4-5"}], profile=profile)

    assert answer == [
        {
            "unlike_training_data": False,
            "unseen": [],
            "unseen_word_share": None,
            "not_checked": ["category", "brand", "vocabulary"],
        }
    ]


def test_statistics_of_schema_1_check_only_the_category(training_dataset):
    old = {
        key: value
        for key, value in training_dataset.statistics.items()
        if key not in ("brands", "vocabulary")
    }
    profile = TrainingProfile.from_statistics(old)
    guitar = next(product for product in load_ood_products() if product.sku == "OOD-MUS-001")

    assert items_novelty(items=[_item(guitar)], profile=profile) == [
        {
            "unlike_training_data": True,
            "unseen": ["category"],
            "unseen_word_share": None,
            "not_checked": ["brand", "vocabulary"],
        }
    ]


def test_the_word_share_threshold_is_the_setting(profile, settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "NOVELTY_MAX_UNSEEN_WORD_SHARE": 1.0}
    product = generate_catalog(1, seed=3)[0]
    item = {**_item(product), "description": "Zymurgy quixotic flummox."}

    [answer] = items_novelty(items=[item], profile=profile)

    assert answer["unseen_word_share"] > 0.25 and answer["unseen"] == []


def test_profiles_cost_one_query_and_statistics_are_read_once(training_dataset, django_assert_num_queries):
    version = _trained_on(ModelVersionFactory(), training_dataset)
    expected = TrainingProfile.from_statistics(training_dataset.statistics)

    with django_assert_num_queries(1):
        first = training_profiles(model_version_ids=[version.pk, version.pk + 1000])
    # A dataset version's statistics never change; were they read again, this edit would show.
    DatasetVersion.objects.filter(pk=training_dataset.pk).update(statistics={})
    with django_assert_num_queries(1):
        again = training_profiles(model_version_ids=[version.pk])

    assert first == again == {version.pk: expected}


# --- the API ------------------------------------------------------------------------------------------


def test_predict_says_which_signals_fired(api, production_model, training_dataset):
    _trained_on(production_model, training_dataset)
    guitar = next(product for product in load_ood_products() if product.sku == "OOD-MUS-001")
    known = generate_catalog(1, seed=3)[0]

    novel = api.post(PREDICT, {**_item(guitar), "price": float(guitar.price)}, format="json")
    plain = api.post(PREDICT, _item(known), format="json")

    assert novel.status_code == plain.status_code == 200
    answer = novel.json()["novelty"]
    assert answer["unlike_training_data"] is True
    assert answer["unseen"] == ["category", "brand", "vocabulary"] and answer["not_checked"] == []
    assert 0.25 < answer["unseen_word_share"] <= 1
    assert plain.json()["novelty"] == NOT_NOVEL
    # The drift report's sample: the request's signals are kept on its prediction log row.
    signals = ("unseen_category", "unseen_brand", "unseen_vocabulary")
    assert list(PredictionLog.objects.order_by("id").values_list(*signals)) == [
        (True, True, True),
        (False, False, False),
    ]


def test_batch_gives_novelty_to_each_generated_item_only(api, production_model, training_dataset):
    _trained_on(production_model, training_dataset)
    wine = next(product for product in load_ood_products() if product.category == "Wine & Spirits")
    known = ProductFactory(sku="KNOWN-1", creatives=[], **_item(generate_catalog(1, seed=3)[0]))

    response = api.post(
        BATCH, {"items": [_item(wine), {"title": "no description"}, {"sku": known.sku}]}, format="json"
    )

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results[0]["novelty"]["unseen"] == ["category", "brand", "vocabulary"]
    assert "novelty" not in results[1] and results[1]["error"]["field"] == "description"
    assert results[2]["novelty"] == NOT_NOVEL


def test_a_model_trained_before_the_statistics_held_brands_checks_what_it_can(api, production_model):
    # The factory's dataset version has no statistics at all: nothing can be checked, nothing is flagged.
    response = api.post(
        PREDICT, {"title": "Fender Stratocaster", "description": "An electric guitar."}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["novelty"] == {
        "unlike_training_data": False,
        "unseen": [],
        "unseen_word_share": None,
        "not_checked": ["category", "brand", "vocabulary"],
    }


# --- the marketers' pages -----------------------------------------------------------------------------


@pytest.fixture
def marketer_client(client, django_user_model):
    from tests.factories.users import make_user

    client.force_login(make_user("novelty-marketer", groups=["marketers"], is_staff=False))
    return client


def test_the_creative_list_and_product_page_badge_creatives_of_novel_products(
    marketer_client, training_dataset
):
    version = _trained_on(
        ModelVersionFactory(version=1, status=ModelVersion.Status.PRODUCTION), training_dataset
    )
    guitar = next(product for product in load_ood_products() if product.sku == "OOD-MUS-001")
    novel = ProductFactory(sku="NEW-1", creatives=[], **_item(guitar), price=guitar.price)
    known = ProductFactory(sku="OLD-1", creatives=[], **_item(generate_catalog(1, seed=3)[0]))
    CreativeFactory(product=novel, model_version=version, headline="Guitar copy")
    CreativeFactory(product=known, model_version=version, headline="Known copy")
    badge = "Unlike training data: category, brand, vocabulary</span>"

    listing = marketer_client.get(reverse("creatives:list"))
    novel_page = marketer_client.get(reverse("creatives:product", kwargs={"sku": "NEW-1"}))
    known_page = marketer_client.get(reverse("creatives:product", kwargs={"sku": "OLD-1"}))

    assert listing.status_code == novel_page.status_code == known_page.status_code == 200
    rows = {creative.product.sku: creative.novelty for creative in listing.context["page_obj"].object_list}
    assert rows["OLD-1"] == NOT_NOVEL and rows["NEW-1"]["unseen"] == ["category", "brand", "vocabulary"]
    assert listing.content.decode().count(badge) == 1
    assert badge in novel_page.content.decode() and badge not in known_page.content.decode()
    assert "The training data of v1 held no such category, brand, vocabulary (" in novel_page.content.decode()


def test_attaching_novelty_to_no_creatives_reads_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        creatives_attach_novelty(creatives=[])
