"""The opt-in progress bar of map, imap and imap_unordered: tqdm when it
is installed, else a plain bar on stderr."""
import sys
import time


class _PlainBar:
    """``desc: 42/100 [=========>          ] 42% 1.2s`` redrawn in place at
    most 10 times a second, and once at the end."""

    WIDTH = 30

    def __init__(self, total, desc, stream=None):
        self.total = total
        self.desc = desc
        self.n = 0
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.last = 0.0
        self.closed = False
        self._draw()

    def _draw(self, end=""):
        elapsed = time.monotonic() - self.start
        if self.total:
            frac = min(self.n / self.total, 1.0)
            fill = int(frac * self.WIDTH)
            bar = "=" * fill + (">" if fill < self.WIDTH else "") + " " * (self.WIDTH - fill - 1)
            line = "%s: %d/%d [%s] %3d%% %.1fs" % (self.desc, self.n, self.total, bar[:self.WIDTH],
                                                  frac * 100, elapsed)
        else:
            line = "%s: %d %.1fs" % (self.desc, self.n, elapsed)
        try:
            self.stream.write("\r" + line + end)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def update(self, n=1):
        self.n += n
        now = time.monotonic()
        if now - self.last >= 0.1 or (self.total and self.n >= self.total):
            self.last = now
            self._draw()

    def close(self):
        if not self.closed:
            self.closed = True
            self._draw("\n")


def progress_bar(total, progress):
    """A bar object with update(n) and close(). `progress` is True or a
    description string."""
    desc = progress if isinstance(progress, str) else "polypool"
    try:
        from tqdm import tqdm
    except ImportError:
        return _PlainBar(total, desc)
    return tqdm(total=total, desc=desc, file=sys.stderr)
