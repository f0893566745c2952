"""The repository carries every file its tests and documents read: nothing outside the clone."""

from __future__ import annotations

import re
import subprocess

from tests.core.authors_files import REPO, authors_results_dir


def test_the_authors_files_named_in_their_readme_sit_beside_it_with_their_licence() -> None:
    folder = authors_results_dir()
    assert folder.resolve().is_relative_to(REPO.resolve())
    readme = (folder / "README.md").read_text()
    named = set(re.findall(r"^\| (\S+\.npz) \|", readme, flags=re.MULTILINE))
    assert len(named) == 6
    assert named == {p.name for p in folder.glob("*.npz")}
    assert "Attribution-NonCommercial 4.0" in (folder / "LICENSE-CC-BY-NC-4.0.txt").read_text()
    assert "Attribution:" in readme and "DavidDenisov/Smart-Init" in readme


def test_no_tracked_file_reads_a_folder_beside_the_clone() -> None:
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    texts = [f for f in tracked if f.endswith((".py", ".sh", ".md", ".toml", ".yaml", ".yml"))]
    outside = re.compile(r"\.\./shared|/work/shar[e]d")  # [e]: not a hit on itself
    hits = [f for f in texts if outside.search((REPO / f).read_text(errors="replace"))]
    assert hits == []
