"""The pilot's results as ``results.json`` and a self-contained ``report.html``.

The report holds tables, plots (matplotlib, embedded as base64 PNG), thumbnails of every scanner's
scans side by side and the comparison pictures, all rendered by :mod:`nii.render`; it loads no remote
resource. Every number in it comes from the results of the run.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import nii
from nii.io import atomic_output
from nii.kernels import MaterialClass
from nii.pilot.measure import figure_text
from nii.pilot.run import Record
from nii.render import RenderOptions, render

__all__ = ["write_report", "write_results"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f0f0f0; } td.name, th.name { text-align: left; }
figure { display: inline-block; margin: 0.3em; vertical-align: top; }
figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; border: 1px solid #ddd; }
.note { color: #555; font-size: 0.9em; }
"""


def _clean(value: Any) -> Any:
    """NaN and infinities become null (JSON has none); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_results(results: dict[str, Any], path: Path) -> Path:
    """Write the results as JSON, atomically."""
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(_clean(results), indent=1, allow_nan=False))
    return path


def _png(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _plot(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(source: str, caption: str, width: int | None = None) -> str:
    style = f' style="width:{width}px"' if width else ""
    text = html.escape(caption)
    return f'<figure{style}><img src="{source}" alt="{text}"><figcaption>{text}</figcaption></figure>'


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(
        f'<th class="name">{html.escape(h)}</th>' if i == 0 else f"<th>{html.escape(h)}</th>"
        for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="name">{html.escape(c)}</td>' if i == 0 else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _spread_text(summary: dict[str, Any] | None, digits: int = 2) -> str:
    if not summary or summary.get("mean") is None:
        return "—"
    return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"


def _thumbnails(records: list[Record]) -> str:
    parts = []
    for name in dict.fromkeys(r.object for r in records if r.kind == "object"):
        figures = []
        for record in (r for r in records if r.kind == "object" and r.object == name):
            picture = render(nii.read(record.dicos_path), options=RenderOptions(scale_bar=True), max_width=520)
            figures.append(_figure(_png(picture.image), f"{record.scanner}: {record.vendor_path.name} → DICOS", 540))
        parts.append(f"<h3>{html.escape(name)}</h3>" + "".join(figures))
    return "".join(parts)


def _quality_section(quality: dict[str, Any]) -> str:
    if not quality:
        return "<p class='note'>No simulated scanner measured: no test objects were scanned.</p>"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    labels = {
        "penetration_mm": ("penetration (mm steel)", 1),
        # Cargo test objects: wires behind 50 mm steel, a 200 mm wall; baggage: 1 mm and 5 mm (docs/pilots.md).
        "wire_mm": ("thinnest copper wire behind steel (mm)", 2),
        "contrast_percent": ("contrast sensitivity on a steel wall (%)", 2),
        "mtf50_travel": ("MTF50 along travel (cycles/mm)", 3),
        "mtf50_detector": ("MTF50 down the detector (cycles/mm)", 3),
    }
    for key, (label, digits) in labels.items():
        row = [label]
        for entry in quality.values():
            row.append(
                f"{_spread_text(entry[key]['measured'], digits)}"
                f" (physics {figure_text(entry[key]['predicted'], digits)})"
            )
        rows.append(row)
    table = _table(["figure", *quality], rows)
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, entry in quality.items():
        curve = entry["penetration_curve"]
        line = axes[0].semilogy(curve["steel_mm"], np.maximum(curve["measured"], 0.05), "o-", label=f"{name} measured")
        axes[0].semilogy(
            curve["steel_mm"],
            np.maximum(curve["predicted"], 0.05),
            "--",
            color=line[0].get_color(),
            label=f"{name} physics",
        )
        mtf = entry["mtf_curve"]
        axes[1].plot(mtf["frequency"], mtf["travel"], label=name)
    axes[0].axhline(5.0, color="grey", lw=0.8)
    axes[0].set(
        xlabel="steel wall (mm)",
        ylabel="detectability of the 20 mm block",
        title="Penetration (Rose index, threshold 5)",
    )
    axes[0].legend(fontsize=7)
    axes[1].axhline(0.5, color="grey", lw=0.8)
    axes[1].set(xlabel="cycles/mm", ylabel="MTF", title="Edge MTF along travel", ylim=(0, 1.05))
    axes[1].legend(fontsize=7)
    parts = [
        table,
        _figure(_plot(figure), "Penetration and resolution: measured on the DICOS files, predicted from physics"),
    ]
    for name, entry in quality.items():
        materials = entry.get("materials")
        if materials:
            parts.append(_confusion_figure(name, materials, plt))
    return "".join(parts)


def _confusion_figure(name: str, materials: dict[str, Any], plt: Any) -> str:
    matrix = np.asarray(materials["confusion"], np.float64)
    present = [c for c in range(1, matrix.shape[0]) if matrix[c].sum() > 0]
    shares = matrix[present] / matrix[present].sum(axis=1, keepdims=True)
    figure, axis = plt.subplots(figsize=(4.6, 3.2))
    axis.imshow(shares, vmin=0, vmax=1, cmap="Blues")
    axis.set_xticks(
        range(matrix.shape[1]), [MaterialClass(c).name.lower() for c in range(matrix.shape[1])], rotation=30
    )
    axis.set_yticks(range(len(present)), [MaterialClass(c).name.lower() for c in present])
    for (i, j), share in np.ndenumerate(shares):
        axis.text(
            j, i, f"{100 * share:.0f}", ha="center", va="center", color="white" if share > 0.6 else "black", fontsize=8
        )
    axis.set(
        xlabel="class found",
        ylabel="true class",
        title=f"{name}: materials ≥ {materials['min_area_density_g_cm2']:g} g/cm² (%)",
    )
    return _figure(_plot(figure), f"{name}: {100 * materials['correct']:.1f} % of decided pixels in their class")


def _agreement_section(agreement: dict[str, Any]) -> str:
    rows = []
    for row in agreement["same_object"] + agreement["unrelated"]:
        steel = row.get("steel_difference_mm") or {}
        rows.append(
            [
                f"{row['reference']}:{row['reference_object']} ↔ {row['moving']}:{row['moving_object']}"
                f" ({row['view']})",
                figure_text(row.get("confidence"), 3) + ("" if row.get("converged") else " (not converged)"),
                figure_text(row.get("ncc"), 3),
                figure_text(row.get("ssim"), 3),
                figure_text(row.get("psnr_db"), 1),
                figure_text(steel.get("median"), 1),
                figure_text(row.get("material_agreement"), 3),
            ]
        )
    table = _table(["pair", "confidence", "NCC", "SSIM", "PSNR dB", "steel |Δ| median mm", "material agreement"], rows)
    pictures = []
    for row in agreement["same_object"]:
        for kind in ("checkerboard", "difference"):
            path = row.get("pictures", {}).get(kind)
            if path:
                with Image.open(path) as image:
                    pictures.append(
                        _figure(
                            _png(np.asarray(image)),
                            f"{row['reference_object']} ({row['view']}): {row['reference']} ↔ {row['moving']}, {kind}",
                            540,
                        )
                    )
    summary = agreement["summary"]
    note = (
        f"<p>Confidence of one object across scanners: {_spread_text(summary['same_object_confidence'], 3)}; "
        f"of unrelated objects: {_spread_text(summary['unrelated_confidence'], 3)}.</p>"
    )
    return note + table + "".join(pictures)


def _reference_text(check: dict[str, Any]) -> str:
    return f"{check['read']} / {check['files']}" if check["checked"] else "not checked (no pyDICOS)"


def _interoperability_section(interop: dict[str, Any], throughput: dict[str, Any]) -> str:
    rows = []
    for name, entry in interop.items():
        speed = throughput.get(name, {})
        rows.append(
            [
                name,
                f"{entry['dicos_valid']} / {entry['dicos_files']}",
                _reference_text(entry["reference_toolkit"]),
                f"{entry['round_trips_exact']} / {entry['round_trips']}",
                ", ".join(entry["metadata_not_carried"]) or "none",
                _spread_text(speed.get("scans_per_s"), 2),
                _spread_text(speed.get("mb_per_s"), 1),
            ]
        )
    return _table(
        [
            "scanner",
            "DICOS files valid",
            "read by the reference toolkit",
            "exact pixel round trips",
            "metadata its format did not carry",
            "scans/s",
            "MB/s",
        ],
        rows,
    )


def write_report(results: dict[str, Any], records: list[Record], path: Path) -> Path:
    """Write the self-contained HTML report, atomically."""
    pilot = results["pilot"]
    scanners = _table(
        ["scanner", "model", "format"],
        [[s["name"], s["model"] or "—", s["format"]] for s in pilot["scanners"]],
    )
    body = [
        f"<h1>{html.escape(pilot['title'])}</h1>",
        f"<p>{html.escape(pilot['description'])}</p>" if pilot["description"] else "",
        f"<p class='note'>nii {html.escape(nii.__version__)}; conversion to DICOS with "
        f"<code>{html.escape(pilot['normalize'])}</code>, compression {html.escape(pilot['compression'])}; "
        f"run took {results['seconds']:.1f} s. Every figure below was computed in this run.</p>",
        "<h2>Scanners</h2>",
        scanners,
        "<h2>Scans, converted to DICOS</h2>",
        _thumbnails(records),
        "<h2>Agreement across scanners</h2>",
        _agreement_section(results["agreement"]),
        "<h2>Image quality on the test objects</h2>",
        "<p class='note'>Measured on the DICOS files of repeated scans (mean ± standard deviation); in brackets "
        "what the physics predicts from the simulator's noise-free truth and the detector's noise model "
        "(penetration, wires, contrast) or aperture (MTF50). Detection threshold: Rose index 5.</p>",
        _quality_section(results["quality"]),
        "<h2>Interoperability and throughput</h2>",
        _interoperability_section(results["interoperability"], results["throughput"]),
        "<p class='note'>Throughput: conversion of each scanner's files to DICOS, mean ± standard deviation over "
        "rounds, input megabytes per second; measured on a shared machine.</p>",
    ]
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(pilot['title'])}</title><style>{_STYLE}</style></head><body>"
        + "".join(body)
        + "</body></html>"
    )
    with atomic_output(path) as temporary:
        temporary.write_text(page, encoding="utf-8")
    return path
