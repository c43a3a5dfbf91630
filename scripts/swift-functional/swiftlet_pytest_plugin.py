"""pytest plugin for running OpenStack Swift's functional tests against Swiftlet.

Swift's test client retries a request that got a 5xx with a backoff (1+2+4+8+16 s in
test.functional.retry, 5 s per 503 in swift_test_client) and polls listings with growing
sleeps (1+2+...+32 s in listing_empty). Against a cluster that answers some request with a
500 every time, each such request costs half a minute and the suite runs for an hour. The
outcome is the same with short waits (the request fails after its last retry either way),
so this caps those three waits; every other sleep in the tests (X-Delete-At expiry,
Last-Modified moving on) is left alone.
"""
import sys
import time as _time

CAP_S = 0.2


def _capped_sleep(seconds):
    _time.sleep(min(seconds, CAP_S))


class _CappedTime(object):
    """The time module as swift_test_client sees it, with a capped sleep."""

    def __getattr__(self, name):
        return getattr(_time, name)

    sleep = staticmethod(_capped_sleep)


def pytest_collection_finish(session):
    tf = sys.modules.get('test.functional')
    if tf is not None:
        tf.sleep = _capped_sleep
    client = sys.modules.get('test.functional.swift_test_client')
    if client is not None:
        client.time = _CappedTime()
