"""User-item interaction files -> integer-indexed interactions, k-core filtering and splits.

Readers (implicit feedback: every row is one interaction, ratings are ignored):

* Amazon 5-core CSV with header ``userid,itemid,timestamp,rating`` (ISO dates or numbers);
* tab-separated ``user_id item_id time`` (ReChorus' copies, e.g. Grocery 2014);
* RecBole atomic files: a ``.inter`` file with a typed header ``name:type`` (``user_id:token``,
  ``item_id:token``, ``timestamp:float``), and its ``.item`` file for item attributes.

Original IDs stay strings; ``Interactions.users`` / ``items`` index into ``user_ids`` / ``item_ids``.
Duplicate (user, item) rows keep the earliest one. Splits follow the PCRec / RecBole convention:
per user, chronological leave-one-out (last interaction -> test, second to last -> validation),
or a seeded random split with the same sizes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paperzoo.errors import DataError

# MovieLens genres of the "action" domain when ML-100k is split in two (the rest is the other domain)
ML100K_ACTION_GENRES = ("Action", "Adventure", "Sci-Fi", "Thriller", "War", "Crime", "Horror", "Mystery",
                        "Film-Noir", "Western", "Fantasy")


@dataclass
class Interactions:
    """``n`` interactions: ``users[k]`` interacted with ``items[k]`` at ``times[k]``."""

    users: np.ndarray  # (n,) int64 in [0, len(user_ids))
    items: np.ndarray  # (n,) int64 in [0, len(item_ids))
    times: np.ndarray  # (n,) float64, larger is later
    user_ids: np.ndarray  # (num_users,) original IDs as str
    item_ids: np.ndarray  # (num_items,) original IDs as str

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, keep: np.ndarray) -> "Interactions":
        """Rows ``keep`` (mask or indices), users and items re-indexed to the ones still present."""
        return from_ids(self.user_ids[self.users[keep]], self.item_ids[self.items[keep]], self.times[keep])


def from_ids(user_ids, item_ids, times, *, source: str = "interactions") -> Interactions:
    """Index raw IDs (any hashable, kept as str); drop duplicate (user, item) pairs keeping the earliest."""
    user_ids, item_ids = np.asarray(user_ids).astype(str), np.asarray(item_ids).astype(str)
    times = np.asarray(times, dtype=np.float64)
    if len(user_ids) == 0:
        raise DataError(f"{source} holds no interactions")
    if not np.isfinite(times).all():
        raise DataError(f"{source} has a missing or non-numeric timestamp")
    uid, users = np.unique(user_ids, return_inverse=True)
    iid, items = np.unique(item_ids, return_inverse=True)
    order = np.lexsort((np.arange(len(times)), times))  # by time, ties in file order
    pair = users[order].astype(np.int64) * len(iid) + items[order]
    _, first = np.unique(pair, return_index=True)
    keep = np.sort(order[first])
    return Interactions(users[keep].astype(np.int64), items[keep].astype(np.int64), times[keep], uid, iid)


def _parse_times(values: list[str], source: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except ValueError:
        pass
    try:  # ISO dates (Amazon 2018 CSVs)
        return np.asarray(values, dtype="datetime64[s]").astype(np.int64).astype(np.float64)
    except ValueError:
        raise DataError(f"{source}: timestamps are neither numbers nor ISO dates (e.g. {values[0]!r})") from None


def _read_rows(path: Path, delimiter: str) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise DataError(f"interaction file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [row for row in csv.reader(f, delimiter=delimiter) if row]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path} is not a readable text table ({exc})") from None
    if not rows:
        raise DataError(f"{path} is empty")
    return rows[0], rows[1:]


def _columns(header: list[str], rows: list[list[str]], wanted: dict[str, tuple[str, ...]], path: Path):
    names = [h.split(":")[0].strip().lower() for h in header]
    index = {}
    for key, aliases in wanted.items():
        found = [names.index(a) for a in aliases if a in names]
        if not found:
            raise DataError(f"{path}: no {key} column (looked for {', '.join(aliases)}; header is {header})")
        index[key] = found[0]
    width = len(header)
    bad = next((i for i, r in enumerate(rows) if len(r) != width), None)
    if bad is not None:
        raise DataError(f"{path}: line {bad + 2} has {len(rows[bad])} fields, the header has {width}")
    return {key: [r[i] for r in rows] for key, i in index.items()}


_WANTED = {"user": ("userid", "user_id", "user"), "item": ("itemid", "item_id", "item"),
           "time": ("timestamp", "time")}


def read_interactions(path: str | Path) -> Interactions:
    """Read any of the supported formats (chosen by extension and header)."""
    path = Path(path)
    delimiter = "," if path.suffix == ".csv" else "\t"
    header, rows = _read_rows(path, delimiter)
    if delimiter == "," and len(header) == 1 and "\t" in header[0]:  # a tab file named .csv
        header, rows = _read_rows(path, "\t")
    cols = _columns(header, rows, _WANTED, path)
    return from_ids(cols["user"], cols["item"], _parse_times(cols["time"], str(path)), source=str(path))


def read_item_genres(path: str | Path) -> dict[str, list[str]]:
    """RecBole ``.item`` file -> {item_id: genres} from its ``class:token_seq`` (or ``genre``) column."""
    path = Path(path)
    header, rows = _read_rows(path, "\t")
    cols = _columns(header, rows, {"item": ("item_id",), "genre": ("class", "genre")}, path)
    return {i: g.split() for i, g in zip(cols["item"], cols["genre"])}


def k_core(data: Interactions, k: int) -> Interactions:
    """Repeatedly drop users and items with fewer than ``k`` interactions until none is left."""
    keep = np.ones(len(data), bool)
    while True:
        ucount = np.bincount(data.users[keep], minlength=data.num_users)
        icount = np.bincount(data.items[keep], minlength=data.num_items)
        ok = keep & (ucount[data.users] >= k) & (icount[data.items] >= k)
        if ok.sum() == keep.sum():
            break
        keep = ok
    if not keep.any():
        raise DataError(f"no interactions survive {k}-core filtering")
    return data.subset(keep)


@dataclass
class Split:
    """Index arrays into the interactions: ``train``, ``valid`` and ``test`` rows."""

    data: Interactions
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def pairs(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        rows = getattr(self, part)
        return self.data.users[rows], self.data.items[rows]


def leave_one_out(data: Interactions, *, mode: str = "chronological", seed: int = 0) -> Split:
    """Per user: last interaction -> test, second to last -> valid (users with >= 3 interactions).

    ``mode="random"`` picks the two held-out interactions uniformly at random (seeded) instead.
    """
    if mode not in ("chronological", "random"):
        raise DataError(f"split mode must be chronological or random, got {mode!r}")
    if mode == "chronological":
        key = data.times
    else:
        key = np.random.default_rng(seed).random(len(data))
    order = np.lexsort((np.arange(len(data)), key, data.users))  # by user, then time, then file order
    users = data.users[order]
    counts = np.bincount(users, minlength=data.num_users)
    ends = np.cumsum(counts)
    rank_from_end = ends[users] - 1 - np.arange(len(order))  # 0 = user's last
    eligible = counts[users] >= 3
    test = order[eligible & (rank_from_end == 0)]
    valid = order[eligible & (rank_from_end == 1)]
    train = order[~eligible | (rank_from_end >= 2)]
    return Split(data, np.sort(train), np.sort(valid), np.sort(test))


# --- named domains in the recsys data folder (../shared/data/recsys) ------------------------------
DOMAINS = {
    "industrial_and_scientific": "amazon2018/industrial_and_scientific_5core.csv",
    "luxury_beauty": "amazon2018/luxury_beauty_5core.csv",
    "grocery2014": "grocery2014/train.csv",
    "ml100k": "ml-100k/ml-100k.inter",
    "ml100k_action": "ml-100k/ml-100k.inter",  # items with an action-like genre (ML100K_ACTION_GENRES)
    "ml100k_other": "ml-100k/ml-100k.inter",  # every other item (drama, comedy, romance, ...)
}


def load_domain(spec: str, data_dir=None, *, k: int = 0) -> Interactions:
    """A named domain of the ``recsys`` dataset (see ``DOMAINS``) or an interaction file path,
    ``k``-core filtered when ``k > 0``."""
    from paperzoo.data.registry import require_dataset

    if spec in DOMAINS:
        root = require_dataset("recsys", data_dir)
        data = read_interactions(root / DOMAINS[spec])
        if spec in ("ml100k_action", "ml100k_other"):
            genres = read_item_genres(root / "ml-100k/ml-100k.item")
            action = np.array([bool(set(genres.get(i, ())) & set(ML100K_ACTION_GENRES)) for i in data.item_ids])
            data = data.subset(action[data.items] == (spec == "ml100k_action"))
    elif Path(spec).suffix in (".csv", ".tsv", ".inter", ".txt") or Path(spec).exists():
        data = read_interactions(spec)
    else:
        raise DataError(f"unknown recsys domain {spec!r}: use one of {', '.join(DOMAINS)} or an interaction file path")
    return k_core(data, k) if k > 0 else data
