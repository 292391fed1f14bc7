"""Redaction benchmark: precision and recall per type on the labelled corpus, and what it costs.

    uv run python -m bench.redaction_bench [--against REV] [--adversarial BYTES] [--misses]

Scores the regex redactor of ``functions/prism/redact.py`` on ``tests/redaction/corpus.jsonl``
(positives per type, with the value of each finding labelled, and hard negatives: versions,
UUIDs, hashes, timestamps, code, prose with numbers). A labelled value counts as found when a
placeholder of its type covers it; a placeholder counts as right when it overlaps a labelled value
of its type. Then it times a ~1 KB text and a ~1 KB event (``redact_event`` as ingestion runs it,
and ``may_find``, the fast path's check), and with ``--adversarial`` the inputs of
``tests/redaction/adversarial.py`` against an ordinary text of the same size.

``--against REV`` also loads ``redact.py`` as it is at that git revision (``git show``) and
scores and times it in the same run, side by side: before/after figures from one process.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.redaction.adversarial import ADVERSARIAL, adversarial, plain

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "redaction" / "corpus.jsonl"
TYPES = ("SECRET", "EMAIL", "IBAN", "CREDIT_CARD", "US_SSN", "PHONE", "IP_ADDRESS")
_PLACEHOLDER = re.compile(r"\[(" + "|".join(TYPES) + r")\]")


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def predicted_spans(original: str, redacted: str) -> list[tuple[str, int, int]] | None:
    """Where each placeholder of ``redacted`` stands in ``original``: the text between placeholders
    is kept as it was, so each is found in order. None if that fails (it never should)."""
    parts = _PLACEHOLDER.split(redacted)
    if not original.startswith(parts[0]):
        return None
    spans: list[tuple[str, int, int]] = []
    pos = len(parts[0])
    for k in range(1, len(parts), 2):
        kind, seg = parts[k], parts[k + 1]
        if k + 2 >= len(parts):
            if not original.endswith(seg) or len(original) - len(seg) <= pos:
                return None
            end = len(original) - len(seg)
        else:
            end = original.find(seg, pos + 1) if seg else pos + 1
            if end < 0:
                return None
        spans.append((kind, pos, end))
        pos = end + len(seg)
    return spans


@dataclass
class Score:
    labels: int = 0
    found: int = 0
    predicted: int = 0
    right: int = 0
    negatives_changed: int = 0
    misses: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.found / self.labels if self.labels else None

    @property
    def precision(self) -> float | None:
        return self.right / self.predicted if self.predicted else None


def score(redactor: Any, records: list[dict[str, Any]]) -> dict[str, Score]:
    """Precision and recall per type of ``redactor`` (anything with ``redact(text)``) on the corpus."""
    scores = {kind: Score() for kind in TYPES}
    for record in records:
        text: str = record["text"]
        labels: list[tuple[str, int, int]] = []
        for kind, value in record["pii"]:
            start = text.find(value)
            while any(s == start for _, s, _ in labels):
                start = text.find(value, start + 1)
            labels.append((kind, start, start + len(value)))
        out = redactor.redact(text).text
        if not labels and out != text:
            scores[TYPES[0]].negatives_changed += 1
        spans = predicted_spans(text, out)
        if spans is None:  # cannot align: count every placeholder as wrong, every label as missed
            spans = [(m[1], -1, -1) for m in _PLACEHOLDER.finditer(out)]
        for kind, start, end in labels:
            s = scores[kind]
            s.labels += 1
            if any(k == kind and ps <= start and pe >= end for k, ps, pe in spans):
                s.found += 1
            else:
                s.misses.append(f"{text[start:end]!r} in {out!r}")
        for kind, ps, pe in spans:
            s = scores[kind]
            s.predicted += 1
            if any(k == kind and ps < end and pe > start for k, start, end in labels):
                s.right += 1
            else:
                s.wrong.append(f"{text[ps:pe]!r} in {text!r}" if ps >= 0 else f"? in {text!r}")
    return scores


def load_module(rev: str) -> ModuleType:
    """``functions/prism/redact.py`` as it is at git revision ``rev``, as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{rev}:functions/prism/redact.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "redact_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"redact_at_{rev.replace('~', '_')}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# CPU time of this process, not wall time: the figures hold on a machine shared with other work.
_clock = time.process_time


def best_of(fn: Any, number: int, repeat: int = 5) -> float:
    """CPU seconds per call, the best of ``repeat`` rounds of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = _clock()
        for _ in range(number):
            fn()
        best = min(best, (_clock() - start) / number)
    return best


def event(pii: bool) -> dict[str, Any]:
    """An inference event of about 1 KB, like the pipeline bench's."""
    user = (
        "Summarise the quarterly report for the board. Revenue grew 12% to 4.2 million while costs fell; "
        "the team shipped three releases and closed 140 support tickets. Highlight risks, next steps, "
        "and anything that needs a decision before the 15th. Keep it under 200 words and use bullet points. "
    )
    if pii:
        user += " Reply to jane.doe@example.com or call 415-555-0199."
    return {
        "id": "0190f5a4-7b1c-7d2e-8f3a-4b5c6d7e8f90",
        "ts_start": "2026-11-27T07:00:00.000000Z",
        "ts_end": "2026-11-27T07:00:01.500000Z",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "status": "ok",
        "usage": {"prompt_tokens": 180, "completion_tokens": 64, "total_tokens": 244},
        "request": {
            "messages": [
                {"role": "system", "content": "You are a concise analyst."},
                {"role": "user", "content": user},
            ],
            "params": {"temperature": 0.2, "max_tokens": 300},
        },
        "response": {
            "model": "gpt-4o-mini-2024-07-18",
            "content": "- Revenue up 12% to 4.2M; costs down.\n- Three releases shipped; 140 tickets closed.\n"
            "- Risks: hiring pace, one vendor contract up for renewal.\n- Decision needed: budget for Q3 by the 15th.",
            "finish_reason": "stop",
        },
        "conversation_id": "c-1",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "user_id": "u-42",
        "tags": ["prod"],
        "metadata": {"feature": "support-chat"},
        "sdk": "prism-sdk/0.1.0",
    }


