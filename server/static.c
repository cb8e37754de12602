// The dashboard's files: GET / and GET /<file> from app->web_dir. Only the page's own assets
// are served: files of web/ itself and of web/vendor/ with a known web content type (never
// node_modules, package.json or build scripts), named with A-Z a-z 0-9 . _ - and no segment
// starting with '.', whose realpath stays inside web_dir; "/" means index.html.
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"

static const struct {
    const char *ext, *type;
} CONTENT_TYPES[] = {
    {".html", "text/html; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"}, {".png", "image/png"}, {".ico", "image/x-icon"},
    {".woff2", "font/woff2"}, {".woff", "font/woff"},
};

// The content type of a dashboard file; NULL for a file the dashboard does not serve.
static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof CONTENT_TYPES / sizeof CONTENT_TYPES[0]; i++)
        if (strcasecmp(dot, CONTENT_TYPES[i].ext) == 0) return CONTENT_TYPES[i].type;
    return NULL;
}

// 1 if name (the URL path without its leading '/') may name a file of the dashboard.
static int name_allowed(const char *name)
{
    size_t len = strlen(name);
    if (strspn(name, SAFE_NAME_CHARS "/") != len) return 0;
    for (const char *seg = name; *seg; seg += strcspn(seg, "/"), seg += *seg == '/') {
        if (*seg == '.' || *seg == '/') return 0; // a dot segment, a dotfile or "//"
    }
    const char *slash = strchr(name, '/');
    if (slash && (strncmp(name, "vendor/", 7) != 0 || strchr(slash + 1, '/'))) return 0;
    return 1;
}

void static_serve(Request *r)
{
    char root[PATH_MAX], path[PATH_MAX + 16], real[PATH_MAX];
    const char *name = r->url + 1;
    const char *index = !*name || name[strlen(name) - 1] == '/' ? "index.html" : "";
    if (!r->app->web_dir || !realpath(r->app->web_dir, root)) {
        reply_error(r, 404, NULL, "the dashboard is not installed");
        return;
    }
    if (!name_allowed(name) || path_printf(path, sizeof path, "%s/%s%s", root, name, index) ||
        !realpath(path, real) || !path_is_inside(root, real) || !content_type(real)) {
        reply_error(r, 404, NULL, "no such file: /%.200s", name);
        return;
    }
    reply_file(r, &(FileReply){.path = real, .content_type = content_type(real)});
}
