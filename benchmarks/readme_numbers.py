"""Regenerate the README's engine/throughput and installer numbers from the results files.

    python benchmarks/readme_numbers.py            # rewrites the generated blocks in README.md
    python benchmarks/readme_numbers.py --check    # exit 1 when README.md is out of date

Reads, in ``docs/results/``: ``bench_throughput.json`` (``bench_throughput.py``),
``bench_engines.json`` (``bench_inference.py --only-engines``), ``package_size.json``
(``make package-test``: its ``dist/package-test.json`` and the bundle's composition,
``packaging/bundle_composition.py``), ``bench_gui.json`` (``bench_gui.py``),
``bench_preprocess.{md,json}`` (``bench_preprocess.py``), ``bench_preprocess_seeds.json``
(``bench_preprocess_seeds.py``), ``bench_preprocess_downstream.json``
(``bench_model.py``), ``bench_refine{,_full}.{json,md}`` (``bench_refine.py``) and
``bench_analysis.{json,md}`` (``bench_analysis.py``), ``bench_color_levers.json``
(``bench_color_levers.py``), ``bench_candidates.json`` (``bench_candidates.py``: the segmenter
candidates on the validation split), ``bench_levers.json`` + ``bench_levers_timing.json``
(``bench_levers.py``, ``bench_levers_timing.py``: inference-only levers), ``bench_dicom.json``
(``bench_dicom.py``), ``bench_explanations.{json,md}`` (``bench_explanations.py``), ``bench_classifier.json``
(``bench_classifier.py``), and replaces the text between
``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the classifier blocks use training.classifier_card's wording
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
            lines.append(memory_line(m))
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


def memory_line(m: dict) -> str:
    """The README sentence of ``bench_throughput.json``'s ``memory``: RSS after 50 images,
    half-way and at the end; a mark the 0.25 s sampling never reached (the process wrote its
    last images and exited between two samples) is left out, or given as the last sample
    when the results file has it."""
    at, n = m["rss_mb_when_images_written"], m["images"]
    marks = [(at.get("50"), "after 50 images"), (at.get(str(n // 2)), f"after {n // 2}")]
    last = m.get("last_sample")
    if at.get(str(n)) is not None:
        marks.append((at[str(n)], "at the end"))
    elif last:
        marks.append((last["rss_mb"], f"at the last sample ({last['images_written']} images "
                                      "written)"))
    said = ", ".join(f"{mb} MB {when}" for mb, when in marks if mb is not None)
    return (f"Memory over {n} images (default settings, RSS sampled every 0.25 s): {said}; peak "
            f"{m['peak_first_10pct_mb']} MB in the first 10 %, {m['peak_last_50pct_mb']} MB "
            f"in the second half ({m['images_per_s']} images/s).")


def packaging_block() -> str:
    pkg = _load("package_size.json")
    if not pkg:
        return ""
    comp = pkg.get("composition", {})
    parts = ", ".join(f"{p['name']} {p['bytes'] / 1e6:.0f}" for p in comp.get("parts", [])[:10])
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
        f"| frozen start to main window (the self-test's window process"
        f"{', alongside its other checks' if pkg.get('gui_alongside') else ''}) | "
        f"{pkg['gui_process_window_s']} s | |",
        f"| self-test Dice on ISIC_0000095 (bound 0.80) | {pkg['self_test_dice']} | |",
        "",
        f"Largest parts on disk (MB): executable (pure-Python modules, compressed) "
        f"{comp.get('executable_bytes', 0) / 1e6:.0f}, {parts}.",
        "",
        f"(`make package-test` → `docs/results/package_size.json`; load average "
        f"{pkg.get('load_average', 'n/a')}.)",
    ])


def gui_block() -> str:
    gui = _load("bench_gui.json")
    if not gui:
        return ""
    cs, pv, br, sg = (gui[k] for k in ("cold_start", "preview", "brush", "segmentation"))
    load = gui.get("load_average_before")
    return "\n".join([
        "| measure | value | target |",
        "|---|---|---|",
        f"| cold start → window shown (fresh process, median of {len(cs['runs_s'])}; torch "
        f"imported at show: {cs['torch_imported_at_show']}) | {cs['median_s']:.2f} s | < 3 s |",
        f"| hair threshold T changed → preview shown, {pv['image']} (median / max of {pv['n']}) "
        f"| {pv['median_ms']:.0f} / {pv['max_ms']:.0f} ms | ≤ 150 ms |",
        f"| mouse move while brushing, {br['events']}-event stroke, {br['image']} image fitted "
        f"in the view (median / p95; {br['ratio_brush_to_hover']}× a plain hover move) | "
        f"{br['brush_median_ms']:.1f} / {br['brush_p95_ms']:.1f} ms | ≤ 8 ms |",
        *([f"| the same in outline mode (the outline re-traced where the stroke changed it, at most every 40 ms; median / p95) "
           f"| {br['outline_brush_median_ms']:.1f} / {br['outline_brush_p95_ms']:.1f} ms | ≤ 8 ms |"]
          if "outline_brush_median_ms" in br else []),
        f"| the same zoomed in ({br['zoomed_view_px_per_image_px']} screen px per image px; "
        f"median / p95) | {br['zoomed_brush_median_ms']:.1f} / {br['zoomed_brush_p95_ms']:.1f} "
        f"ms | ≤ 8 ms |",
        f"| longest UI stall (10 ms heartbeat) while segmenting a {sg['image']} image "
        f"({sg['segment_s']} s) | {sg['max_ui_stall_ms']:.0f} ms | ≤ 100 ms |",
        f"| RSS after opening / after segmenting {sg['image']} (peak {sg['peak_rss_mb']} MB) | "
        f"{sg['rss_after_open_mb']} / {sg['rss_after_segment_mb']} MB | |",
        *([f"| opening the next {ws['image']} image of a worklist, on the GUI thread (median of "
           f"{ws['pairs']}): read ahead while the previous one was shown (PgDown) / not read "
           f"ahead (a jump two rows down; {ws['ratio_step_to_jump']}×) | "
           f"{ws['step_open_median_ms']:.0f} / {ws['jump_open_median_ms']:.0f} ms | |",
           f"| longest UI stall (10 ms heartbeat) while the next image is read ahead | "
           f"{ws['max_ui_stall_while_reading_ahead_ms']:.0f} ms | ≤ 100 ms |"]
          if (ws := gui.get("worklist_steps")) else []),
        *([f"| worklist of {wl['images']} labelled images: listing it (each row's status and "
           f"confidence read) / the row update of an image's first edit | "
           f"{wl['list_median_ms']:.0f} / {wl['first_edit_row_update_median_ms']:.0f} ms | |"]
          if (wl := gui.get("worklist")) else []),
        "",
        f"Load average on the 2 cores before the run: {load[0] if load else 'not recorded'} "
        "(other work shares this machine; absolute times grow with it, the brush-to-hover "
        "ratio compares across loads).",
    ])


def preprocess_block() -> str:
    """The tables ``bench_preprocess.py --markdown`` wrote (``docs/results/bench_preprocess.md``)."""
    path = RESULTS / "bench_preprocess.md"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def preprocess_summary_block() -> str:
    """Where the hair-removal targets stand (``bench_preprocess.json``) and the downstream Dice
    on hairy images (``bench_preprocess_downstream.json``, ``bench_model.py``)."""
    r, d = _load("bench_preprocess.json"), _load("bench_preprocess_downstream.json")
    lines: list[str] = []
    if r:
        f, b = r["fine"], r["bold"]
        fo, fd, bo = f["ours"], f["dullrazor"], b["ours"]
        la = r["machine"]["load_average"][0]
        lines += [
            f"- **Where the targets stand** (`bench_preprocess.json`). Fine regime: F1 {fo['hair_f1']:.3f} "
            f"(precision {fo['hair_precision']:.3f}, recall {fo['hair_recall']:.3f}; ≥ 0.6: "
            f"{'met' if fo['hair_f1'] >= 0.6 else '**not met**'}) against DullRazor's {fd['hair_f1']:.3f} "
            f"(recall {fd['hair_recall']:.3f}) in the same run: **{f['f1_gain']:+.3f}**, target +0.2 "
            f"{'met' if f['f1_gain'] >= 0.2 else '**not met**'} (sensitivity 0: F1 {f['ours_s0']['hair_f1']:.3f}). "
            f"Bold regime: F1 {bo['hair_f1']:.3f} (≥ 0.85: {'met' if bo['hair_f1'] >= 0.85 else '**not met**'}), "
            f"PSNR gain over DullRazor **{b['psnr_gain_db']:+.2f} dB**, target +10 "
            f"{'met' if b['psnr_gain_db'] >= 10 else '**not met**'} (sensitivity 0: "
            f"{b['ours_s0']['psnr_db_mean'] - b['dullrazor']['psnr_db_mean']:+.2f} dB). Lesion pixels flagged on "
            f"hair-free images {100 * r['lesion_hair_fraction']:.2f} % (≤ 1 %: "
            f"{'met' if r['lesion_hair_fraction'] <= 0.01 else '**not met**'}). Time at 512 px: "
            f"**{b['time_ratio']:.2f}× DullRazor** on the bold images, target ≤ 0.35× "
            f"{'met' if b['time_ratio'] <= 0.35 else '**not met**'} ({b['time_ratio_s0']:.2f}× with "
            f"sensitivity 0; load average {la:.1f} on 2 cores during the run).",
        ]
    seeds = _load("bench_preprocess_seeds.json")
    if seeds:
        names = {"bold_f1": "bold F1", "bold_psnr_gain_db": "bold PSNR gain (dB)", "fine_f1": "fine F1",
                 "fine_f1_gain": "fine F1 gain over DullRazor"}
        sm = seeds["summary"]
        n = next(iter(sm.values()))["seeds"]
        lines += [
            f"- **Other draws of the same generator** (`{seeds['command']}` → `docs/results/bench_preprocess_seeds.json`: "
            f"the hairs drawn again with {n} seeds on the same {seeds['images']} images, seed 0 being the run above; "
            "quality only): "
            + "; ".join(f"{names[k]} mean {v['mean']:.3f} ({v['min']:.3f}-{v['max']:.3f}), target "
                        f"{v['target']:g} met on {v['seeds_meeting']} of {v['seeds']} draws" for k, v in sm.items())
            + (". A target met on one draw and missed on another is **not** met with a margin: it sits within the "
               "generator's own spread." if any(0 < v["seeds_meeting"] < v["seeds"] for v in sm.values()) else "."),
        ]
    if d and "hairy" in d:
        h = d["hairy"]
        m = h["models"]
        lines += [
            "- **Downstream** (`OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_model.py --data "
            "../shared/data/derm --threads 1 --repeats 3 --json docs/results/bench_preprocess_downstream.json`): "
            f"validation Dice on the {len(h['ids'])} hairy images of the validation split and samples, with vs "
            "without preprocessing at inference: "
            + "; ".join(f"{'the bundled segmenter' if k == 'pretrained' else 'the method network' if k == 'method' else k}"
                        f" {v['with_preprocessing']['dice']:.4f} vs {v['without_preprocessing']['dice']:.4f} "
                        f"({v['with_preprocessing']['dice'] - v['without_preprocessing']['dice']:+.4f}"
                        f"{', trained on preprocessed images' if v['trained_on_preprocessed'] else ', trained on raw images'})"
                        for k, v in m.items()) + ".",
        ]
    return "\n".join(lines)


def _md_tables(name: str) -> list[str]:
    """The table file of a bench_refine run, its ``## `` headings as bold lines."""
    path = RESULTS / name
    if not path.is_file():
        return []
    return [f"**{ln[3:]}**" if ln.startswith("## ") else ln
            for ln in path.read_text(encoding="utf-8").rstrip("\n").split("\n")]


