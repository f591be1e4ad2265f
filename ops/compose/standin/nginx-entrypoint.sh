#!/bin/sh
# Entry point of the nginx stand-in image (the official image's documented behaviour, written here):
# when the command is nginx, every file of /docker-entrypoint.d/ is handled in version order: executable
# *.envsh files are sourced (they may export variables for the next steps), executable *.sh files are run
# (a failure stops the container), anything else is ignored. Then the command is exec'd.
set -e
say() {
    [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$0: $*"
}
if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
    for f in $(find /docker-entrypoint.d/ -follow -type f -print | sort -V); do
        case "$f" in
            *.envsh)
                if [ -x "$f" ]; then say "sourcing $f"; . "$f"; else say "ignoring $f, not executable"; fi ;;
            *.sh)
                if [ -x "$f" ]; then say "running $f"; "$f"; else say "ignoring $f, not executable"; fi ;;
            *) say "ignoring $f" ;;
        esac
    done
    say "configuration complete; ready for start up"
fi
exec "$@"
