"""The README stays a first screen and the pages it maps stay whole: every relative link in the README,
docs/ and benchmarks/README.md reaches a file of the repository (and, into a Markdown page, one of its
headings), every gap the README's claims table quotes is one its notebook's record holds, and the
licence and citation files are there and well formed."""
import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)  # code blocks hold no links
    return [target for target in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped but hyphens and underscores, spaces to hyphens."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_the_link_checker_sees_links_and_headings(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# The paper's datasets, on your GPUs\n[a](x.md#y) [b](https://e.org) [c](#top)\n"
                    "```\n[not](a/link.md)\n```\n")
    assert relative_links(page) == ["x.md#y", "#top"]
    assert anchors(page) == {"the-papers-datasets-on-your-gpus"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_of_the_repository(page):
    assert page.exists(), page
    for target in relative_links(page):
        path, _, anchor = unquote(target).partition("#")
        where = (page.parent / path).resolve() if path else page
        assert where.exists(), f"{page.relative_to(ROOT)} links to {target}, which the repository lacks"
        inside = ROOT in where.parents or where == ROOT
        assert inside, f"{page.relative_to(ROOT)} links outside the repository: {target}"
        if anchor and where.suffix == ".md":
            assert anchor in anchors(where), f"{page.relative_to(ROOT)} links to {target}: no such heading"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_cites_a_file_outside_the_repository(page):
    text = page.read_text()
    for outside in ("DESIGN", "STYLE.md", "/work/", "issue tracker"):
        assert outside not in text, f"{page.relative_to(ROOT)} mentions {outside!r}"


def test_no_source_cites_a_file_outside_the_repository():
    sources = [p for folder in ("milelib", "tools", "benchmarks", "notebooks", "data_prep")
               for p in (ROOT / folder).rglob("*.py")]
    for source in sources:
        text = source.read_text()
        for outside in ("DESIGN", "STYLE.md", "/work/"):
            assert outside not in text, f"{source.relative_to(ROOT)} mentions {outside!r}"


def test_the_readme_is_a_first_screen():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 260, f"README.md has {len(lines)} lines: move the detail to docs/"


def test_the_readme_maps_every_docs_page():
    text = (ROOT / "README.md").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in text, f"README.md does not link docs/{page.name}"
    assert "(docs/evidence.md)" in text  # written beside this page, linked from the start


def claims_rows() -> list[tuple[str, str]]:
    """(notebook number, row) for each row of the README's claims table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## The paper's claims, as measured", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "](notebooks/" in line]
    return [(re.search(r"\]\(notebooks/(\d\d)_", row).group(1), row) for row in rows]


def test_the_claims_table_covers_every_notebook():
    assert sorted({nn for nn, _ in claims_rows()}) == ["01", "02", "03", "04", "05", "06", "07", "08"]


def verdicts_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("verdicts", ROOT / "tools" / "verdicts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MACHINES = {"01": "intel_xeon", "02": "intel_xeon", "06": "intel_xeon", "08": "intel_xeon",
            "03": "amd_epyc", "04": "amd_epyc", "05": "amd_epyc", "07": "amd_epyc"}  # the other machine's record


@pytest.mark.parametrize("nn,row", claims_rows(), ids=lambda v: v if len(v) == 2 else None)
def test_each_gap_the_claims_table_quotes_is_in_its_notebooks_record(nn, row):
    # the verdict cell only: the paper's claim and the notebook link hold no measured number; a gap
    # is one machine's (its record) or both machines' pooled (each seed's gap averaged over the two)
    verdict = row.split(" | ")[1]
    quoted = [float(x) for x in re.findall(r"(?<![\w.])[+-]\d+\.\d+", verdict)]
    [path] = (ROOT / "results").glob(f"{nn}_*/quick/metrics.json")
    record = json.loads(path.read_text())
    gaps = [row_["gap"] for row_ in record["claims"] + record["controls"] if row_.get("gap") is not None]
    if any(not any(abs(number - gap) <= 0.051 for gap in gaps) for number in quoted):
        tool = verdicts_tool()
        other = ROOT / "results" / "machines" / MACHINES[nn] / path.parent.parent.name / "quick" / "metrics.json"
        both = tool.pooled(path.parent.parent.name, tool.with_provenance(record, path),
                           tool.with_provenance(tool.load(other), other))
        gaps += [g for g in both["gap"] if g == g]
    for number in quoted:
        assert any(abs(number - gap) <= 0.051 for gap in gaps), f"notebook {nn}'s record has no gap of {number}"


def test_the_readme_counts_are_the_records():
    tool = verdicts_tool()
    found = {}
    for path in sorted((ROOT / "results").glob("[0-9][0-9]_*/quick/metrics.json")):
        found[path.parent.parent.name] = tool.counts(tool.family(path.parent.parent.name, tool.load(path)))
    total = {k: sum(c[k] for c in found.values()) for k in next(iter(found.values()))}
    text = " ".join((ROOT / "README.md").read_text().split())
    held = total["consistent with the paper's gap"]
    said = (f"Counted over the {total['testable']} testable claims of the eight notebooks: {total['raw holds']} hold "
            f"and {total['raw contradicted']} are contradicted by their own 95% intervals; under Holm within each "
            f"notebook, {total['Holm holds']} hold and {total['Holm contradicted']} are contradicted. Of the "
            f"{total['paper gaps']} claims with a paper gap, {total['smaller than reported']} have an interval wholly "
            f"below it, {held} an interval that holds it, none above")
    assert said in text and total["larger than reported"] == 0


def test_licence_and_citation():
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "the milelib authors" in licence
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["license"] == "MIT"
    paper = cff["preferred-citation"]
    assert paper["title"] in (ROOT / "README.md").read_text().replace("\n", " ")
    assert paper["year"] == 2022 and [a["family-names"] for a in paper["authors"]][:2] == ["Rajeswar", "Rodríguez"]