def _cmd(res: dict) -> str:
    return "OMP_NUM_THREADS=1 python " + res["command"]


def _load_text(res: dict) -> str:
    la = res.get("loadavg", {}).get("start")
    return f"load average {la[0]:.1f} at its start" if la else "load average not recorded"


def refine_block() -> str:
    """Interactive refinement: the same-run comparison (bench_refine.json), probcut on the
    whole validation split (bench_refine_full.json), and the floors."""
    cmp, full = _load("bench_refine.json"), _load("bench_refine_full.json")
    lines: list[str] = []
    if cmp:
        methods = ", ".join(cmp["refine"])
        lines += [f"Same run ({methods}; {_load_text(cmp)}): `{_cmd(cmp)}` → "
                  "`docs/results/bench_refine.json`", ""]
        lines += _md_tables("bench_refine.md")
    if full:
        lines += ["", f"{', '.join(full['refine'])} on the whole validation split "
                  f"({_load_text(full)}): `{_cmd(full)}` → `docs/results/bench_refine_full.json`",
                  ""]
        lines += _md_tables("bench_refine_full.md")
    if cmp and full:
        pc, gc = cmp["refine"]["probcut"], cmp["refine"].get("grabcut")
        fa = full["refine"]["probcut"]
        isic_full, isic = fa["auto"]["ISIC"], pc["auto"]["ISIC"]
        ms = {(src, g): r[st][g] for src, r in (("cmp", pc), ("full", fa))
              for st in ("auto",) for g in ("ISIC", "PH2")}
        text = (f"Against the floors: NoC@90 from the automatic mask on the ISIC validation images "
                f"**{isic_full['noc90']:.2f}** (all {isic_full['n']}; {isic['noc90']:.2f} on the "
                f"{isic['n']} of the same-run comparison; floor ≤ 3)")
        if gc:
            g = gc["auto"]["ISIC"]
            text += (f"; GrabCut needs {g['noc90']:.2f} there, **{g['noc90'] / isic['noc90']:.1f}× "
                     f"more** (floor ≥ 2×; from nothing {gc['scratch']['ISIC']['noc90']:.2f} vs "
                     f"{pc['scratch']['ISIC']['noc90']:.2f})")
        worst = max(max(v["ms_median"], v["ms_p95"]) for v in ms.values())
        text += (". Time per click (median / p95): ISIC "
                 f"{ms[('full', 'ISIC')]['ms_median']:.0f} / {ms[('full', 'ISIC')]['ms_p95']:.0f} ms, "
                 f"PH2 {ms[('full', 'PH2')]['ms_median']:.0f} / {ms[('full', 'PH2')]['ms_p95']:.0f} ms "
                 f"(whole split), {'within' if worst <= 150 else '**over**'} the 150 ms floor "
                 f"(largest median or p95 of both runs: {worst:.0f} ms).")
        lines += ["", text]
    return "\n".join(lines)


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


