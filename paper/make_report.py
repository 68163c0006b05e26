"""Turn evaluation results (`python -m remedi.eval --out DIR`) into the paper's tables and figures.

    python paper/make_report.py --eval runs/eval-arith-mlp:"MLP UPS" runs/eval-arith-stream:"stream UPS"
    cd paper && pdflatex main.tex        # optional, where TeX is installed

Every number in paper/generated/ comes from a results.json written by the evaluation CLI; nothing is
typed in by hand. Each table names the directory it was read from.
"""

import argparse
import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
# What each figure of an evaluation run shows, in the order the report places them.
FIGURES = {
    "accuracy.png": r"accuracy against the step budget, one line per confidence source and remask mode, "
                    r"with 95\% bootstrap intervals",
    "mask_counts.png": "masked tokens after each step against LLaDA's linear schedule, which every setting "
                       "must follow",
    "remasks.png": "tokens sent back to the mask at each step (mean per answer), settings with remasking",
    "trajectory.png": "one answer's denoising, step by step (problem and setting in the title); red marks: "
                      "positions corrected (wrong, remasked, then final)",
}


def percent(x):
    return "--" if x is None else f"{100 * x:.1f}"


def with_interval(estimate):
    """'12.3 [10.1, 14.5]' from {'mean', 'lo', 'hi'} (fractions), as remedi.eval reports them."""
    if estimate is None:
        return "--"
    return f"{percent(estimate['mean'])} [{percent(estimate['lo'])}, {percent(estimate['hi'])}]"


def accuracy_table(results, label, source_dir, tag):
    """One row per sampler setting: accuracy with its CI, the paired difference to LLaDA, remasks."""
    lines = [
        r"\begin{table}[!htbp]\centering\small",
        r"\begin{tabular}{llrrlll}",
        r"\toprule",
        r"source & remask & steps & block & accuracy (\%) [95\% CI] & $\Delta$ vs LLaDA [95\% CI] & remasked/answer \\",
        r"\midrule",
    ]
    for s in results["settings"]:
        lines.append(
            f"{s['source'].replace('_', chr(92) + '_')} & {'on' if s['remask'] else 'off'} & {s['steps']} & "
            f"{s['block_length']} & {with_interval(s['accuracy'])} & {with_interval(s['vs_baseline'])} & "
            f"{s['remasks_per_answer']:.2f} \\\\"
        )
    n = results["n_problems"]
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{label}: exact-answer accuracy on {n} held-out problems per sampler setting. "
        rf"$\Delta$ is paired against \texttt{{tps\_prob}} without remasking at the same steps and block. "
        rf"Source: \texttt{{{source_dir}/results.json}}.}}",
        rf"\label{{tab:{tag}-accuracy}}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def detection_table(results, label, source_dir, tag):
    detection = results.get("detection")
    if not detection:
        return ""
    lines = [
        r"\begin{table}[!htbp]\centering\small",
        r"\begin{tabular}{rrrrr}",
        r"\toprule",
        r"$t$ & clean & incorrect & ROC-AUC & token accuracy \\",
        r"\midrule",
    ]
    for row in detection["per_t"] + [dict(detection["pooled"], t="all")]:
        auc = "--" if row["roc_auc"] is None else f"{row['roc_auc']:.3f}"
        lines.append(f"{row['t']} & {row['n_clean']} & {row['n_incorrect']} & {auc} & "
                     f"{row['token_accuracy']:.3f} \\\\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{label}: UPS detection of incorrect tokens in Remask-SFT-noised held-out answers "
        rf"($r={detection['r_incorrect']}$, threshold {detection['threshold']}). "
        rf"Source: \texttt{{{source_dir}/results.json}}.}}",
        rf"\label{{tab:{tag}-detection}}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def worth_drawing(figure, results):
    """Whether a figure shows more than its run's table: not the accuracy curve of a single step budget,
    nor the per-step figures of a run whose every setting decodes in one step."""
    steps = {s["steps"] for s in results["settings"]}
    if figure == "accuracy.png":
        return len(steps) > 1
    return max(steps) > 1


def figure_float(path, label, figure, source_dir, tag):
    """A figure at its natural size (the PNG's dpi), shrunk only where it would leave the text block."""
    return [r"\begin{figure}[!htbp]\centering",
            rf"\includegraphics[max width=\linewidth, max height=0.35\textheight]{{{path}}}",
            rf"\caption{{{label}: {FIGURES[figure]}. Source: \texttt{{{source_dir}/{figure.replace('_', chr(92) + '_')}}}.}}",
            rf"\label{{fig:{tag}-{figure.removesuffix('.png')}}}",
            r"\end{figure}"]


def run_section(label, directory, tag, has_detection, figures):
    """One subsection per run, its floats flushed before the next one starts (placeins' \\FloatBarrier),
    with a sentence of text under the heading so that the heading never ends a page on its own."""
    floats = [rf"Table~\ref{{tab:{tag}-accuracy}}"]
    if has_detection:
        floats.append(rf"Table~\ref{{tab:{tag}-detection}} (UPS detection)")
    floats += [rf"Figure~\ref{{fig:{tag}-{figure.removesuffix('.png')}}}" for figure in figures]
    body = [r"\FloatBarrier", rf"\subsection*{{{label}}}",
            rf"Read from \texttt{{{directory}/results.json}}: " + ", ".join(floats) + ".",
            rf"\input{{generated/{tag}_accuracy.tex}}", rf"\input{{generated/{tag}_detection.tex}}"]
    for figure in figures:
        body += figure_float(f"generated/{tag}_{figure}", label, figure, directory, tag)
    return body


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", nargs="+", required=True, metavar="DIR[:LABEL]",
                        help="evaluation output directories, each optionally with a label")
    parser.add_argument("--out", type=Path, default=HERE / "generated")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    body = []
    for i, spec in enumerate(args.eval):
        directory, _, label = spec.partition(":")
        label = label or Path(directory).name
        results = json.loads((Path(directory) / "results.json").read_text())
        tag = f"run{i}"
        (args.out / f"{tag}_accuracy.tex").write_text(accuracy_table(results, label, directory, tag))
        (args.out / f"{tag}_detection.tex").write_text(detection_table(results, label, directory, tag))
        figures = [figure for figure in FIGURES
                   if (Path(directory) / figure).is_file() and worth_drawing(figure, results)]
        for figure in figures:
            shutil.copy(Path(directory) / figure, args.out / f"{tag}_{figure}")
        body += run_section(label, directory, tag, bool(results.get("detection")), figures)
    body.append(r"\FloatBarrier")
    (args.out / "results.tex").write_text("\n".join(body) + "\n")
    print(f"wrote {args.out}/results.tex and {len(args.eval)} runs' tables and figures")


if __name__ == "__main__":
    main()
