"""The replay --check hook, exercised with trivial decision models."""

from __future__ import annotations

import pytest

from journal import (
    DEFAULT_MODEL,
    Filters,
    JournalError,
    JournalValueError,
    NoDecisionModelError,
    load_model,
    run_check,
)
from tests.journal.builders import Controller
from tests.journal.decision_models import as_dicts, every_change_restarts

CM, DEPLOY = "helloworld-config-test", "helloworld-test"
MODELS = "tests.journal.decision_models"


@pytest.fixture
def history(controller: Controller) -> dict[str, int]:
    controller.observed(0, CM, "v1", event="ADDED")
    controller.restart_chain(10, CM, DEPLOY, "v2")
    silent = controller.observed(100, CM, "v3", corr="silent")
    return {"silent": silent.seq}


def test_differences_from_the_recorded_decisions_are_reported(writer, history):
    result = run_check([writer], Filters(), every_change_restarts, name="every_change_restarts")
    assert result.records == 7
    (difference,) = result.differences
    assert difference.seq == history["silent"]
    assert difference.correlation_id == "silent"
    assert difference.expected == "restart.planned"
    assert difference.recorded is None
    assert result.to_json()["differences"][0]["message"].endswith("no restart was planned")


def test_dict_differences_are_accepted(writer, history):
    result = run_check([writer], Filters(), as_dicts)
    assert [d.seq for d in result.differences] == [4]


def test_the_window_limits_what_the_model_sees(writer, history):
    result = run_check([writer], Filters(correlation_id="silent"), every_change_restarts)
    assert result.records == 1
    assert result.differences == []  # one observation alone is no change


def test_models_are_loaded_by_name():
    assert load_model(f"{MODELS}:every_change_restarts") is every_change_restarts


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("reloader.core.nothing_here:check", NoDecisionModelError, "no decision model"),
        ("no_such_package.replay:check", NoDecisionModelError, "does not exist"),
        (f"{MODELS}:missing", NoDecisionModelError, "has no function missing"),
        (f"{MODELS}:NOT_CALLABLE", NoDecisionModelError, "has no function"),
        ("just-a-name", JournalValueError, "MODULE:FUNCTION"),
    ],
)
def test_unavailable_models_say_so_in_one_line(spec, error, message):
    with pytest.raises(error, match=message) as raised:
        load_model(spec)
    assert "\n" not in str(raised.value)


def test_the_default_model_is_the_decision_core():
    assert DEFAULT_MODEL == "reloader.core.replay:check"


def test_a_failing_model_is_one_line(writer, history):
    model = load_model(f"{MODELS}:broken")
    with pytest.raises(JournalError, match="failed after 3 records: RuntimeError: model bug"):
        run_check([writer], Filters(), model, name="broken")


def test_a_model_returning_nonsense_is_refused(writer, history):
    with pytest.raises(JournalError, match="invalid difference"):
        run_check([writer], Filters(), load_model(f"{MODELS}:bad_output"))