def color_levers_lines(res: dict) -> list[str]:
    """The colour levers' table: mean colour F1 over the fold seeds (mean ± sd, range)."""
    seeds = res["seeds"]
    lines = [f"| lever (5-fold CV, fold seeds {seeds[0]}-{seeds[-1]}, experts' masks) | mean colour F1 "
             f"(± sd over seeds; range) | white | red | blue-grey | black | n_colors κ |",
             "|---|---|---|---|---|---|---|"]
    for lv in res["levers"]:
        f = lv["f1_mean"]
        lines.append(f"| {lv['lever']} ({lv['n_features']} features) | {lv['mean_f1_mean']:.3f} "
                     f"± {lv['mean_f1_sd']:.3f} ({lv['mean_f1_min']:.3f}-{lv['mean_f1_max']:.3f}) | "
                     f"{f['white']:.2f} | {f['red']:.2f} | {f['blue_gray']:.2f} | {f['black']:.2f} | "
                     f"{lv['n_colors_kappa_qw_mean']:.3f} |")
    a = res["always_present_f1"]
    lines += ["", "F1 of always answering \"present\" (no information): " + ", ".join(
        f"{k.replace('_', ' ')} {v:.2f} ({res['positives'][k]} positives)" for k, v in a.items())
        + f"; load average {res['load_average_1min']:.1f}."]
    return lines


