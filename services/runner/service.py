"""The runner: runs yt-dlp for each download the scheduler hands it, and reports what really happened.

Each download runs in a yt-dlp process forked from a warm zygote (see zygote and warm_ytdlp): no download
pays yt-dlp's start-up, and each runs in its own process group so that yt-dlp and its ffmpeg children can be
killed together. The scheduler learns which downloads are alive from a heartbeat; the DB writer learns
progress (coalesced) and the final state (acknowledged).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path

import zmq

from common import bus, cookies, failures
from common.config import Settings, load_settings
from common.lifecycle import become_subreaper, exit_with_supervisor
from common.logs import setup_logging
from common.ytdlp import (DONE_MARKER, FAILURE_MARKER, FILE_MARKER, INFO_MARKER, PROBE_MARKER, PROGRESS_MARKER,
                          REFUSED_MARKER, THUMBNAIL_EXTENSION, build_command_line, build_expand_command_line, job_line)
from services.runner.media import check_final_file, keep_thumbnail, parse_progress
from services.runner.processes import ForkedProcess, SparePool, ZygoteGone, kill_group, stop_group
from services.runner import ytdlp_update
from services.runner.streams import LineStreams

log = logging.getLogger("runner")

HEARTBEAT_SECONDS = 1.0
PROGRESS_INTERVAL_SECONDS = 0.3
ENDED_ADDRESS = "inproc://runner-ended"


class ProcessLost(Exception):
    """yt-dlp died by a signal the runner did not send (OOM killer, an operator's kill -9): not the video's fault."""

    def __init__(self, reason_code: str, message: str):
        super().__init__(message)
        self.reason_code = reason_code


@dataclass
class Outcome:
    """The result of one attempt, as FinishDownload reports it."""
    status: str
    size: int | None = None
    file_name: str | None = None
    code: str | None = None
    message: str | None = None
    detail: str | None = None
    retryable: bool | None = None
    video: dict = field(default_factory=dict)  # videoTitle, videoDurationSeconds... (FinishDownload's fields)

    @classmethod
    def failed(cls, code: str, detail: str | None, http_status: int | None = None, seconds: float | None = None,
               video: dict | None = None) -> "Outcome":
        return cls("FAILED", code=code, message=failures.person_message(code, http_status, seconds),
                   detail=detail, retryable=failures.is_retryable(code, http_status), video=video or {})


class Job(threading.Thread):
    """One attempt at one download, from StartAttempt to an acknowledged final state."""

    def __init__(self, runner: Runner, order: bus.StartDownload):
        super().__init__(name=f"job-{order.uuid}", daemon=True)
        self.runner, self.order, self.settings = runner, order, runner.settings
        self.requester = bus.Requester(self.settings)
        self.process: ForkedProcess | None = None
        self.cancelled = threading.Event()
        self.ytdlp_version: str | None = None

    def run(self) -> None:
        try:
            self._run()
        except Exception:
            log.exception("download=%s runner job crashed", self.order.uuid)
        finally:
            self.requester.close()
            self.runner.job_ended(self.order.uuid)

    def _run(self) -> None:
        uuid = self.order.uuid
        token = uuidlib.uuid4().hex  # this run's identity: a StartAttempt or result delivered twice counts once
        reply = self.requester.request_until_committed(bus.StartAttempt(uuid=uuid, attemptToken=token),
                                                       stop=self.runner.stopping)
        if reply is None:
            return
        if not reply.ok:
            log.info("download=%s not started: %s", uuid, reply.error)
            return
        attempt = reply.attempt
        try:
            expansion = self._expand(token) if self.order.playlistMaxItems is not None else None
            if expansion is True:
                return  # the parent now follows its children
            outcome = expansion or self._download(attempt)
        except ProcessLost as lost:
            if not (self.runner.stopping.is_set() or self.cancelled.is_set()):
                self._put_back(lost.reason_code, str(lost))
                return
            outcome = Outcome.failed(failures.REQUEUE_FAILURE_CODE, str(lost))
        except Exception as crash:  # a bug here must not leave the row DOWNLOADING
            log.exception("download=%s runner error", uuid)
            outcome = Outcome.failed(failures.DEFAULT_CODE, f"runner error: {type(crash).__name__}: {crash}")
        status = outcome.status
        if self.runner.stopping.is_set():
            return  # the scheduler of the next start re-runs it; partial files let yt-dlp resume
        if self.cancelled.is_set():
            self.settings.remove_download_files(uuid)
            log.info("download=%s cancelled: yt-dlp stopped, partial files removed", uuid)
            return  # the row already says CANCELLED
        if status == "FAILED":
            self.settings.remove_download_files(uuid)
        final = bus.FinishDownload(
            uuid=uuid, attempt=attempt, status=status, sizeInBytes=outcome.size, fileName=outcome.file_name,
            errorMessage=outcome.message, attemptToken=token, errorCode=outcome.code,
            errorDetail=failures.scrub_detail(outcome.detail, self._server_folders()),
            retryable=outcome.retryable, ytdlpVersion=self.ytdlp_version, **outcome.video)
        reply = self.requester.request_until_committed(final, stop=self.runner.stopping)
        if reply is None:
            return
        if reply.ok:
            if status == "COMPLETED":
                self.runner.publisher.send(bus.DownloadCompleted(uuid=uuid))
            return
        log.info("download=%s result of attempt %d refused: %s", uuid, attempt, reply.error)
        if reply.errorCode == "downloadNotFound" or reply.status in ("CANCELLED", "FAILED"):
            # cancelled or deleted while yt-dlp was finishing: no file may stay for a row that does not want it
            removed = self.settings.remove_download_files(uuid)
            log.info("download=%s files of the refused result removed: %s", uuid, removed or "none")

    def _server_folders(self) -> list[Path]:
        settings = self.settings
        return [settings.partial_path, settings.VIDEODATAPATH, settings.RUNPATH, settings.SQLITEFILEPATH.parent,
                Path(__file__).resolve().parents[2]]

    def _put_back(self, reason_code: str, reason: str) -> None:
        """PENDING again (the attempt counted), or FAILED at MAXATTEMPTS; partial files stay for the next run."""
        uuid, limit = self.order.uuid, self.settings.MAXATTEMPTS
        log.warning("download=%s %s; putting it back in the queue", uuid, reason)
        reply = self.requester.request_until_answered(
            bus.RequeueDownload(uuid=uuid, reason=reason, maxAttempts=limit, reasonCode=reason_code),
            stop=self.runner.stopping)
        if reply is not None and reply.ok and (reply.attempt or 0) >= limit:
            self.settings.remove_download_files(uuid)

    def _expand(self, token: str) -> bool | Outcome | None:
        """Lists the URL with yt-dlp's flat extraction in a warm process (address guard included). A playlist:
        its entries go to the DB writer in one ExpandPlaylist (True). A single video: None (download it as
        such). A failure: its Outcome."""
        uuid, settings, url = self.order.uuid, self.settings, self.order.videoURL
        arguments = build_expand_command_line(uuid, url, self.order.playlistMaxItems, settings.VIDEODATAPATH,
                                              settings.partial_path)
        output, returncode, stopped = self._run_ytdlp(
            job_line(arguments, uuid, url, settings.VIDEODATAPATH, settings.partial_path, playlist=True), attempt=0)
        if output.refused is not None:
            return Outcome.failed("refusedParameters", f"refused: the playlist listing breaks an invariant: "
                                  f"{output.refused}. yt-dlp was not run")
        if self.cancelled.is_set() or self.runner.stopping.is_set():
            return Outcome.failed(failures.DEFAULT_CODE, "stopped")
        if output.stalled:
            return Outcome.failed("stalled", f"stalled: yt-dlp printed nothing for "
                                  f"{settings.STALLTIMEOUTSECONDS:g} seconds while listing the playlist",
                                  seconds=settings.STALLTIMEOUTSECONDS)
        if output.too_long:
            return Outcome.failed("tooSlow", "stopped: listing the playlist took too long",
                                  seconds=settings.MAXDOWNLOADSECONDS)
        if returncode < 0 and not stopped:
            raise ProcessLost("processLost", f"{failures.REQUEUE_REASONS['processLost']}: killed by "
                              f"{_signal_name(-returncode)}, a signal the service did not send")
        if returncode != 0 or output.failure:
            return self._ytdlp_failure(output, f"yt-dlp exited with code {returncode} while listing the playlist", {})
        listing = output.listing
        if not isinstance(listing, dict):
            return Outcome.failed("playlistUnreadable", "yt-dlp printed no JSON description of the URL")
        if listing.get("_type") in ("playlist", "multi_video"):
            entries = playlist_entries(listing, self.order.playlistMaxItems)
        elif self.order.subscriptionUUID is not None:  # a subscription to one video: an entry like any other
            page = listing.get("webpage_url") if isinstance(listing.get("webpage_url"), str) else url
            entries = [bus.PlaylistEntry(url=page, title=_text(listing.get("title")), key=_text(listing.get("id")))]
        else:
            log.info("download=%s is not a playlist: downloading it as one video", uuid)
            return None
        title = listing.get("title") if isinstance(listing.get("title"), str) else None
        reply = self.requester.request_until_committed(
            bus.ExpandPlaylist(uuid=uuid, attemptToken=token, title=title, entries=entries), stop=self.runner.stopping)
        if reply is not None and not reply.ok:
            log.info("download=%s playlist listing refused: %s", uuid, reply.error)
        elif reply is not None:
            log.info("download=%s playlist of %d entries recorded", uuid, len(entries))
            self.runner.scheduler.send(bus.DownloadQueued(uuid=uuid))
        return True

    def _run_ytdlp(self, job: str, attempt: int) -> tuple["YtdlpOutput", int, bool]:
        """Runs one job line (common.ytdlp.job_line) in a warm process, which checks its command line before
        yt-dlp runs: the output, exit code, and whether the runner stopped it."""
        try:
            self.process = process = self.runner.spares.take()
        except ZygoteGone as error:
            raise ProcessLost("zygoteLost", f"{failures.REQUEUE_REASONS['zygoteLost']}: {error}") from error
        self.ytdlp_version = process.ytdlp_version
        try:
            process.stdin.write(job)
            process.stdin.flush()
            output = self._follow_output(process, attempt)
            # a checked file is the job's last word: its exit code is the one DONE gave; the exit itself (freeing
            # the process's memory) is not waited for, the keeper reaps it
            returncode = output.done_code if output.probed and output.done_code is not None else process.wait()
        finally:
            kill_group(process)
            self.runner.spares.forget(process)
        if output.refused is not None:
            log.warning("download=%s refused before yt-dlp ran: the command line breaks an invariant: %s",
                        self.order.uuid, output.refused)
            return output, returncode, process.stopped_by_runner
        log.info("download=%s yt-dlp exited returncode=%d", self.order.uuid, returncode)
        self.runner.progress.send(bus.YtdlpExited(uuid=self.order.uuid, returnCode=returncode))
        return output, returncode, process.stopped_by_runner

    def _download(self, attempt: int) -> Outcome:
        """Runs yt-dlp once, with a private copy of the download's cookie profile if it has one (yt-dlp writes
        cookies back to the file it is given: the profile itself stays as uploaded); the copy is removed after."""
        profile, uuid = self.order.cookieProfile, self.order.uuid
        if profile is None:
            return self._download_with(attempt, None)
        try:
            copy = cookies.copy_for_download(self.settings.COOKIESPATH, profile, uuid)
        except cookies.CookieProfileError as error:
            return Outcome.failed("cookieProfileMissing", str(error))
        try:
            return self._download_with(attempt, copy)
        finally:
            copy.unlink(missing_ok=True)

    def _download_with(self, attempt: int, cookies_file) -> Outcome:
        uuid, settings = self.order.uuid, self.settings
        arguments = build_command_line(uuid, self.order.videoURL, self.order.ytdlpParameters,
                                       settings.VIDEODATAPATH, settings.partial_path, cookies_file)
        output, returncode, stopped_by_runner = self._run_ytdlp(
            job_line(arguments, uuid, self.order.videoURL, settings.VIDEODATAPATH, settings.partial_path,
                     cookies_file=cookies_file), attempt)
        if output.refused is not None:
            return Outcome.failed("refusedParameters", f"refused: the yt-dlp command line built from this "
                                  f"download's parameters breaks the service's rules: {output.refused}. "
                                  f"yt-dlp was not run")
        video = output.video_fields()
        if output.stalled:
            return Outcome.failed("stalled", f"stalled: yt-dlp printed nothing for "
                                  f"{settings.STALLTIMEOUTSECONDS:g} seconds and was stopped",
                                  seconds=settings.STALLTIMEOUTSECONDS, video=video)
        if output.too_long:
            return Outcome.failed("tooSlow", f"stopped after {settings.MAXDOWNLOADSECONDS:g} seconds: downloads may "
                                  f"run at most PRT_VIDEODOWNLOADER_MAXDOWNLOADSECONDS={settings.MAXDOWNLOADSECONDS:g} "
                                  f"seconds", seconds=settings.MAXDOWNLOADSECONDS, video=video)
        if returncode < 0 and not stopped_by_runner:
            raise ProcessLost("processLost", f"{failures.REQUEUE_REASONS['processLost']}: killed by "
                              f"{_signal_name(-returncode)}, a signal the service did not send")
        if returncode != 0 or (output.failure and not output.reported_file):
            return self._ytdlp_failure(output, f"yt-dlp exited with code {returncode}", video)
        if not output.probed:
            return Outcome.failed(failures.DEFAULT_CODE, "the downloaded file could not be checked", video=video)
        path, problem = check_final_file(output.reported_file, uuid, settings.VIDEODATAPATH, output.probe_problem)
        if problem:
            return Outcome.failed("notMedia" if problem == output.probe_problem else failures.DEFAULT_CODE, problem,
                                  video=video)
        if video.get("videoDurationSeconds") is None and output.probe_duration:
            video["videoDurationSeconds"] = round(output.probe_duration, 3)
        thumbnail = keep_thumbnail(output.info.get("thumbnails.:.filepath"), uuid, settings.VIDEODATAPATH, path,
                                   THUMBNAIL_EXTENSION)
        return Outcome("COMPLETED", size=path.stat().st_size, file_name=path.name,
                       video={**video, "thumbnailFileName": thumbnail})

    @staticmethod
    def _ytdlp_failure(output: "YtdlpOutput", fallback: str, video: dict) -> Outcome:
        """The class the yt-dlp process found for its last error, with yt-dlp's own line as the detail."""
        failure = output.failure or {}
        code = failure.get("code") if failure.get("code") in failures.FAILURE_CLASSES else failures.DEFAULT_CODE
        status = failure.get("httpStatus") if isinstance(failure.get("httpStatus"), int) else None
        detail = failure.get("detail") if isinstance(failure.get("detail"), str) else None
        return Outcome.failed(code, detail or output.last_error or fallback, http_status=status,
                              video=video)

    def _follow_output(self, process: ForkedProcess, attempt: int) -> "YtdlpOutput":
        """Streams yt-dlp's stdout and stderr until both close; kills it when it stays silent too long."""
        uuid = self.order.uuid
        output = YtdlpOutput()
        last_sent = 0.0
        pending = None
        streams = LineStreams(out=process.stdout, err=process.stderr)
        last_output = started = time.monotonic()
        while streams.open:
            timeout = min(last_output + self.settings.STALLTIMEOUTSECONDS,
                          started + self.settings.MAXDOWNLOADSECONDS) - time.monotonic()
            for stream, line in streams.lines(timeout=max(0.0, min(timeout, PROGRESS_INTERVAL_SECONDS))):
                last_output = time.monotonic()
                if stream == "err":
                    if line.startswith("ERROR:"):
                        output.last_error = line.removeprefix("ERROR:").strip()
                        log.info("download=%s yt-dlp error: %s", uuid, output.last_error)
                elif line.startswith(PROGRESS_MARKER):
                    pending = parse_progress(line[len(PROGRESS_MARKER):]) or pending
                elif line.startswith(FILE_MARKER):
                    output.reported_file = _json_or_none(line[len(FILE_MARKER):])
                elif line.startswith(INFO_MARKER):
                    info = _json_or_none(line[len(INFO_MARKER):])
                    output.info = info if isinstance(info, dict) else {}
                elif line.startswith(REFUSED_MARKER):
                    output.refused = line[len(REFUSED_MARKER):].strip() or "refused"
                elif line.startswith(FAILURE_MARKER):
                    failure = _json_or_none(line[len(FAILURE_MARKER):])
                    output.failure = failure if isinstance(failure, dict) else None
                elif line.startswith(DONE_MARKER):
                    output.done_code = _int_or_none(line[len(DONE_MARKER):])
                    ask = output.done_code == 0 and output.reported_file
                    try:
                        process.stdin.write((output.reported_file if ask else "") + "\n")
                        process.stdin.close()
                    except OSError:
                        pass  # the process died meanwhile; its exit code tells the rest
                elif line.startswith("{") and self.order.playlistMaxItems is not None:
                    output.listing = _json_or_none(line)  # --dump-single-json: the playlist's description
                elif line.startswith(PROBE_MARKER):
                    output.probed = True
                    probe = _json_or_none(line[len(PROBE_MARKER):])
                    probe = probe if isinstance(probe, dict) else {}
                    output.probe_problem = probe.get("problem")
                    duration = probe.get("durationSeconds")
                    output.probe_duration = float(duration) if isinstance(duration, (int, float)) else None
            now = time.monotonic()
            if pending is not None and now - last_sent >= PROGRESS_INTERVAL_SECONDS:
                self.runner.progress.send(bus.ProgressUpdate(
                    uuid=uuid, attempt=attempt, progress=pending.percent, sizeInBytes=pending.total_bytes,
                    speedBytesPerSecond=pending.speed, etaSeconds=pending.eta))
                pending, last_sent = None, now
            output.stalled = now - last_output > self.settings.STALLTIMEOUTSECONDS
            output.too_long = now - started > self.settings.MAXDOWNLOADSECONDS
            if self.cancelled.is_set() or output.stalled or output.too_long:
                stop_group(process)
                output.stalled = output.stalled and not self.cancelled.is_set()
                output.too_long = output.too_long and not self.cancelled.is_set()
                break
        streams.close()
        return output


