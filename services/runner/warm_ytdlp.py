"""A yt-dlp process started ahead of need.

It imports yt-dlp, compiles its extractor patterns, builds one YoutubeDL from the service's own command
line (which also detects the ffmpeg version) and the SSL context downloads use (_share_ssl_contexts), then
prepares a job (PreparedJob), waits on stdin for one job line (common.ytdlp.job_line) and runs yt-dlp's own
command-line entry point with its arguments: same parser, same output, same exit code as `yt-dlp`. Before
that, this yt-dlp's own parser checks the complete command line against the service's invariants
(common.ytdlp.verify_job); a refused one is reported after REFUSED_MARKER and yt-dlp does not run.
Every connection of the job goes through the address guard (common.network) in process, and ffmpeg's
through a GuardedProxy thread (services.runner.egress_proxy, ffmpeg_guard); a refused address fails the job
with an `ERROR: blocked address: ...` line. After yt-dlp's main returns it prints DONE_MARKER with the exit
code; the runner answers with the path of the file yt-dlp reported (or nothing), which this process checks
with PyAV and reports after PROBE_MARKER. Before DONE it prints FAILURE_MARKER with the class of the last
error yt-dlp reported (services/runner/ytdlp_failures), when there was one.
It kills its whole process group (itself, ffmpeg children) when the runner that started it dies.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import select
import signal
import sys
import tempfile
import threading
from pathlib import Path

WARM_URL = "https://warm-up.invalid/video.mp4"
LARGEST_READ = 1 << 20  # bytes: what _limit_read_sizes lets yt-dlp read from a response at once


def kill_group_when_gone(pidfd: int) -> None:
    """Starts a thread that kills this process's group (itself and its ffmpeg children) as soon as the process
    the pidfd refers to (the runner) has exited."""
    def watch() -> None:
        select.select([pidfd], [], [])
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="runner-watch", daemon=True).start()


def _warm_up() -> None:
    """Pays yt-dlp's start-up before a job needs it: imports, the first match of every extractor, option
    parsing, a YoutubeDL with the service's options, ffmpeg's version, the date parsing of HTTP headers,
    and PyAV for the media check."""
    import av  # noqa: F401  (loaded now so that the media check costs milliseconds)
    import yt_dlp
    import yt_dlp.downloader.hls  # noqa: F401
    import yt_dlp.downloader.http  # noqa: F401
    import yt_dlp.extractor.generic  # noqa: F401
    from yt_dlp.extractor import gen_extractor_classes
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor
    from yt_dlp.utils import unified_timestamp

    from common.ytdlp import build_command_line
    from common import network  # noqa: F401
    from services.runner import egress_proxy, ffmpeg_guard, media, ytdlp_failures  # noqa: F401  (for every job)

    for extractor in gen_extractor_classes():
        extractor.suitable(WARM_URL)
    _memoize(sys.modules["yt_dlp.YoutubeDL"], "orderedSet_from_options")
    _share_ssl_contexts()
    _limit_read_sizes()
    # yt-dlp's updater asks for the architecture on every run, and the stdlib answers by running `file`
    platform.architecture = functools.cache(platform.architecture)
    yt_dlp.utils.system_identifier()
    folder = Path(tempfile.gettempdir())
    arguments = build_command_line("00000000-0000-4000-8000-000000000000", WARM_URL, [], folder,
                                   folder / ".partial")
    with yt_dlp.YoutubeDL(yt_dlp.parse_options(arguments).ydl_opts) as ydl:
        FFmpegPostProcessor.get_versions(ydl)
    unified_timestamp("Wed, 26 Nov 2025 10:00:00 GMT")
    _run_a_warm_up_job()


def _run_a_warm_up_job() -> None:
    """Runs one whole job, with the service's command line, against a loopback server of its own: what yt-dlp
    builds lazily during a job (the regular expressions of the generic extractor, format sorting and output
    templates, 37 of them, 3-5 ms of every download) is then built once here and shared by every fork. Only
    caches are left behind: the job's output goes to /dev/null, its files to a folder removed afterwards, and
    its server is stopped before any fork, and yt-dlp's main does not rename the process to yt-dlp meanwhile
    (a yt-dlp process is told from the zygote by its name). A failure only leaves them cold."""
    import http.server
    import shutil

    import yt_dlp

    from common.ytdlp import build_command_line, verify_command_line

    body = b"\0" * 4096

    class Media(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Media)
    serving = threading.Thread(target=server.serve_forever, name="warm-up-media", daemon=True)
    serving.start()
    folder = Path(tempfile.mkdtemp(prefix="prt-warm-up-"))
    url = f"http://127.0.0.1:{server.server_address[1]}/warm-up.mp4"
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    rename, yt_dlp.setproctitle = getattr(yt_dlp, "setproctitle", None), lambda title: None
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        uuid = "00000000-0000-4000-8000-000000000000"
        arguments = build_command_line(uuid, url, [], folder, folder / ".partial")
        parsed = verify_command_line(arguments, uuid, url, folder, folder / ".partial")  # as serve_one_job does
        code = run_ytdlp(arguments, parsed=parsed)  # reports an exception as code 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for target, fd in enumerate(saved, start=1):
            os.dup2(fd, target)
            os.close(fd)
        os.close(null)
        server.shutdown()
        server.server_close()
        serving.join()
        shutil.rmtree(folder, ignore_errors=True)
        if rename is None:
            del yt_dlp.setproctitle
        else:
            yt_dlp.setproctitle = rename
    if code != 0:
        print(f"runner: the yt-dlp warm-up job ended with {code!r}; downloads start a few ms slower", file=sys.stderr,
              flush=True)


def _memoize(module, name: str) -> None:
    """yt-dlp orders its ~1,900 extractors anew for every YoutubeDL (~60 ms of a download's start); the
    function is pure, so the warm process remembers its answers for identical arguments."""
    original = getattr(module, name)
    answers: dict = {}

    def remembered(options, alias_dict, *, use_regex=False, start=None):
        key = (tuple(options), tuple((k, tuple(v)) for k, v in alias_dict.items()), use_regex, tuple(start or ()))
        if key not in answers:
            answers[key] = original(options, alias_dict, use_regex=use_regex, start=start)
        return list(answers[key])

    setattr(module, name, remembered)


def _share_ssl_contexts() -> None:
    """yt-dlp builds an SSL context for every request handler it creates, loading the ~150 KB CA bundle each
    time (~15-30 ms of every download). The warm process builds the default one (certificates checked, no
    legacy renegotiation, certifi's bundle, no client certificate) once, before the forks, and hands it out
    for identical arguments. Each forked process gets its own copy: nothing is shared between downloads.
    A call with a client certificate (per-download state) is never remembered."""
    import inspect

    import yt_dlp.networking.common as networking

    original = getattr(networking, "make_ssl_context", None)
    if original is None:  # another yt-dlp version (services.runner.ytdlp_update): it builds its own contexts
        return
    signature = inspect.signature(original)
    contexts: dict = {}

    def shared(*args, **kwargs):
        try:
            arguments = signature.bind(*args, **kwargs)
        except TypeError:
            return original(*args, **kwargs)
        arguments.apply_defaults()
        if any(value for name, value in arguments.arguments.items() if name.startswith("client_certificate")):
            return original(*args, **kwargs)
        key = (tuple(sorted(arguments.arguments.items())), os.environ.get("SSLKEYLOGFILE"))
        try:
            context = contexts.get(key)
        except TypeError:  # an unhashable argument
            return original(*args, **kwargs)
        if context is None:
            context = contexts[key] = original(*args, **kwargs)
        return context

    networking.make_ssl_context = shared
    shared()


def _limit_read_sizes() -> None:
    """yt-dlp sizes each read of a download by the rate so far, up to 4 MiB. On a fast link every 4 MiB read
    allocates and copies two buffers larger than a core's cache (1 MiB of L2 here); with reads of at most
    LARGEST_READ a 20 MB mp4 moves ~8 ms faster and its process peaks 8 MiB lower (docs/performance.md,
    issue 20). Below that size yt-dlp's own sizing is untouched (a slow link reads what it did), and so is the
    file; progress is reported at least every LARGEST_READ bytes instead of every 4 MiB."""
    from yt_dlp.downloader.common import FileDownloader

    original = getattr(FileDownloader, "best_block_size", None)
    if original is None:  # another yt-dlp version (services.runner.ytdlp_update) that sizes its reads otherwise
        return

    def best_block_size(elapsed_time, bytes):
        return min(original(elapsed_time, bytes), LARGEST_READ)

    FileDownloader.best_block_size = staticmethod(best_block_size)


def run_ytdlp(arguments: list[str], recorder=None, parsed=None) -> int:
    """yt-dlp's main, returning its exit code the way the interpreter would report it; an exception that
    escapes it is reported (and recorded) as an error instead of ending the process without DONE.
    parsed: yt_dlp.parse_options(arguments) as verify_job checked it, which main then runs with."""
    import yt_dlp

    if parsed is not None:
        _hand_over(parsed, arguments)
    try:
        yt_dlp.main(arguments)
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
            return 1
        return exit_.code or 0
    except Exception as error:
        print(f"ERROR: {type(error).__name__}: {error}", file=sys.stderr)
        if recorder is not None:
            recorder.record_crash(error)
        return 1
    return 0


def _hand_over(parsed, arguments: list[str]) -> None:
    """yt-dlp's main starts by parsing its command line (~3-4 ms: its option parser is built anew and run
    several times). The job's was just parsed by the same yt_dlp.parse_options in verify_job and only read
    there, so main's call for exactly these arguments gets that result, once: it runs the options that were
    checked, and the process parses them once."""
    import yt_dlp

    original = yt_dlp.parse_options

    def parse_options(argv=None):
        yt_dlp.parse_options = original
        if argv is not None and list(argv) == arguments:
            return parsed
        return original(argv)

    yt_dlp.parse_options = parse_options


def serve_one_job(blocked) -> None:
    """Prepares a job (PreparedJob) while it waits, reads one job line from stdin, verifies and runs it, and
    exits with yt-dlp's code. Called in a warm process (or a fork of one)."""
    from common.ytdlp import REFUSED_EXIT_CODE, REFUSED_MARKER, CommandLineViolation, verify_job

    job = PreparedJob(blocked)
    line = sys.stdin.readline()
    if not line.strip():
        os._exit(0)
    try:
        arguments, parsed = verify_job(line)
    except CommandLineViolation as violation:
        print(REFUSED_MARKER + str(violation), flush=True)
        os._exit(REFUSED_EXIT_CODE)
    os._exit(job.run(arguments, parsed))  # skips tearing down thousands of yt-dlp modules: ~0.1 s per download


class PreparedJob:
    """What a job needs before its arguments, made while the process waits for them (the network namespace
    and the proxy thread of the ffmpeg guard cost ~2-5 ms): the address guard on every connection, ffmpeg's
    guard, the failure recorder. Nothing in it depends on the arguments; the process serves one job."""

    def __init__(self, blocked):
        from common.config import load_settings
        from common.network import guard_connections
        from services.runner.egress_proxy import GuardedProxy, isolated_listener
        from services.runner.ffmpeg_guard import guard_subprocesses
        from services.runner.ytdlp_failures import FailureRecorder

        self.guard = guard_connections(blocked)
        listener, namespace = isolated_listener() or (None, None)
        guard_subprocesses(self.guard, GuardedProxy(self.guard, listener).url, load_settings().VIDEODATAPATH,
                           namespace)
        self.recorder = FailureRecorder()
        self.recorder.install()

    def run(self, arguments: list[str], parsed=None) -> int:
        """Runs yt-dlp (with `parsed`, yt-dlp's parse of the arguments verify_job checked), reports DONE, checks
        the file the runner names on stdin; returns yt-dlp's code."""
        from common.ytdlp import DONE_MARKER, FAILURE_MARKER, PROBE_MARKER
        from services.runner.media import probe_media

        guard, recorder = self.guard, self.recorder
        code = run_ytdlp(arguments, recorder, parsed)
        if guard.refusals:  # also when yt-dlp skipped the refused fragment and went on: the download FAILS
            print(f"ERROR: {guard.refusals[0]}", file=sys.stderr)
            code = code or 1
        sys.stderr.flush()
        failure = recorder.verdict(guard.refusals)
        if failure is not None:
            print(FAILURE_MARKER + json.dumps(failure), flush=True)
        print(f"{DONE_MARKER}{code}", flush=True)
        reported = sys.stdin.readline().strip()
        if reported:
            problem, duration = probe_media(reported)
            print(PROBE_MARKER + json.dumps({"problem": problem, "durationSeconds": duration}), flush=True)
            sys.stderr.flush()
            os.close(1)  # the job is over: the runner learns it now, not once the exit has freed the memory (~5 ms)
            os.close(2)
        sys.stdout.flush()
        return code


def warm_settings():
    """Warms up and returns the blocked networks every job's connections are checked against."""
    from common.config import load_settings

    _warm_up()
    return load_settings().BLOCKEDURLNETWORKS


def main() -> None:
    """A single warm process serving one job (the zygote forks these instead; kept for measurements)."""
    parent = os.getppid()
    pidfd = os.pidfd_open(parent)
    if os.getppid() != parent:  # the pidfd may name a process that reused the pid
        os._exit(1)
    kill_group_when_gone(pidfd)
    serve_one_job(warm_settings())


if __name__ == "__main__":
    main()