def color_levers_block() -> str:
    res = _load("bench_color_levers.json")
    return "\n".join(color_levers_lines(res)) if res else ""


def segmenter_block() -> str:
    """Candidate segmenters vs the shipped one (``bench_candidates.json``): the plain pipeline
    and flip TTA with the app's clean-up, failures first."""
    res = _load("bench_candidates.json")
    if not res:
        return ""
    lines = [f"`{res['command']}` → `docs/results/bench_candidates.json` ({res['n']} validation "
             f"images, ONNX Runtime 1 thread; load average at the end "
             f"{res['load_avg'][0]:.1f}):", "",
             "| candidate | inference | Dice | Jaccard | thr. Jaccard | failures (J < 0.65) "
             "| `segment` ms | training CPU-min |", "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        for key, label, ms in (("plain|one", "plain", r["segment_ms"]),
                               ("h|one", "flip TTA", r["segment_tta_ms"])):
            v = r["variants"][key]
            lines.append(f"| {r['name']} | {label} | {v['dice']:.4f} | {v['jaccard']:.4f} | "
                         f"{v['thresholded_jaccard']:.4f} | {100 * v['failure_share']:.1f} % | "
                         f"{ms:.0f} | {r['training']['cpu_minutes']:.1f} |")
    ver = res.get("verdicts", {})
    ms = [r["segment_ms"] for r in res["rows"]]
    lines += ["", f"- `segment` ms: one run per candidate on a shared machine (load average "
                  f"{min(r['load_avg'][0] for r in res['rows']):.1f}-"
                  f"{max(r['load_avg'][0] for r in res['rows']):.1f}); the same network measured "
                  f"{min(ms):.0f}-{max(ms):.0f} ms plain, so the column is noise, not a lever."]
    if ver:
        for name, v in ver.items():
            lines.append(f"- {name}: failures {v['d_failures']:+d}, thresholded Jaccard "
                         f"{v['d_thresholded_jaccard']:+.4f}, Dice {v['d_dice']:+.4f} vs shipped; "
                         + ("**meets the shipping rule**" if v["ship"] else "not shipped"))
    return "\n".join(lines)


