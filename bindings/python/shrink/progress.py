"""Progress bars for long C++ calls: the C++ side calls back with (done, total, status)."""

import contextlib
import sys


@contextlib.contextmanager
def progress_callback(progress, description=""):
    """Yields a callback for the C++ `progress` argument, or None.

    `progress` is True (a tqdm bar when python3-tqdm is installed and stderr is a terminal or a
    notebook), False/None (no bar), or a callable taking (done, total, status).
    """
    if callable(progress):
        yield progress
        return
    if not progress:
        yield None
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional
        yield None
        return
    bars = {}

    def update(done, total, status):
        bar = bars.get("bar")
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            bar = bars["bar"] = tqdm(total=total, desc=description, leave=False,
                                     file=sys.stderr, disable=None)
        bar.set_postfix_str(status, refresh=False)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        if bars.get("bar") is not None:
            bars["bar"].close()
