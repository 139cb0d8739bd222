"""docs/onboarding.md: its commands run as shown, in order, in an empty folder."""

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).parent.parent / "docs" / "onboarding.md"


def test_every_command_of_the_onboarding_guide_runs(tmp_path):
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 5
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    script = "set -euo pipefail\n" + "\n".join(blocks)
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "16 rows" not in result.stdout  # sizes come from the files, not from the profile
    assert "? × ? mm" in result.stdout  # no invented spacing
    assert (tmp_path / "scanner.toml").is_file() and (tmp_path / "truck-steel.png").stat().st_size > 0
    assert "steps measured" in result.stdout and "OK" in result.stdout