def _variant(name: str) -> str:
    """A ``tta|threshold|clean-up`` variant name as a Markdown table cell can hold it."""
    return name.replace("|", " / ")


def levers_verdict(lev: dict, timing: dict | None, budget_ms: float = 100.0) -> dict:
    """The shipping rule for the inference-only levers: the held-out estimate (threshold rule)
    of a family has fewer failures and a higher thresholded Jaccard than the default, and its
    choice's mean end-to-end time (wall clock, projected to the validation share of flipped
    images where it is gated) is within ``budget_ms``. One entry per family."""
    d = lev["default"]
    rows = (timing or {}).get("rows", {})
    out = {}
    for f in lev["families"]:
        if f["rule"] != "thr_jaccard":
            continue
        h = f["held_out"]
        choice = f["choice_on_all"]
        tta = choice.split("|")[0]
        key = "default" if tta == "plain" else ("tta" if tta == "h" else tta)
        t = rows.get(key, {})
        ms = t.get("projected_mean_ms") or t.get("mean_ms")
        better = h["failures"] < d["failures"] and h["thresholded_jaccard"] > d["thresholded_jaccard"]
        out[f["family"]] = {"better": better, "ms": ms, "within": ms is not None and ms <= budget_ms,
                            "ship": better and ms is not None and ms <= budget_ms}
    return out


def levers_block() -> str:
    """Inference-only levers (``bench_levers.json``: held-out estimates of each family's tuned
    choice) and their end-to-end time (``bench_levers_timing.json``)."""
    lev = _load("bench_levers.json")
    if not lev:
        return ""
    timing = _load("bench_levers_timing.json")
    d = lev["default"]
    ver = levers_verdict(lev, timing)
    lines = [f"`{lev['measured_by']}` → `docs/results/bench_levers.json` ({lev['n']} validation "
             f"images; each choice tuned on 4 of 5 folds, scored on the 5th, "
             f"{lev['cv']['fold_seeds']} fold seeds: mean ± sd; the default is not tuned):", "",
             "| lever (what is tuned) | held-out Dice | held-out thr. Jaccard | held-out failures "
             "| tuned on all 323 | mean forwards |", "|---|---|---|---|---|---|",
             f"| default `{_variant(d['variant'])}` | {d['dice']:.4f} | "
             f"{d['thresholded_jaccard']:.4f} | {d['failures']} ({100 * d['failure_share']:.1f} %) "
             "| | 1 |"]
    for f in lev["families"]:
        if f["rule"] != "thr_jaccard":
            continue
        h, sd = f["held_out"], f["held_out_sd"]
        lines.append(f"| {f['family']} | {h['dice']:.4f} | {h['thresholded_jaccard']:.4f} ± "
                     f"{sd['thresholded_jaccard']:.4f} | {h['failures']:.1f} ± {sd['failures']:.1f} "
                     f"| `{_variant(f['choice_on_all'])}` | {f['choice_on_all_forwards']:.2f} |")
    eff = lev.get("cleanup_effect", {})
    if eff:
        parts = [f"`{k}` {v['changed']} ({v['better']} better, {v['worse']} worse, failures "
                 f"+{v['failures_added']}/-{v['failures_removed']})"
                 for k, v in eff.items() if k in ("largest", "all", "share0.1", "mass0.1",
                                                  "merge0.04", "close0.01", "open0.01", "blur0.02")]
        lines += ["", "- Clean-ups at threshold 0.5 against `one`, images whose Jaccard changes: "
                  + "; ".join(parts) + "."]
    share = lev.get("gate_share_at_0.5_one", {})
    if share:
        lines.append("- Share of validation images whose plain mask is below the gate (so get the "
                     "flipped pass): " + ", ".join(f"{g}: {100 * v:.0f} %" for g, v in share.items()) + ".")
    if timing:
        lines += ["", f"`{timing['command']}` → `docs/results/bench_levers_timing.json` "
                  f"({timing['n_images']} validation images of 512 px × {timing['rounds']} rounds, "
                  f"1 thread, in one process under the timing lock; load average "
                  f"{timing['load_avg_before'][0]:.1f} before, {timing['load_avg_after'][0]:.1f} "
                  "after; projected = at the validation split's share of flipped images):", "",
                  "| variant | mean ms | p95 ms | CPU mean ms | × default | flipped (512-px set) "
                  "| projected mean ms (CPU) |", "|---|---|---|---|---|---|---|"]
        for v, r in timing["rows"].items():
            proj = (f"{r['projected_mean_ms']:.0f} ({r['projected_cpu_mean_ms']:.0f})"
                    if r.get("projected_mean_ms") else "")
            lines.append(f"| {v} | {r['mean_ms']:.0f} | {r['p95_ms']:.0f} | {r['cpu_mean_ms']:.0f} "
                         f"| {r['ratio_to_default']:.2f} | {100 * r['tta_share']:.0f} % | {proj} |")
    lines.append("")
    for fam, v in ver.items():
        state = ("**meets the shipping rule**" if v["ship"] else
                 "better held out, over the time budget" if v["better"] else "not better held out")
        ms = f"{v['ms']:.0f} ms" if v["ms"] is not None else "not timed"
        f = next(x for x in lev["families"] if x["family"] == fam and x["rule"] == "thr_jaccard")
        lines.append(f"- {fam}: {state} (held out vs default: failures {f['d_failures']:+.1f}, "
                     f"thr. Jaccard {f['d_thresholded_jaccard']:+.4f}, Dice {f['d_dice']:+.4f}; "
                     f"{ms})")
    if timing:
        rows = timing["rows"]
        lines.append(f"- The plain default in that timing run: mean {rows['default']['mean_ms']:.0f} ms "
                     f"wall clock, {rows['default']['cpu_mean_ms']:.0f} ms CPU.")
    return "\n".join(lines)


