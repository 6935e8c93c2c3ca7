"""The end-of-run summary: where to look for the run, the model, the metrics and the ONNX files."""

from __future__ import annotations

from typing import Any


def print_run_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    if "unchanged_since" in summary:  # the champion was made from this data, code and params
        Console().print(
            f"Nothing changed since version {summary['unchanged_since']}: the champion was made "
            f"from this data version (data.dvc md5 {summary['data_version']}, "
            f"{summary['n_samples']} samples), code and parameters; nothing was trained or "
            "registered. `clip-pipeline run --force` trains anyway."
        )
        return
    reg, promo, metrics = summary["registration"], summary["promotion"], summary["metrics"]
    uri = summary["tracking_uri"]
    table = Table(title=f"CLIP retrain ({summary['profile']} profile)", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row(
        "data version", f"data.dvc md5 {summary['data_version']} ({summary['n_samples']} samples)"
    )
    table.add_row(
        "validation",
        f"{summary['validation']['n_rejected']} of {summary['validation']['n_rows']} rejected",
    )
    table.add_row("MLflow run", f"{reg['run_id']}  (tracking {uri})")
    table.add_row("model", f"{reg['model_uri']}")
    alias = "champion" if promo["promote"] else f"not promoted: {promo['reason']}"
    table.add_row("alias", f"{alias}" + (f" ({promo['reason']})" if promo["promote"] else ""))
    styles = (("Twemoji", "zeroshot_heldout_twemoji"), ("OpenMoji", "zeroshot_heldout"))
    for style, prefix in styles:
        for key in ("top1", "top5", "chance_top1", "n_classes"):
            value = metrics.get(f"{prefix}_{key}")
            if value is not None:
                shown = f"{value:.4f}" if key != "n_classes" else f"{value:.0f}"
                table.add_row(f"zero-shot {style} {key}", shown)
    for key in ("image_to_text_r1", "text_to_image_r1", "image_to_text_r5"):
        value = metrics.get(f"retrieval_val_{key}")
        if value is not None:
            table.add_row(f"retrieval {key}", f"{value:.4f}")
    table.add_row("ONNX", f"{summary['onnx']['image_onnx']}\n{summary['onnx']['text_onnx']}")
    console = Console()
    console.print(table)
    if uri.startswith("sqlite:///"):
        console.print(f"Browse the runs: mlflow ui --backend-store-uri {uri}")
