# Stand-in for nginx:1.28.0-bookworm, built only when Docker Hub cannot be reached (ops/compose.py).
# Debian's nginx (1.22.1) with the official image's documented contract, reimplemented here:
# /docker-entrypoint.sh runs /docker-entrypoint.d/ (*.envsh sourced, *.sh run, in version order) when the
# command is nginx, and renders /etc/nginx/templates/*.template into /etc/nginx/conf.d/ with envsubst,
# limited to variables matching NGINX_ENVSUBST_FILTER; a main nginx.conf that includes conf.d/*.conf only;
# logs to stdout/stderr; curl for healthchecks; an `nginx` user for the workers; SIGQUIT to stop.
FROM prt-standin/debian:bookworm
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx curl gettext-base \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/sites-available /etc/nginx/conf.d/* \
    && groupadd --system --gid 101 nginx \
    && useradd --system --uid 101 --gid nginx --home-dir /nonexistent --no-create-home --shell /bin/false nginx \
    && mkdir -p /docker-entrypoint.d /etc/nginx/conf.d /usr/share/nginx/html /var/cache/nginx /var/log/nginx \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx.conf /etc/nginx/nginx.conf
COPY nginx-entrypoint.sh /docker-entrypoint.sh
COPY nginx-envsubst-on-templates.sh /docker-entrypoint.d/20-envsubst-on-templates.sh
RUN chmod 0755 /docker-entrypoint.sh /docker-entrypoint.d/20-envsubst-on-templates.sh
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
