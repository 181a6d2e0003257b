"""Reading metrics.jsonl as a crash, a power loss or a full disk may leave it."""

import pytest

from pygan._contracts.messages import PyganError
from pygan._files.run_folder import read_step_log

ROWS = '{"step": 1, "d_loss": 0.5}\n{"step": 2, "d_loss": 0.25}\n'


@pytest.mark.parametrize("tail, kept_steps", [
    (b'{"step": 3, "d_lo', [1, 2]),  # a write cut short
    (b"\0" * 30, [1, 2]),  # a power loss: the file's last block allocated but never written
    (b'{"step": 3}\n{"note": "\xc3', [1, 2, 3]),  # cut inside a UTF-8 character
])
def test_a_last_line_cut_short_is_left_out_with_a_notice(tmp_path, capsys, tail, kept_steps):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(ROWS.encode() + tail)
    assert [row["step"] for row in read_step_log(path)] == kept_steps
    assert "left out its last line, cut short by an interrupted write" in capsys.readouterr().err


def test_a_whole_last_row_without_its_newline_is_kept(tmp_path, capsys):
    path = tmp_path / "metrics.jsonl"
    path.write_text(ROWS + '{"step": 3}')
    assert [row["step"] for row in read_step_log(path)] == [1, 2, 3]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("content, message", [
    ('{"step": 1}\n{"step": 2, "d_lo\n{"step": 3}\n', "line 2: not valid JSON"),
    ('{"step": 1}\n[1, 2]\n', "line 2: not a step's metrics"),
    ('{"d_loss": 0.5}\n', "line 1: not a step's metrics"),
])
def test_a_damaged_line_before_the_last_is_an_error_naming_it(tmp_path, content, message):
    path = tmp_path / "metrics.jsonl"
    path.write_text(content)
    with pytest.raises(PyganError, match=f"metrics.jsonl, {message}"):
        read_step_log(path)