#: A classifier lever is shipped only with at least this pooled CV gain of the mean of the
#: melanoma and SK AUCs over the shipped recipe, its 95 % interval above 0.
CLASSIFIER_MIN_GAIN = 0.01


#: Levers named in the README's text beside the best five (the network cost of the shipped one).
CLASSIFIER_NOTED = ("Lite1 160 lesion + whole",)


def classifier_levers_more_block() -> str:
    """The classifier levers of ``classifier_levers_more.json``: the shipped recipe's CV, the
    five best candidates, the candidates asked for but not run."""
    res = _load("classifier_levers_more.json")
    if not res:
        return ""
    rows = res["results"]
    ref = next(r for r in rows if r["name"].startswith("shipped:"))
    best = sorted(rows, key=lambda r: -r["cv_auc_mean_mel_sk"])[:5]

    def score(r: dict) -> str:
        return (f"{r['cv_auc_mean_mel_sk']:.3f} (melanoma {r['cv_auc_melanoma']['auc']:.3f}, "
                f"SK {r['cv_auc_seborrheic_keratosis']['auc']:.3f})")

    text = (f"`{res['command']}` → `docs/results/classifier_levers_more.json` "
            f"({res['folds']}-fold CV on the training split; load {res['loadavg'][0]:.1f}): "
            f"shipped model {score(ref)}; best five: "
            + "; ".join(f"{r['name']} {r['cv_auc_mean_mel_sk']:.3f}" for r in best) + ".")
    noted = [r for r in rows if r["name"] in CLASSIFIER_NOTED and r not in best]
    if noted:
        text += " Also: " + "; ".join(f"{r['name']} {score(r)}" for r in noted) + "."
    missing = res.get("not_run (features not extracted)") or []
    if missing:
        text += " Not run (descriptors not extracted): " + "; ".join(m["name"] for m in missing) + "."
    return text


