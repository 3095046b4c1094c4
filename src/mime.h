/*
 * mime.h - Content-Type for an upload, from the file name's extension.
 *
 * The table is read once from /etc/mime.types (or R2FS_MIME_TYPES, for
 * tests) on first use; lookups are thread-safe and lock-free after that.
 * The returned string lives as long as the process.
 */
#ifndef R2FS_MIME_H
#define R2FS_MIME_H

/* "text/plain" for "a/b.TXT"; "application/octet-stream" if unknown. */
const char *mime_type_for(const char *path);

#endif
