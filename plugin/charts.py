"""A small line chart drawn with QPainter (no matplotlib in QGIS's Python needed).

Used for the fine-tune panel (loss and validation F1 per epoch) and the temporal profile (VV and VH in dB
over time, with the season shaded). Series sit on a left axis (auto range) or a right axis (fixed range).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from qgis.PyQt.QtCore import QPointF, QRectF, Qt
from qgis.PyQt.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from qgis.PyQt.QtWidgets import QSizePolicy, QWidget

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 48, 44, 40, 34
TICKS = 5


@dataclass
class Series:
    name: str
    color: str
    points: list[tuple[float, float]] = field(default_factory=list)
    right_axis: bool = False


@dataclass
class Span:
    start: float
    end: float
    color: str
    label: str = ""


class LineChart(QWidget):
    """Lines with markers, a legend, optional shaded x-spans and vertical marker lines."""

    def __init__(self, parent: QWidget | None = None, left_title: str = "", right_title: str = "",
                 right_range: tuple[float, float] = (0.0, 1.0),
                 x_format: Callable[[float], str] = lambda x: f"{x:g}", left_floor: float | None = None) -> None:
        """A chart; ``left_floor`` keeps the left axis from going below it (a loss is never negative)."""
        super().__init__(parent)
        self.setMinimumSize(260, 170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.series: list[Series] = []
        self.spans: list[Span] = []
        self.vlines: list[tuple[float, str, str]] = []
        self.title = ""
        self.left_title, self.right_title = left_title, right_title
        self.right_range = right_range
        self.left_floor = left_floor
        self.x_format = x_format
        self.placeholder = ""

    def clear(self) -> None:
        self.series, self.spans, self.vlines, self.title = [], [], [], ""
        self.update()

    def add_series(self, series: Series) -> Series:
        self.series.append(series)
        self.update()
        return series

    def append(self, name: str, x: float, y: float) -> None:
        for series in self.series:
            if series.name == name:
                series.points.append((x, y))
        self.update()

    # --- geometry ------------------------------------------------------------------------------

    def _plot_rect(self) -> QRectF:
        return QRectF(MARGIN_LEFT, MARGIN_TOP, max(self.width() - MARGIN_LEFT - MARGIN_RIGHT, 10),
                      max(self.height() - MARGIN_TOP - MARGIN_BOTTOM, 10))

    def _x_range(self) -> tuple[float, float]:
        xs = [x for s in self.series for x, _ in s.points] + [v for sp in self.spans for v in (sp.start, sp.end)]
        return _padded(xs, 0.0)

    def _left_range(self) -> tuple[float, float]:
        ys = [y for s in self.series if not s.right_axis for _, y in s.points]
        low, high = _padded(ys, 0.08)
        if self.left_floor is not None and low < self.left_floor:
            low = self.left_floor
        return low, max(high, low + 1e-9)

    # --- painting -----------------------------------------------------------------------------

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("white"))
        painter.setFont(QFont(self.font().family(), 8))
        rect = self._plot_rect()
        if not any(s.points for s in self.series):
            painter.setPen(QColor("#777777"))
            painter.drawText(QRectF(self.rect()).adjusted(12, 8, -12, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.placeholder)
            painter.end()
            return
        x_range, left, right = self._x_range(), self._left_range(), self.right_range
        to_x = lambda x: rect.left() + (x - x_range[0]) / (x_range[1] - x_range[0]) * rect.width()  # noqa: E731
        self._draw_spans(painter, rect, to_x)
        self._draw_axes(painter, rect, x_range, left, right)
        for series in self.series:
            low, high = right if series.right_axis else left
            to_y = lambda y, lo=low, hi=high: rect.bottom() - (y - lo) / (hi - lo) * rect.height()  # noqa: E731
            self._draw_series(painter, series, to_x, to_y)
        self._draw_vlines(painter, rect, to_x)
        self._draw_legend(painter, rect)
        painter.end()

    def _draw_spans(self, painter: QPainter, rect: QRectF, to_x) -> None:
        for span in self.spans:
            color = QColor(span.color)
            color.setAlpha(45)
            x0, x1 = max(to_x(span.start), rect.left()), min(to_x(span.end), rect.right())
            painter.fillRect(QRectF(x0, rect.top(), max(x1 - x0, 1), rect.height()), color)
            if span.label:
                painter.setPen(QColor(span.color).darker(130))
                painter.drawText(QRectF(x0 + 3, rect.top() + 2, max(x1 - x0 - 4, 10), 14), Qt.AlignmentFlag.AlignLeft,
                                 span.label)

    def _draw_axes(self, painter: QPainter, rect: QRectF, x_range, left, right) -> None:
        painter.setPen(QPen(QColor("#444444"), 1))
        painter.drawRect(rect)
        grid = QPen(QColor("#e6e6e6"), 1, Qt.PenStyle.DotLine)
        for i in range(TICKS + 1):
            frac = i / TICKS
            y = rect.bottom() - frac * rect.height()
            painter.setPen(grid)
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            painter.setPen(QColor("#444444"))
            painter.drawText(QRectF(0, y - 7, MARGIN_LEFT - 4, 14), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             tick_label(left[0] + frac * (left[1] - left[0]), left[1] - left[0]))
            if any(s.right_axis for s in self.series):
                painter.drawText(QRectF(rect.right() + 4, y - 7, MARGIN_RIGHT - 4, 14), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                                 tick_label(right[0] + frac * (right[1] - right[0]), right[1] - right[0]))
            x_value = x_range[0] + frac * (x_range[1] - x_range[0])
            x = rect.left() + frac * rect.width()
            painter.drawText(QRectF(x - 40, rect.bottom() + 3, 80, 14), Qt.AlignmentFlag.AlignHCenter, self.x_format(x_value))
        painter.drawText(QRectF(2, 2, rect.width(), 16), Qt.AlignmentFlag.AlignLeft, self.left_title)
        painter.drawText(QRectF(rect.right() - 160, 2, 160 + MARGIN_RIGHT - 4, 16), Qt.AlignmentFlag.AlignRight, self.right_title)
        if self.title:
            painter.drawText(QRectF(0, self.height() - 16, self.width(), 16), Qt.AlignmentFlag.AlignHCenter, self.title)

    @staticmethod
    def _draw_series(painter: QPainter, series: Series, to_x, to_y) -> None:
        points = [QPointF(to_x(x), to_y(y)) for x, y in series.points if math.isfinite(y)]
        if not points:
            return
        path = QPainterPath(points[0])
        for point in points[1:]:
            path.lineTo(point)
        painter.setPen(QPen(QColor(series.color), 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        painter.setBrush(QColor(series.color))
        for point in points:
            painter.drawEllipse(point, 2.5, 2.5)

    def _draw_vlines(self, painter: QPainter, rect: QRectF, to_x) -> None:
        for x_value, color, label in self.vlines:
            x = to_x(x_value)
            painter.setPen(QPen(QColor(color), 1, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            painter.drawText(QRectF(x + 3, rect.bottom() - 16, 90, 14), Qt.AlignmentFlag.AlignLeft, label)

    def _draw_legend(self, painter: QPainter, rect: QRectF) -> None:
        """One line above the plot, centred between the axis titles."""
        widths = [26 + painter.fontMetrics().horizontalAdvance(s.name) for s in self.series]
        x = rect.center().x() - sum(widths) / 2
        y = rect.top() - 9
        for series, width in zip(self.series, widths):
            painter.setPen(QPen(QColor(series.color), 3))
            painter.drawLine(QPointF(x, y), QPointF(x + 14, y))
            painter.setPen(QColor("#222222"))
            painter.drawText(QPointF(x + 18, y + 4), series.name)
            x += width


def tick_label(value: float, span: float) -> str:
    """Enough decimals to tell neighbouring ticks apart."""
    step = abs(span) / TICKS
    decimals = max(0, min(4, 1 - math.floor(math.log10(step)))) if step > 0 else 1
    return f"{value:.{decimals}f}"


def integer_ticks(value: float) -> str:
    """x labels for counts (epochs): only at whole numbers."""
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else ""


def _padded(values: list[float], pad: float) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    margin = (high - low) * pad
    return low - margin, high + margin
