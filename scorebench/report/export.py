"""Tables a paper can take: each dataset's leaderboard and the paired comparisons as LaTeX (booktabs)
and Markdown, with the numbers the page shows (`Cell.text`, `fmt`): results/<name>/tables/."""
from __future__ import annotations

import math

import pandas as pd

from .aggregate import fmt, fmt_interval
from .verdict import Cell

LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "×": r"$\times$", "Δ": r"$\Delta$", "σ": r"$\sigma$"}
PAIRED = ("dataset", "metric", "objective", "reference", "comparison", "estimate", "n_seeds", "p_holm", "verdict")


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(c, c) for c in str(text))


def latex(header: list[str], rows: list[list[str]], bold: set[tuple[int, int]] = frozenset()) -> str:
    """A booktabs tabular: the first column left-aligned, the rest right; cells in `bold` in \\textbf."""
    def cell(i, j, text):
        text = latex_escape(text)
        return rf"\textbf{{{text}}}" if (i, j) in bold else text

    lines = [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
             " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(cell(i, j, t) for j, t in enumerate(row)) + r" \\" for i, row in enumerate(rows)]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}"]) + "\n"


def markdown(header: list[str], rows: list[list[str]], bold: set[tuple[int, int]] = frozenset()) -> str:
    """A GitHub-flavoured Markdown table; cells in `bold` in **."""
    def cell(i, j, text):
        text = str(text).replace("|", r"\|")
        return f"**{text}**" if (i, j) in bold and text else text

    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    return "\n".join(lines + ["| " + " | ".join(cell(i, j, t) for j, t in enumerate(row)) + " |"
                              for i, row in enumerate(rows)]) + "\n"


def leaderboard_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]], set[tuple[int, int]]]:
    """(header, rows, bold cells) of a leaderboard (objectives × columns of Cells): `best` in bold,
    `tied` marked, the page's number and interval in every cell."""
    header, rows, bold = ["objective", *table.columns], [], set()
    for i, (objective, cells) in enumerate(table.iterrows()):
        row = [str(objective)]
        for j, c in enumerate(cells, 1):
            if not isinstance(c, Cell):
                row.append("")
                continue
            row.append(c.text() + (" (tied)" if c.mark == "tied" else ""))
            if c.mark == "best":
                bold.add((i, j))
        rows.append(row)
    return header, rows, bold


def paired_rows(pairs: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the paired comparisons: the estimate with its interval, n, Holm's p and the call."""
    rows = []
    for r in pairs.itertuples():
        estimate = fmt_interval(r.estimate, r.ci_low, r.ci_high, r.n_seeds)
        rows.append([r.dataset, r.metric, r.objective, r.reference, r.comparison, estimate, str(r.n_seeds),
                     fmt(r.p_holm) if isinstance(r.p_holm, float) and math.isfinite(r.p_holm) else "", r.verdict])
    return list(PAIRED), rows


def tables(leaderboards: list[tuple[str, pd.DataFrame, str]], pairs: pd.DataFrame) -> dict[str, str]:
    """File name under tables/ -> text: leaderboard_<dataset>.tex/.md per dataset, paired.tex/.md."""
    out = {}
    for dataset, table, _ in leaderboards:
        header, rows, bold = leaderboard_rows(table)
        out[f"leaderboard_{dataset}.tex"] = latex(header, rows, bold)
        out[f"leaderboard_{dataset}.md"] = markdown(header, rows, bold)
    header, rows = paired_rows(pairs)
    out["paired.tex"], out["paired.md"] = latex(header, rows), markdown(header, rows)
    return out