_CONTENT = ("request", "response", "error", "tool_invocations", "user_id", "tags", "metadata")


def costs(module: ModuleType) -> dict[str, float]:
    """Microseconds per call: 1 KB texts, and 1 KB events as ingestion handles them."""
    redactor = module.RegexRedactor()
    text = plain(1024)
    prose = event(False)["request"]["messages"][1]["content"] * 3
    out = {
        "1 KB text, several findings": best_of(lambda: redactor.redact(text), 2000),
        "1 KB prose, nothing to find": best_of(lambda: redactor.redact(prose[:1024]), 2000),
    }
    for pii in (False, True):
        ev = event(pii)
        probe = json.dumps({k: v for k, v in ev.items() if k in _CONTENT}, separators=(",", ":"))
        label = "with PII" if pii else "no PII"
        out[f"event {label}: may_find"] = best_of(lambda probe=probe: redactor.may_find(probe), 2000)
        best = float("inf")
        for _ in range(5):  # redact_event rewrites the event: a fresh copy for each call
            copies = [copy.deepcopy(ev) for _ in range(1000)]
            start = _clock()
            for one in copies:
                module.redact_event(one, redactor)
            best = min(best, (_clock() - start) / len(copies))
        out[f"event {label}: redact_event"] = best
    return {k: v * 1e6 for k, v in out.items()}


def adversarial_times(module: ModuleType, size: int, names: list[str]) -> tuple[float, dict[str, float]]:
    """Seconds for an ordinary text of ``size`` characters, and for each adversarial input."""
    redactor = module.RegexRedactor()
    base = best_of(lambda: redactor.redact(plain(size)), 1, 3)
    times = {}
    for name in names:
        text = adversarial(name, size)
        times[name] = best_of(lambda text=text: redactor.redact(text), 1, 1)
    return base, times


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", help="also score and time redact.py at this git revision (e.g. HEAD~5)")
    parser.add_argument("--adversarial", type=int, default=0, metavar="BYTES", help="time adversarial inputs")
    parser.add_argument("--only", default="", help="comma-separated adversarial inputs to time (default: all)")
    parser.add_argument("--misses", action="store_true", help="list what the current redactor misses or over-redacts")
    args = parser.parse_args()

    import prism.redact as current

    modules: list[tuple[str, ModuleType]] = []
    if args.against:
        modules.append((args.against, load_module(args.against)))
    modules.append(("now", current))
    records = load_corpus()
    negatives = sum(1 for r in records if not r["pii"])
    values = sum(len(r["pii"]) for r in records)
    print(f"corpus: {len(records)} texts, {values} labelled values, {negatives} hard negatives")

    scores = {name: score(m.RegexRedactor(), records) for name, m in modules}
    head = "".join(f" | {name:>20s}" for name, _ in modules)
    print(f"\n{'type':12s} {'labels':>6s}{head}")
    print(f"{'':12s} {'':6s}" + "".join(f" | {'precision':>9s} {'recall':>10s}" for _ in modules))
    for kind in TYPES:
        row = f"{kind:12s} {scores['now'][kind].labels:6d}"
        for name, _ in modules:
            s = scores[name][kind]
            row += f" | {_pct(s.precision):>9s} {_pct(s.recall):>5s} {s.found:2d}/{s.labels:<2d}"
        print(row)
    row = f"{'all':12s} {sum(s.labels for s in scores['now'].values()):6d}"
    for name, _ in modules:
        found = sum(s.found for s in scores[name].values())
        labels = sum(s.labels for s in scores[name].values())
        right = sum(s.right for s in scores[name].values())
        predicted = sum(s.predicted for s in scores[name].values())
        row += f" | {_pct(right / predicted if predicted else None):>9s} {_pct(found / labels):>5s} {found:3d}/{labels}"
    print(row)
    for name, _ in modules:
        print(f"hard negatives changed ({name}): {scores[name][TYPES[0]].negatives_changed}/{negatives}")
    if args.misses:
        for kind, s in scores["now"].items():
            for miss in s.misses:
                print(f"  missed {kind}: {miss}")
            for wrong in s.wrong:
                print(f"  wrong  {kind}: {wrong}")

    print("\ncost, CPU microseconds per call (best of 5 rounds)")
    timed = {name: costs(m) for name, m in modules}
    print(f"{'':40s}" + "".join(f" {name:>10s}" for name, _ in modules))
    for key in timed["now"]:
        print(f"{key:40s}" + "".join(f" {timed[name][key]:10.1f}" for name, _ in modules))

    if args.adversarial:
        names = [n for n in args.only.split(",") if n] or list(ADVERSARIAL)
        print(f"\nadversarial inputs of {args.adversarial:,} characters: CPU seconds, and x an ordinary text that size")
        for name, module in modules:
            base, times = adversarial_times(module, args.adversarial, names)
            print(f"[{name}] ordinary text: {base:.3f} s")
            for one, t in sorted(times.items(), key=lambda kv: -kv[1]):
                print(f"  {one:20s} {t:8.3f} s  x{t / base:8.1f}")


if __name__ == "__main__":
    main()