@dataclass
class YtdlpOutput:
    """What the runner learnt from one yt-dlp process's output."""
    reported_file: str | None = None
    last_error: str | None = None
    done_code: int | None = None  # DONE_MARKER: yt-dlp's exit code as the process reported it
    probed: bool = False
    probe_problem: str | None = None
    probe_duration: float | None = None
    stalled: bool = False
    too_long: bool = False
    failure: dict | None = None  # FAILURE_MARKER: {"code", "detail", "httpStatus"}
    refused: str | None = None  # REFUSED_MARKER: why the process refused the command line (yt-dlp did not run)
    info: dict = field(default_factory=dict)  # INFO_MARKER: yt-dlp's fields (common.ytdlp.INFO_FIELDS)
    listing: dict | None = None  # --dump-single-json of a playlist listing

    def video_fields(self) -> dict:
        """FinishDownload's video fields from what yt-dlp printed (missing or malformed ones are None)."""
        def text(key: str, limit: int) -> str | None:
            value = self.info.get(key)
            return value[:limit] if isinstance(value, str) and value else None

        duration = self.info.get("duration")
        return {"videoTitle": text("title", 1000), "videoUploader": text("uploader", 500),
                "extractor": text("extractor", 64), "webpageURL": text("webpage_url", 4096),
                "videoDurationSeconds": float(duration) if isinstance(duration, (int, float))
                and not isinstance(duration, bool) and duration >= 0 else None}


