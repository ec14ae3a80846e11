"""Host group: `make unit` (tests/unit/run-all) on stand-in test binaries: every binary runs
even after one fails, results are counted from cmocka's TAP output, and a binary that crashes,
hangs or exits non-zero counts as failed even when it printed nothing."""

import re
import subprocess

import pytest

from harness import REPO

pytestmark = pytest.mark.host

# Stand-ins for cmocka binaries: shell scripts printing what libcmocka 1.1 prints with
# CMOCKA_MESSAGE_OUTPUT=TAP, then ending as the case says. Without TAP they print cmocka's
# human-readable text, which must not be counted.
TAP_ONLY = ('[ "$CMOCKA_MESSAGE_OUTPUT" = TAP ] || '
            '{ echo "[  PASSED  ] 99 test(s)."; exit 0; }\n')

BINS = {
    "test_pass": "printf '1..2\\nok 1 - a\\nok 2 - b\\n# ok - tests\\n'",
    "test_fail": "printf '1..3\\nok 1 - a\\nnot ok 2 - b\\n# 0x1 != 0x2\\n"
                 "# t.c:9: error: Failure!\\nok 3 - c\\n# not ok - tests\\n'; exit 1",
    "test_segv": "printf '1..4\\nok 1 - a\\n'; kill -SEGV $$",
    "test_silent": "kill -ABRT $$",
    "test_asan": "printf '1..3\\nok 1 - a\\n'; "
                 "echo 'ERROR: AddressSanitizer: heap-buffer-overflow' >&2; exit 1",
    "test_leak": "printf '1..2\\nok 1 - a\\nok 2 - b\\n'; "
                 "echo 'ERROR: LeakSanitizer: detected memory leaks' >&2; exit 23",
    "test_skip": "printf '1..2\\nok 1 - a\\nnot ok 2 # SKIP b\\n# ok - tests\\n'",
    "test_noplan": "echo 'test_noplan: unshare: Operation not permitted' >&2; exit 0",
    "test_hang": "printf '1..1\\n'; exec sleep 60",
    "test_last": "printf '1..1\\nok 1 - z\\n'",
}


def stand_ins(tmp_path, names):
    paths = []
    for name in names:
        p = tmp_path / name
        p.write_text("#!/bin/sh\n" + TAP_ONLY + BINS[name] + "\n")
        p.chmod(0o755)
        paths.append(str(p))
    return paths


def make_unit(paths):
    return subprocess.run(["make", "-s", "--no-print-directory", "unit",
                           "UNIT_BINS=" + " ".join(paths), "UNIT_TIMEOUT=2"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def result_line(out, name):
    """The per-binary line of name: (status word, the rest)."""
    m = re.search(rf"^(ok|FAIL) +{name} +(.*) \(\d+ s\)$", out, re.M)
    assert m, (name, out)
    return m.group(1), m.group(2)


def test_all_pass(tmp_path):
    p = make_unit(stand_ins(tmp_path, ["test_pass", "test_last"]))
    assert p.returncode == 0, p.stdout + p.stderr
    assert result_line(p.stdout, "test_pass") == ("ok", "2 passed")
    assert p.stdout.splitlines()[-1] == "unit: 3 passed, 0 failed, 0 skipped (2 binaries)"


def test_every_binary_runs_and_failures_count(tmp_path):
    p = make_unit(stand_ins(tmp_path, list(BINS)))
    out = p.stdout
    assert p.returncode != 0, out
    assert result_line(out, "test_pass") == ("ok", "2 passed")
    assert result_line(out, "test_fail") == ("FAIL", "2 passed, 1 failed")
    assert result_line(out, "test_segv") == (
        "FAIL", "1 passed, 3 failed: killed by SIGSEGV, reported 1 of 4 tests")
    assert result_line(out, "test_silent") == (
        "FAIL", "0 passed, 1 failed: killed by SIGABRT, printed no TAP plan")
    assert result_line(out, "test_asan") == (
        "FAIL", "1 passed, 2 failed: exited with status 1, reported 1 of 3 tests")
    assert result_line(out, "test_leak") == ("FAIL", "2 passed, 1 failed: exited with status 23")
    assert result_line(out, "test_skip") == ("ok", "1 passed, 1 skipped")
    assert result_line(out, "test_noplan") == ("FAIL", "0 passed, 1 failed: printed no TAP plan")
    assert result_line(out, "test_hang") == (
        "FAIL", "0 passed, 1 failed: timed out after 2 s, reported 0 of 1 tests")
    # the binaries after the failing ones ran too
    assert result_line(out, "test_last") == ("ok", "1 passed")
    # a failure's diagnostics and the end of its stderr are shown
    assert "    not ok 2 - b\n    # 0x1 != 0x2\n    # t.c:9: error: Failure!\n" in out
    assert "    ERROR: AddressSanitizer: heap-buffer-overflow\n" in out
    assert out.splitlines()[-1] == (
        "unit: 10 passed, 10 failed, 1 skipped (10 binaries; failing: test_fail test_segv "
        "test_silent test_asan test_leak test_noplan test_hang)")
