"""Regenerate the README's engine/throughput and installer numbers from the results files.

    python benchmarks/readme_numbers.py            # rewrites the generated blocks in README.md
    python benchmarks/readme_numbers.py --check    # exit 1 when README.md is out of date

Reads ``docs/results/bench_throughput.json`` (``bench_throughput.py``),
``docs/results/bench_engines.json`` (``bench_inference.py --only-engines``) and
``docs/results/package_test.json`` (``make package-test``'s ``dist/package-test.json``),
``docs/results/bench_analysis.json`` (``bench_analysis.py``) and
replaces the text between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def engines_block() -> str:
    thr, eng = _load("bench_throughput.json"), _load("bench_engines.json")
    lines: list[str] = []
    if thr:
        i, b = thr["idle"], thr["busy"]
        la_i, la_b = thr["load_average_before_idle"][0], thr["load_average_before_busy"][0]
        lines += [
            f"`dermview segment` on {thr['images']} unseen validation images (longer side "
            f"256-512 px), each row a fresh process as a user types it (start-up and model load "
            f"included; in brackets the command's own images/s line), {thr['cpu_count']} CPUs "
            f"shared with other work (load average {la_i:.1f} before the \"idle\" runs, {la_b:.1f} "
            f"before the busy ones, which add {thr['busy_loops']} busy-loop processes); "
            f"`{thr['command']}` → `docs/results/bench_throughput.json`:",
            "",
            "| settings | images/s, no extra load | images/s, 2 busy loops |",
            "|---|---|---|",
        ]
        names = {"default": "**default** (ONNX Runtime, threads from the free cores)",
                 "jobs_1": "`--jobs 1` (1 thread, one image at a time)",
                 "jobs_2": "`--jobs 2` (network 1 thread + 1 preparing)",
                 "jobs_3": "`--jobs 3` (network 2 threads + 1 preparing)",
                 "torch_jobs_1": "`--engine torch --jobs 1` (PyTorch eager, 1 thread)"}
        for key, label in names.items():
            if key in i:
                lines.append(f"| {label} | {i[key]['images_per_s']:.2f} "
                             f"({i[key]['loop_images_per_s']}) | {b[key]['images_per_s']:.2f} "
                             f"({b[key]['loop_images_per_s']}) |")
        si, sb = i["summary"], b["summary"]
        lines += [
            "",
            f"Best thread setting / default: {si['default_vs_best']:.2f} idle "
            f"({si['best_thread_setting']}), {sb['default_vs_best']:.2f} busy "
            f"({sb['best_thread_setting']}) (target ≤ 1.1); default against PyTorch on one "
            f"thread: {si['default_vs_torch_jobs_1']:.2f}× idle, "
            f"{sb['default_vs_torch_jobs_1']:.2f}× busy.",
        ]
        m = thr.get("memory")
        if m:
            at = m["rss_mb_when_images_written"]
            lines.append(
                f"Memory over {m['images']} images (default settings, RSS sampled every 0.25 s): "
                f"{at.get('50')} MB after 50 images, {at.get(str(m['images'] // 2))} MB after "
                f"{m['images'] // 2}, {at.get(str(m['images']))} MB at the end; peak "
                f"{m['peak_first_10pct_mb']} MB in the first 10 %, {m['peak_last_50pct_mb']} MB "
                f"in the second half ({m['images_per_s']} images/s).")
    if eng:
        lines += ["", f"Network forward of one 1×3×256×256 input (`{eng['command']}` → "
                  f"`docs/results/bench_engines.json`, load average "
                  f"{eng['load_average_1min']:.1f}; medians, interleaved):", "",
                  "| threads | PyTorch eager NCHW | channels-last | ONNX Runtime | ONNX / eager |",
                  "|---|---|---|---|---|"]
        for key, r in eng["engines"].items():
            lines.append(f"| {key.split('_')[-1]} | {r['torch_nchw_ms']:.1f} ms | "
                         f"{r['torch_channels_last_ms']:.1f} ms | {r['onnx_ms']:.1f} ms | "
                         f"{r['onnx_ratio']:.2f} |")
        q = eng.get("engine_quality")
        if q:
            lines += ["", f"Validation split ({q['onnx']['n']} images, default chain): Dice "
                      f"{q['onnx']['dice']:.4f} with ONNX Runtime, {q['torch']['dice']:.4f} with "
                      f"PyTorch (difference {q['dice_difference']:+.5f}); "
                      f"{q['images_with_different_masks']} image(s) with any mask pixel "
                      f"different; largest probability difference {q['max_prob_diff']:.1e}."]
    return "\n".join(lines)


def packaging_block() -> str:
    pkg = _load("package_test.json")
    if not pkg:
        return ""
    return "\n".join([
        "| | value | target |",
        "|---|---|---|",
        f"| archive (`.tar.xz`) | {pkg['archive_bytes'] / 1e6:.1f} MB | ≤ 150 MB |",
        f"| bundle on disk | {pkg['bundle_bytes'] / 1e6:.1f} MB | ≤ 450 MB |",
        f"| build from a clean tree (PyInstaller + xz) | {pkg['build_s']} s | |",
        f"| frozen `dermview --version` (first / second run) | {pkg['version_cold_s']} / "
        f"{pkg['version_warm_s']} s | |",
        f"| frozen `dermview self-test` (wall, incl. the window check) | {pkg['self_test_s']} s "
        f"| ≤ 5 s |",
        f"| frozen start to main window | {pkg['gui_process_window_s']} s | |",
        f"| self-test Dice on ISIC_0000095 (bound 0.80) | {pkg['self_test_dice']} | |",
        "",
        f"(`make package-test`, `dist/package-test.json` copied to "
        f"`docs/results/package_test.json`; load average {pkg.get('load_average', 'n/a')}.)",
    ])


def analysis_block() -> str:
    res = _load("bench_analysis.json")
    if not res:
        return ""
    table = (RESULTS / "bench_analysis.md").read_text(encoding="utf-8").rstrip("\n")
    e = res["cv"]["expert"]
    fa = res["fit_all"]["in_sample"]
    lines = [table, ""]
    lines.append(f"- held out, experts' masks: mean colour F1 {e['colors_mean_f1']:.3f} with the "
                 f"per-colour model, {e['share_rule_baseline']['mean_f1']:.3f} with the share rule "
                 f"in the same run (floor 0.65); fitted and scored on all images (in-sample, "
                 f"reference only) {fa['colors_mean_f1']:.3f}; n_colors exact on "
                 f"{100 * e['n_colors']['accuracy']:.0f} % of images, within ±1 on "
                 f"{100 * e['n_colors']['within_1']:.0f} % (a constant 2: "
                 f"{100 * e['n_colors']['constant_2_within_1']:.0f} %).")
    if "model_masks" in res:
        mm = res["model_masks"]
        lines.append(f"- segmenter's masks: {mm['model']}, mean Dice {mm['mean_dice_vs_expert']:.3f} "
                     f"against the experts' masks; {mm['images_in_model_training_split']} of the "
                     f"{res['n_images']} PH2 images were in its training split (optimistic).")
    b = res.get("border_score_by_diagnosis", {})
    if b:
        lines.append("- mean B by diagnosis (experts' masks; no expert B in PH2): " + ", ".join(
            f"{k.replace('_', ' ')} {v['mean']:.2f} (n = {v['n']})" for k, v in b.items()) + ".")
    return "\n".join(lines)


BLOCKS = {"engines": engines_block, "packaging": packaging_block, "analysis": analysis_block}


def render(text: str) -> str:
    for name, fn in BLOCKS.items():
        pat = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.S)
        body = fn()
        text = pat.sub(lambda m, body=body: m.group(1) + body + ("\n" if body else "")
                       + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    readme = ROOT / "README.md"
    old = readme.read_text(encoding="utf-8")
    new = render(old)
    if args.check:
        return 0 if new == old else 1
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
