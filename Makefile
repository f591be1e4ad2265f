# prt-videodownloader: `make run` starts the local stack, `make test` runs the test suite.
# Both install what they need first (Debian packages when run as root, pinned Python packages in .venv).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
VAR := $(CURDIR)/var

# Local defaults of the stack `make run` starts (and that `make ctl` and `make update-ytdlp` act on); any
# PRT_VIDEODOWNLOADER_* already in the environment wins. Only these targets get them: `make compose-up`
# takes its settings from .env (a shell variable would override it), and the tests set their own.
LOCAL_STACK_TARGETS := run ctl update-ytdlp
$(LOCAL_STACK_TARGETS): export PRT_VIDEODOWNLOADER_SQLITEFILEPATH ?= $(VAR)/db/prt-videodownloader.sqlite
$(LOCAL_STACK_TARGETS): export PRT_VIDEODOWNLOADER_VIDEODATAPATH ?= $(VAR)/data/
$(LOCAL_STACK_TARGETS): export PRT_VIDEODOWNLOADER_RUNPATH ?= $(VAR)/run/
$(LOCAL_STACK_TARGETS): export PRT_VIDEODOWNLOADER_COOKIESPATH ?= $(VAR)/cookies/
$(LOCAL_STACK_TARGETS): export PRT_VIDEODOWNLOADER_YTDLPVERSIONSPATH ?= $(VAR)/ytdlp/
$(LOCAL_STACK_TARGETS): export PRT_VIDEODOWNLOADER_HTTPSPORT ?= 8443
$(LOCAL_STACK_TARGETS): export PRT_VIDEODOWNLOADER_HTTPSBASEURL ?= https://127.0.0.1:$(PRT_VIDEODOWNLOADER_HTTPSPORT)/videodownloader

RUN_DEBS := ffmpeg nginx openssl
COMPOSE_DEBS := docker.io docker-compose debootstrap
TEST_DEBS := $(RUN_DEBS) chromium fonts-dejavu-core curl iproute2 $(COMPOSE_DEBS)

.PHONY: run test bench compose-up compose-down ctl update-ytdlp system-deps-run system-deps-test system-deps-bench web clean

run: system-deps-run $(VENV)/.run-installed web
	ops/run-stack

test: system-deps-test $(VENV)/.dev-installed web
	cd web && PATH=$(CURDIR)/$(VENV)/bin:$$PATH CHROME_BIN=/usr/bin/chromium npm run test:ci
	$(PY) -m pytest $(PYTEST_ARGS)

bench: system-deps-bench $(VENV)/.dev-installed
	$(PY) -m bench

# The docker-compose deployment on this host (ops/compose.py): settings from .env (or PRT_COMPOSE_ENV_FILE).
# Starts dockerd when no engine answers; builds stand-in base images when Docker Hub cannot be reached.
compose-up: $(VENV)/.run-installed
	@ops/install-debian-packages $(COMPOSE_DEBS)
	$(PY) -m ops.compose up

# Stops and removes the containers; the volumes (database, videos, TLS) stay.
compose-down: $(VENV)/.run-installed
	$(PY) -m ops.compose down

# supervisorctl against the running stack, e.g. `make ctl ARGS=status` or `make ctl ARGS="restart runner"`.
ctl:
	@$(PY) -m supervisor.supervisorctl -s unix://$(PRT_VIDEODOWNLOADER_RUNPATH)/supervisor.sock $(or $(ARGS),status)

# Installs yt-dlp VERSION into a new environment, tries it on a smoke download, and only then makes the running
# runner start new downloads with it (VERSION=pinned: back to requirements.txt's). See services/runner/ytdlp_update.py.
update-ytdlp: $(VENV)/.run-installed
	@test -n "$(VERSION)" || { echo "usage: make update-ytdlp VERSION=2026.11.01 (or VERSION=pinned)"; exit 2; }
	$(PY) -m services.runner.ytdlp_update $(if $(filter pinned,$(VERSION)),pinned,install $(VERSION))

system-deps-run:
	@ops/install-debian-packages $(RUN_DEBS)

system-deps-bench:
	@ops/install-debian-packages $(TEST_DEBS) wrk

system-deps-test:
	@ops/install-debian-packages $(TEST_DEBS)

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(VENV)/.run-installed: requirements.txt requirements-web.txt | $(VENV)/bin/python
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt -r requirements-web.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-web.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@ $(VENV)/.run-installed

web: $(VENV)/.run-installed
	@ops/build-web

clean:
	rm -rf $(VAR) web/dist web/node_modules
