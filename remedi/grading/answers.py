"""Final-answer extraction and comparison for GSM8K-style, MATH-style and Sudoku problems.

Four formats (ANSWER_FORMATS), chosen per evaluation:

gsm8k: GSM8K's conventional extraction, the number after the last '####', else the last number
anywhere in the text (instruct models rarely write '####'). The fallback is lenient: garbage that
happens to end in the right number counts as correct; when every answer is one digit, as in the
arithmetic demo task, a random last digit is right one time in ten.

strict: the completion, stripped of surrounding whitespace, must end in '#### <number>', and that
number must equal the reference's final number. For models trained to write '####' (the arithmetic
demo task), this measures answers rather than luck.

Numbers are compared after dropping thousands separators, '$' and trailing zeros of a decimal part, so
"1,000.00" and "1000" agree in both.

math: the content of the last \\boxed{...} (nested braces included). Two answers are compared with
math-verify when it is installed (symbolic equality: 1/2 = 0.5 = \\frac12), else by a normalised
string comparison that only removes LaTeX spacing and wrappers and so under-counts correct answers;
a warning says which one ran.

sudoku: the completion, stripped, must end in '####' and the grid's 81 digits 1-9 in reading order (one
run, or nine rows of nine one space apart) that form a valid Sudoku (every row, column and 3x3 box holds
1..9) and keep every given of the puzzle. The givens are read from the question (9 rows of 9 cells, '.' or '0' for empty, as
scripts/make_sudoku_data.py writes them), so any valid solution counts when a puzzle has several;
without a question they are the reference's own 81 digits, which then must be matched exactly.
"""

import re
import threading
import warnings

from remedi.grading.sudoku import extract_sudoku, sudoku_givens, sudoku_solves

_NUMBER = re.compile(r"-?\$?\s*\d[\d,]*(?:\.\d+)?|-?\.\d+")
# The whole tail after the last '####': one number, no trailing comma, period or words.
_STRICT_ENDING = re.compile(r"####\s*(-?\$?\s*\d(?:[\d,]*\d)?(?:\.\d+)?|-?\.\d+)\Z")
_BOXED = ("\\boxed", "\\fbox")
ANSWER_FORMATS = ("gsm8k", "strict", "math", "sudoku")
FORMAT_DESCRIPTIONS = {
    "gsm8k": "the number after the last '####', else the last number in the text",
    "strict": "the completion must end in '#### <number>'",
    "math": "the content of the last \\boxed{}",
    "sudoku": "the completion must end in '####' and 81 digits (rows may be one space apart), a valid grid that keeps the puzzle's givens",
}

try:
    import math_verify
except ImportError:  # optional: pip install math-verify
    math_verify = None


def normalise_number(text):
    """'1,234.50' -> '1234.5', '$7' -> '7', '3.0' -> '3', '-0' -> '0'; None when no digits."""
    text = text.replace(",", "").replace("$", "").replace(" ", "").rstrip(".")
    if not re.fullmatch(r"-?\d*\.?\d+", text):
        return None
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    negative = text.startswith("-")
    digits = text.lstrip("-").lstrip("0") or "0"
    if digits.startswith("."):
        digits = "0" + digits
    return "-" + digits if negative and digits != "0" else digits


def extract_gsm8k(text):
    """The normalised final number of a GSM8K answer or completion, or None."""
    if text is None:
        return None
    if "####" in text:
        tail = text.rsplit("####", 1)[1]
        found = _NUMBER.search(tail)
        if found:
            return normalise_number(found.group())
    numbers = _NUMBER.findall(text)
    return normalise_number(numbers[-1]) if numbers else None


def extract_strict(text):
    """The normalised number of a completion that ends in '#### <number>', or None."""
    if text is None:
        return None
    found = _STRICT_ENDING.search(text.strip())
    return normalise_number(found.group(1)) if found else None


def extract_boxed(text):
    """Content of the last \\boxed{...} or \\fbox{...}, braces balanced; None if absent or unclosed."""
    if text is None:
        return None
    start = max(text.rfind(name + "{") for name in _BOXED)
    if start < 0:
        return None
    open_at = text.index("{", start)
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i].strip()
    return None


def normalise_latex(text):
    """A light canonical form for string comparison when math-verify is missing."""
    text = re.sub(r"\\text\{([^{}]*)\}", r"\1", text)
    for old, new in (("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("\\;", ""), ("$", ""),
                     ("dfrac", "frac"), ("tfrac", "frac"), ("^\\circ", ""), ("^{\\circ}", "")):
        text = text.replace(old, new)
    text = re.sub(r"\s+", "", text).rstrip(".")
    number = normalise_number(text)
    return number if number is not None else text


def math_equal(prediction, reference):
    """Whether two MATH answers (contents of \\boxed{}) are equal; symbolic with math-verify."""
    if prediction is None or reference is None:
        return False
    if math_verify is None:
        warnings.warn("math-verify is not installed: MATH answers are compared as normalised strings, "
                      "which misses equivalent forms (pip install math-verify)")
        return normalise_latex(prediction) == normalise_latex(reference)
    # math-verify times out through signal.alarm, which only the main thread may use.
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    gold = math_verify.parse("\\boxed{" + reference + "}", parsing_timeout=timeout)
    guess = math_verify.parse("\\boxed{" + prediction + "}", parsing_timeout=timeout)
    return bool(gold) and bool(guess) and math_verify.verify(gold, guess, timeout_seconds=timeout)


def answer_format(reference):
    """'math' if the reference solution has a \\boxed{} answer, else 'gsm8k'."""
    return "math" if extract_boxed(reference) is not None else "gsm8k"


def conventional_format(fmt):
    """The format a paper would report for `fmt`: strict's lenient counterpart is gsm8k."""
    return "gsm8k" if fmt == "strict" else fmt


def grade(completion, reference, fmt, question=None):
    """(extracted prediction, correct) for one completion against a reference solution or answer.

    fmt is one of ANSWER_FORMATS. The reference's final number is read the conventional way in both
    number formats: references are worked solutions, only completions are held to the strict ending.
    Only the sudoku format reads the question (the puzzle's givens); the others ignore it.
    """
    if fmt == "sudoku":
        prediction = extract_sudoku(completion)
        givens = sudoku_givens(question) if question is not None else None
        return prediction, sudoku_solves(prediction, givens if givens is not None else sudoku_givens(reference))
    if fmt in ("gsm8k", "strict"):
        extract = extract_strict if fmt == "strict" else extract_gsm8k
        prediction, gold = extract(completion), extract_gsm8k(reference)
        return prediction, prediction is not None and prediction == gold
    if fmt == "math":
        prediction = extract_boxed(completion)
        gold = extract_boxed(reference)
        return prediction, math_equal(prediction, reference.strip() if gold is None else gold)
    raise ValueError(f"unknown answer format {fmt!r}; use one of {ANSWER_FORMATS}")
