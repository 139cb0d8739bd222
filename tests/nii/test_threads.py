import threading
import time

import pytest

from nii.errors import ConfigurationError
from nii.threads import map_threads, set_thread_count, thread_count


@pytest.fixture(autouse=True)
def restore():
    yield
    set_thread_count(None)


def test_results_come_back_in_order_on_several_threads():
    set_thread_count(2)
    names = map_threads(lambda n: (n, threading.current_thread().name), range(8))
    assert [n for n, _ in names] == list(range(8))
    assert all(name.startswith("nii") for _, name in names)


def test_one_thread_runs_in_the_calling_thread():
    set_thread_count(1)
    assert {name for name in map_threads(lambda _: threading.current_thread().name, range(4))} == {
        threading.current_thread().name
    }


def test_at_most_thread_count_calls_run_at_once():
    set_thread_count(2)
    running, peak, lock = [0], [0], threading.Lock()

    def work(_):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1

    map_threads(work, range(10))
    assert peak[0] == 2


def test_an_error_is_raised_after_every_call_has_ended():
    set_thread_count(2)
    finished = []

    def work(n):
        if n == 0:
            raise ValueError("first fails")
        time.sleep(0.02)
        finished.append(n)

    with pytest.raises(ValueError, match="first fails"):
        map_threads(work, range(4))
    assert sorted(finished) == [1, 2, 3]


def test_nested_calls_run_inline_instead_of_waiting_for_the_pool():
    set_thread_count(2)
    result = map_threads(lambda a: sum(map_threads(lambda b: a * b, range(3))), range(4))
    assert result == [0, 3, 6, 9]


def test_environment_and_validation(monkeypatch):
    monkeypatch.setenv("NII_THREADS", "3")
    assert thread_count() == 3
    set_thread_count(1)
    assert thread_count() == 1
    set_thread_count(None)
    monkeypatch.setenv("NII_THREADS", "many")
    with pytest.raises(ConfigurationError, match="NII_THREADS must be a positive whole number, got 'many'"):
        thread_count()
    with pytest.raises(ConfigurationError, match="at least 1"):
        set_thread_count(0)


def test_items_are_handed_over_while_the_generator_still_yields():
    set_thread_count(2)
    started = threading.Event()

    def items():
        yield "first"
        assert started.wait(5), "the first item was not worked on before the second was made"
        yield "second"

    def work(item):
        started.set()
        return item.upper()

    assert map_threads(work, items()) == ["FIRST", "SECOND"]


def test_an_error_of_the_generator_comes_after_the_started_calls():
    set_thread_count(2)
    done = []

    def items():
        yield 1
        raise RuntimeError("building item 2 failed")

    def work(item):
        time.sleep(0.02)
        done.append(item)

    with pytest.raises(RuntimeError, match="building item 2 failed"):
        map_threads(work, items())
    assert done == [1]
