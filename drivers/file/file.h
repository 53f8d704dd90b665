/*
 * file.h — what the file driver's files share: where images live and how they are
 * opened (file.c), image copies (file_copy.c), and the snapshot operations
 * (file_snap.c).
 */
#ifndef PVNODE_DRIVER_FILE_H
#define PVNODE_DRIVER_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnode/driver/driver.h"
#include "pvnode/driver/os.h"

/* file.c */
/* The image of `pv`: its `path` attribute or <state>/images/<name>.img, below
 * <state>/images. */
int file_image_path(const struct pv *pv, const struct pv_node_ctx *n, char *buf, size_t len, struct pv_err *err);
/* Open an image below <state>/images without following links; a regular file only. */
int file_open_image(const struct pv_node_ctx *n, const char *path, int flags, struct pv_err *err);
/* Remove an image below <state>/images; 0 or -errno. */
int file_unlink_image(const struct pv_node_ctx *n, const char *path);

/* file_copy.c */
/* Copy the whole of file `src` into the empty file `dst`: a reflink (FICLONE: shared
 * extents, copy-on-write) where the filesystem has them, else a sparse copy (only the
 * data ranges SEEK_DATA/SEEK_HOLE find, with copy_file_range), reporting progress as
 * "Copying <what>" on a terminal when `progress`. *how: "reflink" or "sparse copy". */
int file_copy(int src, int dst, const char *what, bool progress, const char **how, struct pv_err *err);

/* file_snap.c */
int file_snapshot_create(const struct pv *pv, struct pv_snapshot *snap, const struct pv_secrets *s,
			 const struct pv_node_ctx *n, struct pv_err *err);
int file_snapshot_delete(const struct pv_snapshot *snap, const struct pv_secrets *s, const struct pv_node_ctx *n,
			 struct pv_err *err);
int file_restore(struct pv *pv, const struct pv_snapshot *snap, const struct pv_secrets *s,
		 const struct pv_node_ctx *n, struct pv_err *err);
int file_clone(struct pv *pv, const struct pv *src, const struct pv_secrets *s, const struct pv_node_ctx *n,
	       struct pv_err *err);

#endif