MAX_ENTRY_URL_CHARS = 4096


def playlist_entries(listing: dict, max_items: int) -> list[bus.PlaylistEntry]:
    """The first max_items entries with an http(s) URL (yt-dlp's smuggled data removed), in playlist order."""
    entries = []
    for entry in listing.get("entries") or []:
        if len(entries) >= max_items:
            break
        if not isinstance(entry, dict) or not isinstance(entry.get("url") or entry.get("webpage_url"), str):
            continue
        url = without_smuggled_data(entry.get("url") or entry.get("webpage_url"))
        if not url.lower().startswith(("http://", "https://")) or len(url) > MAX_ENTRY_URL_CHARS:
            continue
        entries.append(bus.PlaylistEntry(url=url, title=_text(entry.get("title")), key=_text(entry.get("id"))))
    return entries


SMUGGLE_MARKER = "#__youtubedl_smuggle"


def without_smuggled_data(url: str) -> str:
    """The URL yt-dlp's unsmuggle_url gives back (its data is yt-dlp's own business): importing yt_dlp.utils for
    these two lines would load all of yt-dlp into the runner (~16 MiB) at its first playlist."""
    return url.rpartition("#")[0] if SMUGGLE_MARKER in url else url


def _text(value, limit: int = 1000) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _json_or_none(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


class Runner:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.runner_id = uuidlib.uuid4().hex
        self.started_at = time.time()
        self.stopping = threading.Event()
        self.inbox = bus.bind(settings, "runner", zmq.PULL)
        self.ended = zmq.Context.instance().socket(zmq.PULL)
        self.ended.bind(ENDED_ADDRESS)
        self.scheduler = bus.Pusher(settings, "scheduler")
        self.progress = bus.Pusher(settings, "dbwriter-events")
        self.publisher = bus.Pusher(settings, "publisher")
        self.alive = bus.Heartbeat(settings, "runner")
        self._lock = threading.Lock()
        self.spares = SparePool(settings.WARMPROCESSES, self.selected_python, settings.WARMIDLESECONDS)
        self.jobs: dict[str, Job] = {}

    def selected_python(self) -> str:
        """The interpreter of the yt-dlp environment new downloads use (services.runner.ytdlp_update)."""
        selection = ytdlp_update.selected(self.settings)
        if selection is not None and os.access(selection.python, os.X_OK):
            return str(selection.python)
        return sys.executable

    def follow_update_channel(self) -> None:
        """The stable/nightly channel: looks for a newer yt-dlp now and every YTDLPUPDATECHECKHOURS; the update
        runs in a process of its own and is switched to by the keeper only once it passed its smoke download."""
        while not self.stopping.is_set():
            try:
                result = subprocess.run([sys.executable, "-m", "services.runner.ytdlp_update", "check"],
                                        capture_output=True, text=True, timeout=3600)
                said = (result.stdout + result.stderr).strip().splitlines()
                log.info("yt-dlp %s channel: %s", self.settings.YTDLPUPDATECHANNEL, said[-1] if said else "no answer")
            except (OSError, subprocess.SubprocessError) as error:
                log.warning("yt-dlp update check failed: %s", error)
            self.stopping.wait(self.settings.YTDLPUPDATECHECKHOURS * 3600)

    def job_ended(self, uuid: str) -> None:
        """Called from a job thread; the main thread forwards it so the scheduler sees events in order."""
        socket = zmq.Context.instance().socket(zmq.PUSH)
        socket.connect(ENDED_ADDRESS)
        socket.send_string(uuid)
        socket.close()

    def heartbeat(self) -> None:
        self.scheduler.send(bus.RunnerHeartbeat(
            runnerId=self.runner_id, runnerStartedAt=self.started_at, active=list(self.jobs)))
        ytdlp = self.spares.zygote.ytdlp
        if ytdlp is not None:
            refused = next(iter(self.spares.refused.values()), None)
            info = bus.YtdlpInfo(**ytdlp, problem=refused or ytdlp_update.last_problem(self.settings))
            if self.alive.message.ytdlp != info:
                self.alive.message = bus.ServiceHeartbeat(service="runner", ytdlp=info)

    def run_forever(self) -> None:
        removed = cookies.remove_copies(self.settings.COOKIESPATH)  # left by a runner that died mid-download
        if removed:
            log.info("removed %d cookie copies left by an earlier runner", removed)
        self.spares.top_up()
        self.spares.keep()
        if self.settings.YTDLPUPDATECHANNEL != "pinned":
            threading.Thread(target=self.follow_update_channel, name="ytdlp-updates", daemon=True).start()
        log.info("ready: id=%s, %d warm yt-dlp processes", self.runner_id, self.settings.WARMPROCESSES)
        poller = zmq.Poller()
        poller.register(self.inbox, zmq.POLLIN)
        poller.register(self.ended, zmq.POLLIN)
        next_heartbeat = 0.0
        while not self.stopping.is_set():
            ready = dict(poller.poll(max(0.0, next_heartbeat - time.monotonic()) * 1000))
            if self.ended in ready:
                while True:
                    try:
                        uuid = self.ended.recv_string(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.jobs.pop(uuid, None)
                    self.scheduler.send(bus.DownloadEnded(uuid=uuid))
            if self.inbox in ready:
                for message in bus.drain(self.inbox):
                    if isinstance(message, bus.StartDownload):
                        self.start(message)
                    elif isinstance(message, bus.CancelRequested) and message.uuid in self.jobs:
                        self.jobs[message.uuid].cancelled.set()
            if time.monotonic() >= next_heartbeat:
                self.heartbeat()
                self.alive.beat()
                next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS

    def start(self, order: bus.StartDownload) -> None:
        if order.uuid in self.jobs:
            return
        job = Job(self, order)
        self.jobs[order.uuid] = job
        job.start()

    def shutdown(self) -> None:
        self.stopping.set()
        for job in list(self.jobs.values()):
            job.cancelled.set()
        self.spares.kill_all()


def main() -> None:
    exit_with_supervisor()
    become_subreaper()  # yt-dlp processes are adopted by the runner (see zygote)
    setup_logging("runner")
    settings = load_settings()
    runner = Runner(settings)

    def stop(signum, _frame):
        log.info("stopping on signal %d: killing yt-dlp processes", signum)
        runner.shutdown()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        runner.run_forever()
    finally:
        runner.spares.kill_all()
