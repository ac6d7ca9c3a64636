/* Image layers, unpacked once into the agent's layer cache
 * (<work_dir>/provisioner/layers/<sha256>) by the provisioner's child
 * process, shared read-only by every container whose image has them (they
 * are overlayfs lower directories). Whiteouts become overlayfs's own (a
 * 0:0 character device for .wh.<name>, the opaque xattr for .wh..wh..opq);
 * entries that would land outside the layer are refused. */
#ifndef TEPUI_AGENT_IMAGES_LAYERS_H
#define TEPUI_AGENT_IMAGES_LAYERS_H

#include "agent/images/store.h"
#include "common/error.h"

/* Unpacks the layer into <layers_dir>/<key> unless it is there, checking
 * its digest first. Returns 1 when it unpacked it, 0 when it was there, or
 * a negative code with err (nothing is left behind then). */
int layers_unpack(const char *layers_dir, const struct image_layer *layer, struct error *err);

#endif
