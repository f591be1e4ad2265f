#!/bin/sh
# Renders every *${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template} under ${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
# into ${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d} (same relative path, suffix removed) with envsubst.
# Only environment variables whose names match the regular expression NGINX_ENVSUBST_FILTER (all when empty)
# are substituted, so nginx's own $variables survive.
set -e
template_dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
output_dir=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
filter=${NGINX_ENVSUBST_FILTER:-}
[ -d "$template_dir" ] || exit 0
if [ ! -w "$output_dir" ]; then
    echo "$0: $output_dir is not writable, templates not rendered" >&2
    exit 0
fi
names=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | grep -E -- "${filter:-.}" || true)
defined=""
for name in $names; do
    defined="$defined \${$name}"
done
find "$template_dir" -follow -type f -name "*$suffix" -print | while read -r template; do
    relative=${template#"$template_dir/"}
    output="$output_dir/${relative%"$suffix"}"
    mkdir -p "$(dirname "$output")"
    echo "$0: rendering $template to $output"
    envsubst "$defined" < "$template" > "$output"
done
