"""In CI a skipped test is a failure that names the skip's reason; locally a skip stays a skip.

Each test runs a small pytest session (``pytester``) with the project's own ``tests/conftest.py``
as its conftest, once with ``CI`` unset and once with ``CI=true``.
"""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parent / "conftest.py"
TESTS = """
import pytest

def test_runs():
    assert True

def test_needs_chromium():
    pytest.skip("no /usr/bin/chromium")

@pytest.mark.skipif(True, reason="no CJK font installed")
def test_needs_a_font():
    pass

@pytest.fixture
def shared_data():
    pytest.skip("../shared/data/catalog-dev.jsonl not available")

def test_needs_shared_data(shared_data):
    pass

@pytest.mark.xfail(reason="a known bug")
def test_known_bug():
    assert False
"""


SKIPPED_MODULE = """
import pytest

ray = pytest.importorskip("no_such_module_for_this_test")

def test_on_a_cluster():
    pass
"""


def with_our_conftest(pytester):
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


@pytest.fixture
def session(pytester):
    with_our_conftest(pytester).makepyfile(test_session=TESTS)
    return pytester


@pytest.mark.parametrize("value", [None, "", "0", "false"])
def test_locally_a_skip_stays_a_skip(session, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    result = session.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    result.stdout.fnmatch_lines(["*SKIPPED*no /usr/bin/chromium*"])


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_in_ci_every_skip_fails_and_says_why(session, monkeypatch, value):
    monkeypatch.setenv("CI", value)
    result = session.runpytest("-rfE")
    # a skip in the test body fails the test; one while setting it up (mark, fixture) errors its setup
    result.assert_outcomes(passed=1, failed=1, errors=2, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random(
        [
            "FAILED test_session.py::test_needs_chromium*skipped, and CI=* runs every test: no /usr/bin/chromium*",
            "ERROR test_session.py::test_needs_a_font*skipped, and CI=* runs every test: no CJK font installed*",
            "ERROR test_session.py::test_needs_shared_data*skipped, and CI=* runs every test: ../shared/data/catalog-dev.jsonl not available*",
        ]
    )


def test_a_module_skipped_while_collecting_it_fails_in_ci_too(pytester, monkeypatch):
    with_our_conftest(pytester).makepyfile(test_cluster=SKIPPED_MODULE)
    monkeypatch.delenv("CI", raising=False)
    pytester.runpytest().assert_outcomes(skipped=1)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)  # a collection error: pytest stops before running anything
    result.stdout.fnmatch_lines(
        ["*skipped, and CI=true runs every test: could not import 'no_such_module_for_this_test'*"]
    )
