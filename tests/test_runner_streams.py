"""The runner's line reader against real pipes of a real child process."""
import subprocess
import sys

from services.runner.streams import LineStreams


def read_all(streams: LineStreams) -> list[tuple[str, str]]:
    seen = []
    while streams.open:
        seen += list(streams.lines(timeout=5))
    return seen


def test_lines_written_together_are_all_delivered_without_more_output():
    # The child writes two lines in one write, then waits for an answer to the second one: a reader that
    # strands the second line in a buffer would never answer, and this test would hang until its timeout.
    child = subprocess.Popen(
        [sys.executable, "-c", "import os, sys; os.write(1, b'PRT-FILE x\\nPRT-DONE 0\\n');"
                               "print('answer:' + sys.stdin.readline().strip(), flush=True)"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    streams = LineStreams(out=child.stdout, err=child.stderr)
    seen = []
    while streams.open:
        for stream, line in streams.lines(timeout=10):
            seen.append((stream, line))
            if line == "PRT-DONE 0":
                child.stdin.write("ok\n")
                child.stdin.close()
    assert seen == [("out", "PRT-FILE x"), ("out", "PRT-DONE 0"), ("out", "answer:ok")]
    assert child.wait(10) == 0


def test_both_streams_and_an_unterminated_last_line():
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stderr.write('ERROR: boom\\n'); sys.stderr.flush();"
                               "sys.stdout.write('é' * 70000 + '\\nlast without newline')"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = read_all(LineStreams(out=child.stdout, err=child.stderr))
    assert ("err", "ERROR: boom") in seen
    assert [line for stream, line in seen if stream == "out"] == ["é" * 70000, "last without newline"]
