"""Exactly one production version per name under real parallel transactions (PostgreSQL).

Each test starts two threads (two database connections) at a barrier, so both promotions are in
flight at the same moment, as two operators clicking at once would be.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from creativeops.core.errors import ApplicationError
from registry.models import ModelVersion, RegistryEvent
from registry.services import model_version_promote
from registry.services import promotion as promotion_module
from tests.factories.registry import model_version_with_artifact

# serialized_rollback: a transactional test flushes the tables; the roles (groups) created by
# migration are restored from the serialized snapshot for every test.
pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres]

NAME = "creative-generator"
CONCURRENT = "Another promotion of creative-generator committed first; reload and try again"


def run_in_parallel(jobs: dict[str, callable]) -> dict[str, object]:
    """Run each job in its own thread and connection, released together; results or exceptions."""
    barrier = threading.Barrier(len(jobs), timeout=30)
    results: dict[str, object] = {}

    def worker(label: str, job) -> None:
        try:
            barrier.wait()
            results[label] = job()
        except Exception as error:  # recorded for the assertions
            results[label] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a promotion is stuck"
    return results


@pytest.fixture
def production_and_two_candidates(on_postgres, operator_user):
    v1, v2, v3 = (model_version_with_artifact(version=number) for number in (1, 2, 3))
    model_version_promote(version=v1, actor=operator_user, reason="First model.")
    return v1, v2, v3


def promote_job(version, user, **options):
    return lambda: model_version_promote(
        version=version, actor=user, reason=f"Promote v{version.version}.", **options
    )


def promote_events() -> list[RegistryEvent]:
    return list(
        RegistryEvent.objects.filter(action=RegistryEvent.Action.PROMOTE)
        .order_by("created_at", "id")
        .select_related("from_version", "to_version")
    )


def test_two_promotions_at_once_are_serialised_and_both_recorded(
    production_and_two_candidates, operator_user
):
    _v1, v2, v3 = production_and_two_candidates

    results = run_in_parallel({"v2": promote_job(v2, operator_user), "v3": promote_job(v3, operator_user)})

    assert all(isinstance(result, ModelVersion) for result in results.values()), results
    assert ModelVersion.objects.production().count() == 1
    first, second, third = promote_events()
    assert (first.from_version, first.to_version.version) == (None, 1)
    # The second promotion saw the first one's result: its "from" is the first one's "to".
    assert second.from_version.version == 1
    assert third.from_version == second.to_version
    winner = ModelVersion.objects.production().get()
    assert winner == third.to_version
    statuses = dict(ModelVersion.objects.values_list("version", "status"))
    assert statuses[1] == "archived"
    assert statuses[second.to_version.version] == "archived"


def test_two_decisions_taken_on_the_same_production_let_only_the_first_through(
    production_and_two_candidates, operator_user
):
    _v1, v2, v3 = production_and_two_candidates

    results = run_in_parallel(
        {
            "v2": promote_job(v2, operator_user, expected_production=1),
            "v3": promote_job(v3, operator_user, expected_production=1),
        }
    )

    errors = [result for result in results.values() if isinstance(result, Exception)]
    winners = [result for result in results.values() if isinstance(result, ModelVersion)]
    assert len(winners) == 1 and len(errors) == 1, results
    assert isinstance(errors[0], ApplicationError)
    assert errors[0].message == CONCURRENT
    assert errors[0].status_code == 409
    assert ModelVersion.objects.production().get() == winners[0]
    assert [event.to_version.version for event in promote_events()] == [1, winners[0].version]


def test_the_unique_constraint_is_the_backstop_and_the_loser_gets_a_sentence(
    production_and_two_candidates, operator_user, monkeypatch
):
    """Without the per-name lock both transactions reach the production row at once; the partial
    unique index stops the second, and the caller gets the same sentence, never an IntegrityError."""
    _v1, v2, v3 = production_and_two_candidates
    inside = threading.Barrier(2, timeout=30)
    monkeypatch.setattr(promotion_module, "lock_production", lambda name: inside.wait())

    results = run_in_parallel({"v2": promote_job(v2, operator_user), "v3": promote_job(v3, operator_user)})

    errors = [result for result in results.values() if isinstance(result, Exception)]
    winners = [result for result in results.values() if isinstance(result, ModelVersion)]
    assert len(winners) == 1 and len(errors) == 1, results
    assert isinstance(errors[0], ApplicationError)
    assert errors[0].message == CONCURRENT
    assert ModelVersion.objects.production().get() == winners[0]
    assert len(promote_events()) == 2  # the first model's and the winner's; the loser wrote nothing


def test_parallel_registrations_get_distinct_numbers_and_one_version_per_run(
    on_postgres, tiny_artifacts, settings
):
    """Three pipeline deliveries at once: two runs, one of them delivered twice."""
    from products.services import dataset_version_create, products_generate_and_store
    from registry.services import model_version_register
    from tests.factories.registry import training_run_with_artifact

    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GOLDEN_SET_SIZE": 12, "AUTO_PROMOTE": False}
    products_generate_and_store(count=30, seed=5)
    dataset = dataset_version_create(trigger="manual")
    first, second = (
        training_run_with_artifact(tiny_artifacts["early"], dataset_version=dataset) for _ in range(2)
    )

    def register(run):
        return lambda: model_version_register(training_run=run)

    results = run_in_parallel(
        {"first": register(first), "second": register(second), "first again": register(first)}
    )

    assert all(isinstance(result, ModelVersion) for result in results.values()), results
    assert results["first"].pk == results["first again"].pk
    assert sorted(ModelVersion.objects.values_list("version", flat=True)) == [1, 2]
    assert RegistryEvent.objects.filter(action=RegistryEvent.Action.REGISTER).count() == 2
