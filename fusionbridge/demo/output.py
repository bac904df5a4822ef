"""What `fusionbridge demo` prints on stdout: a few aligned lines and one table, nothing more.

Colour only on a terminal without NO_COLOR; ASCII stand-ins when the stream cannot encode the
symbols (a C locale), so the demo never dies on its own decoration.
"""

from __future__ import annotations

import os
from typing import TextIO

from fusionbridge import __version__
from fusionbridge.core.models import Month, SubmissionState
from fusionbridge.daemon.status import InverterLines, MonthLine
from fusionbridge.jobs.sync import SyncReport
from fusionbridge.settings import InverterSettings, Settings

_FANCY = {"ok": "✓", "bad": "✗", "from": "←", "flow": "→", "to": "…", "dot": "·"}
_PLAIN = {"ok": "ok", "bad": "x", "from": "<-", "flow": "->", "to": "..", "dot": "-"}
_MARKS_FANCY = {"accepted": "✓", "open": "…", "refused": "✗", "waiting": "⋯"}
_MARKS_PLAIN = {"accepted": "+", "open": ".", "refused": "x", "waiting": "~"}
_LABEL = 13


class DemoOutput:
    """Writes the demo's narrative to `out`; every method prints one short block."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._color = out.isatty() and not os.environ.get("NO_COLOR")
        encoding = getattr(out, "encoding", None) or "utf-8"
        try:
            "".join(_FANCY.values()).encode(encoding)
            "".join(_MARKS_FANCY.values()).encode(encoding)
            self.sym, self.marks = _FANCY, _MARKS_FANCY
        except (UnicodeEncodeError, LookupError):
            self.sym, self.marks = _PLAIN, _MARKS_PLAIN

    # --- blocks -------------------------------------------------------------------------------

    def header(self, fusionsolar: str, redex: str, fleet: str, settings: Settings) -> None:
        s = self.sym
        self._line(
            f"{self._bold('fusionbridge demo')} {__version__} {s['dot']} FusionSolar {s['flow']} "
            f"ledger {s['flow']} REDEX, all on loopback, no credentials needed"
        )
        self._line()
        self._field("FusionSolar", f"{fusionsolar}  {self._dim('simulated: ' + fleet)}")
        self._field(
            "REDEX",
            f"{redex}  {self._dim(f'simulated: {len(settings.inverters)} remote inverters')}",
        )
        self._field("ledger", f"{settings.storage.path}  {self._dim('(removed on exit)')}")
        schedule = settings.schedule
        self._field(
            "schedule",
            f"push on day {schedule.push_day} at {schedule.push_at:%H:%M}, "
            "so every closed month is due at once",
        )
        width = max(len(e.remote_inv_id) for e in settings.inverters)
        for n, entry in enumerate(settings.inverters):
            zone = entry.timezone or f"{settings.timezone} (default)"
            self._field(
                "inverters" if n == 0 else "",
                f"{entry.remote_inv_id:<{width}}  {s['from']} {_source(entry):<28} "
                f"{self._dim(zone)}",
            )
        self._line()

    def backfilled(self, first: Month, last: Month, report: SyncReport, seconds: float) -> None:
        findings = len(report.findings)
        self._step(
            True,
            "backfill",
            f"{first} {self.sym['to']} {last}: {report.month_values} month and "
            f"{report.day_values} day values in {report.calls} FusionSolar calls",
            seconds,
        )
        if findings:
            self._field(
                "",
                self._dim(
                    f"{findings} data checks flag missing days: the simulator leaves gaps on purpose"
                ),
            )

    def cycle(
        self, lines: list[InverterLines], current: dict[str, Month], seconds: float, ok: bool
    ) -> None:
        closed = [
            (inv, m) for inv in lines for m in inv.months if m.month < current[inv.remote_inv_id]
        ]
        accepted = sum(1 for _, m in closed if m.state is SubmissionState.ACCEPTED)
        self._step(
            ok,
            "daemon",
            f"synced and pushed: REDEX accepted {accepted} of {len(closed)} closed months",
            seconds,
        )
        self._line()
        marks = self.marks
        legend = (
            f"{marks['accepted']} accepted by REDEX  {marks['open']} month still open  "
            f"{marks['waiting']} processing  {marks['refused']} refused or missing"
        )
        self._line(f"  kWh per month   {self._dim(legend)}")
        self._line()
        for row in self._table(lines, current):
            self._line(f"  {row}")
        self._line()
        problems = sorted(
            {(inv.remote_inv_id, m.last_error) for inv, m in closed if m.last_error is not None}
        )
        for remote_inv_id, error in problems[:3]:
            self._field("", self._red(f"{remote_inv_id}: {error}"))
        if problems:
            self._line()

    def serving(self, port: int, *, moved_from: int | None, once: bool) -> None:
        base = f"http://127.0.0.1:{port}"
        self._field("page", f"{self._bold(base + '/')}  {self._dim('open it in a browser')}")
        self._field(
            "status", f"{self._bold(base + '/status')}  {self._dim('also /livez /readyz /metrics')}"
        )
        if moved_from is not None:
            self._field("", self._dim(f"port {moved_from} is taken, so the system picked {port}"))
        if not once:
            self._field("", "serving until Ctrl-C")
        self.out.flush()

    def stopped(self) -> None:
        self._field("", self._dim("stopped"))

    # --- table --------------------------------------------------------------------------------

    def _table(self, lines: list[InverterLines], current: dict[str, Month]) -> list[str]:
        months = sorted({m.month for inv in lines for m in inv.months})
        cells: list[list[str]] = [["month", *(inv.remote_inv_id for inv in lines)]]
        for month in months:
            row = [str(month)]
            for inv in lines:
                line = next((m for m in inv.months if m.month == month), None)
                row.append(self._cell(line, month >= current[inv.remote_inv_id]))
            cells.append(row)
        widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
        out = []
        for index, row in enumerate(cells):
            text = "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
            out.append(self._dim(text) if index == 0 else self._paint_marks(text))
        return out

    def _cell(self, line: MonthLine | None, open_month: bool) -> str:
        if line is None or line.kwh is None:
            return f"- {self.marks['refused']}"
        if open_month:
            mark = self.marks["open"]
        elif line.state is SubmissionState.ACCEPTED:
            mark = self.marks["accepted"]
        elif line.state in (SubmissionState.REJECTED, SubmissionState.FAILED):
            mark = self.marks["refused"]
        else:
            mark = self.marks["waiting"]
        return f"{line.kwh:,.3f} {mark}"

    # --- primitives ---------------------------------------------------------------------------

    def _step(self, ok: bool, label: str, text: str, seconds: float) -> None:
        mark = self._green(self.sym["ok"]) if ok else self._red(self.sym["bad"])
        self._line(f"  {mark} {label:<{_LABEL - 2}}{text} {self._dim(f'({seconds:.1f} s)')}")

    def _field(self, label: str, text: str) -> None:
        self._line(f"  {label:<{_LABEL}}{text}")

    def _line(self, text: str = "") -> None:
        print(text.rstrip(), file=self.out)

    def _paint_marks(self, text: str) -> str:
        if not self._color:
            return text
        marks = self.marks
        for mark, paint in (
            (marks["accepted"], self._green),
            (marks["open"], self._dim),
            (marks["refused"], self._red),
        ):
            text = text.replace(f" {mark}", f" {paint(mark)}")
        return text

    def _sgr(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self._color else text

    def _bold(self, text: str) -> str:
        return self._sgr("1", text)

    def _dim(self, text: str) -> str:
        return self._sgr("2", text)

    def _green(self, text: str) -> str:
        return self._sgr("32", text)

    def _red(self, text: str) -> str:
        return self._sgr("31", text)


def _source(entry: InverterSettings) -> str:
    if entry.esn:
        return f"esn {entry.esn}"
    if entry.device_id is not None:
        return f"device_id {entry.device_id}"
    return f"plant_code {entry.plant_code}"