def classifier_colour_constancy_block() -> str:
    """Colour constancy before the classifier's frozen encoder
    (``classifier_colour_constancy.json``): the shipped recipe's CV, the three best
    candidates against it, and the verdict of :data:`CLASSIFIER_MIN_GAIN`."""
    res = _load("classifier_colour_constancy.json")
    if not res:
        return ""
    ref, *cands = res["results"]
    cands = sorted(cands, key=lambda r: -r["vs_reference"]["pooled"]["delta"])
    lines = [f"`{res['command']}` → `docs/results/classifier_colour_constancy.json` "
             f"({res['folds']}-fold CV on the training split, {len(res['seeds'])} fold partitions; "
             f"load {res['loadavg'][0]:.1f}): {ref['name']} melanoma "
             f"{ref['cv_auc_melanoma']['auc']:.3f}, SK {ref['cv_auc_seborrheic_keratosis']['auc']:.3f}, "
             f"mean {ref['cv_auc_mean_mel_sk']:.3f}.", ""]
    lines += ["| candidate | melanoma | SK | mean | Δ mean vs shipped (95 % CI) |", "|---|---|---|---|---|"]
    for r in cands[:3]:
        d = r["vs_reference"]["pooled"]
        lines.append(f"| {r['name']} | {r['cv_auc_melanoma']['auc']:.3f} | "
                     f"{r['cv_auc_seborrheic_keratosis']['auc']:.3f} | {r['cv_auc_mean_mel_sk']:.3f} | "
                     f"{d['delta']:+.4f} ({d['lo']:+.4f} to {d['hi']:+.4f}) |")
    best = cands[0]["vs_reference"]["pooled"]
    ship = best["delta"] >= CLASSIFIER_MIN_GAIN and best["lo"] > 0
    lines += ["", f"Verdict: {'shipped' if ship else 'not shipped'} (the rule: a pooled gain ≥ "
              f"{CLASSIFIER_MIN_GAIN} with its interval above 0; the best is {best['delta']:+.4f}"
              + ("" if ship else ", and the corrected features next to the plain ones need a second "
                 "encoder pass per crop, over the 40 ms budget") + ")."]
    return "\n".join(lines)


def classifier_validation_block() -> str:
    """The classifier's validation table and targets (``bench_classifier.json``)."""
    bench = _load("bench_classifier.json")
    if not bench:
        return ""
    from benchmarks.bench_classifier import table
    from training.classifier_card import floors

    return "\n".join([f"Validation split, from `docs/results/bench_classifier.json` (`{bench['command']}`):",
                      "", table(bench).strip(), "", "Targets:", *floors(bench)])


def explanations_block() -> str:
    """The heat map's faithfulness (``bench_explanations.{json,md}``): the card's paragraph and
    the table."""
    table = RESULTS / "bench_explanations.md"
    if not table.is_file():
        return ""
    from training.classifier_card import EXPLANATIONS, explanation_lines

    return "\n".join(explanation_lines(EXPLANATIONS)) + "\n\n" \
        + table.read_text(encoding="utf-8").rstrip()


def dicom_block() -> str:
    """Reading a JPEG-compressed DICOM vs the same JPEG (``bench_dicom.json``)."""
    res = _load("bench_dicom.json")
    if not res:
        return ""
    med, size = res["median_s"], res["file_bytes"]
    rows = [("jpeg", "JPEG (.jpg)"), ("dicom_jpeg", "DICOM, same JPEG codestream"),
            ("dicom_jpeg_ls", "DICOM, JPEG-LS lossless"), ("dicom_j2k", "DICOM, JPEG 2000 lossless")]
    lines = ["| file | MB | median s | vs JPEG |", "|---|---|---|---|"]
    for key, label in rows:
        ratio = med[key] / med["jpeg"]
        cell = f"{ratio:.2f}×"
        if key == "dicom_jpeg":
            cell = (f"**{cell}** (target ≤ {res['target_ratio']:g}×; pixels "
                    f"{'identical' if res['identical_pixels'] else 'DIFFERENT'})")
        lines.append(f"| {label} | {size[key] / 1e6:.2f} | {med[key]:.3f} | {cell} |")
    return "\n".join(lines)


BLOCKS = {"dicom": dicom_block, "explanations": explanations_block,
          "classifier_validation": classifier_validation_block, "classifier_levers_more": classifier_levers_more_block,
          "classifier_colour_constancy": classifier_colour_constancy_block, "levers": levers_block, "color_levers": color_levers_block, "segmenter": segmenter_block, "engines": engines_block, "packaging": packaging_block, "gui": gui_block,
          "preprocess": preprocess_block, "preprocess_summary": preprocess_summary_block,
          "refine": refine_block, "analysis": analysis_block}


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
