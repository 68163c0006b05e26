"""Turn evaluation results and Remask RL runs into the paper's tables and figures (paper/generated/).

    python paper/make_report.py --eval runs/eval-arith-mlp:"MLP UPS" runs/eval-arith-stream:"stream UPS" \\
        --rl runs/rl-a:"RL, UPS only" runs/rl-pos:"position-only control" --policy-report runs/policy-report.json
    cd paper && pdflatex main.tex        # optional, where TeX is installed

--eval reads the results.json of `python -m remedi.eval --out DIR` (results.tex, one subsection per run);
--rl reads the metrics.csv of `SMDM/pretrain/train_mdm_rl.py --out-dir DIR` (rl.tex, rl_curves.png);
--policy-report reads the numbers `scripts/policy_report.py --json FILE` writes (policy.tex). Each option
rewrites only its own files, so they can be given in separate calls. Every number in paper/generated/
comes from those files; nothing is typed in by hand. Each table names the file it was read from.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

from matplotlib.figure import Figure

from remedi.eval.policy_comparison import summary_cells
from remedi.eval.report import interval, latex_row, tex, tex_path
from remedi.eval.rl_metrics import read_metrics, trailing_mean

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


def split_spec(spec):
    """(directory, label) from 'DIR' or 'DIR:label'; the label defaults to the directory's name."""
    directory, _, label = spec.partition(":")
    return Path(directory), label or Path(directory).name


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
            f"{tex(s['source'])} & {'on' if s['remask'] else 'off'} & {s['steps']} & "
            f"{s['block_length']} & {interval(s['accuracy'])} & {interval(s['vs_baseline'])} & "
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
            rf"\caption{{{label}: {FIGURES[figure]}. Source: \texttt{{{source_dir}/{tex(figure)}}}.}}",
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


def write_eval_runs(specs, out):
    """results.tex and each run's tables and figures, from `python -m remedi.eval` output folders."""
    body = []
    for i, spec in enumerate(specs):
        directory, label = split_spec(spec)
        if not (directory / "results.json").is_file():
            raise ValueError(f"{directory}/results.json not found: --eval takes folders written by "
                             "`python -m remedi.eval --out DIR`")
        results = json.loads((directory / "results.json").read_text())
        tag = f"run{i}"
        label, source = tex(label), tex_path(directory)
        (out / f"{tag}_accuracy.tex").write_text(accuracy_table(results, label, source, tag))
        (out / f"{tag}_detection.tex").write_text(detection_table(results, label, source, tag))
        figures = [figure for figure in FIGURES if (directory / figure).is_file() and worth_drawing(figure, results)]
        for figure in figures:
            shutil.copy(directory / figure, out / f"{tag}_{figure}")
        body += run_section(label, source, tag, bool(results.get("detection")), figures)
    body.append(r"\FloatBarrier")
    (out / "results.tex").write_text("\n".join(body) + "\n")
    print(f"wrote {out}/results.tex and {len(specs)} runs' tables and figures")


# ---- Remask RL training curves (SMDM/pretrain/train_mdm_rl.py's metrics.csv) --------------------------------


def rl_curves_figure(runs, window):
    """Reward per RL step (smoothed) and validation accuracy at each budget, one colour per run, one legend."""
    budgets = sorted({budget for _, metrics in runs for budget in metrics["validation"]})
    figure = Figure(figsize=(3.4 * (1 + len(budgets)), 2.8), layout="constrained")
    panels = [figure.add_subplot(1, 1 + len(budgets), i + 1) for i in range(1 + len(budgets))]
    handles = {}
    for i, (label, metrics) in enumerate(runs):
        colour = f"C{i}"
        panels[0].plot(metrics["step"], metrics["reward"], color=colour, alpha=0.25, linewidth=0.8)
        handles[label], = panels[0].plot(metrics["step"], trailing_mean(metrics["reward"], window), color=colour)
        for axes, budget in zip(panels[1:], budgets):
            points = metrics["validation"].get(budget, [])
            axes.plot([step for step, _ in points], [accuracy for _, accuracy in points], marker="o", color=colour)
    panels[0].set_title(f"reward (trailing mean of {window} steps)", fontsize="medium")
    panels[0].set_ylabel("reward")
    for axes, budget in zip(panels[1:], budgets):
        axes.set_title(f"validation accuracy, {budget} steps", fontsize="medium")
        axes.set_ylabel("accuracy")
    for axes in panels:
        axes.set_xlabel("RL step")
    figure.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=min(4, len(handles)),
                  frameon=False)
    return figure


def rl_tex(runs, sources, window):
    """The figure float and a table of each run's last validation, for paper/rl.tex."""
    budgets = sorted({budget for _, metrics in runs for budget in metrics["validation"]})
    rows = []
    for (label, metrics), source in zip(runs, sources):
        last = []
        for budget in budgets:
            points = metrics["validation"].get(budget)
            last.append(f"{100 * points[-1][1]:.1f} (step {points[-1][0]})" if points else "--")
        reward = trailing_mean(metrics["reward"], window)[-1]
        rows.append(f"{tex(label)} & {metrics['step'][-1]} & {reward:.3f} & " + " & ".join(last) + r" \\")
    named = "; ".join(rf"{tex(label)}: \texttt{{{tex_path(source / 'metrics.csv')}}}"
                      for (label, _), source in zip(runs, sources))
    return "\n".join([
        r"\begin{figure}[!htbp]\centering",
        r"\includegraphics[max width=\linewidth, max height=0.35\textheight]{generated/rl_curves.png}",
        rf"\caption{{Remask RL training. Left: mean reward of each RL step's completions (faint) and its trailing "
        rf"mean over {window} steps. Then the strict accuracy of greedy UPS + remask decoding on the validation "
        rf"problems at each step budget, at the steps the run validated. Sources: {named}.}}",
        r"\label{fig:rl-curves}",
        r"\end{figure}",
        r"\begin{table}[!htbp]\centering\small",
        r"\begin{tabular}{lrr" + "r" * len(budgets) + "}",
        r"\toprule",
        r"run & RL steps & reward & " + " & ".join(f"val.\\ acc.\\ (\\%), {b} steps" for b in budgets) + r" \\",
        r"\midrule",
        *rows,
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{Remask RL runs at their last logged step: reward is the trailing mean over {window} steps, "
        rf"validation accuracy the last one logged (at the step in brackets). Sources as in "
        rf"Figure~\ref{{fig:rl-curves}}.}}",
        r"\label{tab:rl-runs}",
        r"\end{table}",
    ]) + "\n"


def write_rl_runs(specs, out, window):
    runs, sources = [], []
    for spec in specs:
        directory, label = split_spec(spec)
        runs.append((label, read_metrics(directory)))
        sources.append(directory)
    rl_curves_figure(runs, window).savefig(out / "rl_curves.png", dpi=120)
    (out / "rl.tex").write_text(rl_tex(runs, sources, window))
    print(f"wrote {out}/rl.tex and rl_curves.png from {len(runs)} Remask RL runs")


# ---- the policy against every heuristic (scripts/policy_report.py --json) ----------------------------------

# A tabularx column that takes the width left over and wraps its text without stretching the spaces.
RAGGED_X = r">{\raggedright\arraybackslash}X"


def policy_tex(data, source):
    """Two tables from the numbers `policy_report.py --json` writes: the summary (one row per step budget), then
    every setting against the policy, by budget."""
    budgets = data.get("budgets") if isinstance(data, dict) else None
    if not budgets:
        raise ValueError(f"{source} does not hold scripts/policy_report.py's numbers (a 'budgets' list); write it "
                         "with policy_report.py --json FILE")
    summary = []
    for budget in budgets:
        if budget["best"] is not None:
            steps, accuracy, best, best_accuracy, difference, weakest = summary_cells(budget)
            summary.append(latex_row([steps, accuracy, rf"{tex(best)}\newline {best_accuracy}", difference,
                                      tex(weakest)]))
    source = tex_path(source)
    lines = [
        r"\begin{table}[!htbp]\centering\small",
        r"\begin{tabularx}{\linewidth}{rl" + RAGGED_X + "l" + RAGGED_X + "}",
        r"\toprule",
        r"steps & policy & best heuristic & policy $-$ best & lowest lower bound over heuristics \\",
        r"\midrule",
        *summary,
        r"\bottomrule",
        r"\end{tabularx}",
        r"\caption{The Remask RL policy against every heuristic order (\texttt{random}, \texttt{tps\_prob}, with "
        r"and without remasking, at each block length evaluated), per step budget: accuracy (\%) [95\% CI], the "
        r"best heuristic, the paired difference, and the lowest lower bound of the paired difference over all "
        r"heuristics (above zero: the policy beats every one). Source: \texttt{" + source + r"}, written by "
        r"\texttt{scripts/policy\_report.py}.}",
        r"\label{tab:policy-summary}",
        r"\end{table}",
    ]
    # Two budgets per float: one table with every budget is taller than a page.
    for first in range(0, len(budgets), 2):
        part = budgets[first : first + 2]
        lines += [
            r"\begin{table}[!htbp]\centering\small",
            r"\begin{tabularx}{\linewidth}{" + RAGGED_X + "ll}",
            r"\toprule",
            r"setting & accuracy (\%) [95\% CI] & policy $-$ setting [95\% CI] \\",
        ]
        for budget in part:
            policy = budget["policy"]
            bold = [rf"\textbf{{{tex(policy['name'])}}}", rf"\textbf{{{interval(policy['accuracy'])}}}", "--"]
            lines += [r"\midrule", rf"\multicolumn{{3}}{{l}}{{\emph{{{budget['steps']} steps}}}} \\", latex_row(bold)]
            lines += [latex_row([tex(r["name"]), interval(r["accuracy"]), interval(r["difference"])])
                      for r in budget["others"]]
        budgets_named = " and ".join(f"{budget['steps']} steps" for budget in part)
        lines += [
            r"\bottomrule",
            r"\end{tabularx}",
            r"\caption{Every setting against the policy (bold) at " + budgets_named + r"; differences are paired "
            r"over the same problems. Source: \texttt{" + source + r"}.}",
            r"\label{tab:policy" + ("" if first == 0 else f"-{first // 2 + 1}") + "}",
            r"\end{table}",
        ]
    return "\n".join(lines) + "\n"


def write_policy_report(path, out):
    if not path.is_file():
        raise ValueError(f"{path} not found: --policy-report takes the file written by scripts/policy_report.py --json")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON ({error}): --policy-report takes the file written by "
                         "scripts/policy_report.py --json") from None
    (out / "policy.tex").write_text(policy_tex(data, path))
    print(f"wrote {out}/policy.tex from {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", nargs="+", default=[], metavar="DIR[:LABEL]",
                        help="evaluation output folders (python -m remedi.eval --out), each optionally with a label")
    parser.add_argument("--rl", nargs="+", default=[], metavar="RUN_DIR[:LABEL]",
                        help="Remask RL output folders (train_mdm_rl.py --out-dir, with metrics.csv)")
    parser.add_argument("--rl-smooth", type=int, default=10,
                        help="RL reward curves: trailing mean over this many steps")
    parser.add_argument("--policy-report", type=Path, default=None, metavar="FILE.json",
                        help="numbers written by scripts/policy_report.py --json")
    parser.add_argument("--out", type=Path, default=HERE / "generated")
    args = parser.parse_args(argv)
    if not (args.eval or args.rl or args.policy_report):
        sys.exit("error: nothing to do: give --eval, --rl and/or --policy-report")
    if args.rl_smooth < 1:
        sys.exit("error: --rl-smooth is a number of steps: give 1 or more")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        if args.eval:
            write_eval_runs(args.eval, args.out)
        if args.rl:
            write_rl_runs(args.rl, args.out, args.rl_smooth)
        if args.policy_report:
            write_policy_report(args.policy_report, args.out)
    except (ValueError, OSError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
